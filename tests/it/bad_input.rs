//! The bad-input catalogue (docs/bad-input.md): hostile or broken input at
//! every door of a real `usher serve` — the REST API, the web chat socket,
//! the file route, raw TCP — and in the intent files. Each case checks the
//! clear error, that nothing was stored half-way, and that the server still
//! answers afterwards.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::server::{write_config_http, Server};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// One server for the catalogue: per-conversation burst 5, a 2 s header
/// timeout, a generous per-address limit (its own case has its own server).
fn server() -> &'static Server {
    static SERVER: OnceLock<(tempfile::TempDir, Server)> = OnceLock::new();
    let (_, s) = SERVER.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let http = "ip_per_second: 1000, ip_burst: 5000, conversation_burst: 5, header_timeout_secs: 2, ";
        let config = write_config_http(dir.path(), http, "");
        let server = Server::start_shared(&config);
        (dir, server)
    });
    s
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// POSTs raw bytes as a fan message; returns status, headers and JSON body.
async fn post_raw(conversation: &str, body: impl Into<reqwest::Body>) -> (u16, reqwest::header::HeaderMap, Value) {
    let url = server().http(&format!("/api/v1/conversations/{conversation}/messages"));
    let res = client()
        .post(url)
        .header("content-type", "application/json")
        .bearer_auth(common::API_KEY)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn post_text(conversation: &str, text: &str) -> (u16, Value) {
    let (status, _, body) = post_raw(conversation, json!({ "text": text }).to_string()).await;
    (status, body)
}

/// The stored messages of a conversation (empty when it does not exist).
async fn stored(conversation: &str) -> Vec<Value> {
    let url = server().http(&format!("/api/v1/conversations/{conversation}"));
    let res = client().get(url).bearer_auth(common::API_KEY).send().await.unwrap();
    if res.status() == 404 {
        return Vec::new();
    }
    let t: Value = res.json().await.unwrap();
    t["messages"].as_array().cloned().unwrap_or_default()
}

/// The server still answers a normal message.
async fn still_up() {
    let id = format!("alive-{}", rand::random::<u32>());
    let (status, body) = post_text(&id, "hi there").await;
    assert_eq!(status, 200, "server no longer answers: {body}");
    assert!(!body["replies"].as_array().unwrap().is_empty());
}

/// A refusal: the status, an `error` that contains `needle`, nothing stored.
async fn refused(conversation: &str, (status, body): (u16, Value), want: u16, needle: &str) {
    assert_eq!(status, want, "{body}");
    let error = body["error"].as_str().unwrap_or_else(|| panic!("no error message: {body}"));
    assert!(error.to_lowercase().contains(&needle.to_lowercase()), "{error:?} lacks {needle:?}");
    assert!(stored(conversation).await.is_empty(), "a refused message was stored");
    still_up().await;
}

/// A message that must be taken as it is: stored verbatim and answered.
async fn accepted_verbatim(conversation: &str, text: &str) {
    let (status, body) = post_text(conversation, text).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["replies"].as_array().unwrap().is_empty(), "{body}");
    let messages = stored(conversation).await;
    assert_eq!(messages[0]["text"], text, "stored differently");
    still_up().await;
}

