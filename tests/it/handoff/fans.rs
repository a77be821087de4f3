//! A fan's export and erasure through the console's admin routes
//! (`/console/api/fans`): selectors, a held conversation, the audit entry,
//! and a fan who writes again afterwards.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{claim, desk, path};

#[tokio::test]
async fn an_admin_exports_and_erases_a_fan_from_the_console() {
    let d = desk().await;
    d.fan("fan-gdpr", "I want to speak to a human, I'm sam.fan@example.net").await;
    d.fan("fan-gdpr-2", "me again, sam.fan@example.net").await;
    let alice = d.login("alice", "alice-password").await;

    // Export by email: both conversations, redacted as stored.
    let (status, v) = d.call(Method::GET, "/console/api/fans?email=Sam.Fan@example.net", Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["conversations"].as_array().unwrap().len(), 2, "{v}");
    assert!(v.to_string().contains("[email]") && !v.to_string().contains("sam.fan@example.net"), "{v}");

    // Bad selectors, an unknown conversation.
    for (query, want) in [
        ("", StatusCode::BAD_REQUEST),
        ("?conversation=fan-gdpr&email=a@b.c", StatusCode::BAD_REQUEST),
        ("?email=not-an-email", StatusCode::BAD_REQUEST),
        ("?colour=red", StatusCode::BAD_REQUEST),
        ("?conversation=nobody-here", StatusCode::NOT_FOUND),
    ] {
        let (status, v) = d.call(Method::GET, &format!("/console/api/fans{query}"), Some(&alice), None).await;
        assert_eq!(status, want, "{query}: {v}");
    }

    // A conversation an agent holds is not erased until its ticket closes.
    assert_eq!(d.call(Method::POST, &claim("fan-gdpr"), Some(&alice), None).await.0, StatusCode::OK);
    let erase = json!({ "email": "sam.fan@example.net" });
    let (status, v) = d.call(Method::POST, "/console/api/fans/erase", Some(&alice), Some(erase.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("close its ticket first"), "{v}");
    let close = json!({ "resolution": "erasure" });
    assert_eq!(d.call(Method::POST, &path("fan-gdpr", "close"), Some(&alice), Some(close)).await.0, StatusCode::OK);
    let (status, v) = d.call(Method::POST, "/console/api/fans/erase", Some(&alice), Some(erase)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["erased"].as_str().unwrap().starts_with("2 conversation(s)"), "{v}");
    let (status, _) = d.call(Method::GET, "/console/api/conversations/fan-gdpr", Some(&alice), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The fan writes again after the erasure: a fresh conversation, nothing lost.
    let t = d.fan("fan-gdpr", "hello again").await;
    assert!(t.inbound_id > 0);
    let (status, v) = d.call(Method::GET, "/console/api/fans?conversation=fan-gdpr", Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let messages = v["conversations"][0]["transcript"]["messages"].as_array().unwrap();
    assert_eq!(messages[0]["text"], "hello again", "{v}");
    // The audit log says an erasure happened, by whom, and how much; not whose.
    let (_, audit) = d.call(Method::GET, "/console/api/audit", Some(&alice), None).await;
    let erased = audit.as_array().unwrap().iter().find(|e| e["action"] == "fan_erased").unwrap();
    assert_eq!(erased["agent"], "alice");
    assert!(erased["conversation"].is_null() && !audit.to_string().contains("sam.fan"), "{audit}");
}
