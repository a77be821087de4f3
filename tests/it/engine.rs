//! The engine through a collecting channel: forms, fallback clarification,
//! handoff parking, ordering.

use crate::common;

use common::{payloads, text};
use usher::dialogue::Handoff;
use usher_channel::Part;

#[tokio::test]
async fn refund_form_validates_reasks_and_completes() {
    let (_dir, mut fan) = common::fan("fan-refund").await;

    let r = fan.say("I want a refund for my ticket").await;
    assert_eq!(r.len(), 1);
    assert!(text(&r[0]).contains("order number"), "{r:?}");

    let r = fan.say("no idea sorry").await;
    assert!(text(&r[0]).starts_with("Hmm, that doesn't look like an order number."), "{r:?}");
    assert!(text(&r[0]).contains("order number"));

    let r = fan.say("it's A12345").await;
    assert!(text(&r[0]).contains("Which email address"), "{r:?}");

    let r = fan.say("fan@example.com").await;
    let done = text(&r[0]);
    assert!(done.contains("order A12345 for The Lumineers is refunded") && done.contains("refund R00001"), "{done}");
    assert_eq!(payloads(&r[0]), vec!["/talk_to_human"]);

    let t = fan.transcript().await;
    assert!(t.tracker.flows.is_empty());
    assert_eq!(t.tracker.slots.get("order_id").map(String::as_str), Some("A12345"));
    assert_eq!(t.messages.len(), 8, "every message and reply is stored");
}

#[tokio::test]
async fn entities_in_the_first_message_prefill_the_form() {
    let (_dir, mut fan) = common::fan("fan-transfer").await;
    let r = fan.say("transfer ticket C34567 to my friend please").await;
    assert!(text(&r[0]).contains("email address of the person receiving"), "{r:?}");
    let r = fan.say("sam@example.org").await;
    assert!(text(&r[0]).contains("C34567 for Hamlet") && text(&r[0]).contains("sam@example.org"), "{r:?}");
}

#[tokio::test]
async fn the_backend_decides_refunds_and_answers_lookups() {
    let (_dir, mut fan) = common::fan("fan-backend").await;
    // A show still going ahead is offered resale, never "on its way".
    fan.say("refund order B23456 please").await;
    let r = fan.say("fan@example.com").await;
    let reply = text(&r[0]);
    assert!(reply.contains("Arctic Monkeys is going ahead") && reply.contains("/resale/B23456"), "{reply}");
    // An order the backend does not know is called unknown.
    fan.say("refund Z99999").await;
    let r = fan.say("fan@example.com").await;
    assert!(text(&r[0]).contains("couldn't find order Z99999"), "{r:?}");
    // Doors come from the backend.
    let r = fan.say("when do doors open for my booking").await;
    assert!(text(&r[0]).contains("order number"), "{r:?}");
    let r = fan.say("B23456").await;
    assert!(text(&r[0]).contains("Doors for Arctic Monkeys at Encore Arena open at 2026-12-18 19:00"), "{r:?}");
    // A refund changes the backend's data: the order now reads refunded.
    fan.say("refund A12345").await;
    fan.say("fan@example.com").await;
    let r = fan.say("check order A12345").await;
    assert!(text(&r[0]).contains("Order A12345 (refunded)"), "{r:?}");
    let t = fan.transcript().await;
    let calls: Vec<String> = t
        .messages
        .iter()
        .filter_map(|m| m.nlu.as_ref()?.get("actions")?.as_array())
        .flatten()
        .map(|c| format!("{} {}", c["action"].as_str().unwrap(), c["outcome"].as_str().unwrap()))
        .collect();
    let expected = [
        "find_order ok", // B23456 is on sale: resale, no refund asked
        "find_order not_found",
        "event_times ok",
        "find_order ok", // A12345 was cancelled: refunded
        "start_refund ok",
        "check_order ok",
    ];
    assert_eq!(calls, expected, "every call is stored with its turn");
}

