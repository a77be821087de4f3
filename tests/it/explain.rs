//! Explanations (why the bot did what it did with each message) and deep
//! validation (`usher validate --deep`).

use crate::common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use usher::engine::{Engine, Turn};
use usher_channel::{ConversationId, Inbound};

async fn say(engine: &Engine, conversation: &str, text: &str) -> Turn {
    let inbound = Inbound::text(ConversationId::new(conversation).unwrap(), "api", text);
    engine.handle(inbound).await.unwrap()
}

#[tokio::test]
async fn each_turn_names_the_rule_that_decided_and_what_it_saw() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine(dir.path()).await;

    let t = say(&engine, "why-refund", "refund order A12345 please").await;
    let x = &t.explanation;
    assert_eq!(x.intents.len(), 3, "the top three intents: {x:?}");
    assert_eq!(x.intents[0].name, "refund_request");
    assert!(x.intents.windows(2).all(|w| w[0].confidence >= w[1].confidence), "best first: {x:?}");
    assert_eq!(x.rule.name, "intent");
    let confidence = format!("({:.2})", x.intents[0].confidence);
    // The shipped intents' own threshold (`policy:` in conversation.yaml).
    let threshold = format!("fallback_threshold {:.2}", engine.brain().domain.policy.fallback_threshold);
    assert!(
        x.rule.detail.contains("intent refund_request ")
            && x.rule.detail.contains(&confidence)
            && x.rule.detail.contains(&threshold),
        "{:?}",
        x.rule
    );
    let order = x.entities.iter().find(|e| e.entity == "order_id").expect("order id");
    assert_eq!((order.value.as_str(), order.source.as_str()), ("A12345", "regex"));

    // The flow's answer: the call and its outcome are part of the why.
    let t = say(&engine, "why-refund", "fan@example.com").await;
    let x = &t.explanation;
    assert_eq!(x.rule.name, "flow_answer", "{:?}", x.rule);
    assert!(x.rule.detail.contains("slot email of flow refund"), "{:?}", x.rule);
    assert!(!x.actions.is_empty() && x.actions.iter().all(|a| a.outcome == "ok"), "{:?}", x.actions);

    // Unsure: the threshold it fell below, with both numbers.
    let t = say(&engine, "why-unsure", "qwzx plorb vreeble").await;
    let x = &t.explanation;
    assert_eq!(x.rule.name, "fallback_threshold", "{:?}", x.rule);
    let below = format!("confidence {:.2} below {threshold}", x.intents[0].confidence);
    assert!(x.rule.detail.starts_with(&below), "{:?}", x.rule);

    // A keyword hands over whatever the intent.
    let t = say(&engine, "why-keyword", "I will talk to my lawyer about this").await;
    assert_eq!(t.explanation.rule.name, "handoff_keyword");
    assert!(t.explanation.rule.detail.contains("\"lawyer\""), "{:?}", t.explanation.rule);

    // A synonym is told apart from a plain lookup entry.
    let t = say(&engine, "why-device", "can I watch on my firestick").await;
    let device = t.explanation.entities.iter().find(|e| e.entity == "device").expect("device");
    assert_eq!(
        (device.value.as_str(), device.text.as_str(), device.source.as_str()),
        ("fire_tv", "firestick", "synonym")
    );

    // Stored with the message, for the console's transcript.
    let transcript = engine.transcript(&ConversationId::new("why-refund").unwrap()).await.unwrap().unwrap();
    let stored = transcript.messages.iter().find(|m| m.direction == "in").and_then(|m| m.nlu.clone()).unwrap();
    assert_eq!(stored["explanation"]["rule"]["name"], "intent", "{stored}");
    assert_eq!(stored["explanation"]["intents"].as_array().map(Vec::len), Some(3));
}

