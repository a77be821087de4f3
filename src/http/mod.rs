//! The HTTP server: health, the REST conversation API and (merged in by the
//! caller) the web chat routes. `app` builds the router so tests can call
//! it with `tower::ServiceExt::oneshot`, without a socket.

mod conversations;
mod error;

pub use error::AppError;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};

use crate::engine::Engine;

/// Largest accepted request body (the message text limit is 20 kB).
pub const MAX_BODY: usize = 64 * 1024;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
}

/// The API router.
pub fn app(engine: Engine) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/api/v1/conversations/{id}", get(conversations::transcript))
        .route("/api/v1/conversations/{id}/messages", axum::routing::post(conversations::post_message))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(AppState { engine })
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
