//! The webhook route: Telegram posts each update here with the secret
//! header; the answer is 200 once the update is stored (or needs nothing),
//! 401 without the right secret, 400 for a body that is not an update and
//! 503 while the engine cannot take it (Telegram then retries).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use teloxide::types::Update;
use usher_channel::constant_time_eq;

use crate::adapter::{handle, Shared};
use crate::SECRET_HEADER;

/// The largest update body accepted (Telegram's are far smaller).
const MAX_BODY: usize = 256 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let path = shared.config_path();
    Router::new().route(&path, post(receive)).layer(axum::extract::DefaultBodyLimit::max(MAX_BODY)).with_state(shared)
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    let given = headers.get(SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    if !constant_time_eq(given, shared.secret.as_bytes()) {
        tracing::warn!("Telegram webhook request without the right secret token refused");
        return (StatusCode::UNAUTHORIZED, "missing or wrong X-Telegram-Bot-Api-Secret-Token");
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "Telegram webhook body is not an update");
            return (StatusCode::BAD_REQUEST, "body is not a Telegram update");
        }
    };
    if handle(&shared, update).await {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready; retry")
    }
}
