//! A local fake of the Telegram Bot API for tests: an axum server on
//! 127.0.0.1 that teloxide talks to through `Bot::set_api_url`.
//!
//! It implements the methods Usher uses: `getMe`, `getUpdates` (long polling
//! over an in-memory update list), `sendMessage`, `sendPhoto`, `sendAudio`,
//! `sendDocument` (JSON or multipart), `sendChatAction`,
//! `answerCallbackQuery`, `setWebhook` and `deleteWebhook`, and records every
//! call; `GET /files/{name}` serves a small file for attachment tests.
//! Scripted failures (429 with `retry_after`, 500) can be queued per
//! method. Not covered: file downloads from Telegram, message editing,
//! inline mode, payments, groups' privacy rules and the real limits (the
//! fake never throttles on its own).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;
use tokio::time::Instant;
use usher_channel::compliance::{wait_until, FakeServer};

/// One recorded API call.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method, lower-cased (`sendmessage`).
    pub method: String,
    /// Its parameters; multipart text fields as strings, files as
    /// `{"file_name": .., "bytes": n}`.
    pub params: Map<String, Value>,
    /// When it arrived.
    pub at: Instant,
}

impl Call {
    /// The `chat_id` parameter.
    pub fn chat(&self) -> Option<i64> {
        match self.params.get("chat_id")? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// The `text` parameter.
    pub fn text(&self) -> Option<&str> {
        self.params.get("text")?.as_str()
    }

    /// Titles and callback data of the inline keyboard, if any.
    pub fn buttons(&self) -> Vec<(String, String)> {
        let markup = match self.params.get("reply_markup") {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        let rows = markup.get("inline_keyboard").and_then(Value::as_array).cloned().unwrap_or_default();
        rows.iter()
            .flat_map(|r| r.as_array().cloned().unwrap_or_default())
            .map(|b| {
                let field = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                (field("text"), field("callback_data"))
            })
            .collect()
    }
}

/// A scripted failure for the next call of a method.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    /// 429 Too Many Requests with `parameters.retry_after`.
    RetryAfter(u32),
    /// 500 Internal Server Error.
    ServerError,
}

#[derive(Default)]
struct Inner {
    updates: Mutex<Vec<Value>>,
    next_update: AtomicU32,
    next_message: AtomicI64,
    calls: Mutex<Vec<Call>>,
    failures: Mutex<HashMap<String, VecDeque<Failure>>>,
    /// The highest `offset` a `getUpdates` call confirmed.
    confirmed: AtomicI64,
    changed: Notify,
}

/// The running fake. Dropping it stops the server.
pub struct FakeBotApi {
    server: FakeServer,
    inner: Arc<Inner>,
}

impl FakeBotApi {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> std::io::Result<FakeBotApi> {
        let inner = Arc::new(Inner {
            next_update: AtomicU32::new(1),
            next_message: AtomicI64::new(1000),
            ..Default::default()
        });
        let server = FakeServer::start(Router::new().fallback(method).with_state(Arc::clone(&inner))).await?;
        Ok(FakeBotApi { server, inner })
    }

    /// The base URL for `Bot::set_api_url` / `channels.telegram.api_url`.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// Queues a raw update (its `update_id` is assigned); returns the id.
    pub fn push_update(&self, mut update: Value) -> u32 {
        let id = self.inner.next_update.fetch_add(1, Ordering::SeqCst);
        if let Some(obj) = update.as_object_mut() {
            obj.insert("update_id".into(), json!(id));
        }
        self.inner.updates.lock().unwrap_or_else(|p| p.into_inner()).push(update);
        self.inner.changed.notify_waiters();
        id
    }

    /// A private-chat text message from fan `chat`.
    pub fn fan_says(&self, chat: i64, text: &str) -> u32 {
        self.push_update(json!({"message": fan_message(chat, self.message_id(), json!({"text": text}))}))
    }

