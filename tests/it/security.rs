//! Security hardening, each finding of the review as a test against a real
//! `usher serve`: console sockets end with their session, sign-in limits hold
//! under parallel attempts (and across replicas on PostgreSQL), password
//! checks are bounded, bodies are capped on every route, a removed agent's
//! conversations go back to the queue, login CSRF is refused, headers are
//! set on every route, and every listed action is audited.

use crate::common;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use common::server::{write_config_http, Server, Shared};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// `usher ARGS --config CONFIG` with `stdin`, as an admin runs it.
fn usher(config: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> std::process::Output {
    use std::io::Write;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_usher"));
    cmd.args(args).arg("--config").arg(config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "usher {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn add_agent(config: &Path, name: &str, env: &[(&str, &str)]) {
    usher(config, &["agents", "add", name, "--password-stdin", "--role", "admin"], &format!("{name}-password\n"), env);
}

/// One server with agents alice, bob, carol, dave and erin (the sign-in
/// limits are what is tested, not the per-address one).
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        Shared::start(|config| {
            for name in ["alice", "bob", "carol", "dave", "erin"] {
                add_agent(config, name, &[]);
            }
        })
    })
}

fn server() -> &'static Server {
    &shared().server
}

struct Agent {
    cookie: String,
    csrf: String,
}

