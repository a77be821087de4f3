//! `GET /console/ws`: pushes [`crate::handoff::Event`]s as JSON text
//! frames; the page refetches what changed. Signed-in agents only, and
//! only from our own origin (no cross-site socket hijacking).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use super::auth::SignedIn;
use super::ConsoleState;
use crate::http::AppError;

/// The upgrade.
pub async fn socket(
    State(state): State<ConsoleState>,
    _: SignedIn,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    if !same_origin(&headers) {
        return Err(AppError::new(StatusCode::FORBIDDEN, "cross-origin console socket refused"));
    }
    Ok(ws.on_upgrade(move |socket| serve(state, socket)))
}

/// The `Origin` header, when sent, names the host the request went to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

async fn serve(state: ConsoleState, mut socket: WebSocket) {
    let mut events = state.desk.engine().events();
    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            event = events.recv() => {
                let text = match event {
                    Ok(e) => serde_json::to_string(&e).unwrap_or_default(),
                    // Fell behind: tell the page to refresh everything.
                    Err(RecvError::Lagged(_)) => r#"{"type":"queue"}"#.to_string(),
                    Err(RecvError::Closed) => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
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