#[tokio::test]
async fn a_digression_into_another_flow_is_answered_and_the_refund_resumes() {
    let (_dir, mut fan) = common::fan("fan-digress").await;
    let r = fan.say("I want a refund for my ticket").await;
    assert!(text(&r[0]).contains("order number"), "{r:?}");
    // Mid-refund, the fan asks about doors: that flow runs, then the refund goes on.
    let r = fan.press("/doors_for_order").await;
    assert!(text(&r[0]).contains("confirmation email"), "{r:?}");
    let r = fan.say("B23456").await;
    assert!(text(&r[0]).contains("Doors for Arctic Monkeys"), "{r:?}");
    assert!(r.len() == 2 && text(&r[1]).contains("Which email address"), "the refund resumes: {r:?}");
    let r = fan.say("fan@example.com").await;
    assert!(text(&r[0]).contains("Arctic Monkeys is going ahead"), "{r:?}");
    assert!(fan.transcript().await.tracker.flows.is_empty());
}

#[tokio::test]
async fn follow_ups_are_read_in_the_conversations_context() {
    let (_dir, mut fan) = common::fan("fan-follow-up").await;
    // Mid-transfer, "how long does that take" is the transfer's follow-up.
    let r = fan.say("can I transfer my ticket to a friend").await;
    assert!(text(&r[0]).contains("Which order"), "{r:?}");
    let r = fan.say("how long does that take").await;
    assert!(text(&r[0]).contains("Transfers are usually instant"), "{r:?}");
    assert!(text(&r[1]).contains("Which order"), "the transfer goes on: {r:?}");
    // Out of its context the follow-up is never chosen.
    let (_dir2, mut other) = common::fan("fan-no-context").await;
    other.say("hello").await;
    let r = other.say("how long does that take").await;
    assert!(!text(&r[0]).contains("Transfers are usually instant"), "{r:?}");
}

#[tokio::test]
async fn with_the_backend_down_the_fan_is_told_and_offered_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine_without_backend(dir.path()).await;
    let mut fan = common::Fan::new(&engine, "fan-down").await;
    fan.say("I want a refund for A12345").await;
    let r = fan.say("fan@example.com").await;
    let reply = text(&r[0]);
    assert!(reply.contains("can't check that right now") && !reply.contains("refunded"), "{reply}");
    assert!(payloads(&r[0]).contains(&"/talk_to_human".to_string()), "{r:?}");
    let t = fan.transcript().await;
    let call = &t.messages.iter().rev().find_map(|m| m.nlu.as_ref()?.get("actions").cloned()).unwrap()[0];
    assert_eq!(call["outcome"], "error", "{call}");
    assert!(!call["detail"].as_str().unwrap().is_empty(), "{call}");
    assert!(!t.tracker.slots.contains_key("refund_id"), "nothing saved from a failed call");
    let metrics = engine.metrics().render();
    // The flow's lookup failed, so no refund was asked for.
    assert!(metrics.contains("usher_action_calls_total{action=\"find_order\",outcome=\"error\"} 1"), "{metrics}");
    assert!(!metrics.contains("action=\"start_refund\""), "{metrics}");
}

#[tokio::test]
async fn a_form_can_be_cancelled_and_gives_up_after_three_bad_answers() {
    let (_dir, mut fan) = common::fan("fan-cancel").await;
    fan.say("I want my money back").await;
    let r = fan.say("cancel").await;
    assert!(text(&r[0]).contains("cancelled"), "{r:?}");
    assert!(fan.transcript().await.tracker.flows.is_empty());

    fan.say("refund please").await;
    fan.say("nope").await;
    fan.say("still nope").await;
    let r = fan.say("whatever").await;
    assert!(payloads(&r[0]).contains(&"/talk_to_human".to_string()), "offers a human: {r:?}");
    assert!(fan.transcript().await.tracker.flows.is_empty());
}

#[tokio::test]
async fn low_confidence_asks_to_clarify_then_offers_a_human() {
    let (_dir, mut fan) = common::fan("fan-fallback").await;

    let r = fan.say("qwxz blorf vrumm").await;
    assert!(text(&r[0]).contains("not sure I understood"), "{r:?}");
    let options = payloads(&r[0]);
    assert_eq!(options.len(), 2, "top two intents as buttons: {options:?}");
    assert!(options.iter().all(|p| p.starts_with('/')));
    let r = fan.say("zzkq plimph").await;
    assert_eq!(payloads(&r[0]), vec!["/talk_to_human", "/continue"], "{r:?}");

    // Pressing a clarification button runs that intent at full confidence.
    let r = fan.press("/playback_issue").await;
    assert!(text(&r[0]).contains("connection speed"), "{r:?}");
    assert_eq!(fan.transcript().await.tracker.fallbacks, 0);
}

