//! Flows through the pure policy: plan, a backend written here as a
//! function of the call, then decide, as the engine runs a turn.

use std::collections::BTreeMap;
use std::path::PathBuf;

use usher_channel::Part;

use super::*;
use crate::intents::{load_sources, Domain};
use crate::nlu::Parse;

const FLOWS: &str = r#"
intents:
  - name: pause
    examples: [pause my plan, pause subscription, hold my plan, stop billing for a while, pause it]
    flow: pause
  - name: greet
    examples: [hi, hello, hey, hiya, good morning]
    respond: hello
  - name: spin
    examples: [spin, loop, go round, again and again, repeat it]
    flow: spin
flows:
  pause:
    steps:
      - id: ask
        collect: weeks
        ask: "How many weeks?"
        pattern: '\b\d+\b'
        invalid: "A number, please."
      - branch:
          - if: weeks | int > 12
            then: too_long
      - call: pause_plan
        say: false
      - branch:
          - if: outcome == "ok"
            then: done
          - else: refused
      - id: done
        respond: paused
        next: end
      - id: refused
        set: { note: "refused {weeks}" }
        next: person
      - id: person
        goto: person
      - id: too_long
        respond: too_long
      - set: { weeks: "" }
        next: ask
  person:
    steps:
      - respond: sorry
      - handoff: true
  spin:
    steps:
      - id: top
        collect: name
        ask: "Name?"
      - respond: hello
        next: top
actions:
  pause_plan:
    endpoint: plans
    method: POST
    path: /pause/{weeks}
    respond: { ok: paused }
responses:
  hello:
    - text: "Hello!"
  paused:
    - text: "Paused for {weeks} weeks."
  too_long:
    - text: "At most 12 weeks."
  sorry:
    - text: "Sorry, that didn't work."
"#;

fn domain() -> Domain {
    match load_sources(&[(PathBuf::from("flows.yaml"), FLOWS.to_string())]) {
        Ok(loaded) => loaded.domain,
        Err(report) => panic!("{report}"),
    }
}

/// One fan message read as `intent` at `confidence`, the backend answering
/// each call with `backend(action, values)`: the replies' texts.
fn turn(
    d: &Domain,
    t: &mut Tracker,
    text: &str,
    (intent, confidence): (&str, f32),
    backend: &dyn Fn(&str, &BTreeMap<String, String>) -> &'static str,
) -> Vec<String> {
    let parse = read_as(intent, confidence);
    let msg = Message { text, payload: None };
    let mut evidence = Evidence::default();
    for _ in 0..8 {
        let needs = plan(d, t, msg, &parse, &evidence);
        if needs.is_empty() {
            break;
        }
        for need in needs {
            let found = match &need {
                Need::Action { action, values } => {
                    let mut called = Called::new(action, "plans");
                    called.outcome = backend(action, values).to_string();
                    Found::Called(called)
                }
                _ => Found::Unavailable { why: "not in this test".into() },
            };
            evidence.record(need, found);
        }
    }
    let decision = decide(d, t, msg, &parse, &evidence);
    decision
        .replies
        .iter()
        .flatten()
        .filter_map(|p| match p {
            Part::Text { text } => Some(text.clone()),
            Part::Handoff { .. } => Some("[handoff]".into()),
            _ => None,
        })
        .collect()
}

fn ok(_: &str, _: &BTreeMap<String, String>) -> &'static str {
    "ok"
}

/// An answer mid-flow: no intent the bot is sure of.
const ANSWER: (&str, f32) = ("none", 0.1);

#[test]
fn a_flow_collects_validates_branches_loops_back_and_calls() {
    let (d, mut t) = (domain(), Tracker::default());
    assert_eq!(turn(&d, &mut t, "pause my plan", ("pause", 0.95), &ok), ["How many weeks?"]);
    assert_eq!(turn(&d, &mut t, "twenty", ANSWER, &ok), ["A number, please. How many weeks?"]);
    // 20 > 12: the branch says so, clears the slot and goes back to ask.
    assert_eq!(turn(&d, &mut t, "20", ANSWER, &ok), ["At most 12 weeks.", "How many weeks?"]);
    let seen = std::cell::RefCell::new(Vec::new());
    let backend = |action: &str, values: &BTreeMap<String, String>| {
        seen.borrow_mut().push((action.to_string(), values.get("weeks").cloned()));
        "ok"
    };
    assert_eq!(turn(&d, &mut t, "3 please", ANSWER, &backend), ["Paused for 3 weeks."]);
    assert_eq!(seen.into_inner(), [("pause_plan".to_string(), Some("3".to_string()))]);
    assert!(t.flows.is_empty(), "{t:?}");
}

#[test]
fn an_outcome_branch_sets_a_slot_and_goes_on_in_another_flow_to_a_person() {
    let (d, mut t) = (domain(), Tracker::default());
    turn(&d, &mut t, "pause my plan", ("pause", 0.95), &ok);
    let r = turn(&d, &mut t, "4", ANSWER, &|_, _| "refused");
    assert_eq!(r, ["Sorry, that didn't work.", "[handoff]"]);
    assert_eq!(t.slots.get("note").map(String::as_str), Some("refused 4"));
    assert!(t.with_human() && t.flows.is_empty(), "{t:?}");
}

