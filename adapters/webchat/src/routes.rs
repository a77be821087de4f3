//! `/ws` (the chat socket), `/widget.js`, the demo page `/` and
//! `POST /api/v1/webchat/sessions` (a new conversation and its token).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tokio::sync::mpsc;
use usher_channel::access::{self, Identity, SUBPROTOCOL};
use usher_channel::{ConversationId, Error};

use crate::hub::Hub;
use crate::protocol::{ClientFrame, ServerFrame, MAX_FRAME};

const WIDGET_JS: &str = include_str!("assets/widget.js");
const DEMO_HTML: &str = include_str!("assets/index.html");

pub(crate) fn router(hub: Arc<Hub>) -> Router {
    if !hub.config.enabled {
        return Router::new();
    }
    Router::new()
        .route("/", get(demo))
        .route("/widget.js", get(widget))
        .route("/ws", get(socket))
        .route("/api/v1/webchat/sessions", post(open_session))
        .layer(DefaultBodyLimit::max(MAX_SESSION_BODY))
        .with_state(hub)
}

/// Largest session request (an identity is two short strings).
const MAX_SESSION_BODY: usize = 4 * 1024;

/// A refusal as JSON `{"error": ...}` with the error's status (and
/// `Retry-After` for a 429). Never echoes the credential.
fn refuse(e: &Error) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::json!({ "error": e.to_string() }).to_string();
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(wait) = e.retry_after() {
        response.headers_mut().insert(header::RETRY_AFTER, usher_channel::retry_after_secs(wait).into());
    }
    response
}

/// `POST /api/v1/webchat/sessions`: an empty body (or `{}`) for an
/// anonymous fan, `{"user_id", "user_hash"}` for a verified customer.
async fn open_session(State(hub): State<Arc<Hub>>, body: Bytes) -> Response {
    let identity = if body.iter().all(u8::is_ascii_whitespace) || body.as_ref() == b"{}" {
        None
    } else {
        match serde_json::from_slice::<Identity>(&body) {
            Ok(identity) => Some(identity),
            Err(e) => return refuse(&Error::InvalidJson(e.to_string())),
        }
    };
    match hub.gate.open(identity).await {
        Ok(session) => {
            let body = serde_json::to_string(&session).unwrap_or_default();
            let headers = [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")];
            (StatusCode::CREATED, headers, body).into_response()
        }
        Err(e) => refuse(&e),
    }
}

/// The credential a socket request presents: the `usher-token.<token>`
/// subprotocol (browsers) or `Authorization: Bearer` (other clients).
fn socket_credential(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    let offered =
        headers.get_all(header::SEC_WEBSOCKET_PROTOCOL).iter().find_map(|v| access::subprotocol_token(v.as_bytes()));
    if let Some(token) = offered {
        return token.map(Some);
    }
    headers.get(header::AUTHORIZATION).map(|v| access::bearer(v.as_bytes())).transpose()
}

/// The demo page's policy: our own scripts only, no framing by other sites
/// (sites embed `/widget.js`, never the page).
const DEMO_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                        img-src 'self' data:; media-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
                        base-uri 'none'; form-action 'self'";

async fn demo(State(hub): State<Arc<Hub>>) -> Response {
    let page = Html(DEMO_HTML.replace("{{title}}", &escape_html(&hub.config.title)));
    ([(header::CONTENT_SECURITY_POLICY, DEMO_CSP), (header::X_FRAME_OPTIONS, "DENY")], page).into_response()
}

async fn widget(State(hub): State<Arc<Hub>>) -> Response {
    let title = serde_json::to_string(&hub.config.title).unwrap_or_else(|_| "\"Support\"".into());
    let body = WIDGET_JS.replace("\"{{title}}\"", &title);
    ([(header::CONTENT_TYPE, "application/javascript; charset=utf-8")], body).into_response()
}

#[derive(Deserialize)]
struct SocketQuery {
    conversation: String,
}

async fn socket(
    State(hub): State<Arc<Hub>>,
    Query(q): Query<SocketQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let conversation = match ConversationId::new(q.conversation) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    if hub.output.get().is_none() {
        return (StatusCode::SERVICE_UNAVAILABLE, "web chat is starting").into_response();
    }
    let admitted = match socket_credential(&headers) {
        Ok(credential) => hub.gate.admit(&conversation, credential).await,
        Err(e) => Err(e),
    };
    if let Err(e) = admitted {
        return refuse(&e);
    }
    ws.protocols([SUBPROTOCOL])
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| serve_socket(hub, conversation, socket))
}

async fn serve_socket(hub: Arc<Hub>, conversation: ConversationId, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = hub.register(&conversation, tx.clone());
    let mut closing = hub.closing.subscribe();
    let idle = std::time::Duration::from_secs(hub.config.idle_timeout_secs.max(1));
    let mut deadline = tokio::time::Instant::now() + idle;
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let Some(frame) = frame else { break };
                if send(&mut socket, &frame).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => {
                let Some(Ok(msg)) = incoming else { break };
                deadline = tokio::time::Instant::now() + idle;
                let answer = match msg {
                    Message::Text(text) => handle_text(&hub, &conversation, text.as_str()).await,
                    Message::Binary(_) => Some(error(None, "binary frames are not supported: send JSON text")),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => None,
                };
                if let Some(frame) = answer {
                    let _ = tx.send(frame);
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                let close = CloseFrame { code: 1000, reason: Utf8Bytes::from_static("idle") };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
            _ = closed(&mut closing) => {
                let close = CloseFrame { code: 1012, reason: Utf8Bytes::from_static("server restarting") };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
        }
    }
    hub.unregister(&conversation, id);
}

/// Resolves once the hub is closing (or gone).
async fn closed(closing: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = closing.wait_for(|c| *c).await.map(drop);
}

async fn send(socket: &mut WebSocket, frame: &ServerFrame) -> Result<(), axum::Error> {
    let text = serde_json::to_string(frame).unwrap_or_default();
    socket.send(Message::Text(text.into())).await
}

fn error(client_id: Option<u64>, reason: &str) -> ServerFrame {
    ServerFrame::Error { client_id, reason: reason.to_string() }
}

/// Submits one text frame (waiting for the store's ack keeps order).
async fn handle_text(hub: &Hub, conversation: &ConversationId, text: &str) -> Option<ServerFrame> {
    let frame = match ClientFrame::decode(text) {
        Ok(f) => f,
        Err(e) => return Some(error(None, &format!("invalid frame: {e}"))),
    };
    let output = hub.output.get()?;
    let (client_id, inbound) = frame.into_inbound(conversation.clone());
    Some(match output.submit(inbound).await {
        Ok(accepted) => ServerFrame::Ack { client_id, message_id: accepted.message_id },
        Err(rejection) => error(Some(client_id), &rejection.reason),
    })
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
