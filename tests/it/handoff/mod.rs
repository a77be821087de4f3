//! Human handoff through the agent console's HTTP API, on a real engine and
//! SQLite store: sign-in and its protections, claim, reply, notes, hand back,
//! close, queue positions, analytics, `/metrics`, and a Telegram fan (fake
//! Bot API) reaching an agent. The browser side is tests/browser/console.mjs.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use usher::engine::Engine;
use usher::handoff::{password, Desk, HandoffConfig, Role, Session};
use usher_channel::{ConversationId, Inbound, Shutdown};
use usher_telegram::fake::{Failure, FakeBotApi};
use usher_telegram::Telegram;

mod fans;

struct Desked {
    _dir: tempfile::TempDir,
    /// A copy of the shipped intents, which trainers edit.
    intents: std::path::PathBuf,
    engine: Engine,
    app: Router,
    _trigger: usher_channel::ShutdownTrigger,
}

async fn desk_with(config: HandoffConfig, brain: Option<usher::engine::Brain>) -> Desked {
    let dir = tempfile::tempdir().unwrap();
    let engine = match brain {
        Some(brain) => {
            let store = usher::store::SqliteStore::open(&dir.path().join("usher.db")).await.unwrap();
            Engine::new(Arc::new(store), brain)
        }
        None => common::engine(dir.path()).await,
    };
    let (trigger, shutdown) = Shutdown::new();
    let desk = Desk::new(engine.clone(), config);
    desk.spawn_notifier(shutdown.clone());
    let intents = common::shipped_intents(dir.path());
    let console = usher::console::router(desk, intents.clone(), shutdown);
    let app = usher::http::app(common::app_state(&engine)).merge(console);
    let agents = [
        ("alice", "alice-password", Role::Admin),
        ("bob", "bob-password", Role::Agent),
        ("carol", "carol-password", Role::Trainer),
    ];
    for (name, pw, role) in agents {
        let hash = password::hash(pw).unwrap();
        assert!(engine.store().add_agent(name, &hash, role).await.unwrap());
    }
    assert!(engine.store().set_display_name("alice", "Alice R.").await.unwrap());
    Desked { _dir: dir, intents, engine, app, _trigger: trigger }
}

async fn desk() -> Desked {
    desk_with(HandoffConfig::default(), None).await
}

/// A signed-in agent's cookie and CSRF token.
#[derive(Clone, Default)]
struct Agent {
    cookie: String,
    csrf: String,
}

