//! What every request passes through in `usher serve`: a request id
//! (`x-request-id`, made if absent, echoed back and on every log line of the
//! request), a per-client-address rate limit (429 with `Retry-After`), a
//! request timeout (408), the body size limit for every route ([`MAX_BODY`];
//! a route may set a smaller one) and the headers every response carries
//! (`X-Content-Type-Options: nosniff`; `Cache-Control: no-store` on the
//! JSON APIs, which hold transcripts and CSRF tokens).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::config::HttpConfig;
use super::{AppError, MAX_BODY};
use crate::limit::Limiter;

/// Wraps `app` (all routes merged) in the request id, tracing, timeout and
/// per-address rate limit layers.
pub fn harden(app: Router, config: &HttpConfig) -> Router {
    let limiter = Limiter::new(config.ip_per_second, Duration::from_secs(1), config.ip_burst);
    let edge = Edge { limiter, trusted: Arc::new(config.trusted_proxies.clone()) };
    app.layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(cors))
        .layer(middleware::from_fn_with_state(edge, per_address))
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

/// The widget runs on the service's own site and calls the session and
/// conversation routes from there: they answer any origin. They take a
/// bearer token, never a cookie, so a foreign page gains nothing it did not
/// already hold. Other routes (the console) stay same-origin.
async fn cors(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let public = path == "/api/v1/webchat/sessions" || path.starts_with("/api/v1/conversations/");
    if !public {
        return next.run(req).await;
    }
    let any = HeaderValue::from_static("*");
    if req.method() == axum::http::Method::OPTIONS {
        let headers = [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, any),
            (header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST")),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type")),
            (header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600")),
        ];
        return (StatusCode::NO_CONTENT, headers).into_response();
    }
    let mut response = next.run(req).await;
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, any);
    response
}

async fn security_headers(req: Request, next: Next) -> Response {
    let api = {
        let path = req.uri().path();
        path.starts_with("/api/") || path.starts_with("/console/api/")
    };
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Who sent a request, as the edge worked it out (through trusted proxies):
/// `harden` puts it in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The client's address.
    pub ip: IpAddr,
    /// The client reached us over HTTPS (a trusted proxy said so).
    pub https: bool,
}

impl Client {
    /// Works out the client behind `peer`: a trusted proxy's
    /// `X-Forwarded-For` names it (the rightmost address that is not itself
    /// a trusted proxy), and its `X-Forwarded-Proto` says whether it used
    /// HTTPS. Anyone else's forwarded headers are ignored.
    pub fn behind(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[IpAddr]) -> Self {
        if !trusted.contains(&peer) {
            return Self { ip: peer, https: false };
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        let ip = forwarded.into_iter().rev().find(|ip| !trusted.contains(ip)).unwrap_or(peer);
        let https = headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
        Self { ip, https }
    }

    /// The key rate limits count this client under: its address, or for
    /// IPv6 its /64 (what one subscriber is usually given).
    pub fn limit_key(&self) -> IpAddr {
        match self.ip {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            v4 => v4,
        }
    }
}

#[derive(Clone)]
struct Edge {
    limiter: Arc<Limiter<IpAddr>>,
    trusted: Arc<Vec<IpAddr>>,
}

async fn per_address(State(edge): State<Edge>, mut req: Request, next: Next) -> Response {
    // Without connection info (in-process tests) there is no address to limit.
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let client = Client::behind(addr.ip(), req.headers(), &edge.trusted);
        if let Err(wait) = edge.limiter.check(&client.limit_key()) {
            return AppError::too_many("too many requests from this address", wait).into_response();
        }
        req.extensions_mut().insert(client);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        let direct = Client::behind("198.51.100.1".parse().unwrap(), &h, &[proxy]);
        assert_eq!(direct, Client { ip: "198.51.100.1".parse().unwrap(), https: false }, "a client cannot forge it");
        let proxied = Client::behind(proxy, &h, &[proxy]);
        assert_eq!(proxied.ip, "198.51.100.7".parse::<IpAddr>().unwrap(), "the address the proxy saw");
        assert!(proxied.https);
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a = Client { ip: "2001:db8:1:2:aaaa::1".parse().unwrap(), https: false };
        let b = Client { ip: "2001:db8:1:2:ffff::9".parse().unwrap(), https: false };
        assert_eq!(a.limit_key(), b.limit_key());
        let v4 = Client { ip: "192.0.2.1".parse().unwrap(), https: false };
        assert_eq!(v4.limit_key(), v4.ip);
    }
}
