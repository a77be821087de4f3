//! The HTTP API through `Router::oneshot`, without a socket.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(app: &axum::Router, method: &str, uri: &str, body: Option<String>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", common::API_KEY))
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
    (status, value)
}

async fn post(app: &axum::Router, conv: &str, body: Value) -> (StatusCode, Value) {
    call(app, "POST", &format!("/api/v1/conversations/{conv}/messages"), Some(body.to_string())).await
}

#[tokio::test]
async fn health_and_a_refund_conversation_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let app = usher::http::app(common::app_state(&common::engine(dir.path()).await));
    assert_eq!(call(&app, "GET", "/healthz", None).await, (StatusCode::OK, json!({"status": "ok"})));

    let (status, v) = post(&app, "http-1", json!({"text": "refund order A12345 please", "payload": null})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["nlu"]["intent"]["name"], "refund_request");
    assert!(v["nlu"]["intent"]["confidence"].as_f64().unwrap() > 0.45);
    assert_eq!(v["nlu"]["entities"][0]["entity"], "order_id");
    assert_eq!(v["nlu"]["entities"][0]["value"], "A12345");
    assert!(v["replies"][0]["text"].as_str().unwrap().contains("Which email address"), "{v}");

    let (_, v) = post(&app, "http-1", json!({"text": "fan@example.com"})).await;
    let reply = v["replies"][0]["text"].as_str().unwrap();
    assert!(reply.contains("order A12345 for The Lumineers is refunded"), "the backend refunded it: {reply}");
    assert_eq!(v["nlu"]["actions"][0]["outcome"], "ok", "the call is in the turn's details: {v}");
    assert_eq!(v["replies"][0]["parts"][1]["type"], "buttons");

    let (status, t) = call(&app, "GET", "/api/v1/conversations/http-1", None).await;
    assert_eq!(status, StatusCode::OK);
    let messages = t["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[0]["direction"], "in");
    assert_eq!(messages[0]["nlu"]["intent"]["name"], "refund_request");
}

#[tokio::test]
async fn button_payloads_skip_the_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let app = usher::http::app(common::app_state(&common::engine(dir.path()).await));
    let (status, v) = post(&app, "http-btn", json!({"text": "Talk to a person", "payload": "/talk_to_human"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["nlu"]["intent"], json!({"name": "talk_to_human", "confidence": 1.0}));
    assert_eq!(v["replies"][0]["parts"][0]["type"], "handoff");
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine(dir.path()).await;
    let app = usher::http::app(common::app_state(&engine));
    let app = usher::http::harden(app, &usher::config::Config::parse("").unwrap().http);

    let (status, v) = post(&app, "bad-1", json!({"text": "   "})).await;
    assert_eq!((status, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("message is empty")));

    let (status, v) = post(&app, "bad-1", json!({"text": "a".repeat(20 * 1024 + 1)})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["error"].as_str().unwrap().contains("over the 20480-byte limit"), "{v}");

    let (status, _) = post(&app, "bad-1", json!({"text": "a".repeat(100 * 1024)})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "bodies over 64 kB are cut off");

    let (status, v) = call(&app, "POST", "/api/v1/conversations/bad-1/messages", Some("{\"text\": ".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().starts_with("invalid JSON body: EOF"), "{v}");

    let (status, v) = post(&app, "bad-1", json!({"txt": "hi"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("unknown field `txt`"), "{v}");

    let (status, _) = post(&app, "bad%2Fid", json!({"text": "hi"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, v) = call(&app, "GET", "/api/v1/conversations/nobody-here", None).await;
    assert_eq!((status, v["error"].as_str()), (StatusCode::NOT_FOUND, Some("conversation nobody-here not found")));

    let conv = usher_channel::ConversationId::new("bad-1").unwrap();
    assert!(engine.transcript(&conv).await.unwrap().is_none(), "nothing was stored for refused messages");
}

#[tokio::test]
async fn explain_true_returns_the_turns_explanation() {
    let dir = tempfile::tempdir().unwrap();
    let app = usher::http::app(common::app_state(&common::engine(dir.path()).await));
    let uri = "/api/v1/conversations/http-why/messages";
    let body = json!({"text": "refund order A12345 please"}).to_string();
    let (status, v) = call(&app, "POST", &format!("{uri}?explain=true"), Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let x = &v["explanation"];
    assert_eq!(x["intents"][0]["name"], "refund_request", "{v}");
    assert_eq!(x["rule"]["name"], "intent", "{v}");
    assert_eq!(x["entities"][0]["source"], "regex", "{v}");
    // Without the flag the response stays as it was.
    let (_, v) = call(&app, "POST", uri, Some(body.clone())).await;
    assert!(v.get("explanation").is_none(), "{v}");
    // A flag that is not a boolean, or an unknown parameter, is refused.
    let (status, v) = call(&app, "POST", &format!("{uri}?explain=perhaps"), Some(body.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, _) = call(&app, "POST", &format!("{uri}?explian=true"), Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
