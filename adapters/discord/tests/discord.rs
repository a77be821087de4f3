//! The Discord adapter: conversions on gateway-shaped JSON fixtures, and the
//! adapter with serenity's real HTTP client against the local fake REST API
//! (compliance suite, 429s, support threads, `/support`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use serenity::all::{GuildChannel, HttpBuilder, Interaction, Message};
use usher_channel::compliance::{self, Harness, Platform, Shown};
use usher_channel::{Accepted, ConversationId, Outbound, Part};
use usher_discord::convert::{self, Event, Place};
use usher_discord::fake::{self, FakeDiscord};
use usher_discord::{Config, Discord, Incoming};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let envelope: Value = serde_json::from_str(&text).unwrap();
    envelope["d"].clone()
}

fn message(name: &str) -> Message {
    serde_json::from_value(fixture(name)).expect("MESSAGE_CREATE deserializes")
}

#[test]
fn a_direct_message_becomes_a_fan_message() {
    let Event::Message { inbound } = convert::message(&message("message_create_dm"), Place::Direct) else { panic!() };
    assert_eq!(inbound.conversation.as_str(), "discord:1290000000000000001");
    assert_eq!(inbound.text, "hi, my stream keeps buffering");
    assert_eq!(inbound.sender, "812345678901234567");
    assert_eq!(inbound.channel, "discord");
    let id = message("message_create_dm").id.get();
    assert_eq!(inbound.platform_id, Some(format!("message:{id}")), "a redelivery is recognised by it");
}

#[test]
fn a_message_in_the_support_channel_opens_a_thread() {
    let msg = message("message_create_support");
    let Event::OpenThread { channel, message: id, title, text, .. } = convert::message(&msg, Place::SupportChannel)
    else {
        panic!()
    };
    assert_eq!((channel.get(), id.get()), (1280000000000000010, 1311122233344455600));
    assert_eq!(title, "Support: Gig Fan");
    assert_eq!(text, "I want a refund for the Arctic Monkeys gig");
    assert!(matches!(convert::message(&msg, Place::Elsewhere), Event::Ignored { .. }));
}

#[test]
fn bots_are_ignored_and_stickers_are_unreadable() {
    assert!(matches!(convert::message(&message("message_create_bot"), Place::Direct), Event::Ignored { .. }));
    let Event::Unreadable { conversation } = convert::message(&message("message_create_sticker"), Place::Direct) else {
        panic!()
    };
    assert_eq!(conversation.as_str(), "discord:1290000000000000001");
}

#[test]
fn a_button_interaction_becomes_its_payload() {
    let interaction: Interaction = serde_json::from_value(fixture("interaction_create_button")).unwrap();
    let Event::Press { inbound, interaction } = convert::interaction(&interaction) else { panic!() };
    assert_eq!(inbound.payload.as_deref(), Some("/talk_to_human"));
    assert_eq!(inbound.conversation.as_str(), "discord:1290000000000000001");
    assert_eq!(interaction.token, "aW50ZXJhY3Rpb246MTMxMTEyMjIzMzM0NDQ1NTcwMA");
    // A custom id that is not one of our payloads is only acknowledged.
    let mut foreign = fixture("interaction_create_button");
    foreign["data"]["custom_id"] = "shop:buy:42".into();
    let foreign: Interaction = serde_json::from_value(foreign).unwrap();
    assert!(matches!(convert::interaction(&foreign), Event::StaleButton { .. }));
}

#[test]
fn the_support_command_and_thread_creation_parse() {
    let command: Interaction = serde_json::from_value(fixture("interaction_create_command")).unwrap();
    let Event::Support { interaction } = convert::interaction(&command) else { panic!() };
    assert_eq!(interaction.user.id.get(), 812345678901234999);
    let thread: GuildChannel = serde_json::from_value(fixture("thread_create")).unwrap();
    assert_eq!(thread.parent_id.map(|p| p.get()), Some(1280000000000000010));
}

#[test]
fn replies_render_as_components_within_the_length_limit() {
    let buttons: Vec<usher_channel::Button> = (0..7)
        .map(|i| usher_channel::Button { title: format!("Option {i}"), payload: format!("/intent_{i}") })
        .collect();
    let long = "Check your router and restart the app. ".repeat(80);
    let reply = Outbound {
        conversation: ConversationId::new("discord:5").unwrap(),
        channel: "discord".into(),
        id: 1,
        parts: vec![Part::Text { text: long.clone() }, Part::Buttons { buttons }],
    };
    let pieces = usher_discord::render::render(&reply);
    assert!(pieces.len() >= 2);
    let usher_channel::Piece::Text { text, buttons } = pieces.last().unwrap() else { panic!() };
    let json = serde_json::to_value(usher_discord::render::text_message(text, buttons)).unwrap();
    let rows = json["components"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "7 buttons make rows of 5 and 2");
    assert_eq!(rows[0]["components"].as_array().unwrap().len(), 5);
    assert_eq!(rows[1]["components"][1]["custom_id"], "/intent_6");
    assert_eq!(rows[1]["components"][1]["label"], "Option 6");
    for p in &pieces {
        let usher_channel::Piece::Text { text, .. } = p else { panic!() };
        assert!(text.chars().count() <= 2000);
    }
}