#[tokio::test]
async fn handoff_parks_the_conversation() {
    let (_dir, mut fan) = common::fan("fan-handoff").await;

    let r = fan.say("I want to talk to a human").await;
    assert!(matches!(&r[0][0], Part::Handoff { notice } if notice.contains("A person will answer")), "{r:?}");
    assert!(matches!(fan.transcript().await.tracker.handoff, Handoff::Waiting { .. }));

    let r = fan.say("hello? anyone?").await;
    assert!(r.is_empty(), "the bot stays silent while parked: {r:?}");
    let t = fan.transcript().await;
    assert_eq!(t.messages.last().map(|m| (m.direction.as_str(), m.text.as_str())), Some(("in", "hello? anyone?")));
}

#[tokio::test]
async fn configured_keywords_hand_off_at_once() {
    let (_dir, mut fan) = common::fan("fan-lawyer").await;
    let r = fan.say("fix this or I'm calling my lawyer").await;
    assert!(matches!(r[0][0], Part::Handoff { .. }), "{r:?}");
}

#[tokio::test]
async fn tools_not_loaded_are_not_available_and_knowledge_without_a_knowledge_base_offers_a_person() {
    let (_dir, mut fan) = common::fan("fan-tools").await;
    let r = fan.press("/write_poem").await;
    assert_eq!(text(&r[0]), "Not available yet: the write poem tool is coming in a future version of this bot.");
    let r = fan.press("/compose_melody").await;
    assert!(text(&r[0]).starts_with("Not available yet: the compose melody tool"), "{r:?}");
    let r = fan.press("/faq_question").await;
    assert!(text(&r[0]).starts_with("I'm not sure I have the right answer"), "{r:?}");
    assert!(r[0]
        .iter()
        .any(|p| matches!(p, Part::Buttons { buttons } if buttons.iter().any(|b| b.payload == "/talk_to_human"))));
}

#[tokio::test]
async fn messages_of_one_conversation_are_processed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine(dir.path()).await;
    let conv = usher_channel::ConversationId::new("fan-order").unwrap();
    // Fire 20 messages without waiting; the engine must answer them in order.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let msg = if i % 2 == 0 { "hello" } else { "thanks a lot" };
        let inbound = usher_channel::Inbound::text(conv.clone(), "api", msg);
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move { engine.handle(inbound).await.unwrap() }));
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let t = engine.transcript(&conv).await.unwrap().unwrap();
    assert_eq!(t.messages.len(), 40);
    let mut last_in = 0;
    for pair in t.messages.chunks(2) {
        assert_eq!((pair[0].direction.as_str(), pair[1].direction.as_str()), ("in", "out"));
        assert!(pair[0].id > last_in);
        last_in = pair[0].id;
        let expected = if pair[0].text == "hello" { "Hi!" } else { "You're welcome" };
        assert!(pair[1].text.starts_with(expected), "{} -> {}", pair[0].text, pair[1].text);
    }
}

