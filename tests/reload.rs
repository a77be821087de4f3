//! Hot reload while serving: a valid edit goes live, a broken one keeps the
//! old model and reports every error at /api/v1/admin/reload-status.

mod common;

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

async fn intent_of(app: &axum::Router, text: &str) -> String {
    let body = serde_json::json!({ "text": text }).to_string();
    let req = Request::post("/api/v1/conversations/reload-fan/messages")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", common::API_KEY))
        .body(Body::from(body))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let v: Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
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
    let intents = dir.path().join("intents");
    std::fs::create_dir(&intents).unwrap();
    for entry in std::fs::read_dir(common::repo().join("intents")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, intents.join(p.file_name().unwrap())).unwrap();
    }
    let mut config = common::config(dir.path());
    config.intents = intents.clone();
    let (engine, _) = usher::bootstrap::engine(&config, |_, _, _| {}).await.unwrap();
    let state = common::app_state(&engine);
    let (trigger, shutdown) = Shutdown::new();
    usher::reload::watch(engine, config, state.reload.clone(), shutdown).unwrap();
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