fn nested_json(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

// ---- REST API -------------------------------------------------------------

#[tokio::test]
async fn rest_body_over_64_kb_is_413() {
    let body = json!({ "text": "a".repeat(70 * 1024) }).to_string();
    let (status, _, _) = post_raw("bad-big-body", body).await;
    assert_eq!(status, 413);
    assert!(stored("bad-big-body").await.is_empty());
    still_up().await;
}

#[tokio::test]
async fn rest_text_over_the_message_limit_is_413() {
    let r = post_text("bad-long-text", &"word ".repeat(5000)).await;
    refused("bad-long-text", r, 413, "over the").await;
}

#[tokio::test]
async fn rest_invalid_utf8_is_400() {
    let (s, _, b) = post_raw("bad-utf8", b"{\"text\": \"caf\xc3\x28\"}".to_vec()).await;
    refused("bad-utf8", (s, b), 400, "utf-8").await;
}

#[tokio::test]
async fn rest_invalid_json_is_400() {
    let (s, _, b) = post_raw("bad-json", "{\"text\": \"unterminated").await;
    refused("bad-json", (s, b), 400, "json").await;
}

#[tokio::test]
async fn rest_json_nested_10000_deep_is_400() {
    let (s, _, b) = post_raw("bad-deep-json", nested_json(10_000)).await;
    refused("bad-deep-json", (s, b), 400, "json").await;
}

#[tokio::test]
async fn rest_unknown_field_is_400() {
    let (s, _, b) = post_raw("bad-field", json!({"text": "hi", "admin": true}).to_string()).await;
    refused("bad-field", (s, b), 400, "unknown field").await;
}

#[tokio::test]
async fn rest_wrong_type_is_400() {
    let (s, _, b) = post_raw("bad-type", json!({"text": 42}).to_string()).await;
    refused("bad-type", (s, b), 400, "invalid type").await;
}

#[tokio::test]
async fn rest_empty_message_is_400() {
    let r = post_text("bad-empty", "").await;
    refused("bad-empty", r, 400, "empty").await;
}

#[tokio::test]
async fn rest_path_traversal_in_the_conversation_id_is_refused() {
    for id in ["..%2F..%2Fetc%2Fpasswd", "a%00b", "%E2%80%AE", &"x".repeat(300)] {
        let url = server().http(&format!("/api/v1/conversations/{id}/messages"));
        let res = client().post(url).body(json!({"text": "hi"}).to_string()).send().await.unwrap();
        assert!(res.status() == 400 || res.status() == 404, "{id}: {}", res.status());
    }
    still_up().await;
}

#[tokio::test]
async fn rest_per_conversation_rate_limit_is_429_with_retry_after() {
    let mut last = None;
    for _ in 0..6 {
        last = Some(post_raw("bad-flood", json!({"text": "hi there"}).to_string()).await);
    }
    let (status, headers, body) = last.unwrap();
    assert_eq!(status, 429, "{body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(body["error"].as_str().unwrap().contains("too many messages"), "{body}");
    assert_eq!(
        stored("bad-flood").await.iter().filter(|m| m["direction"] == "in").count(),
        5,
        "only the burst is stored"
    );
    still_up().await;
}

#[tokio::test]
async fn per_address_rate_limit_is_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_http(dir.path(), "ip_per_second: 1, ip_burst: 3, ", "");
    let s = Server::start(&config, &[]);
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..6 {
        let res = client().get(s.http("/healthz")).send().await.unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        }
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    assert_eq!(retry.as_deref(), Some("1"));
}

// ---- Text the bot must take as it is ----------------------------------------

#[tokio::test]
async fn whitespace_only_is_refused_as_empty() {
    let r = post_text("bad-blank", " \n\t ").await;
    refused("bad-blank", r, 400, "empty").await;
}

#[tokio::test]
async fn zero_width_characters_are_answered() {
    accepted_verbatim("odd-zero-width", "\u{200b}\u{200c}\u{200d}\u{feff}refund\u{200b}").await;
}

#[tokio::test]
async fn right_to_left_text_is_answered() {
    accepted_verbatim("odd-rtl", "أريد استرداد ثمن التذكرة \u{202e}evil").await;
}

#[tokio::test]
async fn combining_marks_are_answered() {
    accepted_verbatim("odd-zalgo", "r\u{0301}\u{0302}\u{0303}e\u{0334}\u{0335}fund p\u{0336}lease").await;
}

#[tokio::test]
async fn emoji_zwj_sequences_are_answered() {
    accepted_verbatim("odd-emoji", "👩‍👩‍👧‍👦🏳️‍🌈🧑🏽‍🚀").await;
}

#[tokio::test]
async fn mixed_scripts_are_answered() {
    accepted_verbatim("odd-scripts", "refund 返金 возврат रिफंड").await;
}

#[tokio::test]
async fn html_and_script_are_stored_as_text_and_returned_as_json() {
    let text = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let res = client()
        .post(server().http("/api/v1/conversations/odd-html/messages"))
        .bearer_auth(common::API_KEY)
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.status(), 200);
    assert_eq!(stored("odd-html").await[0]["text"], text);
}

#[tokio::test]
async fn sql_looking_text_is_stored_verbatim_and_harmless() {
    accepted_verbatim("odd-sql", "'); DROP TABLE messages; -- \" OR 1=1").await;
    assert!(!stored("odd-sql").await.is_empty(), "the messages table survived");
}

#[tokio::test]
async fn control_characters_are_answered() {
    accepted_verbatim("odd-control", "refund\u{0007}\u{001b}[31m please").await;
}

// ---- Web chat socket -------------------------------------------------------

