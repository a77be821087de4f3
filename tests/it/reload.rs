//! Hot reload while serving: a valid edit goes live, a broken one keeps the
//! old model and reports every error at /api/v1/admin/reload-status.

use crate::common;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use usher::http::app;
use usher_channel::Shutdown;

async fn get(app: &axum::Router, uri: &str) -> Value {
    let req = Request::get(uri).header("authorization", format!("Bearer {}", common::API_KEY));
    let res = app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

/// Posts `text` to `conversation`; the answer's JSON.
async fn post(app: &axum::Router, conversation: &str, text: &str) -> Value {
    let body = serde_json::json!({ "text": text }).to_string();
    let req = Request::post(format!("/api/v1/conversations/{conversation}/messages"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", common::API_KEY))
        .body(Body::from(body))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

async fn intent_of(app: &axum::Router, text: &str) -> String {
    let v = post(app, "reload-fan", text).await;
    v["nlu"]["intent"]["name"].as_str().unwrap_or_default().to_string()
}

async fn wait_for_attempt(app: &axum::Router, n: u64) -> Value {
    for _ in 0..600 {
        let s = get(app, "/api/v1/admin/reload-status").await;
        if s["attempts"].as_u64() >= Some(n) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no reload #{n} within 30 s");
}

const MERCH: &str = r#"
intents:
  - name: merch
    title: Merchandise
    examples:
      - do you sell band t-shirts
      - where can I buy merch
      - is there a merch stand at the venue
      - can I order a tour hoodie online
      - how much are the posters
      - buy official merchandise
      - do you ship merch abroad
      - merch store link please
    respond: merch
responses:
  merch:
    - text: "Official merch is at the venue stands and at encore.example/shop."
"#;

#[tokio::test]
async fn edits_go_live_and_broken_files_keep_the_old_model() {
    let dir = tempfile::tempdir().unwrap();
    let intents = common::shipped_intents(dir.path());
    let mut config = common::config(dir.path());
    config.intents = intents.clone();
    // This test is about the files; the conversation tests have their own below.
    config.reload.conversation_tests = dir.path().join("no-tests");
    let (engine, _) = usher::bootstrap::engine(&config, |_, _, _| {}).await.unwrap();
    let state = common::app_state(&engine);
    let (trigger, shutdown) = Shutdown::new();
    usher::reload::watch(engine, config, state.reload.clone(), shutdown, false).unwrap();
    let app = app(state);
    assert_eq!(get(&app, "/api/v1/admin/reload-status").await["outcome"], "none");
    assert_ne!(intent_of(&app, "where can I buy a band hoodie or t-shirt").await, "merch");

    std::fs::write(intents.join("merch.yaml"), MERCH).unwrap();
    let status = wait_for_attempt(&app, 1).await;
    assert_eq!(status["outcome"], "ok", "{status}");
    let shipped = usher::intents::load(&common::repo().join("intents")).unwrap().domain.intents.len();
    assert_eq!(status["intents"], shipped + 1, "the shipped intents and merch");
    println!("save to live: {} ms", status["duration_ms"]);
    assert_eq!(intent_of(&app, "where can I buy a band hoodie or t-shirt").await, "merch");

    std::fs::write(intents.join("merch.yaml"), MERCH.replace("    respond: merch", "    respnd: merch")).unwrap();
    let status = wait_for_attempt(&app, 2).await;
    assert_eq!(status["outcome"], "failed", "{status}");
    let errors: Vec<&str> = status["errors"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let file = intents.join("merch.yaml").display().to_string();
    assert!(
        errors.iter().any(|e| e.starts_with(&format!("{file}:14:5: error: intent \"merch\": unknown field `respnd`"))),
        "{errors:?}"
    );
    assert_eq!(
        intent_of(&app, "where can I buy a band hoodie or t-shirt").await,
        "merch",
        "the old model keeps serving"
    );
    trigger.fire();
}

/// The reply texts to `text` in `conversation`.
async fn replies_to(app: &axum::Router, conversation: &str, text: &str) -> String {
    let v = post(app, conversation, text).await;
    v["replies"].as_array().unwrap().iter().filter_map(|r| r["text"].as_str()).collect::<Vec<_>>().join(" | ")
}

const GREETING_TEST: &str = r#"
conversations:
  - name: a greeting introduces the bot
    turns:
      - fan: hello
        intent: greet
        says: ["I'm Usher"]
"#;

#[tokio::test]
async fn a_reload_that_breaks_a_conversation_test_lists_it_and_can_keep_the_old_model() {
    let dir = tempfile::tempdir().unwrap();
    let intents = common::shipped_intents(dir.path());
    let tests = dir.path().join("conversations");
    std::fs::create_dir(&tests).unwrap();
    std::fs::write(tests.join("greeting.yaml"), GREETING_TEST).unwrap();
    let mut config = common::config(dir.path());
    config.intents = intents.clone();
    config.reload.conversation_tests = tests.clone();
    config.reload.require_passing_tests = true;
    let (engine, _) = usher::bootstrap::engine(&config, |_, _, _| {}).await.unwrap();
    let state = common::app_state(&engine);
    let (trigger, shutdown) = Shutdown::new();
    usher::reload::watch(engine, config, state.reload.clone(), shutdown, false).unwrap();
    let app = app(state);

    // An edit that changes the greeting breaks the test: the old model stays.
    let file = intents.join("conversation.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    assert!(yaml.contains("Hi! I'm Usher"));
    std::fs::write(&file, yaml.replace("Hi! I'm Usher", "Hey there, Usher")).unwrap();
    let status = wait_for_attempt(&app, 1).await;
    assert_eq!(status["outcome"], "failed", "{status}");
    assert_eq!(status["tests_run"], 1, "{status}");
    let failures = status["test_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{status}");
    let failure = failures[0].as_str().unwrap();
    assert!(failure.contains("a greeting introduces the bot: turn 1: says: expected \"I'm Usher\""), "{failure}");
    assert!(replies_to(&app, "reload-greet-1", "hello").await.contains("Hi! I'm Usher"), "the old model serves");

    // Putting it back passes the test, and the reload goes live.
    std::fs::write(&file, &yaml).unwrap();
    let status = wait_for_attempt(&app, 2).await;
    assert_eq!(status["outcome"], "ok", "{status}");
    assert_eq!(status["test_failures"].as_array().unwrap().len(), 0, "{status}");
    trigger.fire();
}

/// The reload status once `done` holds of it (polled for up to `secs`).
async fn wait_for(app: &axum::Router, secs: u64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..secs * 10 {
        let s = get(app, "/api/v1/admin/reload-status").await;
        if done(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} not within {secs} s: {}", get(app, "/api/v1/admin/reload-status").await);
}

#[tokio::test]
async fn fine_tuning_runs_in_the_background_and_a_restart_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let intents = common::shipped_intents(dir.path());
    let mut config = common::config(dir.path());
    config.intents = intents.clone();
    config.reload.conversation_tests = dir.path().join("no-tests");
    config.nlu.encoder = Some(common::repo().join("models/all-MiniLM-L6-v2"));
    assert!(usher::nlu::encoder::fetch::present(config.nlu.encoder.as_ref().unwrap()), "run `usher models fetch`");
    config.nlu.fine_tune_layers = 1;
    config.nlu.fine_tune_epochs = 1;
    config.nlu.fine_tune_min_steps = 0;
    const FROZEN: &str = "MiniLM embeddings + hashed n-grams + MLP";
    const TUNED: &str = "MiniLM embeddings (top 1 layers fine-tuned) + hashed n-grams + MLP";

    // A first start answers with the frozen head while the layer is tuned.
    let (engine, _, pending) = usher::bootstrap::serving_engine(&config, |_, _, _| {}).await.unwrap();
    assert!(pending, "nothing tuned is cached yet");
    assert_eq!(engine.brain().nlu.classifier_name(), FROZEN);
    let state = common::app_state(&engine);
    let (trigger, shutdown) = Shutdown::new();
    usher::reload::watch(engine.clone(), config.clone(), state.reload.clone(), shutdown, true).unwrap();
    let app = app(state);
    let status = get(&app, "/api/v1/admin/reload-status").await;
    assert_eq!(status["fine_tune"]["state"], "running", "{status}");
    assert_eq!(intent_of(&app, "I want my money back for the show").await, "refund_request", "the frozen head answers");
    let status = wait_for(&app, 300, "the tuned model", |s| s["fine_tune"]["state"] != "running").await;
    assert_eq!(status["fine_tune"]["state"], "ready", "{status}");
    assert_eq!(engine.brain().nlu.classifier_name(), TUNED);
    assert_eq!(intent_of(&app, "I want my money back for the show").await, "refund_request");

    // An edit goes live at once over the frozen encoder, then is tuned in turn.
    std::fs::write(intents.join("merch.yaml"), MERCH).unwrap();
    let status = wait_for_attempt(&app, 1).await;
    assert_eq!(status["outcome"], "ok", "{status}");
    let first = status["fine_tune"]["started_ms"].as_i64().unwrap();
    assert_eq!(intent_of(&app, "where can I buy a band hoodie or t-shirt").await, "merch");
    let status = wait_for(&app, 300, "the edit's tuned model", |s| {
        s["fine_tune"]["state"] == "ready" && s["fine_tune"]["started_ms"].as_i64() > Some(first - 1)
    })
    .await;
    assert!(status["fine_tune"]["seconds"].as_f64().unwrap() > 0.0, "{status}");
    assert_eq!(engine.brain().nlu.classifier_name(), TUNED);
    assert_eq!(engine.brain().domain.intents.len(), status["intents"].as_u64().unwrap() as usize);
    assert_eq!(intent_of(&app, "where can I buy a band hoodie or t-shirt").await, "merch");
    trigger.fire();

    // A restart loads the tuned model from the cache: nothing left to tune.
    let (again, provenance, pending) = usher::bootstrap::serving_engine(&config, |_, _, _| {}).await.unwrap();
    assert!(!pending);
    assert_eq!(provenance, usher::nlu::Provenance::Cached);
    assert_eq!(again.brain().nlu.classifier_name(), TUNED);
    let texts = ["where can I buy a band hoodie or t-shirt", "my stream keeps buffering"];
    let (a, b) = (engine.brain().nlu.parse_batch(&texts).unwrap(), again.brain().nlu.parse_batch(&texts).unwrap());
    for (a, b) in a.iter().zip(&b) {
        assert_eq!((&a.intent.name, a.intent.confidence), (&b.intent.name, b.intent.confidence), "the same model");
    }
}
