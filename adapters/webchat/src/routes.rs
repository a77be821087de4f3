//! `/ws` (the chat socket), `/widget.js` and the demo page `/`.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::sync::mpsc;
use usher_channel::ConversationId;

use crate::hub::Hub;
use crate::protocol::{ClientFrame, ServerFrame, MAX_FRAME};

const WIDGET_JS: &str = include_str!("assets/widget.js");
const DEMO_HTML: &str = include_str!("assets/index.html");

pub(crate) fn router(hub: Arc<Hub>) -> Router {
    if !hub.config.enabled {
        return Router::new();
    }
    Router::new().route("/", get(demo)).route("/widget.js", get(widget)).route("/ws", get(socket)).with_state(hub)
}

async fn demo(State(hub): State<Arc<Hub>>) -> Html<String> {
    Html(DEMO_HTML.replace("{{title}}", &escape_html(&hub.config.title)))
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

async fn socket(State(hub): State<Arc<Hub>>, Query(q): Query<SocketQuery>, ws: WebSocketUpgrade) -> Response {
    let conversation = match ConversationId::new(q.conversation) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    if hub.output.get().is_none() {
        return (StatusCode::SERVICE_UNAVAILABLE, "web chat is starting").into_response();
    }
    ws.max_message_size(MAX_FRAME)
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
