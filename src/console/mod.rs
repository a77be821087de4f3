//! The agent console: `/console` (a page with its assets embedded in the
//! binary), its JSON API under `/console/api` and a live WebSocket at
//! `/console/ws`. Every API route and the socket need a signed-in agent
//! (401 otherwise) whose role the route admits ([`PERMITS`]; 403
//! otherwise); state-changing requests also need the session's CSRF token
//! in `X-CSRF-Token` (403 otherwise).
//!
//! # Layout
//! - [`auth`]: sign-in (argon2, rate-limited), sessions in the store, the
//!   HttpOnly + SameSite=Strict cookie, the [`auth::SignedIn`] extractor.
//! - [`api`]: queue, conversation, claim, reply, notes, hand back, close,
//!   canned replies, analytics, audit log, a fan's export and erasure.
//! - [`ws`]: the live event socket.
//! - [`limiter`]: the sign-in attempt limiter.
//! - [`train`]: review to training: a trainer files a fan's message under
//!   an intent; the example is appended to the intent file in place,
//!   validated and hot-reloaded.
//! - [`PERMITS`]: which roles each route admits.

pub mod api;
pub mod auth;
pub mod limiter;
pub mod train;
pub mod ws;

use std::sync::Arc;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use usher_channel::Shutdown;

use crate::handoff::{Desk, Role};

/// Shared state of the console's handlers.
#[derive(Clone)]
pub struct ConsoleState {
    /// Agent actions.
    pub desk: Desk,
    /// Failed sign-ins per address and name.
    pub limiter: Arc<limiter::LoginLimiter>,
    /// Bounds the password checks running at once (argon2's memory).
    pub password_checks: Arc<tokio::sync::Semaphore>,
    /// Closes the live sockets on shutdown.
    pub shutdown: Shutdown,
    /// The intent files trainers add examples to.
    pub intents: std::path::PathBuf,
    /// One example edit at a time.
    pub training: Arc<tokio::sync::Mutex<()>>,
}

/// Only our own scripts, styles and socket: injected markup cannot run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Every role.
const ALL: &[Role] = &[Role::Agent, Role::Trainer, Role::Admin];
/// Who answers fans.
const HANDLERS: &[Role] = &[Role::Agent, Role::Admin];
/// Who edits training data.
const TRAINERS: &[Role] = &[Role::Trainer, Role::Admin];
/// Admins only.
const ADMINS: &[Role] = &[Role::Admin];

/// Every route that needs a signed-in agent, with the roles it admits:
/// [`auth::SignedIn`] checks it on each request, and a route missing here
/// admits no one. Reading (the queue, conversations, analytics) is for
/// every role; answering fans for agents, training for trainers, the audit
/// log for admins; admins may do everything.
pub const PERMITS: &[(&str, &str, &[Role])] = &[
    ("GET", "/console/ws", ALL),
    ("POST", "/console/api/logout", ALL),
    ("GET", "/console/api/session", ALL),
    ("GET", "/console/api/queue", ALL),
    ("GET", "/console/api/canned", HANDLERS),
    ("GET", "/console/api/analytics", ALL),
    ("GET", "/console/api/audit", ADMINS),
    ("GET", "/console/api/intents", TRAINERS),
    ("GET", "/console/api/conversations/{id}", ALL),
    ("POST", "/console/api/conversations/{id}/claim", HANDLERS),
    ("POST", "/console/api/conversations/{id}/reply", HANDLERS),
    ("POST", "/console/api/conversations/{id}/notes", HANDLERS),
    ("POST", "/console/api/conversations/{id}/release", HANDLERS),
    ("POST", "/console/api/conversations/{id}/close", HANDLERS),
    ("POST", "/console/api/conversations/{id}/messages/{message}/train", TRAINERS),
    ("GET", "/console/api/fans", ADMINS),
    ("POST", "/console/api/fans/erase", ADMINS),
];

/// The roles `method path` (a route pattern) admits; none when unlisted.
pub fn permits(method: &str, path: &str) -> &'static [Role] {
    PERMITS.iter().find(|(m, p, _)| *m == method && *p == path).map_or(&[], |(_, _, roles)| roles)
}

/// The console's routes.
pub fn router(desk: Desk, intents: std::path::PathBuf, shutdown: Shutdown) -> Router {
    let store = desk.engine().store().clone();
    let limiter = Arc::new(limiter::LoginLimiter::new(desk.config().login_attempts_per_minute, store));
    let password_checks = Arc::new(tokio::sync::Semaphore::new(desk.config().concurrent_password_checks.max(1)));
    let training = Arc::new(tokio::sync::Mutex::new(()));
    let state = ConsoleState { desk, limiter, password_checks, shutdown, intents, training };
    Router::new()
        .route("/console", get(page))
        .route("/console/console.js", get(script))
        .route("/console/console.css", get(style))
        .route("/console/ws", get(ws::socket))
        .route("/console/api/login", post(auth::login))
        .route("/console/api/logout", post(auth::logout))
        .route("/console/api/session", get(auth::session))
        .route("/console/api/queue", get(api::queue))
        .route("/console/api/canned", get(api::canned))
        .route("/console/api/analytics", get(api::analytics))
        .route("/console/api/audit", get(api::audit))
        .route("/console/api/conversations/{id}", get(api::conversation))
        .route("/console/api/conversations/{id}/claim", post(api::claim))
        .route("/console/api/conversations/{id}/reply", post(api::reply))
        .route("/console/api/conversations/{id}/notes", post(api::note))
        .route("/console/api/conversations/{id}/release", post(api::release))
        .route("/console/api/conversations/{id}/close", post(api::close))
        .route("/console/api/intents", get(train::intents))
        .route("/console/api/conversations/{id}/messages/{message}/train", post(train::train))
        .route("/console/api/fans", get(api::fan_export))
        .route("/console/api/fans/erase", post(api::fan_erase))
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    let mut response = Html(include_str!("assets/console.html")).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    response
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("assets/console.js"))
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/console.css"))
}