#[test]
fn a_failed_call_apologises_and_ends_the_flow_even_when_quiet() {
    let (d, mut t) = (domain(), Tracker::default());
    turn(&d, &mut t, "pause my plan", ("pause", 0.95), &ok);
    let r = turn(&d, &mut t, "4", ANSWER, &|_, _| "timeout");
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].contains("can't check that right now"), "{r:?}");
    assert!(t.flows.is_empty() && !t.with_human(), "{t:?}");
}

#[test]
fn digressions_are_answered_and_a_paused_flow_resumes_after_a_cancel() {
    let (d, mut t) = (domain(), Tracker::default());
    turn(&d, &mut t, "pause my plan", ("pause", 0.95), &ok);
    assert_eq!(turn(&d, &mut t, "hi there", ("greet", 0.95), &ok), ["Hello!", "How many weeks?"]);
    // A confident intent with a flow of its own pauses this one.
    assert_eq!(turn(&d, &mut t, "spin", ("spin", 0.95), &ok), ["Name?"]);
    assert_eq!(t.flows.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["pause", "spin"]);
    let r = turn(&d, &mut t, "never mind", ANSWER, &ok);
    assert_eq!(r, ["Okay, I've cancelled that. Anything else I can help with?", "How many weeks?"]);
    assert_eq!(turn(&d, &mut t, "2", ANSWER, &ok), ["Paused for 2 weeks."]);
    // Unsure messages are answers, not digressions.
    turn(&d, &mut t, "pause my plan", ("pause", 0.95), &ok);
    assert_eq!(turn(&d, &mut t, "hello?", ("greet", 0.5), &ok), ["A number, please. How many weeks?"]);
}

#[test]
fn a_loop_through_filled_slots_is_cut_off() {
    let (d, mut t) = (domain(), Tracker::default());
    assert_eq!(turn(&d, &mut t, "spin", ("spin", 0.95), &ok), ["Name?"]);
    let r = turn(&d, &mut t, "Bo", ANSWER, &ok);
    assert!(r.len() > 10 && r[..r.len() - 1].iter().all(|s| s == "Hello!"), "{r:?}");
    assert!(r.last().unwrap().contains("can't check that right now"), "{r:?}");
    assert!(t.flows.is_empty());
}

#[test]
fn a_tracker_stored_before_flows_still_loads() {
    let old = r#"{"slots":{"order_id":"A12345"},"form":{"name":"refund","respond":"refund_done","requested":"email","attempts":0},
                  "recent":[],"fallbacks":0,"handoff":{"state":"bot"},"turns":3}"#;
    let t: Tracker = serde_json::from_str(old).unwrap();
    assert!(t.flows.is_empty());
    assert_eq!(t.slots["order_id"], "A12345");
}

const VENUE: &str = r#"
intents:
  - name: venue
    examples: [getting to the venue, where is the venue, parking at the arena, can I bring a bag, venue entrances]
    respond: venue
    knowledge_first: true
  - name: greet
    examples: [hi, hello, hey, hiya, good morning]
    respond: hello
responses:
  venue:
    - text: "Each venue page lists it all."
  hello:
    - text: "Hello!"
"#;

/// One message read as `intent` at `confidence`, the knowledge base
/// answering with a confident passage of `similarity`: the replies' texts.
fn with_passage(d: &Domain, (intent, confidence): (&str, f32), similarity: f32) -> Vec<String> {
    let parse = read_as(intent, confidence);
    let msg = Message { text: "can I bring my own food", payload: None };
    let mut t = Tracker::default();
    let mut evidence = Evidence::default();
    for need in plan(d, &t, msg, &parse, &evidence) {
        let passage = Passage {
            text: "No outside food.".into(),
            citation: "Source: FAQ".into(),
            path: "faq.yaml".into(),
            similarity,
            confident: true,
            runners_up: Vec::new(),
        };
        evidence.record(need, Found::Passage(Some(passage)));
    }
    let texts = decide(d, &mut t, msg, &parse, &evidence).replies.into_iter().flatten();
    texts.filter_map(|p| if let Part::Text { text } = p { Some(text) } else { None }).collect()
}

#[test]
fn a_passage_that_answers_the_message_wins_over_a_general_template() {
    let d = match load_sources(&[(PathBuf::from("venue.yaml"), VENUE.to_string())]) {
        Ok(loaded) => loaded.domain,
        Err(report) => panic!("{report}"),
    };
    let kb = |r: Vec<String>| r.first().is_some_and(|t| t.starts_with("No outside food."));
    // A confident knowledge-first intent: only a passage on the question itself wins.
    assert!(kb(with_passage(&d, ("venue", 0.95), 0.70)));
    assert_eq!(with_passage(&d, ("venue", 0.95), 0.55), ["Each venue page lists it all."]);
    // An unsure template: any confident passage wins.
    assert!(kb(with_passage(&d, ("greet", 0.5), 0.55)));
    // A confident template that is not knowledge-first is never replaced.
    assert_eq!(with_passage(&d, ("greet", 0.95), 0.9), ["Hello!"]);
}

/// A parse that reads a message as `intent` at `confidence`, and nothing else.
fn read_as(intent: &str, confidence: f32) -> Parse {
    let mut parse = Parse::certain(intent, Vec::new());
    parse.intent.confidence = confidence;
    parse.ranking[0].confidence = confidence;
    parse
}