async fn socket(
    conversation: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    // A backend's socket: the API key in the Authorization header.
    let mut req = server().ws(&format!("/ws?conversation={conversation}")).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {}", common::API_KEY).parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

async fn next_frame(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// Sends `frame`, expects an error frame containing `needle`, then checks
/// the same socket still works and nothing was stored for the bad frame.
async fn socket_refuses(conversation: &str, frame: Message, needle: &str) {
    let mut ws = socket(conversation).await;
    ws.send(frame).await.unwrap();
    let err = next_frame(&mut ws).await;
    assert_eq!(err["type"], "error", "{err}");
    assert!(err["reason"].as_str().unwrap().contains(needle), "{err}");
    assert!(stored(conversation).await.is_empty());
    ws.send(Message::text(json!({"type": "message", "client_id": 1, "text": "hi there"}).to_string())).await.unwrap();
    assert_eq!(next_frame(&mut ws).await["type"], "ack", "the socket survives a bad frame");
}

#[tokio::test]
async fn socket_binary_frame_is_refused() {
    socket_refuses("ws-binary", Message::binary(vec![0u8, 159, 146, 150]), "binary frames are not supported").await;
}

#[tokio::test]
async fn socket_invalid_json_is_refused() {
    socket_refuses("ws-json", Message::text("{not json"), "invalid frame").await;
}

#[tokio::test]
async fn socket_json_nested_10000_deep_is_refused() {
    socket_refuses("ws-deep", Message::text(nested_json(10_000)), "invalid frame").await;
}

#[tokio::test]
async fn socket_unknown_frame_type_is_refused() {
    socket_refuses("ws-type", Message::text(json!({"type": "admin", "cmd": "drop"}).to_string()), "invalid frame")
        .await;
}

#[tokio::test]
async fn socket_oversized_message_is_refused() {
    let frame = json!({"type": "message", "client_id": 9, "text": "word ".repeat(5000)}).to_string();
    socket_refuses("ws-long", Message::text(frame), "over the").await;
}

#[tokio::test]
async fn socket_frame_over_64_kb_closes_that_socket_only() {
    let mut ws = socket("ws-huge").await;
    let _ = ws.send(Message::text("x".repeat(100 * 1024))).await;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the socket was not closed");
    if let Some(code) = end {
        assert_eq!(code, 1009, "close code: message too big");
    }
    assert!(stored("ws-huge").await.is_empty());
    still_up().await;
}

#[tokio::test]
async fn socket_with_a_bad_conversation_id_is_400() {
    let res = client().get(server().http("/ws?conversation=..%2F..%2Fetc")).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let res = client().get(server().http("/ws")).send().await.unwrap();
    assert_eq!(res.status(), 400, "missing conversation");
}

// ---- Files and raw connections ---------------------------------------------

#[tokio::test]
async fn file_route_refuses_path_traversal() {
    for path in [
        "/files/../config.yaml",
        "/files/0123456789abcdef/..%2F..%2Fconfig.yaml",
        "/files/0123456789abcdef/melody.exe",
        "/files/zzzz/melody.wav",
    ] {
        let status = client().get(server().http(path)).send().await.unwrap().status().as_u16();
        assert!(status == 400 || status == 404, "{path}: {status}");
    }
    still_up().await;
}

#[test]
fn slow_loris_headers_are_cut_off() {
    let s = server();
    let mut tcp = TcpStream::connect(&s.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    // Trickle one header byte per 300 ms; the server must hang up.
    let mut closed = false;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(300));
        if tcp.write_all(b"X").is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        tcp.set_nonblocking(true).unwrap();
        let read = tcp.read(&mut buf);
        tcp.set_nonblocking(false).unwrap();
        if matches!(read, Ok(0)) || matches!(read, Ok(n) if n > 0) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a slow client held its connection for {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let mut ok = TcpStream::connect(&s.addr).unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    ok.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_404_and_405() {
    assert_eq!(client().get(server().http("/api/v1/nothing")).send().await.unwrap().status(), 404);
    let res = client().delete(server().http("/api/v1/conversations/x/messages")).send().await.unwrap();
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let res = client().get(server().http("/healthz")).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let res = client().get(server().http("/healthz")).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42", "a caller's id is kept");
}

// ---- Intent files ------------------------------------------------------------

/// `usher validate` on one intent file: exit status and stderr+stdout.
fn validate(dir: &Path, yaml: &[u8]) -> (bool, String) {
    let intents = dir.join("intents");
    std::fs::create_dir_all(&intents).unwrap();
    std::fs::write(intents.join("bad.yaml"), yaml).unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_usher")).arg("validate").arg(&intents).output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "validation took {:?}", started.elapsed());
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn yaml_billion_laughs_is_refused_quickly_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"].iter().zip(["b", "c", "d", "e", "f", "g", "h", "i"]) {
        bomb += &format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n");
    }
    let (ok, text) = validate(dir.path(), bomb.as_bytes());
    assert!(!ok);
    assert!(text.contains("bad.yaml"), "{text}");
}

#[test]
fn yaml_nested_10000_deep_is_refused_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("intents:\n  - name: x\n    examples: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let (ok, text) = validate(dir.path(), deep.as_bytes());
    assert!(!ok);
    // Refused by the linear nesting scan before libyaml (quadratic in the
    // depth) sees it: `[` number 101 is at line 3, column 115.
    assert!(text.contains("bad.yaml:3:115"), "{text}");
    assert!(text.contains("nested more than 100 deep"), "{text}");
}

#[test]
fn yaml_huge_file_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let huge = format!(
        "intents:\n  - name: big\n    examples:\n{}",
        "      - a very long example sentence here\n".repeat(60_000)
    );
    let (ok, text) = validate(dir.path(), huge.as_bytes());
    assert!(!ok);
    assert!(text.contains("bad.yaml") && text.contains("limited to 2 MB"), "{text}");
}

#[test]
fn yaml_invalid_utf8_is_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = validate(dir.path(), b"intents:\n  - name: caf\xc3\x28\n");
    assert!(!ok);
    assert!(text.contains("bad.yaml"), "{text}");
}

#[test]
fn yaml_wrong_shape_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = validate(dir.path(), b"intents:\n  - name: greet\n    examples: 12\n");
    assert!(!ok);
    assert!(text.contains("bad.yaml:3:"), "{text}");
}