impl Desked {
    async fn call(
        &self,
        method: Method,
        path: &str,
        agent: Option<&Agent>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, body) = self.raw(method, path, agent, body.map(|b| b.to_string())).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        agent: Option<&Agent>,
        body: Option<String>,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(a) = agent {
            req = req.header(header::COOKIE, format!("theme=dark; {}", a.cookie)).header("x-csrf-token", &a.csrf);
        }
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(b)
            }
            None => Body::empty(),
        };
        let res = self.app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let (parts, body) = res.into_parts();
        (parts.status, parts.headers, body.collect().await.unwrap().to_bytes().to_vec())
    }

    async fn login(&self, name: &str, pw: &str) -> Agent {
        let body = json!({ "name": name, "password": pw }).to_string();
        let (status, headers, body) = self.raw(Method::POST, "/console/api/login", None, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let cookie = headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_string();
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attr), "{cookie}");
        }
        let csrf = serde_json::from_slice::<Value>(&body).unwrap()["csrf"].as_str().unwrap().to_string();
        Agent { cookie: cookie.split(';').next().unwrap().to_string(), csrf }
    }

    async fn fan(&self, conversation: &str, text: &str) -> usher::engine::Turn {
        let inbound = Inbound::text(ConversationId::new(conversation).unwrap(), "api", text);
        self.engine.handle(inbound).await.unwrap()
    }

    async fn post(&self, p: &str, agent: &Agent, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, p, Some(agent), Some(body)).await
    }

    /// Sender and text of every message to the fan.
    async fn texts(&self, conversation: &str) -> Vec<(String, String)> {
        let t = self.engine.transcript(&ConversationId::new(conversation).unwrap()).await.unwrap();
        let messages = t.map(|t| t.messages).unwrap_or_default();
        messages.into_iter().filter(|m| m.direction == "out").map(|m| (m.sender, m.text)).collect()
    }

    /// Waits (up to 30 s: CI machines are slow) until a message to the fan contains `needle`.
    async fn fan_told(&self, conversation: &str, needle: &str) -> Vec<(String, String)> {
        for _ in 0..1500 {
            let texts = self.texts(conversation).await;
            if texts.iter().any(|(_, t)| t.contains(needle)) {
                return texts;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{conversation} was never told {needle:?}: {:#?}", self.texts(conversation).await);
    }
}

fn claim(c: &str) -> String {
    format!("/console/api/conversations/{c}/claim")
}

fn path(c: &str, action: &str) -> String {
    format!("/console/api/conversations/{c}/{action}")
}

#[tokio::test]
async fn an_agent_takes_over_replies_notes_and_hands_back_to_the_bot() {
    let d = desk().await;
    let turn = d.fan("fan-1", "/human").await;
    assert_eq!(turn.parse.intent.name, "talk_to_human", "/human is the explicit request");
    d.fan_told("fan-1", "You're number 1 in the queue. Estimated wait: about 3 minutes.").await;

    let alice = d.login("alice", "alice-password").await;
    let bob = d.login("bob", "bob-password").await;
    let (status, queue) = d.call(Method::GET, "/console/api/queue", Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(queue.as_array().unwrap().len(), 1);
    assert_eq!(queue[0]["conversation"], "fan-1");
    assert_eq!(queue[0]["position"], 1);
    assert_eq!(queue[0]["reason"], "requested");
    assert_eq!(queue[0]["preview"], "/human");

    let (status, ticket) = d.call(Method::POST, &claim("fan-1"), Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{ticket}");
    assert_eq!(ticket["agent"], "alice");
    let (status, err) = d.call(Method::POST, &claim("fan-1"), Some(&bob), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(err["error"].as_str().unwrap().contains("alice has already claimed"), "{err}");
    let (status, err) =
        d.call(Method::POST, &path("fan-1", "reply"), Some(&bob), Some(json!({"text": "me too"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "only the owner replies: {err}");
    d.fan_told("fan-1", "Alice R. from the support team has joined the conversation.").await;

    let (status, sent) = d
        .call(
            Method::POST,
            &path("fan-1", "reply"),
            Some(&alice),
            Some(json!({"text": "Hi, Alice here. Let me look."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["channel"], "api");
    let texts = d.fan_told("fan-1", "Hi, Alice here.").await;
    assert!(texts.iter().any(|(s, t)| s == "agent:alice" && t == "Hi, Alice here. Let me look."), "{texts:?}");

    // While the agent owns it the bot is silent, but NLU still annotates the message.
    let turn = d.fan("fan-1", "my refund never arrived and I'm furious").await;
    assert!(turn.replies.is_empty(), "the bot stays silent: {:?}", turn.replies);
    let (status, view) = d.call(Method::GET, "/console/api/conversations/fan-1", Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK);
    let last_fan =
        view["transcript"]["messages"].as_array().unwrap().iter().rev().find(|m| m["direction"] == "in").unwrap();
    assert_eq!(last_fan["nlu"]["intent"]["name"], "refund_request", "{last_fan}");
    assert!(last_fan["nlu"]["intent"]["confidence"].as_f64().unwrap() > 0.0);

    let (status, _) =
        d.call(Method::POST, &path("fan-1", "notes"), Some(&bob), Some(json!({"text": "VIP, order A12345"}))).await;
    assert_eq!(status, StatusCode::OK, "any agent may add a note");
    let (_, view) = d.call(Method::GET, "/console/api/conversations/fan-1", Some(&alice), None).await;
    assert_eq!(view["notes"][0]["text"], "VIP, order A12345");
    assert!(!d.texts("fan-1").await.iter().any(|(_, t)| t.contains("VIP")), "notes never reach the fan");

    let (status, ticket) = d.call(Method::POST, &path("fan-1", "release"), Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ticket["state"], "returned");
    d.fan_told("fan-1", "You're back with Usher").await;
    let turn = d.fan("fan-1", "hello").await;
    assert!(usher_channel::render_plain(&turn.replies[0].parts).contains("I'm Usher"), "the bot answers again");
    let (status, _) =
        d.call(Method::POST, &path("fan-1", "reply"), Some(&alice), Some(json!({"text": "one more thing"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "no replies once handed back");

    let (_, audit) = d.call(Method::GET, "/console/api/audit", Some(&alice), None).await;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().rev().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["login", "login", "claim", "reply", "view", "note", "view", "release"],
        "transcript views are audited too"
    );
}

#[tokio::test]
async fn console_routes_need_a_session_and_state_changes_a_csrf_token() {
    let d = desk().await;
    d.fan("fan-2", "/human").await;
    for p in
        ["/console/api/queue", "/console/api/analytics", "/console/api/conversations/fan-2", "/console/api/session"]
    {
        let (status, body) = d.call(Method::GET, p, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{p}: {body}");
    }
    let (status, _) = d.call(Method::POST, &claim("fan-2"), None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = d.raw(Method::GET, "/console/ws", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the live socket too");

    let alice = d.login("alice", "alice-password").await;
    let forged = Agent { cookie: alice.cookie.clone(), csrf: "not-the-token".into() };
    let (status, body) = d.call(Method::POST, &claim("fan-2"), Some(&forged), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"].as_str().unwrap().contains("CSRF"));
    let (status, _) = d.call(Method::GET, "/console/api/queue", Some(&forged), None).await;
    assert_eq!(status, StatusCode::OK, "reads need no CSRF token");

    let stranger = Agent { cookie: "usher_console=0000".into(), csrf: alice.csrf.clone() };
    assert_eq!(d.call(Method::GET, "/console/api/queue", Some(&stranger), None).await.0, StatusCode::UNAUTHORIZED);

    // An expired session is refused.
    let token_hash = usher::util::sha256_hex(b"expired-token");
    let expired =
        Session { token_hash, agent: "alice".into(), csrf: "x".into(), expires_ms: usher::util::now_ms() - 1000 };
    d.engine.store().create_session(&expired).await.unwrap();
    let stale = Agent { cookie: "usher_console=expired-token".into(), csrf: "x".into() };
    assert_eq!(d.call(Method::GET, "/console/api/queue", Some(&stale), None).await.0, StatusCode::UNAUTHORIZED);

    let (status, _) = d.call(Method::POST, "/console/api/logout", Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d.call(Method::GET, "/console/api/queue", Some(&alice), None).await.0, StatusCode::UNAUTHORIZED);

    // The page itself is public, with a strict content security policy.
    let (status, headers, body) = d.raw(Method::GET, "/console", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(String::from_utf8_lossy(&body).contains("/console/console.js"));
}

#[tokio::test]
async fn sign_in_is_rate_limited_and_audited() {
    let d = desk().await;
    let wrong = json!({ "name": "alice", "password": "guess" });
    for _ in 0..5 {
        let (status, body) = d.call(Method::POST, "/console/api/login", None, Some(wrong.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "wrong name or password");
    }
    let right = json!({ "name": "alice", "password": "alice-password" }).to_string();
    let (status, headers, body) = d.raw(Method::POST, "/console/api/login", None, Some(right)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{}", String::from_utf8_lossy(&body));
    let retry: u64 = headers.get(header::RETRY_AFTER).unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Unknown names fail the same way, and bob is not locked out by alice's failures.
    let (status, body) =
        d.call(Method::POST, "/console/api/login", None, Some(json!({"name": "mallory", "password": "x"}))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("wrong name or password")));
    d.login("bob", "bob-password").await;
    let (status, body) = d.call(Method::POST, "/console/api/login", None, Some(json!({"name": "alice"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let log = d.engine.store().audit_log(50).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "login_failed" && e.agent == "alice").count(), 5);
    assert!(log.iter().any(|e| e.action == "login" && e.agent == "bob"));
}

#[tokio::test]
async fn bad_agent_requests_get_clear_errors() {
    let d = desk().await;
    d.fan("fan-3", "/human").await;
    d.fan("calm-fan", "hello").await;
    let alice = d.login("alice", "alice-password").await;
    let post = |p: String, body: Value| {
        let (d, alice) = (&d, &alice);
        async move { d.post(&p, alice, body).await }
    };
    let (status, body) = post(path("no-such-fan", "reply"), json!({"text": "hi"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "forged conversation id: {body}");
    let (status, _) = post(path("bad%20id%3Cx%3E", "reply"), json!({"text": "hi"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "malformed conversation id");
    let (status, body) = post(path("fan-3", "reply"), json!({"text": "hi"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "unclaimed: {body}");
    assert!(body["error"].as_str().unwrap().contains("claim this conversation first"));
    let (status, body) = d.call(Method::POST, &claim("calm-fan"), Some(&alice), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "not waiting: {body}");

    assert_eq!(d.call(Method::POST, &claim("fan-3"), Some(&alice), None).await.0, StatusCode::OK);
    let (status, body) = post(path("fan-3", "reply"), json!({"text": "x".repeat(4001)})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limit is 4000"));
    let (status, _) = post(path("fan-3", "reply"), json!({"text": "   "})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "empty reply");
    let (status, _, _) = d.raw(Method::POST, &path("fan-3", "reply"), Some(&alice), Some("{not json".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(path("fan-3", "reply"), json!({"text": "hi", "html": "<b>"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are refused");
    let (status, body) = post(path("fan-3", "close"), json!({"resolution": "Refunded!"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, ticket) = post(path("fan-3", "close"), json!({"resolution": "refunded"})).await;
    assert_eq!((status, ticket["state"].as_str()), (StatusCode::OK, Some("closed")));
    let (status, body) = post(path("fan-3", "reply"), json!({"text": "hello?"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "closed: {body}");
    assert!(body["error"].as_str().unwrap().contains("closed or handed back"));
    d.fan_told("fan-3", "closed this conversation").await;
    let before = d.texts("fan-3").await.len();
    assert!(before > 0);
    assert!(!d.texts("fan-3").await.iter().any(|(_, t)| t == "hello?"), "nothing half-stored");
}

#[tokio::test]
async fn upset_fans_go_first_and_waiting_fans_hear_their_new_position() {
    let d = desk().await;
    d.fan("calm", "/human").await;
    d.fan_told("calm", "You're number 1 in the queue").await;
    d.fan("angry", "I will file a chargeback").await;
    d.fan_told("angry", "You're number 1 in the queue").await;
    d.fan_told("calm", "Update: you're now number 2 in the queue").await;
    let alice = d.login("alice", "alice-password").await;
    let (_, queue) = d.call(Method::GET, "/console/api/queue", Some(&alice), None).await;
    let order: Vec<&str> = queue.as_array().unwrap().iter().map(|t| t["conversation"].as_str().unwrap()).collect();
    assert_eq!(order, ["angry", "calm"]);
    assert_eq!(queue[0]["reason"], "keyword");
    assert!(queue[0]["priority"].as_i64() > queue[1]["priority"].as_i64());

    assert_eq!(d.call(Method::POST, &claim("angry"), Some(&alice), None).await.0, StatusCode::OK);
    d.fan_told("calm", "Update: you're now number 1 in the queue").await;
    let updates = d.texts("calm").await.iter().filter(|(s, _)| s == "system").count();
    assert_eq!(updates, 3, "told once per position change");
}

#[tokio::test]
async fn repeated_fallbacks_hand_over_when_the_policy_says_so() {
    let mut brain = tokio::task::spawn_blocking(common::brain).await.unwrap();
    brain.domain.policy.escalation = usher::intents::Escalation::Handoff;
    let hours = usher::handoff::BusinessHours {
        utc_offset_minutes: 0,
        days: vec![],
        open: "09:00".into(),
        close: "17:00".into(),
    };
    let config = HandoffConfig { business_hours: Some(hours), ..HandoffConfig::default() };
    let d = desk_with(config, Some(brain)).await;
    d.fan("lost", "qwfp zxcv blorp").await;
    let turn = d.fan("lost", "mmm brrr zzzt").await;
    assert!(matches!(turn.replies[0].parts[0], usher_channel::Part::Handoff { .. }), "{:?}", turn.replies);
    let ticket = d.engine.store().open_ticket(&ConversationId::new("lost").unwrap()).await.unwrap().unwrap();
    assert_eq!(ticket.reason, usher::dialogue::Reason::Fallbacks);
    d.fan_told("lost", "Our support team is offline right now").await;

    let alice = d.login("alice", "alice-password").await;
    let (_, analytics) = d.call(Method::GET, "/console/api/analytics", Some(&alice), None).await;
    let top: Vec<&str> =
        analytics["top_fallbacks"].as_array().unwrap().iter().map(|f| f[0].as_str().unwrap()).collect();
    assert!(top.contains(&"qwfp zxcv blorp") && top.contains(&"mmm brrr zzzt"), "{analytics}");
    assert_eq!(analytics["handoff_rate"], 1.0);
}

#[tokio::test]
async fn analytics_and_prometheus_metrics_count_containment_and_waits() {
    let d = desk().await;
    d.fan("contained", "hello").await;
    d.fan("contained", "what's the weather like").await;
    d.fan("handed", "/human").await;
    let alice = d.login("alice", "alice-password").await;
    assert_eq!(d.call(Method::POST, &claim("handed"), Some(&alice), None).await.0, StatusCode::OK);
    let close = json!({"resolution": "no_action"});
    assert_eq!(d.call(Method::POST, &path("handed", "close"), Some(&alice), Some(close)).await.0, StatusCode::OK);

    let (_, a) = d.call(Method::GET, "/console/api/analytics", Some(&alice), None).await;
    assert_eq!(a["conversations"], 2);
    assert_eq!(a["containment_rate"], 0.5);
    assert!(a["median_wait_seconds"].as_f64().is_some());
    let (status, headers, body) = d.raw(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(body).unwrap();
    for line in [
        "usher_conversations_total 2",
        "usher_handoffs_total 1",
        "usher_containment_ratio 0.5",
        "usher_handoff_queue_waiting 0",
        "usher_handoffs_closed_total{resolution=\"no_action\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
    }
    assert!(text.contains("usher_handoff_wait_median_seconds "));
}

#[tokio::test]
async fn a_telegram_fan_reaches_an_agent_whose_reply_survives_a_telegram_outage() {
    let d = desk().await;
    let (_trigger, shutdown) = Shutdown::new();
    let api = FakeBotApi::start().await.unwrap();
    let telegram = usher_telegram::Config { enabled: true, api_url: Some(api.url().into()), ..Default::default() };
    let (adapter, _) = Telegram::new(telegram, "1:T", None).unwrap();
    d.engine.start_adapter(Box::new(adapter), shutdown);
    let chat = 777;
    let conversation = format!("telegram:{chat}");
    api.fan_says(chat, "/human");
    d.fan_told(&conversation, "You're number 1 in the queue").await;
    let sent = api.wait_sent(chat, 2).await;
    assert!(sent.iter().any(|c| c.text().is_some_and(|t| t.contains("number 1 in the queue"))), "{sent:?}");

    let alice = d.login("alice", "alice-password").await;
    assert_eq!(d.call(Method::POST, &claim(&conversation), Some(&alice), None).await.0, StatusCode::OK);
    api.wait_sent(chat, 3).await;
    // Telegram is briefly down: the agent's reply is stored, then delivered on recovery.
    api.fail_next("sendMessage", Failure::RetryAfter(1));
    let reply = json!({"text": "Hello from a human on Telegram"});
    let (status, body) = d.call(Method::POST, &path(&conversation, "reply"), Some(&alice), Some(reply)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["channel"], "telegram");
    let sent = api.wait_sent(chat, 4).await;
    assert_eq!(sent.last().and_then(|c| c.text()), Some("Hello from a human on Telegram"));
}

/// Each console route with its ids filled in, and a body that is valid for it.
fn route_call(pattern: &str, message: i64) -> (String, Option<Value>) {
    let mut path = pattern.replace("{id}", "fan-roles").replace("{message}", &message.to_string());
    if pattern.ends_with("/fans") {
        path.push_str("?conversation=fan-roles");
    }
    let body = match pattern.rsplit('/').next().unwrap_or_default() {
        // A fan no one has: erasing the conversation the other routes use would end the walk.
        "erase" => Some(json!({ "conversation": "fan-nobody" })),
        "reply" | "notes" => Some(json!({ "text": "Hello from the desk" })),
        "close" => Some(json!({ "resolution": "done" })),
        "train" => Some(json!({ "intent": "greet" })),
        "claim" | "release" | "logout" => Some(json!({})),
        _ => None,
    };
    (path, body)
}

#[tokio::test]
async fn every_console_route_admits_only_its_roles() {
    let d = desk().await;
    let t = d.fan("fan-roles", "I want to speak to a human").await;
    let (alice, bob, carol) = (
        d.login("alice", "alice-password").await,
        d.login("bob", "bob-password").await,
        d.login("carol", "carol-password").await,
    );
    let signed_in = [(Role::Admin, &alice), (Role::Agent, &bob), (Role::Trainer, &carol)];
    let mut checked = 0;
    for (method, pattern, admitted) in usher::console::PERMITS {
        // The socket needs an upgrade and signing out ends the session: both below.
        if *pattern == "/console/ws" || pattern.ends_with("/logout") {
            assert_eq!(*admitted, [Role::Agent, Role::Trainer, Role::Admin]);
            continue;
        }
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (path, body) = route_call(pattern, t.inbound_id);
        let (status, v) = d.call(method.clone(), &path, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without a session: {v}");
        for (role, agent) in signed_in {
            let (status, v) = d.call(method.clone(), &path, Some(agent), body.clone()).await;
            if admitted.contains(&role) {
                assert!(
                    !matches!(status.as_u16(), 401 | 403) && !status.is_server_error(),
                    "{method} {path} as {role:?}: {status} {v}"
                );
                if method == Method::GET {
                    assert_eq!(status, StatusCode::OK, "{method} {path} as {role:?}: {v}");
                }
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {role:?}: {v}");
                assert!(v["error"].as_str().unwrap_or_default().contains(role.as_str()), "{v}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * (usher::console::PERMITS.len() - 2));
    assert!(usher::console::permits("GET", "/console/api/unlisted").is_empty(), "unlisted routes admit no one");
    let (_, audit) = d.call(Method::GET, "/console/api/audit", Some(&alice), None).await;
    let refused = audit.as_array().unwrap().iter().filter(|e| e["action"] == "forbidden").count();
    assert!(refused >= 10, "every refusal is audited: {audit}");
    for agent in [&alice, &bob, &carol] {
        assert_eq!(d.call(Method::POST, "/console/api/logout", Some(agent), Some(json!({}))).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_role_change_ends_the_agents_sessions() {
    let d = desk().await;
    let bob = d.login("bob", "bob-password").await;
    let (_, session) = d.call(Method::GET, "/console/api/session", Some(&bob), None).await;
    assert_eq!(session["role"], "agent");
    assert!(d.engine.store().set_role("bob", Role::Trainer).await.unwrap());
    let (status, _) = d.call(Method::GET, "/console/api/queue", Some(&bob), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old session ended with the old role");
    let bob = d.login("bob", "bob-password").await;
    let (_, session) = d.call(Method::GET, "/console/api/session", Some(&bob), None).await;
    assert_eq!(session["role"], "trainer");
    assert!(!d.engine.store().set_role("nobody", Role::Admin).await.unwrap());
}

#[tokio::test]
async fn a_trainer_files_a_fans_message_under_an_intent_in_place() {
    let d = desk().await;
    let (bob, carol) = (d.login("bob", "bob-password").await, d.login("carol", "carol-password").await);
    let train = |id: i64| format!("/console/api/conversations/fan-train/messages/{id}/train");
    let t = d.fan("fan-train", "the QR code vanished from my wallet app").await;

    // Who may, and what is refused.
    let (status, _) = d.post(&train(t.inbound_id), &bob, json!({ "intent": "lost_ticket" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "agents do not edit training data");
    for bad in ["Lost Ticket", "lost-ticket", "", "lost_ticket!"] {
        let (status, v) = d.post(&train(t.inbound_id), &carol, json!({ "intent": bad })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}: {v}");
    }
    let (status, _) = d.post(&train(999_999), &carol, json!({ "intent": "lost_ticket" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let long = d.fan("fan-train", &"my ticket is lost ".repeat(30)).await;
    let (status, v) = d.post(&train(long.inbound_id), &carol, json!({ "intent": "lost_ticket" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("at most 500 characters"), "{v}");

    // Filed under lost_ticket: one line more, right after its last example.
    let file = d.intents.join("tickets.yaml");
    let before = std::fs::read_to_string(&file).unwrap();
    let (status, v) = d.post(&train(t.inbound_id), &carol, json!({ "intent": "lost_ticket" })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["created"], false);
    let after = std::fs::read_to_string(&file).unwrap();
    let line: usize = v["at"].as_str().unwrap().rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(after.lines().nth(line - 1), Some("      - the QR code vanished from my wallet app"), "{v}");
    let mut lines: Vec<&str> = after.lines().collect();
    lines.remove(line - 1);
    assert_eq!(lines.join("\n") + "\n", before, "comments and formatting are kept");
    let domain = usher::intents::load(&d.intents).unwrap().domain;
    let lost = domain.intent("lost_ticket").unwrap();
    assert!(lost.examples.iter().any(|e| e.text == "the QR code vanished from my wallet app"));
    let (status, v) = d.post(&train(t.inbound_id), &carol, json!({ "intent": "lost_ticket" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "already an example: {v}");

    // A new intent, and two trainers at once: both land, the files load.
    let a = d.fan("fan-train", "where is the cloakroom").await;
    let b = d.fan("fan-train", "can I leave my coat somewhere").await;
    let (path_a, path_b) = (train(a.inbound_id), train(b.inbound_id));
    let (first, second) = tokio::join!(
        d.post(&path_a, &carol, json!({ "intent": "cloakroom" })),
        d.post(&path_b, &carol, json!({ "intent": "cloakroom" })),
    );
    let statuses = [first.0, second.0];
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK], "{first:?} {second:?}");
    assert!(first.1["created"] == true || second.1["created"] == true, "one of them made the intent");
    let domain = usher::intents::load(&d.intents).unwrap().domain;
    let cloakroom = domain.intent("cloakroom").expect("the new intent loads");
    assert_eq!(cloakroom.examples.len(), 2);
    assert_eq!(cloakroom.action, usher::intents::Action::Handoff, "a person answers until staff write a response");

    let (_, audit) =
        d.call(Method::GET, "/console/api/audit", Some(&d.login("alice", "alice-password").await), None).await;
    let added: Vec<&Value> = audit.as_array().unwrap().iter().filter(|e| e["action"] == "example_added").collect();
    assert_eq!(added.len(), 3, "{audit}");
    assert!(added.iter().all(|e| e["agent"] == "carol" && e["conversation"] == "fan-train"), "{added:?}");
}