#[tokio::test]
async fn upset_fans_are_handed_to_a_person_after_two_negative_messages() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    // The shipped model reads the encoder: it rides on the NLU's pass.
    config.nlu.encoder = Some(common::repo().join("models/all-MiniLM-L6-v2"));
    config.nlu.sentiment = Some(common::repo().join("models/sentiment"));
    // The intent head over the frozen encoder: this test is about sentiment.
    config.nlu.fine_tune_layers = 0;
    let features = usher::bootstrap::features(&config);
    assert!(features.encoder().is_some(), "run `usher models fetch` first (scripts/test does)");
    assert!(usher::bootstrap::sentiment(&config, None).is_none(), "without the encoder it cannot read");
    let sentiment = usher::bootstrap::sentiment(&config, features.encoder());
    assert!(sentiment.is_some(), "the committed sentiment model loads");
    let (brain, _, _) = usher::bootstrap::brain(&config, features, sentiment, &mut |_, _, _| {}).unwrap();
    let store = usher::store::SqliteStore::open(&dir.path().join("usher.db")).await.unwrap();
    let engine = usher::engine::Engine::new(Arc::new(store), brain);
    let conv = usher_channel::ConversationId::new("fan-upset").unwrap();
    let say = |text: &str| engine.handle(usher_channel::Inbound::text(conv.clone(), "api", text));
    let first = say("this is a terrible , awful , useless service and i hate it").await.unwrap();
    assert!(first.parse.sentiment.unwrap() < -0.6, "{:?}", first.parse.sentiment);
    assert!(!matches!(first.replies[0].parts[0], Part::Handoff { .. }), "one bad message is not enough");
    let second = say("worst , most boring and painful experience ever").await.unwrap();
    assert!(matches!(second.replies[0].parts[0], Part::Handoff { .. }), "{:?}", second.replies);
    let t = engine.transcript(&conv).await.unwrap().unwrap();
    assert!(t.messages[0].nlu.as_ref().unwrap()["sentiment"].as_f64().unwrap() < -0.6, "the score is stored");
    let calm = engine.handle(usher_channel::Inbound::text(
        usher_channel::ConversationId::new("fan-calm").unwrap(),
        "api",
        "thanks so much , that was really helpful",
    ));
    assert!(calm.await.unwrap().parse.sentiment.unwrap() > 0.0, "a thankful fan reads positive");
    let codes = usher_channel::ConversationId::new("fan-codes").unwrap();
    for text in ["A12345", "fan@example.com", "hi"] {
        let turn = engine.handle(usher_channel::Inbound::text(codes.clone(), "api", text)).await.unwrap();
        assert_eq!(turn.parse.sentiment, None, "no mood in {text:?}");
    }
    // Everyday requests are not complaints: a fan asking three in a row
    // stays with the bot (SST-2 alone reads them as bad reviews).
    let asking = usher_channel::ConversationId::new("fan-asking").unwrap();
    for text in ["how do I get a refund for my ticket", "I lost my ticket", "how do I cancel my subscription"] {
        let turn = engine.handle(usher_channel::Inbound::text(asking.clone(), "api", text)).await.unwrap();
        assert!(turn.parse.sentiment.unwrap() > -0.6, "{text}: {:?}", turn.parse.sentiment);
        assert!(!turn.replies.iter().any(|r| matches!(r.parts[0], Part::Handoff { .. })), "{text}");
    }
}

#[tokio::test]
async fn a_fan_asking_for_a_poem_gets_one_on_their_theme() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine(dir.path()).await;
    common::attach_tools(&engine, common::creative_config(dir.path())).await;
    let mut fan = common::Fan::new(&engine, "fan-poem").await;
    let r = fan.say("write me a poem about love").await;
    let poem = text(&r[0]);
    assert!(poem.starts_with("Love") && poem.lines().count() >= 2, "{poem}");
    // The same request gives the same poem; the NLU record keeps it.
    let again = fan.say("write me a poem about love").await;
    assert_eq!(text(&again[0]), poem);
    let t = fan.transcript().await;
    assert_eq!(t.messages[0].nlu.as_ref().unwrap()["tool"]["tool"], "write_poem");
    // The poem says what wrote it, and the stored record keeps when.
    let made = t.messages[0].nlu.as_ref().unwrap()["tool"]["made_by"].as_str().unwrap().to_string();
    let made = usher::creative::provenance::Provenance::parse(&made).unwrap_or_else(|| panic!("{made}"));
    assert_eq!((made.generator.as_str(), made.model.len()), ("usher poem-gru", 16));
    assert!(made.created_ms > 0);
    assert!(poem.lines().last().unwrap().contains(&format!("model {}, seed {}", made.model, made.seed)), "{poem}");
    // A blocked theme is refused politely.
    let r = fan.say("write me a poem about fuck").await;
    assert!(text(&r[0]).starts_with("Sorry, I'd rather not write about that"), "{r:?}");

    // Text analysis reads what follows the colon, and says how to ask otherwise.
    let r = fan.say("analyse my review: The show was wonderful and I loved the band").await;
    let summary = text(&r[0]);
    assert!(summary.contains("9 words in 1 sentence") && summary.contains("Mostly joy"), "{summary}");
    let r = fan.say("analyse my review").await;
    assert_eq!(text(&r[0]), usher::creative::tools::ANALYZE_HOW);
}