#[test]
fn usher_chat_explain_prints_the_why_of_each_reply() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let intents = common::repo().join("intents");
    let yaml = format!(
        "intents: {}\ndata_dir: {}\nnlu: {{encoder: null, sentiment: null}}\nknowledge: {{enabled: false}}\nactions: {{endpoints: {{encore: {{url: \"{}\"}}}}}}\n",
        intents.display(),
        dir.path().display(),
        common::NO_BACKEND
    );
    std::fs::write(&config, yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["--config"])
        .arg(&config)
        .args(["chat", "--explain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\nqwzx plorb vreeble\n/quit\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("why: intents: greet "), "{stdout}");
    assert!(stdout.contains("why: rule: intent – intent greet ("), "{stdout}");
    assert!(stdout.contains("why: rule: fallback_threshold – confidence "), "{stdout}");
}

/// The shipped intents copied to a temporary directory, with `extra`
/// first in `account.yaml`'s intents.
fn intents_with(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let intents = common::shipped_intents(dir.path());
    let path = intents.join("account.yaml");
    let src = std::fs::read_to_string(&path).unwrap();
    let src = src.replacen("intents:\n", &format!("intents:\n{extra}"), 1);
    std::fs::write(&path, src).unwrap();
    (dir, intents)
}

#[test]
fn deep_validation_names_confusable_duplicate_and_thin_intents_with_their_lines() {
    // Two new intents: one holds a refund example among wifi questions,
    // one has six examples that say one thing in two ways, and repeats a
    // refund example.
    let extra = "  - name: wifi\n    examples:\n      - what is the wifi password\n      - is there wifi at the venue\n      - how do I get online in the stadium\n      - free internet in the hall\n      - I want a refund for my ticket\n    respond: greet\n  - name: parking\n    examples:\n      - where can I park\n      - where can i park\n      - Where can I park?\n      - where can I park my car\n      - parking near the venue\n      - Request a refund\n    respond: greet\n";
    let (_dir, intents) = intents_with(extra);
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("config.yaml");
    let yaml = format!("intents: {}\ndata_dir: {}\nnlu: {{encoder: null}}\n", intents.display(), data.path().display());
    std::fs::write(&config, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_usher"))
        .arg("--config")
        .arg(&config)
        .args(["validate", "--deep"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let file = intents.join("account.yaml").display().to_string();
    let src = std::fs::read_to_string(intents.join("account.yaml")).unwrap();
    let line_of = |needle: &str| src.lines().position(|l| l.contains(needle)).unwrap() + 1;
    // The refund example among the wifi ones, at its own line.
    let misplaced = line_of("- I want a refund for my ticket");
    assert!(
        stdout.lines().any(|l| l.starts_with(&format!("{file}:{misplaced}:"))
            && l.contains("intent wifi: example \"I want a refund for my ticket\" is closer to intent refund_request")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.contains("nearly repeats \"request a refund\" of intent refund_request")
            || l.contains("\"request a refund\" nearly repeats \"Request a refund\"")),
        "near-duplicates across intents: {stdout}"
    );
    assert!(stdout.lines().any(|l| l.contains("confusable: refund_request / wifi:")), "the pair is named: {stdout}");
    // Six examples, four of them distinct at most.
    let parking = line_of("- name: parking");
    assert!(
        stdout.lines().any(|l| l.starts_with(&format!("{file}:{parking}:")) && l.contains("intent parking: only")),
        "{stdout}"
    );
    // The same as JSON.
    let out = Command::new(env!("CARGO_BIN_EXE_usher"))
        .arg("--config")
        .arg(&config)
        .args(["validate", "--deep", "--json"])
        .output()
        .unwrap();
    let last = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert!(v["thin"].as_array().unwrap().iter().any(|t| t["intent"] == "parking"), "{v}");
    assert!(v["pairs"].as_array().unwrap().iter().any(|p| p["intents"][1] == "wifi"), "{v}");
}

#[test]
fn deep_validation_of_the_shipped_intents_finds_no_thin_intent() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["validate", "--deep", "--json"])
        .current_dir(common::repo())
        .env("USHER_DATA_DIR", data.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["examples"].as_u64().unwrap() as usize, count_examples(), "{v}");
    assert_eq!(v["thin"], serde_json::json!([]), "{v}");
}

fn count_examples() -> usize {
    let domain = usher::intents::load(&common::repo().join("intents")).unwrap().domain;
    domain.intents.iter().map(|i| i.examples.len()).sum()
}
