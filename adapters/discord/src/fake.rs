//! A local fake of Discord's REST API (v10) for tests, and builders of
//! gateway-shaped event JSON.
//!
//! Serenity's `Http` reaches it through `HttpBuilder::proxy(url)` with
//! `ratelimiter_disabled(true)` (the proxy only applies then). Implemented:
//! create message (JSON or multipart with `payload_json` and files), get
//! channel, start a thread from a message, start a private thread, add a
//! thread member, typing, interaction callbacks, and `GET /files/{name}` for
//! attachments to download. Scripted 429s (with `retry_after` in the body
//! and header) for message creation. A minimal gateway: `GET /gateway`
//! points serenity at `ws://…/gateway`, which sends Hello, acknowledges
//! heartbeats, answers Identify with READY and then sends the dispatches
//! queued with [`FakeDiscord::dispatch`] as text frames. Not covered:
//! resuming, zlib transport compression, sharding, rate-limit headers and
//! buckets, permissions, guild membership, message edits and deletes,
//! embeds, and slash-command payload validation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::time::Instant;
use usher_channel::compliance::{wait_until, FakeServer};

/// The fake's guild id.
pub const GUILD: u64 = 900;
/// The bot's user id.
pub const BOT: u64 = 1;

/// One recorded REST call.
#[derive(Debug, Clone)]
pub struct Call {
    /// HTTP method.
    pub method: String,
    /// Path after `/api/v10`, e.g. `/channels/5/messages`.
    pub path: String,
    /// The JSON body (`payload_json` for multipart).
    pub body: Value,
    /// Names of uploaded files.
    pub files: Vec<String>,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    calls: Mutex<Vec<Call>>,
    threads: Mutex<HashMap<u64, (u64, u8)>>,
    rate_limits: AtomicU32,
    next_id: AtomicU64,
    changed: Notify,
    /// The fake's base URL, for the gateway URL it hands out.
    url: Mutex<String>,
    /// Gateway dispatches not yet sent: (event name, data).
    dispatches: Mutex<Vec<(String, Value)>>,
    /// The Identify payload the bot sent.
    identify: Mutex<Option<Value>>,
}

/// The running fake. Dropping it stops the server.
pub struct FakeDiscord {
    server: FakeServer,
    inner: Arc<Inner>,
}

impl FakeDiscord {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> std::io::Result<FakeDiscord> {
        let inner = Arc::new(Inner { next_id: AtomicU64::new(5000), ..Default::default() });
        let app = Router::new().route("/gateway", get(gateway)).fallback(route).with_state(Arc::clone(&inner));
        let server = FakeServer::start(app).await?;
        *inner.url.lock().unwrap_or_else(|p| p.into_inner()) = server.url().to_string();
        Ok(FakeDiscord { server, inner })
    }

    /// The base URL for `HttpBuilder::proxy`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// Answers the next `n` message creations with 429.
    pub fn rate_limit_next(&self, n: u32) {
        self.inner.rate_limits.store(n, Ordering::SeqCst);
    }

    /// Every call so far whose method and path match (`path` is a prefix).
    pub fn calls(&self, method: &str, path: &str) -> Vec<Call> {
        let calls = self.inner.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.iter().filter(|c| c.method == method && c.path.starts_with(path)).cloned().collect()
    }

    /// Messages successfully created in `channel`, oldest first.
    pub fn messages(&self, channel: u64) -> Vec<Call> {
        self.calls("POST", &format!("/channels/{channel}/messages")).into_iter().filter(|c| !c.body.is_null()).collect()
    }

    /// Waits until `channel` has at least `n` messages (15 s at most).
    pub async fn wait_messages(&self, channel: u64, n: usize) -> Vec<Call> {
        wait_until(&self.inner.changed, || {
            let got = self.messages(channel);
            (got.len() >= n, got)
        })
        .await
    }

    /// Waits until a call matching `method` and `path` arrived (15 s at most).
    pub async fn wait_call(&self, method: &str, path: &str) -> Option<Call> {
        wait_until(&self.inner.changed, || {
            let first = self.calls(method, path).into_iter().next();
            (first.is_some(), first)
        })
        .await
    }

    /// Queues a gateway dispatch (`MESSAGE_CREATE`, …) for the connected bot.
    pub fn dispatch(&self, event: &str, data: Value) {
        self.inner.dispatches.lock().unwrap_or_else(|p| p.into_inner()).push((event.to_string(), data));
        self.inner.changed.notify_waiters();
    }

