//! Backend actions over real HTTP on loopback: an axum action server
//! written here answers ok, 404, 500, slowly, never, with malformed JSON, a
//! 1 MB body, a redirect to another host and the wrong content type; each
//! ends in its declared outcome, the fan gets a sensible reply, nothing is
//! saved half-way, and the server stays up. Signatures verify on the server
//! side; a changed body does not.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use usher::actions::{idempotency_key, Actions, ActionsConfig, Values};
use usher::intents::{load_sources, ActionSpec, Domain};

const SECRET: &str = "test-signing-secret";

/// What the action server saw.
#[derive(Default)]
struct Seen {
    /// (path, idempotency key, body, signature valid, request id)
    calls: Vec<(String, String, String, bool, String)>,
    boom: usize,
}

type Shared = Arc<Mutex<Seen>>;

fn verify(headers: &HeaderMap, body: &[u8]) -> bool {
    let given = headers.get("x-usher-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(hex) = given.strip_prefix("sha256=") else { return false };
    let Some(bytes) =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

fn json(status: StatusCode, body: &str) -> Response {
    (status, [("content-type", "application/json")], body.to_string()).into_response()
}

async fn record(State(seen): State<Shared>, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (key, request_id) = (header("idempotency-key"), header("x-request-id"));
    let valid = verify(&headers, &body);
    let body_text = String::from_utf8_lossy(&body).into();
    seen.lock().unwrap().calls.push((format!("/refund/{id}"), key, body_text, valid, request_id));
    if !valid {
        return json(StatusCode::UNAUTHORIZED, r#"{"error":"bad signature"}"#);
    }
    json(StatusCode::OK, r#"{"refund_id":"R00001","order":{"event":{"name":"The Lumineers"}}}"#)
}

async fn boom(State(seen): State<Shared>) -> Response {
    seen.lock().unwrap().boom += 1;
    json(StatusCode::INTERNAL_SERVER_ERROR, r#"{"error":"boom"}"#)
}

/// The action server: one route per behaviour.
async fn action_server() -> (String, Shared) {
    let seen = Shared::default();
    let app = Router::new()
        .route(
            "/ok/{id}",
            get(|Path(id): Path<String>| async move {
                json(
                    StatusCode::OK,
                    &format!(r#"{{"order_id":"{id}","event":{{"name":"Hamlet","doors_at":"18:45"}}}}"#),
                )
            }),
        )
        .route("/missing/{id}", get(|| async { json(StatusCode::NOT_FOUND, r#"{"error":"no such order"}"#) }))
        .route("/boom/{id}", get(boom).post(boom))
        .route(
            "/hang/{id}",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                json(StatusCode::OK, "{}")
            }),
        )
        .route(
            "/slow/{id}",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                json(StatusCode::OK, r#"{"event":{"name":"Slow Show","doors_at":"20:00"}}"#)
            }),
        )
        .route("/garbage/{id}", get(|| async { json(StatusCode::OK, r#"{"event": {"name": "#) }))
        .route("/huge/{id}", get(|| async { json(StatusCode::OK, &format!(r#"{{"pad":"{}"}}"#, "x".repeat(1 << 20))) }))
        .route(
            "/redirect/{id}",
            get(|| async {
                (StatusCode::FOUND, [("location", "http://169.254.169.254/latest/meta-data")]).into_response()
            }),
        )
        .route(
            "/html/{id}",
            get(|| async { (StatusCode::OK, [("content-type", "text/html")], "<h1>hello</h1>").into_response() }),
        )
        .route("/refund/{id}", post(record))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

/// A domain with one GET action per server route and the signed refund.
fn domain() -> Domain {
    let routes = ["ok", "missing", "boom", "hang", "slow", "garbage", "huge", "redirect", "html"];
    let mut yaml = String::from(
        "intents:\n  - name: look\n    examples: [look it up, check it, find it, search it, look up]\n    form: f\n    call: ok\n\
         entities:\n  order_id: { pattern: '[A-Z]\\d{5}' }\n\
         forms:\n  f:\n    slots:\n      order_id: { ask: \"Order?\", entity: order_id }\n\
         responses:\n  done:\n    - text: \"Doors at {doors_at}\"\nactions:\n",
    );
    for r in routes {
        yaml.push_str(&format!(
            "  {r}:\n    endpoint: backend\n    path: /{r}/{{order_id}}\n    save: {{ doors_at: /event/doors_at }}\n    respond: {{ ok: done }}\n"
        ));
    }
    yaml.push_str(
        "  refund:\n    endpoint: backend\n    method: POST\n    path: /refund/{order_id}\n    body: { order: \"{order_id}\", conversation: \"{conversation}\" }\n    respond: { ok: done }\n  boom_post:\n    endpoint: backend\n    method: POST\n    path: /boom/{order_id}\n    respond: { ok: done }\n",
    );
    load_sources(&[("a.yaml".into(), yaml)]).unwrap_or_else(|r| panic!("{r}")).domain
}

fn actions(base: &str, extra: &str) -> Actions {
    let yaml = format!(
        "endpoints:\n  backend:\n    url: {base}\n    secret_env: USHER_TEST_ACTIONS_SECRET\n    timeout_ms: 1000\n{extra}"
    );
    // The one variable this test binary sets; every test sets the same value.
    unsafe { std::env::set_var("USHER_TEST_ACTIONS_SECRET", SECRET) };
    let config: ActionsConfig = serde_yaml::from_str(&yaml).unwrap();
    Actions::new(&config).unwrap()
}

async fn call(actions: &Actions, spec: &ActionSpec, order: &str) -> usher::dialogue::evidence::Called {
    let slots = BTreeMap::from([("order_id".to_string(), order.to_string())]);
    let values = Values {
        slots: &slots,
        conversation: "web-t",
        channel: "web",
        message_id: 7,
        key: idempotency_key("web-t", 7, &spec.name),
        request_id: "req-7",
    };
    actions.call(spec, &values).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_behaviour_ends_in_its_outcome_and_the_server_stays_up() {
    let (base, seen) = action_server().await;
    let domain = domain();
    let actions = actions(&base, "");
    let cases: &[(&str, &str, Option<u16>, Option<&str>)] = &[
        ("ok", "ok", Some(200), None),
        ("missing", "not_found", Some(404), None),
        ("boom", "error", Some(500), None),
        ("hang", "timeout", None, Some("no answer within 1000 ms")),
        ("slow", "ok", Some(200), None),
        ("garbage", "error", Some(200), Some("malformed JSON")),
        ("huge", "error", Some(200), Some("cut off")),
        ("redirect", "error", Some(302), Some("not followed")),
        ("html", "error", Some(200), Some("not application/json")),
    ];
    for (action, outcome, status, detail) in cases {
        let called = call(&actions, &domain.actions[*action], "A12345").await;
        assert_eq!(called.outcome, *outcome, "{action}: {called:?}");
        assert_eq!(called.status, *status, "{action}: {called:?}");
        if let Some(d) = detail {
            assert!(called.detail.as_deref().is_some_and(|got| got.contains(d)), "{action}: {called:?}");
        }
        let saves = *action == "ok" || *action == "slow";
        assert_eq!(called.saved.contains_key("doors_at"), saves, "nothing saved half-way: {action}: {called:?}");
        // The server is still up for the next call.
        assert_eq!(call(&actions, &domain.actions["ok"], "B23456").await.outcome, "ok", "after {action}");
    }
    // GET is safe: the 500 was retried once; POST is not retried.
    assert_eq!(seen.lock().unwrap().boom, 2);
    let posted = call(&actions, &domain.actions["boom_post"], "A12345").await;
    assert_eq!((posted.outcome.as_str(), posted.attempts), ("error", 1));
    assert_eq!(seen.lock().unwrap().boom, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_signed_and_values_encoded() {
    let (base, seen) = action_server().await;
    let domain = domain();
    let actions = actions(&base, "");
    let called = call(&actions, &domain.actions["refund"], "A12345").await;
    assert_eq!(called.outcome, "ok", "{called:?}");
    let (path, key, body, valid, request_id) = seen.lock().unwrap().calls.last().cloned().unwrap();
    assert!(valid, "the server verified the signature");
    assert_eq!(request_id, "req-7", "the turn's request id travels with the call");
    assert_eq!(path, "/refund/A12345");
    assert_eq!(key, idempotency_key("web-t", 7, "refund"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"order": "A12345", "conversation": "web-t"})
    );
    // The same signature over a changed body does not verify.
    let signature = usher::actions::signature(SECRET.as_bytes(), body.as_bytes());
    let mut headers = HeaderMap::new();
    headers.insert("x-usher-signature", signature.parse().unwrap());
    assert!(verify(&headers, body.as_bytes()));
    assert!(!verify(&headers, body.replace("A12345", "B23456").as_bytes()));
    // A value with JSON and URL syntax in it stays one value.
    let called = call(&actions, &domain.actions["refund"], "A1\"}, \"x\": {\"/../y").await;
    assert_eq!(called.outcome, "ok");
    let (path, _, body, _, _) = seen.lock().unwrap().calls.last().cloned().unwrap();
    assert_eq!(path, "/refund/A1\"}, \"x\": {\"/../y", "percent-encoded on the wire, decoded by the server");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["order"], "A1\"}, \"x\": {\"/../y");
    assert_eq!(v.as_object().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_backend_opens_the_circuit() {
    let (base, seen) = action_server().await;
    let domain = domain();
    let actions = actions(&base, "breaker: { failures: 2, cooldown_ms: 60000 }\n");
    for _ in 0..2 {
        assert_eq!(call(&actions, &domain.actions["boom"], "A12345").await.outcome, "error");
    }
    let hits = seen.lock().unwrap().boom;
    let refused = call(&actions, &domain.actions["boom"], "A12345").await;
    assert_eq!(refused.outcome, "error");
    assert_eq!(refused.attempts, 0, "{refused:?}");
    assert!(refused.detail.unwrap().contains("circuit open"));
    assert_eq!(seen.lock().unwrap().boom, hits, "the backend was not called while open");
}

#[test]
fn endpoints_are_checked_at_load() {
    let load =
        |yaml: &str| Actions::new(&serde_yaml::from_str::<ActionsConfig>(yaml).unwrap()).err().map(|e| e.to_string());
    let err = load("endpoints:\n  b:\n    url: ftp://example.com/\n").unwrap();
    assert!(err.contains("actions.endpoints.b") && err.contains("http or https"), "{err}");
    let err = load("endpoints:\n  b:\n    url: http://169.254.169.254/latest\n").unwrap();
    assert!(err.contains("link-local") && err.contains("allow_link_local"), "{err}");
    let err = load("endpoints:\n  b:\n    url: http://[fd00:ec2::254]/\n").unwrap();
    assert!(err.contains("link-local"), "{err}");
    assert_eq!(load("endpoints:\n  b:\n    url: http://169.254.169.254/\n    allow_link_local: true\n"), None);
    let err = load("endpoints:\n  b:\n    url: http://127.0.0.1:1/\n    headers_env: { Authorization: USHER_TEST_UNSET_VARIABLE }\n").unwrap();
    assert!(err.contains("USHER_TEST_UNSET_VARIABLE is not set"), "{err}");
    // An action naming an endpoint config.yaml lacks: file, line and column.
    let report = usher::actions::check_endpoints(&ActionsConfig::default(), &domain()).unwrap_err();
    let first = report.diagnostics[0].to_string();
    assert!(first.starts_with("a.yaml:") && first.contains("names endpoint \"backend\""), "{first}");
    assert!(report.diagnostics.iter().all(|d| d.line > 0 && d.column > 0), "{report}");
}
