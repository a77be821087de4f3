//! The HTTP server: health, Prometheus metrics, the REST conversation API, the reload status
//! and (merged in by the caller) the web chat and agent console routes. `app` builds the router so tests can call
//! it with `tower::ServiceExt::oneshot`, without a socket.

mod conversations;
mod error;
pub mod files;
mod metrics;

pub use error::AppError;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::engine::Engine;
use crate::reload::{ReloadStatus, StatusHandle};

/// Largest accepted request body (the message text limit is 20 kB).
pub const MAX_BODY: usize = 64 * 1024;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// The outcome of the latest intent reload.
    pub reload: StatusHandle,
}

impl AppState {
    /// State for `engine`, with no reload yet.
    pub fn new(engine: Engine) -> Self {
        let intents = engine.brain().domain.intents.len();
        Self { engine, reload: crate::reload::initial_status(intents) }
    }
}

/// The API router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/admin/reload-status", get(reload_status))
        .route("/api/v1/conversations/{id}", get(conversations::transcript))
        .route("/api/v1/conversations/{id}/messages", axum::routing::post(conversations::post_message))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn reload_status(State(state): State<AppState>) -> Json<ReloadStatus> {
    Json(state.reload.read().unwrap_or_else(|p| p.into_inner()).clone())
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