fn http(fake: &FakeDiscord) -> Arc<serenity::all::Http> {
    Arc::new(HttpBuilder::new("Bot TEST").proxy(fake.url()).ratelimiter_disabled(true).build())
}

const DM: u64 = 7001;

struct Fans {
    fake: FakeDiscord,
    events: usher_discord::IncomingSender,
    next: u64,
    seen: usize,
}

#[async_trait]
impl Platform for Fans {
    async fn fan_says(&mut self, text: &str) -> ConversationId {
        self.next += 2;
        let msg: Message = serde_json::from_value(fake::message_create(self.next, DM, None, 42, text)).unwrap();
        assert!(self.events.send(Incoming::Message(Box::new(msg))).await);
        ConversationId::new(format!("discord:{DM}")).unwrap()
    }

    async fn fan_presses(&mut self, _conversation: &ConversationId, payload: &str) {
        self.next += 2;
        let press: Interaction = serde_json::from_value(fake::button_press(self.next, DM, 42, payload)).unwrap();
        assert!(self.events.send(Incoming::Interaction(Box::new(press))).await);
    }

    async fn shown(&mut self, _conversation: &ConversationId, expected: &[&str]) -> Shown {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let mut shown = Shown::default();
            for call in self.fake.messages(DM).iter().skip(self.seen) {
                shown.text.push_str(call.body["content"].as_str().unwrap_or_default());
                shown.text.push('\n');
                for row in call.body["components"].as_array().into_iter().flatten() {
                    for b in row["components"].as_array().into_iter().flatten() {
                        shown.buttons.push(b["label"].as_str().unwrap_or_default().to_string());
                    }
                }
                shown.attachments.extend(call.files.iter().cloned());
            }
            if expected.iter().all(|e| shown.shows(e)) || tokio::time::Instant::now() > deadline {
                self.seen = self.fake.messages(DM).len();
                return shown;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn discord_passes_the_channel_compliance_suite() {
    let fake = FakeDiscord::start().await.unwrap();
    let adapter = Discord::with_http(Config { enabled: true, ..Config::default() }, http(&fake));
    let events = adapter.events();
    compliance::run(Box::new(adapter), Fans { fake, events, next: 100, seen: 0 }).await;
}

#[tokio::test]
async fn a_429_is_retried_by_the_delivery_queue_with_components_intact() {
    let fake = FakeDiscord::start().await.unwrap();
    let mut h = Harness::start(Box::new(Discord::with_http(Config::default(), http(&fake))));
    fake.rate_limit_next(2);
    let parts = vec![
        Part::Text { text: "Want a person?".into() },
        Part::Buttons {
            buttons: vec![usher_channel::Button { title: "Talk to a person".into(), payload: "/talk_to_human".into() }],
        },
    ];
    let reply = Outbound {
        conversation: ConversationId::new(format!("discord:{DM}")).unwrap(),
        channel: "discord".into(),
        id: 3,
        parts,
    };
    h.replies.send(reply).await.unwrap();
    assert_eq!(h.receipt().await, Some(3));
    let all = fake.calls("POST", &format!("/channels/{DM}/messages"));
    assert_eq!(all.len(), 3, "two 429s, then the message");
    assert!(all[1].at - all[0].at >= usher_discord::RETRY_AFTER_UNKNOWN, "the queue must wait before retrying");
    let sent = fake.messages(DM);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["content"], "Want a person?");
    assert_eq!(sent[0].body["components"][0]["components"][0]["custom_id"], "/talk_to_human");
    h.stop().await;
}

const SUPPORT: u64 = 3000;

/// The fake, the event feed and a running adapter with a support channel.
async fn with_support_channel() -> (FakeDiscord, usher_discord::IncomingSender, Harness) {
    let fake = FakeDiscord::start().await.unwrap();
    let config = Config { enabled: true, support_channel: Some(SUPPORT), ..Config::default() };
    let adapter = Discord::with_http(config, http(&fake));
    let events = adapter.events();
    (fake, events, Harness::start(Box::new(adapter)))
}

#[tokio::test]
async fn the_support_channel_gives_each_fan_a_thread() {
    let (fake, events, mut h) = with_support_channel().await;
    let first: Message =
        serde_json::from_value(fake::message_create(11, SUPPORT, Some(fake::GUILD), 42, "my tickets never arrived"))
            .unwrap();
    events.send(Incoming::Message(Box::new(first))).await;
    let sub = h.next().await;
    let threads = fake.threads();
    assert_eq!(threads.len(), 1, "one thread per fan");
    let (thread, parent) = threads[0];
    assert_eq!(parent, SUPPORT);
    assert_eq!(sub.inbound.conversation.as_str(), format!("discord:{thread}"));
    assert_eq!(sub.inbound.text, "my tickets never arrived");
    let _ = sub.ack.send(Ok(Accepted { message_id: 1 }));
    let created = fake.calls("POST", &format!("/channels/{SUPPORT}/messages/11/threads"));
    assert_eq!(created[0].body["name"], "Support: fan");

    // The fan's next message in the thread continues the same conversation.
    let next: Message =
        serde_json::from_value(fake::message_create(13, thread, Some(fake::GUILD), 42, "order A12345")).unwrap();
    events.send(Incoming::Message(Box::new(next))).await;
    let sub = h.next().await;
    assert_eq!(sub.inbound.conversation.as_str(), format!("discord:{thread}"));
    let _ = sub.ack.send(Ok(Accepted { message_id: 2 }));

    // Chatter in an unrelated channel is looked up once and ignored.
    let other: Message =
        serde_json::from_value(fake::message_create(15, 4444, Some(fake::GUILD), 43, "anyone here?")).unwrap();
    events.send(Incoming::Message(Box::new(other))).await;
    assert!(fake.wait_call("GET", "/channels/4444").await.is_some());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.submissions.try_recv().is_err(), "a message outside support must not reach the engine");
    h.stop().await;
}

#[tokio::test]
async fn the_support_command_opens_a_private_thread_and_greets() {
    let (fake, events, mut h) = with_support_channel().await;
    let command: Interaction = serde_json::from_value(fixture("interaction_create_command")).unwrap();
    events.send(Incoming::Interaction(Box::new(command))).await;
    let sub = h.next().await;
    assert_eq!(sub.inbound.payload.as_deref(), Some("/greet"));
    let (thread, _) = fake.threads()[0];
    assert_eq!(sub.inbound.conversation.as_str(), format!("discord:{thread}"));
    let private = fake.calls("POST", &format!("/channels/{SUPPORT}/threads"));
    assert_eq!(private[0].body["type"], 12, "a private thread");
    assert!(fake.wait_call("PUT", &format!("/channels/{thread}/thread-members/812345678901234999")).await.is_some());
    let answer = fake.wait_call("POST", "/interactions/1311122233344455800/").await.unwrap();
    assert_eq!(answer.body["data"]["flags"], 64, "ephemeral");
    assert!(answer.body["data"]["content"].as_str().unwrap().contains(&thread.to_string()));
    let _ = sub.ack.send(Ok(Accepted { message_id: 1 }));
    h.stop().await;
}

#[tokio::test]
async fn serenity_connects_through_the_fake_gateway_and_events_reach_the_engine() {
    let fake = FakeDiscord::start().await.unwrap();
    let config = Config { enabled: true, ..Config::default() };
    let mut h = Harness::start(Box::new(Discord::connect(config, "TEST", Some(fake.url()))));
    let identify = fake.wait_identify().await.expect("serenity identified");
    let intents = identify["intents"].as_u64().unwrap();
    // GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
    assert_eq!(intents & (1 | 1 << 9 | 1 << 12 | 1 << 15), 1 | 1 << 9 | 1 << 12 | 1 << 15, "intents {intents:b}");
    fake.dispatch("MESSAGE_CREATE", fake::message_create(21, DM, None, 42, "hello over the gateway"));
    let sub = h.next().await;
    assert_eq!(sub.inbound.text, "hello over the gateway");
    assert_eq!(sub.inbound.conversation.as_str(), format!("discord:{DM}"));
    let _ = sub.ack.send(Ok(Accepted { message_id: 1 }));
    // READY registered /support.
    let registered = fake.wait_call("POST", "/applications/77/commands").await.expect("/support registered");
    assert_eq!(registered.body["name"], "support");
    h.stop().await;
}

#[tokio::test]
async fn attachments_are_uploaded_as_files() {
    let fake = FakeDiscord::start().await.unwrap();
    let mut h = Harness::start(Box::new(Discord::with_http(Config::default(), http(&fake))));
    let file = |kind, name: &str| {
        Part::Attachment(usher_channel::Attachment {
            kind,
            url: format!("{}/files/{name}", fake.url()),
            name: name.into(),
            mime: "x/y".into(),
        })
    };
    let parts = vec![
        Part::Text { text: "Here is your melody.".into() },
        file(usher_channel::AttachmentKind::Audio, "tune.wav"),
        file(usher_channel::AttachmentKind::Image, "roll.png"),
    ];
    let reply = Outbound {
        conversation: ConversationId::new(format!("discord:{DM}")).unwrap(),
        channel: "discord".into(),
        id: 4,
        parts,
    };
    h.replies.send(reply).await.unwrap();
    assert_eq!(h.receipt().await, Some(4));
    let posts = fake.calls("POST", &format!("/channels/{DM}/messages"));
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[0].body["content"], "Here is your melody.");
    assert_eq!(posts[1].files, vec!["tune.wav".to_string()]);
    assert_eq!(posts[2].files, vec!["roll.png".to_string()]);
    h.stop().await;
}
