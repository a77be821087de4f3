//! Two `usher serve` replicas on one PostgreSQL database (a fresh database
//! per run on the local server): a fan on replica A asks for a person, an
//! agent signed in on replica B sees it live, claims it and replies, and the
//! fan's socket on A receives the reply. Needs PostgreSQL on 127.0.0.1:5432
//! (`USHER_TEST_POSTGRES` overrides the admin URL); `.ci/run` starts it.

use crate::common;

use std::time::Duration;

use common::postgres::TestDb;
use common::server::{write_config, Server};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads frames until one satisfies `want` (30 s at most).
async fn until(ws: &mut Socket, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}; saw {seen:#?}"))
            .unwrap_or_else(|| panic!("socket closed waiting for {what}"))
            .unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if want(&v) {
                return v;
            }
            seen.push(v);
        }
    }
}

fn reply_text(v: &Value) -> String {
    v["parts"]
        .as_array()
        .map(|p| p.iter().filter_map(|x| x["text"].as_str().or(x["notice"].as_str())).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_on_one_replica_gets_the_reply_an_agent_sends_from_another() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "store: {kind: postgres, pool_size: 4}\n");
    let env = [("DATABASE_URL", db.url.as_str())];

    let add = std::process::Command::new(env!("CARGO_BIN_EXE_usher"))
        .args(["agents", "add", "alice", "--password-stdin", "--display-name", "Alice", "--config"])
        .arg(&config)
        .env("DATABASE_URL", &db.url)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"alice-password\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));

    let a = Server::start(&config, &env);
    let b = Server::start(&config, &env);
    assert_ne!(a.addr, b.addr);

    // The agent signs in on B and opens the console's live socket there.
    let http = reqwest::Client::new();
    let login = http
        .post(b.http("/console/api/login"))
        .json(&json!({"name": "alice", "password": "alice-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = login.json::<Value>().await.unwrap()["csrf"].as_str().unwrap().to_string();
    let mut req = b.ws("/console/ws").into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    req.headers_mut().insert("origin", b.http("").parse().unwrap());
    let (mut console, _) = tokio_tungstenite::connect_async(req).await.unwrap();

    // The fan talks to A, first to the bot, then asks for a person.
    // A session opened on B opens the socket on A: sessions live in the shared store.
    let (conv, token) = b.session().await;
    let mut fan = common::socket(&a.ws(&format!("/ws?conversation={conv}")), &token).await.unwrap();
    fan.send(Message::text(json!({"type": "message", "client_id": 1, "text": "hi there"}).to_string())).await.unwrap();
    until(&mut fan, "the bot's greeting", |v| v["type"] == "reply").await;
    fan.send(Message::text(json!({"type": "message", "client_id": 2, "text": "/human"}).to_string())).await.unwrap();
    until(&mut fan, "the queue notice", |v| reply_text(v).contains("in the queue")).await;

    // B's console hears of it live, though A stored it.
    until(&mut console, "a queue event from replica A", |v| v["type"] == "queue").await;
    let queue: Value =
        http.get(b.http("/console/api/queue")).header("cookie", &cookie).send().await.unwrap().json().await.unwrap();
    assert_eq!(queue[0]["conversation"], conv.as_str(), "{queue}");

    let claim = http
        .post(b.http(&format!("/console/api/conversations/{conv}/claim")))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(claim.status(), 200, "{}", claim.text().await.unwrap());
    until(&mut fan, "the agent-joined notice", |v| reply_text(v).contains("Alice from the support team")).await;
    let sent = http
        .post(b.http(&format!("/console/api/conversations/{conv}/reply")))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"text": "Hello from replica B, I can refund that."}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());

    let got = until(&mut fan, "the agent's reply on replica A", |v| reply_text(v).contains("replica B")).await;
    assert_eq!(got["type"], "reply");

    // The fan answers on A; the agent's console on B sees the message event
    // (after the events already queued for the agent's own reply).
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(500), console.next()).await {}
    fan.send(Message::text(json!({"type": "message", "client_id": 3, "text": "thank you!"}).to_string()))
        .await
        .unwrap();
    until(&mut console, "the fan's message event from replica A", |v| {
        v["type"] == "message" && v["conversation"] == conv.as_str()
    })
    .await;
    let transcript: Value = http
        .get(a.http(&format!("/api/v1/conversations/{conv}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> =
        transcript["messages"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.contains(&"thank you!"), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("replica B")), "{texts:?}");
}

#[tokio::test]
async fn postgres_stores_a_redelivered_platform_message_once() {
    use usher::store::{PgStore, Store};
    use usher_channel::{ConversationId, Inbound};
    let db = TestDb::create().await;
    let store = PgStore::connect(&db.url, 2).await.unwrap();
    let conv = ConversationId::new("discord:1").unwrap();
    let mut inbound = Inbound::text(conv.clone(), "discord", "my stream keeps buffering");
    inbound.platform_id = Some("message:1150".into());
    let first = store.append_inbound(&inbound).await.unwrap();
    let again = store.append_inbound(&inbound).await.unwrap();
    assert!(first.fresh && !again.fresh);
    assert_eq!(again.id, first.id);
    // No platform id (the REST API, web chat): every message is new.
    let plain = Inbound::text(conv.clone(), "api", "hello");
    let (a, b) = (store.append_inbound(&plain).await.unwrap(), store.append_inbound(&plain).await.unwrap());
    assert!(a.fresh && b.fresh && a.id != b.id);
    let pending = store.pending().await.unwrap();
    assert_eq!(pending.len(), 3);
    assert_eq!(pending[0].1.platform_id.as_deref(), Some("message:1150"));
}
