//! Crash recovery: `usher serve` is killed with SIGKILL while twenty web
//! chat fans send messages as fast as they are acknowledged; after a restart
//! on the same SQLite file, every acknowledged message is in the store and
//! was answered exactly once (one turn's replies, none twice).

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::server::{write_config, Server};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sqlx::{Connection, Row};
use tokio_tungstenite::tungstenite::Message;

const FANS: usize = 20;
const MESSAGES: usize = 10;

/// Sends up to `MESSAGES` messages, each once the previous is acknowledged;
/// records acknowledged ids until the socket dies.
async fn fan(url: String, token: String, acked: Arc<Mutex<Vec<i64>>>) {
    let Ok(mut ws) = common::socket(&url, &token).await else { return };
    for k in 0..MESSAGES {
        let text = ["hi there", "how do I get a refund", "my stream keeps buffering", "thanks"][k % 4];
        if ws.send(Message::text(json!({"type": "message", "client_id": k, "text": text}).to_string())).await.is_err() {
            return;
        }
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] == "ack" {
                        acked.lock().unwrap().push(v["message_id"].as_i64().unwrap());
                        break;
                    }
                    assert_ne!(v["type"], "error", "{v}");
                }
                Some(Ok(_)) => {}
                _ => return,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_under_load_loses_no_acknowledged_message_and_answers_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mut server = Server::start(&config, &[]);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut fans = Vec::new();
    for _ in 0..FANS {
        let (conversation, token) = server.session().await;
        let url = server.ws(&format!("/ws?conversation={conversation}"));
        fans.push(tokio::spawn(fan(url, token, Arc::clone(&acked))));
    }
    // Kill once a good part of the load is acknowledged, mid-stream.
    for _ in 0..3000 {
        if acked.lock().unwrap().len() >= FANS * MESSAGES / 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    for f in fans {
        f.await.unwrap();
    }
    let acked: Vec<i64> = acked.lock().unwrap().clone();
    assert!(acked.len() >= FANS * MESSAGES / 3, "only {} messages acknowledged before the kill", acked.len());
    assert!(acked.len() < FANS * MESSAGES, "the kill came after the load ended: nothing was tested");

    // Restart on the same store: stored-but-unanswered messages are answered.
    let db = dir.path().join("data/usher.db");
    let restarted = Server::start(&config, &[]);
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let mut pending = i64::MAX;
    for _ in 0..600 {
        pending = sqlx::query("SELECT COUNT(*) FROM messages WHERE direction = 'in' AND processed = 0")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending, 0, "messages left unanswered after the restart");
    drop(restarted);

    let rows = sqlx::query(
        "SELECT m.id, m.processed, COUNT(r.id), COUNT(DISTINCT r.created_ms)
         FROM messages m LEFT JOIN messages r ON r.reply_to = m.id
         WHERE m.direction = 'in' GROUP BY m.id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let stored: HashMap<i64, (i64, i64, i64)> =
        rows.iter().map(|r| (r.get::<i64, _>(0), (r.get(1), r.get(2), r.get(3)))).collect();
    for id in &acked {
        let (processed, replies, turns) =
            stored.get(id).copied().unwrap_or_else(|| panic!("acknowledged message {id} is not in the store"));
        assert_eq!(processed, 1, "message {id} unanswered");
        assert!(replies >= 1, "message {id} has no reply");
        assert_eq!(turns, 1, "message {id} was answered in {turns} turns");
    }
}

/// The refund backend for the idempotency test: the order lookup answers at
/// once; the first refund call with a key makes the refund and then never
/// answers (Usher is killed meanwhile); a repeated key gets the first
/// answer and refunds nothing.
#[derive(Default)]
struct Refunds {
    /// Idempotency key -> calls seen.
    seen: HashMap<String, u32>,
    /// Refunds made.
    effects: u32,
}

async fn refund_backend() -> (String, Arc<Mutex<Refunds>>) {
    use axum::http::HeaderMap;
    let state = Arc::new(Mutex::new(Refunds::default()));
    let shared = Arc::clone(&state);
    // The refund flow looks the order up first: a cancelled show.
    let order = r#"{"order_id":"A12345","state":"paid","event":{"name":"The Lumineers","status":"cancelled"}}"#;
    let app = axum::Router::new().route(
        "/orders/{id}",
        axum::routing::get(move || async move { ([("content-type", "application/json")], order) }),
    );
    let app = app.route(
        "/orders/{id}/refund",
        axum::routing::post(move |headers: HeaderMap| {
            let state = Arc::clone(&shared);
            async move {
                let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let first = {
                    let mut s = state.lock().unwrap();
                    let n = {
                        let n = s.seen.entry(key).or_default();
                        *n += 1;
                        *n
                    };
                    if n == 1 {
                        s.effects += 1;
                    }
                    n == 1
                };
                if first {
                    tokio::time::sleep(Duration::from_secs(120)).await;
                }
                (
                    [("content-type", "application/json")],
                    r#"{"refund_id":"R00042","amount":"£98.00","order":{"event":{"name":"The Lumineers"}}}"#,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_during_a_refund_call_refunds_once_and_answers_once() {
    let (backend, refunds) = refund_backend().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("actions: {{endpoints: {{encore: {{url: \"{backend}\", timeout_ms: 20000}}}}}}\n");
    let config = write_config(dir.path(), &extra);
    let mut server = Server::start(&config, &[]);
    let post = |addr: String, text: &'static str| async move {
        reqwest::Client::new()
            .post(format!("http://{addr}/api/v1/conversations/api-refund/messages"))
            .bearer_auth(common::API_KEY)
            .json(&json!({ "text": text }))
            .send()
            .await
    };
    let asked = post(server.addr.clone(), "refund order A12345 please").await.unwrap();
    assert_eq!(asked.status(), 200);
    // This turn calls the backend, which refunds and never answers.
    let pending = tokio::spawn(post(server.addr.clone(), "fan@example.com"));
    for _ in 0..500 {
        if refunds.lock().unwrap().effects == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(refunds.lock().unwrap().effects, 1, "the backend never got the refund call");
    server.kill();
    assert!(pending.await.unwrap().is_err(), "the request died with the server");

    // After the restart the message is answered again, with the same key
    // (from the text as typed); once answered, it is stored redacted.
    let restarted = Server::start(&config, &[]);
    let db = dir.path().join("data/usher.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let mut replies: Vec<String> = Vec::new();
    for _ in 0..500 {
        let rows = sqlx::query(
            "SELECT r.parts FROM messages m JOIN messages r ON r.reply_to = m.id
             WHERE m.direction = 'in' AND m.text = '[email]' AND m.processed = 1",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        replies = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        if !replies.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(restarted);
    assert_eq!(replies.len(), 1, "the fan gets exactly one reply: {replies:?}");
    assert!(replies[0].contains("refunded") && replies[0].contains("R00042"), "{replies:?}");
    let refunds = refunds.lock().unwrap();
    assert_eq!(refunds.effects, 1, "refunded once");
    assert_eq!(refunds.seen.len(), 1, "one idempotency key for the message: {:?}", refunds.seen);
    assert_eq!(refunds.seen.values().copied().collect::<Vec<_>>(), [2], "sent twice under that key");
}