    /// Waits for the bot's Identify (15 s at most) and returns its `d`.
    pub async fn wait_identify(&self) -> Option<Value> {
        wait_until(&self.inner.changed, || {
            let d = self.inner.identify.lock().unwrap_or_else(|p| p.into_inner()).clone();
            (d.is_some(), d)
        })
        .await
    }

    /// The threads created so far: (thread, parent).
    pub fn threads(&self) -> Vec<(u64, u64)> {
        let threads = self.inner.threads.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<(u64, u64)> = threads.iter().map(|(t, (p, _))| (*t, *p)).collect();
        all.sort();
        all
    }
}

/// A user object.
pub fn user(id: u64, name: &str, bot: bool) -> Value {
    json!({"id": id.to_string(), "username": name, "global_name": name, "discriminator": "0", "avatar": null, "bot": bot})
}

/// A `MESSAGE_CREATE` payload (`d`): in a guild channel when `guild` is set,
/// else a DM.
pub fn message_create(id: u64, channel: u64, guild: Option<u64>, author: u64, content: &str) -> Value {
    let mut m = json!({
        "id": id.to_string(), "channel_id": channel.to_string(), "author": user(author, "fan", false),
        "content": content, "timestamp": "2026-11-27T10:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [],
        "embeds": [], "pinned": false, "type": 0, "flags": 0, "components": [],
    });
    if let Some(g) = guild {
        m["guild_id"] = json!(g.to_string());
        m["member"] = json!({"roles": [], "joined_at": "2026-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0});
    }
    m
}

/// An `INTERACTION_CREATE` payload for a button press in `channel`.
pub fn button_press(id: u64, channel: u64, fan: u64, custom_id: &str) -> Value {
    json!({
        "id": id.to_string(), "application_id": "77", "type": 3, "token": format!("tok-{id}"), "version": 1,
        "channel_id": channel.to_string(), "user": user(fan, "fan", false), "locale": "en-GB",
        "message": message_create(id - 1, channel, None, BOT, "buttons"),
        "data": {"custom_id": custom_id, "component_type": 2},
        "entitlements": [], "authorizing_integration_owners": {}, "attachment_size_limit": 8_388_608,
    })
}

fn channel_json(id: u64, kind: u8, parent: Option<u64>) -> Value {
    json!({"id": id.to_string(), "type": kind, "guild_id": GUILD.to_string(), "name": format!("channel-{id}"),
        "parent_id": parent.map(|p| p.to_string()), "permission_overwrites": [], "position": 0, "nsfw": false,
        "owner_id": BOT.to_string(), "thread_metadata": if kind >= 10 { json!({"archived": false, "auto_archive_duration": 1440,
        "archive_timestamp": "2026-11-27T10:00:00.000000+00:00", "locked": false}) } else { Value::Null }})
}

async fn gateway(State(inner): State<Arc<Inner>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| session(inner, socket))
}

/// One gateway session: Hello, heartbeat ACKs, READY after Identify, then
/// the queued dispatches.
async fn session(inner: Arc<Inner>, mut socket: WebSocket) {
    let text = |v: Value| WsMessage::Text(v.to_string().into());
    if socket.send(text(json!({"op": 10, "d": {"heartbeat_interval": 41_250}}))).await.is_err() {
        return;
    }
    let mut seq = 0u64;
    let mut ready = false;
    loop {
        let changed = inner.changed.notified();
        if ready {
            let pending: Vec<(String, Value)> =
                std::mem::take(&mut *inner.dispatches.lock().unwrap_or_else(|p| p.into_inner()));
            for (event, data) in pending {
                seq += 1;
                if socket.send(text(json!({"op": 0, "s": seq, "t": event, "d": data}))).await.is_err() {
                    return;
                }
            }
        }
        let frame = tokio::select! {
            frame = socket.recv() => frame,
            _ = changed => continue,
        };
        let Some(Ok(WsMessage::Text(raw))) = frame else {
            return;
        };
        let Ok(payload) = serde_json::from_str::<Value>(raw.as_str()) else { continue };
        match payload["op"].as_u64() {
            Some(1) => {
                let _ = socket.send(text(json!({"op": 11}))).await;
            }
            Some(2) => {
                *inner.identify.lock().unwrap_or_else(|p| p.into_inner()) = Some(payload["d"].clone());
                inner.changed.notify_waiters();
                seq += 1;
                let url = inner.url.lock().unwrap_or_else(|p| p.into_inner()).replace("http://", "ws://");
                let d = json!({"v": 10, "user": user(BOT, "encore", true), "guilds": [], "session_id": "fake-session",
                    "resume_gateway_url": format!("{url}/gateway"), "shard": [0, 1], "application": {"id": "77", "flags": 0}});
                if socket.send(text(json!({"op": 0, "s": seq, "t": "READY", "d": d}))).await.is_err() {
                    return;
                }
                ready = true;
            }
            _ => {}
        }
    }
}

async fn route(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let method = request.method().clone();
    let full = request.uri().path().to_string();
    if let Some(name) = full.strip_prefix("/files/") {
        return ([(header::CONTENT_TYPE, "application/octet-stream")], format!("file {name}").into_bytes())
            .into_response();
    }
    let path = full.strip_prefix("/api/v10").unwrap_or(&full).to_string();
    let (body, files) = match read_body(request).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"message": e, "code": 50035}))).into_response(),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let num = |i: usize| segments.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let limited = method == Method::POST
        && segments.len() == 3
        && segments[2] == "messages"
        && inner.rate_limits.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let call = Call {
        method: method.to_string(),
        path: path.clone(),
        body: if limited { Value::Null } else { body.clone() },
        files,
        at: Instant::now(),
    };
    inner.calls.lock().unwrap_or_else(|p| p.into_inner()).push(call);
    inner.changed.notify_waiters();
    if limited {
        let body = json!({"message": "You are being rate limited.", "retry_after": 0.25, "global": false, "code": 0});
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], Json(body)).into_response();
    }
    let id = inner.next_id.fetch_add(1, Ordering::SeqCst);
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["gateway"]) | ("GET", ["gateway", "bot"]) => {
            let url = inner.url.lock().unwrap_or_else(|p| p.into_inner()).replace("http://", "ws://");
            Json(json!({"url": format!("{url}/gateway"), "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}))
            .into_response()
        }
        ("POST", ["applications", app, "commands"]) => Json(json!({"id": id.to_string(), "application_id": app,
            "version": "1", "type": 1, "name": body["name"], "description": body["description"],
            "default_member_permissions": null, "nsfw": false}))
        .into_response(),
        ("POST", ["channels", _, "messages"]) => {
            let mut m = message_create(id, num(1), None, BOT, body["content"].as_str().unwrap_or_default());
            m["author"] = user(BOT, "encore", true);
            m["components"] = body.get("components").cloned().unwrap_or_else(|| json!([]));
            Json(m).into_response()
        }
        ("POST", ["channels", _, "messages", _, "threads"]) | ("POST", ["channels", _, "threads"]) => {
            let kind = body["type"].as_u64().map_or(11, |k| k as u8);
            let kind = if segments.len() == 5 { 11 } else { kind };
            inner.threads.lock().unwrap_or_else(|p| p.into_inner()).insert(id, (num(1), kind));
            Json(channel_json(id, kind, Some(num(1)))).into_response()
        }
        ("GET", ["channels", _]) => {
            let thread = inner.threads.lock().unwrap_or_else(|p| p.into_inner()).get(&num(1)).copied();
            match thread {
                Some((parent, kind)) => Json(channel_json(num(1), kind, Some(parent))).into_response(),
                _ => Json(channel_json(num(1), 0, None)).into_response(),
            }
        }
        ("PUT", ["channels", _, "thread-members", _])
        | ("POST", ["channels", _, "typing"])
        | ("POST", ["interactions", _, _, "callback"]) => StatusCode::NO_CONTENT.into_response(),
        _ => (StatusCode::NOT_FOUND, Json(json!({"message": "404: Not Found (fake)", "code": 0}))).into_response(),
    }
}

async fn read_body(request: Request) -> Result<(Value, Vec<String>), String> {
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, &()).await.map_err(|e| e.to_string())?;
        let (mut body, mut files) = (Value::Null, Vec::new());
        while let Some(field) = form.next_field().await.map_err(|e| e.to_string())? {
            let name = field.name().unwrap_or_default().to_string();
            let file_name = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.map_err(|e| e.to_string())?;
            match file_name {
                Some(f) => files.push(f),
                None if name == "payload_json" => body = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?,
                None => {}
            }
        }
        return Ok((body, files));
    }
    let bytes = Bytes::from_request(request, &()).await.map_err(|e| e.to_string())?;
    if bytes.is_empty() {
        return Ok((json!({}), Vec::new()));
    }
    Ok((serde_json::from_slice(&bytes).map_err(|e| e.to_string())?, Vec::new()))
}
