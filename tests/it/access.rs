//! Access control on the public routes of a real `usher serve`: a
//! conversation is readable and writable only with its own web chat token
//! or an API key; channel namespaces are closed; bad credentials get a 401
//! with a reason, are never logged, and a burst of wrong tokens is rate
//! limited without locking out the right one. Identity verification and
//! the per-key limit run in-process on a real SQLite store.

use crate::common;

use std::sync::OnceLock;

use common::server::{dir_log, Server, Shared};
use reqwest::header::HeaderValue;
use serde_json::{json, Value};
use sqlx::Connection;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// What fan A said: no response without A's credential may contain it.
const SECRET_TEXT: &str = "refund order Q77Z91 for private-fan@example.com";

/// The table makes many calls from one address: the shared server's
/// per-address limit is generous.
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| Shared::start(|_| {}))
}

fn server() -> &'static Server {
    &shared().server
}

/// A fan with a session who has said [`SECRET_TEXT`].
async fn fan_a() -> (String, String) {
    static A: tokio::sync::OnceCell<(String, String)> = tokio::sync::OnceCell::const_new();
    A.get_or_init(|| async {
        let (conversation, token) = server().session().await;
        let res = reqwest::Client::new()
            .post(server().http(&format!("/api/v1/conversations/{conversation}/messages")))
            .bearer_auth(&token)
            .json(&json!({ "text": SECRET_TEXT }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        (conversation, token)
    })
    .await
    .clone()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Credential {
    None,
    Wrong,
    OtherConversations,
    Right,
    ApiKey,
}

const ALL: [Credential; 5] =
    [Credential::None, Credential::Wrong, Credential::OtherConversations, Credential::Right, Credential::ApiKey];

/// The status and body of one route called with one credential.
async fn call(route: &str, conversation: &str, credential: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::new();
    let req = match route {
        "history" => client.get(server().http(&format!("/api/v1/conversations/{conversation}"))),
        "message" => client
            .post(server().http(&format!("/api/v1/conversations/{conversation}/messages")))
            .json(&json!({ "text": "what time do doors open" })),
        "admin" => client.get(server().http("/api/v1/admin/reload-status")),
        "file" => client.get(server().http("/files/00000000000000aa/melody.png")),
        "socket" => return socket_status(conversation, credential).await,
        other => panic!("no route {other}"),
    };
    let req = match credential {
        Some(c) => req.bearer_auth(c),
        None => req,
    };
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// A socket upgrade's status (101 when it opened), with the token as the
/// widget sends it.
async fn socket_status(conversation: &str, token: Option<&str>) -> (u16, String) {
    let url = server().ws(&format!("/ws?conversation={conversation}"));
    let mut req = url.into_client_request().unwrap();
    if let Some(token) = token {
        req.headers_mut().insert("sec-websocket-protocol", format!("usher, usher-token.{token}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => (101, String::new()),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            let body = res.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            (res.status().as_u16(), body)
        }
        Err(e) => panic!("socket: {e}"),
    }
}

#[tokio::test]
async fn route_by_credential_table() {
    let (a, token_a) = fan_a().await;
    let (_b, token_b) = server().session().await;
    // A generated file anyone with its unguessable URL may fetch (the
    // widget's <audio> and <img> cannot send a header).
    let files = shared().dir.path().join("data/files/00000000000000aa");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("melody.png"), b"\x89PNG not really").unwrap();

    let wrong = "0".repeat(64);
    let credential = |c: Credential| match c {
        Credential::None => None,
        Credential::Wrong => Some(wrong.clone()),
        Credential::OtherConversations => Some(token_b.clone()),
        Credential::Right => Some(token_a.clone()),
        Credential::ApiKey => Some(common::API_KEY.to_string()),
    };
    // route, then the expected status for none, wrong, another's, right, key.
    let table: [(&str, [u16; 5]); 5] = [
        ("history", [401, 401, 401, 200, 200]),
        ("message", [401, 401, 401, 200, 200]),
        ("socket", [401, 401, 401, 101, 101]),
        ("admin", [401, 401, 401, 401, 200]),
        ("file", [200, 200, 200, 200, 200]),
    ];
    let mut failures = Vec::new();
    for (route, expected) in table {
        for (c, want) in ALL.into_iter().zip(expected) {
            let (status, body) = call(route, &a, credential(c).as_deref()).await;
            if status != want {
                failures.push(format!("{route} with {c:?}: {status}, expected {want}: {body}"));
            }
            let authorised = matches!(c, Credential::Right | Credential::ApiKey);
            if !authorised && body.contains("Q77Z91") {
                failures.push(format!("{route} with {c:?} leaked the conversation: {body}"));
            }
            if authorised && route == "history" && !body.contains("Q77Z91") {
                failures.push(format!("{route} with {c:?} did not return the history: {body}"));
            }
            if status == 401 {
                let reason =
                    serde_json::from_str::<Value>(&body).ok().and_then(|v| v["error"].as_str().map(String::from));
                if reason.is_none_or(|r| r.is_empty()) {
                    failures.push(format!("{route} with {c:?}: a 401 without a reason: {body}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn channel_namespaces_are_refused_on_every_public_route_and_nothing_is_stored() {
    let (_, token_a) = fan_a().await;
    for id in ["telegram:42", "discord:1234567890", "whatsapp:7"] {
        for credential in [None, Some(token_a.as_str()), Some(common::API_KEY)] {
            for route in ["history", "message", "socket"] {
                let (status, body) = call(route, id, credential).await;
                assert_eq!(status, 403, "{route} {id} with {credential:?}: {body}");
                assert!(body.contains("cannot be reached through the public API"), "{body}");
            }
        }
    }
    let db = shared().dir.path().join("data/usher.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await.unwrap();
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM conversations WHERE id LIKE '%:%'").fetch_one(&mut conn).await.unwrap();
    assert_eq!(n, 0, "a namespaced conversation was stored");
}

#[tokio::test]
async fn bad_credentials_get_401_with_a_reason_and_are_never_logged() {
    let (a, _) = fan_a().await;
    let url = server().http(&format!("/api/v1/conversations/{a}"));
    let long = format!("Bearer {}", "k".repeat(257));
    let cases: [(&str, HeaderValue); 5] = [
        ("empty", HeaderValue::from_static("Bearer ")),
        ("over-long", HeaderValue::from_str(&long).unwrap()),
        ("non-ASCII", HeaderValue::from_bytes("Bearer t\u{f6}ken-never-logged-1".as_bytes()).unwrap()),
        ("not a bearer", HeaderValue::from_static("Basic bmV2ZXItbG9nZ2VkLTI=")),
        ("with a space", HeaderValue::from_static("Bearer never logged-3")),
    ];
    for (what, value) in cases {
        let res = reqwest::Client::new().get(&url).header("authorization", value).send().await.unwrap();
        assert_eq!(res.status(), 401, "{what}");
        let body: Value = res.json().await.unwrap();
        let reason = body["error"].as_str().unwrap();
        assert!(reason.starts_with("invalid credential: "), "{what}: {reason}");
        assert!(!reason.contains("never"), "{what}: the reason echoes the credential: {reason}");
    }
    let (status, body) = call("history", &a, Some("never-logged-4-wrong-token")).await;
    assert_eq!(status, 401, "{body}");
    // The server's log (stderr, JSON or text) holds none of them.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(dir_log(&shared().dir.path().join("config.yaml"))).unwrap_or_default();
    for secret in ["never-logged", "bmV2ZXItbG9nZ2Vk", &"k".repeat(257), "never logged"] {
        assert!(!log.contains(secret), "the log holds a presented credential ({secret})");
    }
}

#[tokio::test]
async fn a_burst_of_wrong_tokens_is_429_and_the_right_token_still_works() {
    let (conversation, token) = server().session().await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..15 {
        let res = reqwest::Client::new()
            .get(server().http(&format!("/api/v1/conversations/{conversation}")))
            .bearer_auth(format!("wrong-token-{i:04}-aaaaaaaaaaaa"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        }
    }
    assert_eq!(&statuses[..10], &[401; 10], "the burst allows 10 wrong tokens: {statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "then 429: {statuses:?}");
    assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)), "{retry_after:?}");
    let (status, body) = socket_status(&conversation, Some(&token)).await;
    assert_eq!(status, 101, "the rightful fan's token is not locked out: {body}");
    let res = reqwest::Client::new()
        .post(server().http(&format!("/api/v1/conversations/{conversation}/messages")))
        .bearer_auth(&token)
        .json(&json!({ "text": "hi there" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Another conversation is not limited by this one's attackers.
    let (other, _) = fan_a().await;
    assert_eq!(call("history", &other, Some("wrong-token-zzzz-aaaaaaaaaaaa")).await.0, 401);
}

#[tokio::test]
async fn tokens_are_random_and_stored_hashed() {
    let sessions: Vec<(String, String)> = futures::future::join_all((0..5).map(|_| server().session())).await;
    let mut seen = std::collections::HashSet::new();
    for (conversation, token) in &sessions {
        assert!(conversation.starts_with("web-") && !conversation.contains(':'), "{conversation}");
        assert_eq!(token.len(), 64, "256 bits as hex");
        assert!(seen.insert(token.clone()), "a token repeated");
    }
    let db = shared().dir.path().join("data/usher.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await.unwrap();
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT token_hash FROM web_sessions").fetch_all(&mut conn).await.unwrap();
    for (_, token) in &sessions {
        assert!(!stored.iter().any(|(h,)| h == token), "a token is stored in the clear");
        assert!(stored.iter().any(|(h,)| *h == usher::util::sha256_hex(token.as_bytes())), "its hash is stored");
    }
}

// ---- In-process: keys, identity, migration ---------------------------------------

use usher::access::{hmac_hex, Access, AccessConfig, Caller, Secrets};
use usher_channel::{ConversationId, Identity};

async fn store(dir: &std::path::Path) -> std::sync::Arc<dyn usher::store::Store> {
    std::sync::Arc::new(usher::store::SqliteStore::open(&dir.join("usher.db")).await.unwrap())
}

#[tokio::test]
async fn api_keys_are_rate_limited_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = AccessConfig { api_key_per_second: 1, api_key_burst: 3, ..AccessConfig::default() };
    let secrets = Secrets::parse(Some("first-key-0123456789, second-key-0123456789"), None).unwrap();
    let access = Access::new(store(dir.path()).await, &config, &secrets);
    let id = ConversationId::new("shop-customer-9").unwrap();
    for _ in 0..3 {
        assert_eq!(access.authorize(&id, Some("first-key-0123456789")).await.unwrap(), Caller::Service { key: 0 });
    }
    let err = access.authorize(&id, Some("first-key-0123456789")).await.unwrap_err();
    let usher::Error::Channel(e) = &err else { panic!("{err}") };
    assert_eq!(e.http_status(), 429, "{err}");
    assert!(err.to_string().contains("API key 1"), "{err}");
    assert_eq!(access.authorize(&id, Some("second-key-0123456789")).await.unwrap(), Caller::Service { key: 1 });
    assert!(access.service(Some("second-key-0123456789")).is_ok());
    assert!(access.service(Some("first-key-012345678")).is_err(), "a prefix of a key is no key");
}

#[test]
fn bad_api_keys_stop_start_up_without_quoting_them() {
    let err = Secrets::parse(Some("good-key-0123456789,short"), None).unwrap_err().to_string();
    assert!(err.contains("USHER_API_KEYS") && err.contains("key 2") && err.contains("shorter than 16"), "{err}");
    assert!(!err.contains("short,") && !err.contains("good-key"), "{err}");
    let err = Secrets::parse(Some("k\u{e9}y-0123456789abcdef"), None).unwrap_err().to_string();
    assert!(err.contains("printable ASCII"), "{err}");
    let err = Secrets::parse(None, Some("tiny")).unwrap_err().to_string();
    assert!(err.contains("USHER_WEBCHAT_IDENTITY_SECRET"), "{err}");
    assert!(Secrets::parse(Some(" , "), None).unwrap().api_keys.is_empty());
}

#[tokio::test]
async fn a_verified_customer_gets_the_same_conversation_on_every_device_and_nobody_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "site-shared-secret-0123456789";
    let secrets = Secrets::parse(None, Some(secret)).unwrap();
    let access = Access::new(store(dir.path()).await, &AccessConfig::default(), &secrets);
    let identity =
        |user: &str| Identity { user_id: user.into(), user_hash: hmac_hex(secret.as_bytes(), user.as_bytes()) };

    let phone = access.open_session(Some(identity("customer-42"))).await.unwrap();
    let laptop = access.open_session(Some(identity("customer-42"))).await.unwrap();
    assert_eq!(phone.conversation, laptop.conversation, "one conversation on every device");
    assert_ne!(phone.token, laptop.token, "each device has its own token");
    assert!(phone.conversation.as_str().starts_with("web-u-"));
    assert!(!phone.conversation.as_str().contains("customer-42"), "the id does not reveal the user id");
    for token in [&phone.token, &laptop.token] {
        assert_eq!(access.authorize(&phone.conversation, Some(token)).await.unwrap(), Caller::Fan);
    }

    let other = access.open_session(Some(identity("customer-43"))).await.unwrap();
    assert_ne!(other.conversation, phone.conversation);
    assert!(access.authorize(&phone.conversation, Some(&other.token)).await.is_err(), "another customer's token");

    let forged = Identity { user_id: "customer-42".into(), user_hash: hmac_hex(b"guessed-secret", b"customer-42") };
    let err = access.open_session(Some(forged)).await.unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    let anonymous = access.open_session(None).await.unwrap();
    assert_ne!(anonymous.conversation, phone.conversation);

    let unconfigured = Access::new(store(dir.path()).await, &AccessConfig::default(), &Secrets::default());
    let err = unconfigured.open_session(Some(identity("customer-42"))).await.unwrap_err();
    assert!(err.to_string().contains("not configured"), "{err}");
}

#[tokio::test]
async fn a_store_from_before_sessions_migrates_and_keeps_its_conversations() {
    use sqlx::migrate::Migrator;
    let dir = tempfile::tempdir().unwrap();
    // The store as the previous release left it: every migration but the sessions one.
    let old = dir.path().join("old-migrations");
    std::fs::create_dir(&old).unwrap();
    for entry in std::fs::read_dir(common::repo().join("migrations/sqlite")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.contains("web_sessions") {
            std::fs::copy(&path, old.join(name)).unwrap();
        }
    }
    let db = dir.path().join("usher.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        Migrator::new(old.as_path()).await.unwrap().run(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO conversations (id, channel, created_ms, updated_ms) VALUES ('web-0ld', 'webchat', 1, 1)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO messages (conversation_id, direction, sender, text, processed, created_ms)
             VALUES ('web-0ld', 'in', 'web-0ld', 'my old question', 1, 1)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let store: std::sync::Arc<dyn usher::store::Store> =
        std::sync::Arc::new(usher::store::SqliteStore::open(&db).await.unwrap());
    let id = ConversationId::new("web-0ld").unwrap();
    let t = store.transcript(&id).await.unwrap().unwrap();
    assert_eq!(t.messages[0].text, "my old question", "the old conversation is intact");
    let secrets = Secrets::parse(Some(common::API_KEY), None).unwrap();
    let access = Access::new(store.clone(), &AccessConfig::default(), &secrets);
    assert!(access.authorize(&id, Some(common::API_KEY)).await.is_ok(), "reachable with an API key");
    assert!(access.authorize(&id, None).await.is_err(), "but not without a credential");
    let session = access.open_session(None).await.unwrap();
    assert!(access.authorize(&session.conversation, Some(&session.token)).await.is_ok(), "new sessions work");
}
