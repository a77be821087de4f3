//! `GET /console/ws`: pushes [`crate::handoff::Event`]s as JSON text
//! frames; the page refetches what changed. Signed-in agents only, and
//! only from our own origin (no cross-site socket hijacking). The session
//! is checked again before every event and every [`RECHECK`]; the socket
//! closes (code 4401) when it expires, when the agent signs out or is
//! removed, on whichever replica that happened.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::auth::{ClientAddress, SignedIn};
use super::ConsoleState;
use crate::handoff::Event;
use crate::http::AppError;
use crate::util::now_ms;

/// How often an open socket checks its session is still there.
pub const RECHECK: Duration = Duration::from_secs(2);

/// The upgrade.
pub async fn socket(
    State(state): State<ConsoleState>,
    who: SignedIn,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    if !same_origin(&headers) {
        return Err(AppError::new(StatusCode::FORBIDDEN, "cross-origin console socket refused"));
    }
    state.desk.audit_session(&who.agent, "console_socket", Some(&address)).await?;
    Ok(ws.on_upgrade(move |socket| serve(state, who, socket)))
}

/// The `Origin` header, when sent, names the host the request went to.
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

/// Whether the session behind a socket still stands (a store error counts
/// as no: the page reconnects and signs in again if it must).
async fn still_signed_in(state: &ConsoleState, token_hash: &str) -> bool {
    matches!(state.desk.engine().store().session(token_hash, now_ms()).await, Ok(Some(_)))
}

/// Whether `event` ends the session `token_hash` of `agent`.
fn ends(event: &Event, agent: &str, token_hash: &str) -> bool {
    matches!(event, Event::SessionEnded { agent: a, session } if a == agent && session.as_deref().is_none_or(|s| s == token_hash))
}

async fn serve(state: ConsoleState, who: SignedIn, mut socket: WebSocket) {
    let mut events = state.desk.engine().events();
    let mut shutdown = state.shutdown.clone();
    let token_hash = who.session.token_hash.clone();
    let expiry = tokio::time::Instant::now() + Duration::from_millis((who.session.expires_ms - now_ms()).max(0) as u64);
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    let close =
        |reason: &'static str| Message::Close(Some(CloseFrame { code: 4401, reason: Utf8Bytes::from_static(reason) }));
    loop {
        tokio::select! {
            event = events.recv() => {
                let text = match event {
                    Ok(e) if ends(&e, &who.agent, &token_hash) => {
                        let _ = socket.send(close("signed out")).await;
                        return;
                    }
                    // Other agents' sign-outs are none of this page's business.
                    Ok(Event::SessionEnded { .. }) => continue,
                    Ok(e) => serde_json::to_string(&e).unwrap_or_default(),
                    // Fell behind: tell the page to refresh everything.
                    Err(RecvError::Lagged(_)) => r#"{"type":"queue"}"#.to_string(),
                    Err(RecvError::Closed) => return,
                };
                if !still_signed_in(&state, &token_hash).await {
                    let _ = socket.send(close("session ended")).await;
                    return;
                }
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            _ = recheck.tick() => {
                if !still_signed_in(&state, &token_hash).await {
                    let _ = socket.send(close("session ended")).await;
                    return;
                }
            }
            _ = tokio::time::sleep_until(expiry) => {
                let _ = state.desk.audit_session(&who.agent, "session_expired", None).await;
                let _ = socket.send(close("session expired")).await;
                return;
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = shutdown.recv() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_our_own_origin_may_open_the_socket() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h), "no Origin (not a browser) is fine: the cookie still gates it");
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
    }
}