    /// A fan message with extra fields (sticker, voice, caption…) and no text.
    pub fn fan_sends(&self, chat: i64, fields: Value) -> u32 {
        self.push_update(json!({"message": fan_message(chat, self.message_id(), fields)}))
    }

    /// A fresh message id (Telegram's are unique within a chat).
    fn message_id(&self) -> i64 {
        self.inner.next_message.fetch_add(1, Ordering::SeqCst)
    }

    /// A press of an inline button with callback `data`; returns the query id.
    pub fn fan_presses(&self, chat: i64, data: &str) -> String {
        let id = format!("cb-{}", self.inner.next_message.fetch_add(1, Ordering::SeqCst));
        self.push_update(json!({"callback_query": {
            "id": id, "from": fan(chat), "chat_instance": "ci",
            "message": bot_message(chat, 1, json!({"text": "buttons"})), "data": data,
        }}));
        id
    }

    /// Makes the next call of `method` (e.g. `sendMessage`) fail.
    pub fn fail_next(&self, method: &str, failure: Failure) {
        let mut failures = self.inner.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.entry(method.to_ascii_lowercase()).or_default().push_back(failure);
    }

    /// Drops every scripted failure not yet used.
    pub fn clear_failures(&self) {
        self.inner.failures.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Every call so far of `method` (any case), oldest first.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        let method = method.to_ascii_lowercase();
        let calls = self.inner.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.iter().filter(|c| c.method == method).cloned().collect()
    }

    /// Waits until `method` was called `n` times (15 s at most); returns the calls.
    pub async fn wait_calls(&self, method: &str, n: usize) -> Vec<Call> {
        wait_until(&self.inner.changed, || {
            let calls = self.calls(method);
            (calls.len() >= n, calls)
        })
        .await
    }

    /// Successful sends (`sendMessage`, `sendPhoto`, …) to `chat`, oldest first.
    pub fn sent_to(&self, chat: i64) -> Vec<Call> {
        let calls = self.inner.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls
            .iter()
            .filter(|c| c.method.starts_with("send") && c.method != "sendchataction" && c.chat() == Some(chat))
            .cloned()
            .collect()
    }

    /// Waits until `chat` received at least `n` messages (15 s at most).
    pub async fn wait_sent(&self, chat: i64, n: usize) -> Vec<Call> {
        wait_until(&self.inner.changed, || {
            let sent = self.sent_to(chat);
            (sent.len() >= n, sent)
        })
        .await
    }

