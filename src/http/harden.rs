//! What every request passes through in `usher serve`: a request id
//! (`x-request-id`, made if absent, echoed back and on every log line of the
//! request), a per-client-address rate limit (429 with `Retry-After`) and a
//! request timeout (408). Body size limits sit on the routes themselves.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::AppError;
use crate::config::HttpConfig;
use crate::limit::Limiter;

/// Wraps `app` (all routes merged) in the request id, tracing, timeout and
/// per-address rate limit layers.
pub fn harden(app: Router, config: &HttpConfig) -> Router {
    let limiter = Limiter::new(config.ip_per_second, Duration::from_secs(1), config.ip_burst);
    app.layer(middleware::from_fn_with_state(limiter, per_address))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs.max(1)),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

async fn per_address(State(limiter): State<Arc<Limiter<IpAddr>>>, req: Request, next: Next) -> Response {
    // Without connection info (in-process tests) there is no address to limit.
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        if let Err(wait) = limiter.check(&addr.ip()) {
            return AppError::too_many("too many requests from this address", wait).into_response();
        }
    }
    next.run(req).await
}