async fn login(server: &Server, name: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.http("/console/api/login"))
        .json(&json!({ "name": name, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn sign_in(server: &Server, name: &str) -> Agent {
    let res = login(server, name, &format!("{name}-password")).await;
    assert_eq!(res.status(), 200, "{name} signs in");
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = res.json::<Value>().await.unwrap()["csrf"].as_str().unwrap().to_string();
    Agent { cookie, csrf }
}

async fn console_socket(server: &Server, agent: &Agent) -> common::Socket {
    let mut req = server.ws("/console/ws").into_client_request().unwrap();
    req.headers_mut().insert("cookie", agent.cookie.parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// Waits for the socket to close; fails if it carries an event about
/// `after`, a conversation whose messages were all sent once the session
/// had ended. (Events of other tests' fans sent before it ended may still
/// be in flight, and are no leak.)
async fn closes_without_events_of(socket: &mut common::Socket, after: &str, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => panic!("the socket was still open after {within:?}"),
            Ok(None) | Ok(Some(Err(_))) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains(after) => {
                panic!("an event of the session's afterlife reached its socket: {t}")
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// A fan's session now, and a task that has them ask for a person later
/// (once `go` is sent).
async fn fan_who_will_ask(server: &'static Server) -> (String, tokio::sync::oneshot::Sender<()>) {
    let (conversation, token) = server.session().await;
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let id = conversation.clone();
    tokio::spawn(async move {
        let _ = wait.await;
        for text in ["hi there", "/human"] {
            let url = server.http(&format!("/api/v1/conversations/{id}/messages"));
            let _ = reqwest::Client::new().post(url).bearer_auth(&token).json(&json!({ "text": text })).send().await;
        }
    });
    (conversation, go)
}

/// A web chat fan who asks for a person; their conversation id and token.
async fn fan_asks_for_a_person(server: &Server) -> (String, String) {
    let (conversation, token) = server.session().await;
    for text in ["hi there", "/human"] {
        let res = reqwest::Client::new()
            .post(server.http(&format!("/api/v1/conversations/{conversation}/messages")))
            .bearer_auth(&token)
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    (conversation, token)
}

async fn post(server: &Server, agent: &Agent, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.http(path))
        .header("cookie", &agent.cookie)
        .header("x-csrf-token", &agent.csrf)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn audit(server: &Server, agent: &Agent) -> Vec<Value> {
    let res = reqwest::Client::new()
        .get(server.http("/console/api/audit"))
        .header("cookie", &agent.cookie)
        .send()
        .await
        .unwrap();
    res.json::<Vec<Value>>().await.unwrap()
}

// ---- 1. Console sockets end with their session -------------------------------

#[tokio::test]
async fn a_signed_out_agents_socket_is_closed_and_hears_nothing_more() {
    let alice = sign_in(server(), "alice").await;
    let mut socket = console_socket(server(), &alice).await;
    let (later, go) = fan_who_will_ask(server()).await;
    let res = post(server(), &alice, "/console/api/logout", json!({})).await;
    assert_eq!(res.status(), 200);
    // A fan writes right after: the closed socket must not carry it.
    go.send(()).unwrap();
    let code = closes_without_events_of(&mut socket, &later, Duration::from_secs(3)).await;
    assert_eq!(code, Some(4401), "closed as signed out");
}

#[tokio::test]
async fn a_removed_agents_socket_is_closed_and_their_conversation_goes_back_to_the_queue() {
    let bob = sign_in(server(), "bob").await;
    let carol = sign_in(server(), "carol").await;
    let (conversation, token) = fan_asks_for_a_person(server()).await;
    let claimed = post(server(), &bob, &format!("/console/api/conversations/{conversation}/claim"), json!({})).await;
    assert_eq!(claimed.status(), 200, "{}", claimed.text().await.unwrap());
    let mut socket = console_socket(server(), &bob).await;
    let (later, go) = fan_who_will_ask(server()).await;

    let out = usher(&shared().config, &["agents", "remove", "bob"], "", &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 claimed conversation(s) back in the queue"));
    go.send(()).unwrap();
    // Another process changed the store: the socket finds out before its
    // next event, or at its next check at the latest.
    let code = closes_without_events_of(&mut socket, &later, Duration::from_secs(6)).await;
    assert_eq!(code, Some(4401));

    let queue: Vec<Value> = reqwest::Client::new()
        .get(server().http("/console/api/queue"))
        .header("cookie", &carol.cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(queue.iter().any(|t| t["conversation"] == conversation.as_str() && t["state"] == "waiting"), "{queue:?}");
    let claim = post(server(), &carol, &format!("/console/api/conversations/{conversation}/claim"), json!({})).await;
    assert_eq!(claim.status(), 200, "another agent can claim it: {}", claim.text().await.unwrap());
    let reply_path = format!("/console/api/conversations/{conversation}/reply");
    let reply = post(server(), &carol, &reply_path, json!({"text": "Hi, I can help."})).await;
    assert_eq!(reply.status(), 200);
    // Fans see "Someone from the support team" and an `agent` sender, never a login name.
    let history = reqwest::Client::new()
        .get(server().http(&format!("/api/v1/conversations/{conversation}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(history.contains("Someone from the support team has joined"), "{history}");
    assert!(
        history.contains("\"sender\":\"agent\"") && !history.contains("carol") && !history.contains("bob"),
        "{history}"
    );
    let gone =
        reqwest::Client::new().get(server().http("/console/api/queue")).header("cookie", &bob.cookie).send().await;
    assert_eq!(gone.unwrap().status(), 401, "the removed agent's session is gone");
    let log = audit(server(), &carol).await;
    assert!(log.iter().any(|e| e["action"] == "agent_removed" && e["agent"] == "bob"), "{log:?}");
}

// ---- 2. Parallel sign-ins and argon2's memory ---------------------------------

#[tokio::test]
async fn parallel_sign_ins_cannot_beat_the_limit() {
    // 60 guesses at once for one name.
    let attempts =
        (0..60).map(|i| async move { login(server(), "dave", &format!("guess-{i}")).await.status().as_u16() });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "only the limit's 5 reach a password check: {statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 55);
    // Now over the limit, the right password is refused too.
    assert_eq!(login(server(), "dave", "dave-password").await.status(), 429);
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_flood_of_sign_ins_runs_few_password_checks_at_once() {
    // A server of its own: its memory is what is measured.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_http(dir.path(), "ip_per_second: 1000, ip_burst: 5000, ", "");
    let server = Server::start(&config, &[]);
    let pid = server.child.id();
    // Not a valid name: refused before the limiter, so it uses up nothing.
    assert_eq!(login(&server, "warm up", "x").await.status(), 400);
    let before = rss_kb(pid, "VmRSS:");
    // 95 names at once from one address: 20 (the address limit) get a
    // password check, two at a time.
    let attempts = (0..95).map(|i| {
        let server = &server;
        async move { login(server, &format!("name-{i}"), "wrong-password").await.status().as_u16() }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 20, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429));
    let peak = rss_kb(pid, "VmHWM:");
    let grew_mb = peak.saturating_sub(before) / 1024;
    println!("95 parallel sign-ins: RSS {} MB before, peak {} MB", before / 1024, peak / 1024);
    // Unbounded, 20 checks at ~19 MiB each would add ~380 MB.
    assert!(grew_mb < 120, "the flood grew the server by {grew_mb} MB (from {} MB)", before / 1024);
}

// ---- 4. Body limits and names -------------------------------------------------

#[tokio::test]
async fn every_route_caps_bodies_and_sign_in_checks_names_first() {
    let big = "x".repeat(1024 * 1024);
    let body = json!({ "name": big, "password": "x" }).to_string();
    let res = reqwest::Client::new()
        .post(server().http("/console/api/login"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413, "a 1 MB sign-in body");
    let res = reqwest::Client::new()
        .post(server().http("/api/v1/webchat/sessions"))
        .header("content-type", "application/json")
        .body("y".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413, "the session route");
    let odd = "ada\u{202e}lovelace";
    let res = login(server(), odd, "whatever-password").await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("letters, digits"));
    let erin = sign_in(server(), "erin").await;
    let log = audit(server(), &erin).await;
    assert!(
        !log.iter().any(|e| e["agent"].as_str().is_some_and(|a| a.contains("lovelace") || a.len() > 64)),
        "{log:?}"
    );
}

// ---- 7. Login CSRF ---------------------------------------------------------------

#[tokio::test]
async fn a_cross_site_or_non_json_sign_in_is_refused() {
    // Erin's right password, sent with each set of headers.
    let attempt = |headers: &'static [(&'static str, &'static str)]| async move {
        let mut req = reqwest::Client::new().post(server().http("/console/api/login"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = json!({ "name": "erin", "password": "erin-password" }).to_string();
        req.body(body).send().await.unwrap().status().as_u16()
    };
    type Headers = &'static [(&'static str, &'static str)];
    let cases: [(Headers, u16, &str); 3] = [
        (&[("content-type", "text/plain"), ("origin", "https://evil.example")], 403, "a cross-site form post"),
        (&[("content-type", "application/json"), ("sec-fetch-site", "cross-site")], 403, "Sec-Fetch-Site: cross-site"),
        (&[("content-type", "text/plain")], 415, "not JSON"),
    ];
    for (headers, want, what) in cases {
        assert_eq!(attempt(headers).await, want, "{what}");
    }
    assert_eq!(login(server(), "erin", "erin-password").await.status(), 200, "a same-origin JSON sign-in works");
}

// ---- 8. Headers ------------------------------------------------------------------

#[tokio::test]
async fn security_headers_on_every_route() {
    let erin = sign_in(server(), "erin").await;
    let (conversation, token) = server().session().await;
    let files = shared().dir.path().join("data/files/00000000000000bb");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("melody.wav"), b"RIFF").unwrap();
    // path, credential kind, must be no-store
    let table: [(&str, &str, bool); 9] = [
        ("/", "none", false),
        ("/widget.js", "none", false),
        ("/files/00000000000000bb/melody.wav", "none", false),
        ("/healthz", "none", false),
        ("/console", "none", false),
        ("/console/api/session", "agent", true),
        ("/console/api/queue", "agent", true),
        ("/api/v1/conversations/CONV", "token", true),
        ("/api/v1/admin/reload-status", "key", true),
    ];
    for (path, credential, no_store) in table {
        let url = server().http(&path.replace("CONV", &conversation));
        let req = reqwest::Client::new().get(url);
        let req = match credential {
            "agent" => req.header("cookie", &erin.cookie),
            "token" => req.bearer_auth(&token),
            "key" => req.bearer_auth(common::API_KEY),
            _ => req,
        };
        let res = req.send().await.unwrap();
        let h = res.headers();
        assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{path}");
        if no_store {
            assert_eq!(h.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{path}");
        }
        assert!(res.status().is_success() || res.status() == 404, "{path}: {}", res.status());
    }
    let page = reqwest::get(server().http("/")).await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
    let widget = reqwest::get(server().http("/widget.js")).await.unwrap();
    assert!(widget.headers().get("x-frame-options").is_none(), "sites embed the widget script");
    let session = reqwest::Client::new().post(server().http("/api/v1/webchat/sessions")).send().await.unwrap();
    assert_eq!(session.headers()["cache-control"], "no-store", "the token response is never cached");
    // Over plain HTTP the cookie is not Secure; behind a trusted HTTPS proxy it is (tests/security_proxy).
    let res = login(server(), "erin", "erin-password").await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("usher_console=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
}

#[tokio::test]
async fn behind_a_trusted_https_proxy_the_cookie_is_secure_and_limits_key_on_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_http(dir.path(), "trusted_proxies: [127.0.0.1], ", "");
    add_agent(&config, "frank", &[]);
    let server = Server::start(&config, &[]);
    let via_proxy = |client: &'static str| {
        reqwest::Client::new()
            .post(server.http("/console/api/login"))
            .header("x-forwarded-for", client)
            .header("x-forwarded-proto", "https")
    };
    let res =
        via_proxy("203.0.113.5").json(&json!({"name": "frank", "password": "frank-password"})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-usher_console=") && cookie.contains("; Secure"), "{cookie}");
    // One client's failures do not lock out another behind the same proxy.
    for _ in 0..5 {
        let res =
            via_proxy("203.0.113.66").json(&json!({"name": "frank", "password": "wrong-one"})).send().await.unwrap();
        assert_eq!(res.status(), 401);
    }
    let locked = via_proxy("203.0.113.66").json(&json!({"name": "frank", "password": "frank-password"})).send().await;
    assert_eq!(locked.unwrap().status(), 429);
    let other = via_proxy("203.0.113.5").json(&json!({"name": "frank", "password": "frank-password"})).send().await;
    assert_eq!(other.unwrap().status(), 200, "the proxy's other client is not locked out");
}

// ---- 9. Audit ----------------------------------------------------------------------

#[tokio::test]
async fn listed_actions_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_http(dir.path(), "ip_per_second: 1000, ip_burst: 5000, ", "");
    add_agent(&config, "gina", &[]);
    add_agent(&config, "hal", &[]);
    let server = Server::start(&config, &[]);
    let (conversation, _) = fan_asks_for_a_person(&server).await;
    for _ in 0..6 {
        let _ = login(&server, "hal", "wrong-password").await;
    }
    let gina = sign_in(&server, "gina").await;
    let _socket = console_socket(&server, &gina).await;
    let view = reqwest::Client::new()
        .get(server.http(&format!("/console/api/conversations/{conversation}")))
        .header("cookie", &gina.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(view.status(), 200);
    let forged = Agent { cookie: gina.cookie.clone(), csrf: "forged".into() };
    assert_eq!(
        post(&server, &forged, &format!("/console/api/conversations/{conversation}/claim"), json!({})).await.status(),
        403
    );
    usher(&config, &["agents", "remove", "hal"], "", &[]);

    let log = audit(&server, &gina).await;
    let has = |agent: &str, action: &str| log.iter().any(|e| e["agent"] == agent && e["action"] == action);
    for (agent, action) in [
        ("gina", "agent_added"),
        ("hal", "agent_added"),
        ("hal", "login_failed"),
        ("hal", "login_limited"),
        ("gina", "login"),
        ("gina", "console_socket"),
        ("gina", "view"),
        ("gina", "csrf_refused"),
        ("hal", "agent_removed"),
    ] {
        assert!(has(agent, action), "no {action} row for {agent}: {log:#?}");
    }
    let failed = log.iter().find(|e| e["action"] == "login_failed").unwrap();
    assert!(failed["detail"].as_str().unwrap().contains("127.0.0.1"), "the address is recorded: {failed}");
    let viewed = log.iter().find(|e| e["action"] == "view").unwrap();
    assert_eq!(viewed["conversation"], conversation.as_str());
}

// ---- 10. The limiter across replicas ------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_limit_holds_across_two_replicas_on_postgres() {
    let db = common::postgres::TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_http(dir.path(), "", "store: {kind: postgres, pool_size: 4}\n");
    let env = [("DATABASE_URL", db.url.as_str())];
    add_agent(&config, "ivy", &env);
    let a = Server::start(&config, &env);
    let b = Server::start(&config, &env);
    for i in 0..5 {
        let server = if i % 2 == 0 { &a } else { &b };
        assert_eq!(login(server, "ivy", "wrong-password").await.status(), 401);
    }
    for server in [&a, &b] {
        assert_eq!(login(server, "ivy", "ivy-password").await.status(), 429, "the limit is shared");
    }
    // A restart does not reset it.
    drop(a);
    let c = Server::start(&config, &env);
    assert_eq!(login(&c, "ivy", "ivy-password").await.status(), 429);
}

// ---- 3. Generated files stay within their quota ----------------------------------------

fn du(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                du(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_melody_requests_stay_under_the_files_quota() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::creative_config(dir.path());
    let quota = 2 * 1024 * 1024;
    config.creative.files =
        usher::creative::files::FilesConfig { max_total_bytes: quota, ttl_hours: 24, per_conversation: 5 };
    let tools =
        tokio::task::spawn_blocking(move || usher::creative::tools::Toolset::load(&config, None)).await.unwrap();
    let files = tools.files().unwrap().dir().to_path_buf();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut capped = 0;
        let mut composed = 0;
        let mut peak = 0;
        // 20 fans asking 50 times each.
        for i in 0..1000 {
            let conversation = format!("web-fan-{}", i % 20);
            let out = tools.run("compose_melody", &format!("compose a melody number {i}"), &conversation).unwrap();
            if out.attachments.is_empty() {
                assert!(out.text.contains("as many as I can keep"), "{}", out.text);
                capped += 1;
            } else {
                composed += 1;
            }
            peak = peak.max(du(&files));
        }
        (capped, composed, peak)
    })
    .await
    .unwrap();
    let (capped, composed, peak) = outcome;
    assert_eq!(composed, 100, "5 per conversation");
    assert_eq!(capped, 900, "the rest are told the cap is reached");
    assert!(peak <= quota, "the files took {peak} bytes at most, over the {quota}-byte quota");
}