    /// The highest update id the bot has confirmed (offset − 1).
    pub fn confirmed(&self) -> i64 {
        self.inner.confirmed.load(Ordering::SeqCst) - 1
    }
}

fn fan(chat: i64) -> Value {
    json!({"id": chat, "is_bot": false, "first_name": "Fan", "language_code": "en"})
}

fn fan_message(chat: i64, id: i64, fields: Value) -> Value {
    let mut m = json!({"message_id": id, "date": 1_700_000_000, "chat": {"id": chat, "type": "private", "first_name": "Fan"}, "from": fan(chat)});
    if let (Some(m), Some(f)) = (m.as_object_mut(), fields.as_object()) {
        m.extend(f.clone());
    }
    m
}

fn bot_message(chat: i64, id: i64, fields: Value) -> Value {
    let mut m = json!({"message_id": id, "date": 1_700_000_000, "chat": {"id": chat, "type": "private", "first_name": "Fan"},
        "from": {"id": 1, "is_bot": true, "first_name": "Encore", "username": "encore_bot"}});
    if let (Some(m), Some(f)) = (m.as_object_mut(), fields.as_object()) {
        m.extend(f.clone());
    }
    m
}

async fn method(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    if let Some(file) = path.strip_prefix("/files/") {
        // Files for attachment tests to download.
        return ([(header::CONTENT_TYPE, "application/octet-stream")], format!("file {file}").into_bytes())
            .into_response();
    }
    let name = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or_default().to_ascii_lowercase();
    let params = match read_params(request).await {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("Bad Request: {e}"), None),
    };
    let failure = inner.failures.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&name).and_then(VecDeque::pop_front);
    let call = Call { method: name.clone(), params, at: Instant::now() };
    let params = call.params.clone();
    if name != "getupdates" {
        inner.calls.lock().unwrap_or_else(|p| p.into_inner()).push(call.clone());
        inner.changed.notify_waiters();
    }
    match failure {
        Some(Failure::RetryAfter(s)) => {
            return error(StatusCode::TOO_MANY_REQUESTS, &format!("Too Many Requests: retry after {s}"), Some(s))
        }
        Some(Failure::ServerError) => return error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", None),
        None => {}
    }
    let chat = call.chat().unwrap_or(0);
    let id = inner.next_message.fetch_add(1, Ordering::SeqCst);
    let file = |k: &str| json!({"file_id": k, "file_unique_id": k, "duration": 1, "width": 1, "height": 1});
    let result = match name.as_str() {
        "getme" => json!({"id": 1, "is_bot": true, "first_name": "Encore", "username": "encore_bot",
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
            "has_main_web_app": false}),
        "getupdates" => Value::Array(updates(&inner, &params).await),
        "sendmessage" => bot_message(chat, id, json!({"text": params.get("text").cloned().unwrap_or_default()})),
        "sendphoto" => bot_message(chat, id, json!({"photo": [file("p")]})),
        "sendaudio" => bot_message(chat, id, json!({"audio": file("a")})),
        "senddocument" => bot_message(chat, id, json!({"document": file("d")})),
        "sendchataction" | "answercallbackquery" | "setwebhook" | "deletewebhook" => json!(true),
        _ => return error(StatusCode::NOT_FOUND, "Not Found: method not implemented by the fake", None),
    };
    Json(json!({"ok": true, "result": result})).into_response()
}

/// Long polling: updates with id ≥ offset, waiting up to the timeout (≤ 10 s).
async fn updates(inner: &Inner, params: &Map<String, Value>) -> Vec<Value> {
    let number = |k: &str| params.get(k).and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()));
    let offset = number("offset").unwrap_or(0);
    // Like Telegram: updates below the highest offset ever sent are gone.
    let offset = inner.confirmed.fetch_max(offset, Ordering::SeqCst).max(offset);
    let deadline = Instant::now() + Duration::from_secs(number("timeout").unwrap_or(0).clamp(0, 10) as u64);
    loop {
        let changed = inner.changed.notified();
        let ready: Vec<Value> = {
            let all = inner.updates.lock().unwrap_or_else(|p| p.into_inner());
            all.iter().filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset).cloned().collect()
        };
        if !ready.is_empty() || Instant::now() >= deadline {
            return ready;
        }
        let _ = tokio::time::timeout_at(deadline, changed).await;
    }
}

async fn read_params(request: Request) -> Result<Map<String, Value>, String> {
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, &()).await.map_err(|e| e.to_string())?;
        let mut params = Map::new();
        while let Some(field) = form.next_field().await.map_err(|e| e.to_string())? {
            let name = field.name().unwrap_or_default().to_string();
            let file_name = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.map_err(|e| e.to_string())?;
            let value = match file_name {
                Some(f) => json!({"file_name": f, "bytes": bytes.len()}),
                None => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            };
            params.insert(name, value);
        }
        // teloxide uploads a file as its own part and names it in the
        // parameter as `attach://<part>`: put the file in its place.
        let attached: Vec<(String, String)> = params
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.strip_prefix("attach://")?.to_string())))
            .collect();
        for (key, part) in attached {
            if let Some(file) = params.get(&part).cloned() {
                params.insert(key, file);
            }
        }
        return Ok(params);
    }
    let body = Bytes::from_request(request, &()).await.map_err(|e| e.to_string())?;
    if body.is_empty() {
        return Ok(Map::new());
    }
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

fn error(status: StatusCode, description: &str, retry_after: Option<u32>) -> Response {
    let mut body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    if let Some(s) = retry_after {
        body["parameters"] = json!({"retry_after": s});
    }
    (status, Json(body)).into_response()
}
