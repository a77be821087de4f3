//! The HTTP server: health, Prometheus metrics, the REST conversation API, the reload status
//! and (merged in by the caller) the web chat and agent console routes. `app` builds the router so tests can call
//! it with `tower::ServiceExt::oneshot`, without a socket. Its settings (the
//! `http:` section of `config.yaml`) are in [`config`].
//!
//! Who may call what ([`crate::access`]): `/healthz`, `/readyz`,
//! `/metrics`, `/widget.js`, `/` and `POST /api/v1/webchat/sessions` are
//! public; `/api/v1/conversations/{id}` and its messages need the
//! conversation's session token or an API key (`Authorization: Bearer`);
//! `/api/v1/admin/*` needs an API key; ids in a channel's namespace
//! (`telegram:42`) are refused on every public route.

pub mod config;
mod conversations;
mod error;
pub mod files;
mod harden;
mod metrics;
mod server;

pub use error::AppError;
pub use harden::{harden, Client};
pub use server::{serve, ServeOptions};

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::routing::get;
use axum::{Json, Router};

use crate::access::Access;
use crate::engine::Engine;
use crate::reload::{ReloadStatus, StatusHandle};

/// Largest accepted request body on any route (the message text limit is
/// 20 kB); [`harden`] applies it to every route.
pub const MAX_BODY: usize = 64 * 1024;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// The outcome of the latest intent reload.
    pub reload: StatusHandle,
    /// Who may act for which conversation.
    pub access: Arc<Access>,
    /// The bearer token `/metrics` requires (`USHER_METRICS_TOKEN`), if any.
    pub metrics_token: Option<Arc<str>>,
}

/// The variable holding the bearer token `/metrics` requires when set.
pub const METRICS_TOKEN_ENV: &str = "USHER_METRICS_TOKEN";

impl AppState {
    /// State for `engine` checking credentials with `access`, with no reload
    /// yet; `/metrics` takes its token from [`METRICS_TOKEN_ENV`].
    pub fn new(engine: Engine, access: Arc<Access>) -> Self {
        let intents = engine.brain().domain.intents.len();
        let metrics_token = std::env::var(METRICS_TOKEN_ENV).ok().filter(|t| !t.is_empty()).map(Arc::from);
        Self { engine, reload: crate::reload::initial_status(intents), access, metrics_token }
    }
}

/// The credential in a request's `Authorization: Bearer` header, if it has one.
fn credential(headers: &HeaderMap) -> Result<Option<&str>, crate::Error> {
    let value = headers.get(header::AUTHORIZATION);
    Ok(value.map(|v| usher_channel::access::bearer(v.as_bytes())).transpose()?)
}

/// The API router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/admin/reload-status", get(reload_status))
        .route("/api/v1/conversations/{id}", get(conversations::transcript))
        .route("/api/v1/conversations/{id}/messages", axum::routing::post(conversations::post_message))
        .with_state(state)
}

async fn reload_status(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<ReloadStatus>, AppError> {
    state.access.service(credential(&headers)?)?;
    Ok(Json(state.reload.read().unwrap_or_else(|p| p.into_inner()).clone()))
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// 200 when the conversation store and the vector store (if attached)
/// answer, else 503 naming what failed: load balancers stop routing here.
async fn ready(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let store = state.engine.store().ping().await.map_err(|e| e.to_string());
    let vectors = match state.engine.knowledge() {
        Some(kb) => kb.store().count().await.map(Some).map_err(|e| e.to_string()),
        None => Ok(None),
    };
    let ok = store.is_ok() && vectors.is_ok();
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not ready" },
        "store": store.err().unwrap_or_else(|| "ok".into()),
        "vector_store": match vectors {
            Ok(Some(points)) => serde_json::json!({ "points": points }),
            Ok(None) => serde_json::json!("not attached"),
            Err(e) => serde_json::json!(e),
        },
    });
    let status = if ok { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}
