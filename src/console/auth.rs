//! Sign-in, sign-out and the [`SignedIn`] extractor.
//!
//! A session is a random 256-bit token in an `HttpOnly; SameSite=Strict`
//! cookie; the store keeps only its SHA-256, the agent, a CSRF token and
//! the expiry, so every replica knows every session.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::ConsoleState;
use crate::handoff::{password, Session};
use crate::http::AppError;
use crate::util::now_ms;
use usher_channel::constant_time_eq;

/// The session cookie.
pub const COOKIE: &str = "usher_console";

/// The header state-changing requests echo the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The sign-in form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Agent name.
    pub name: String,
    /// Password.
    pub password: String,
}

/// Who is signed in, and the token to echo.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    /// The agent.
    pub agent: String,
    /// The CSRF token for `X-CSRF-Token`.
    pub csrf: String,
}

/// A signed-in agent (401 otherwise; 403 without the CSRF token on a
/// state-changing request).
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The agent's name.
    pub agent: String,
    /// The session.
    pub session: Session,
}

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let unauthorized = || AppError::new(StatusCode::UNAUTHORIZED, "sign in first (no session, or it expired)");
        let token = cookie(&parts.headers, COOKIE).ok_or_else(unauthorized)?;
        let session = state.desk.engine().store().session(&digest(&token), now_ms()).await?.ok_or_else(unauthorized)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
                return Err(AppError::new(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token header"));
            }
        }
        Ok(Self { agent: session.agent.clone(), session })
    }
}

/// The peer's address (`unknown` where the server does not record it).
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(Self(addr.unwrap_or_else(|| "unknown".into())))
    }
}

/// `POST /console/api/login`.
pub async fn login(
    State(state): State<ConsoleState>,
    ClientAddress(address): ClientAddress,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let form: Login = serde_json::from_slice(&body)
        .map_err(|e| AppError::new(StatusCode::BAD_REQUEST, format!("invalid sign-in body: {e}")))?;
    if let Err(wait) = state.limiter.check(&address, &form.name) {
        let secs = wait.as_secs().max(1);
        let body = Json(serde_json::json!({ "error": format!("too many failed sign-ins; try again in {secs} s") }));
        return Ok((StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, secs.to_string())], body).into_response());
    }
    let store = state.desk.engine().store();
    let hash = store.password_hash(&form.name).await?;
    let password = form.password;
    let ok = match hash {
        // argon2 is deliberately slow: off the async workers.
        Some(hash) => tokio::task::spawn_blocking(move || password::verify(&password, &hash))
            .await
            .map_err(|e| AppError::from(crate::Error::Invalid(format!("password check failed: {e}"))))?,
        None => false,
    };
    if !ok {
        state.limiter.failed(&address, &form.name);
        state.desk.audit_session(&form.name, "login_failed").await?;
        return Err(AppError::new(StatusCode::UNAUTHORIZED, "wrong name or password"));
    }
    state.limiter.succeeded(&address, &form.name);
    let token = random_token();
    let hours = state.desk.config().session_hours;
    let session = Session {
        token_hash: digest(&token),
        agent: form.name.clone(),
        csrf: random_token(),
        expires_ms: now_ms() + i64::from(hours) * 3_600_000,
    };
    store.create_session(&session).await?;
    state.desk.audit_session(&form.name, "login").await?;
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", u64::from(hours) * 3600);
    let view = SessionView { agent: session.agent, csrf: session.csrf };
    Ok(([(header::SET_COOKIE, cookie)], Json(view)).into_response())
}

/// `POST /console/api/logout`.
pub async fn logout(State(state): State<ConsoleState>, who: SignedIn) -> Result<Response, AppError> {
    state.desk.engine().store().delete_session(&who.session.token_hash).await?;
    state.desk.audit_session(&who.agent, "logout").await?;
    let clear = HeaderValue::from_static("usher_console=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok(([(header::SET_COOKIE, clear)], Json(serde_json::json!({ "signed_out": true }))).into_response())
}

/// `GET /console/api/session`: who is signed in and their CSRF token.
pub async fn session(who: SignedIn) -> Json<SessionView> {
    Json(SessionView { agent: who.agent, csrf: who.session.csrf })
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(token: &str) -> String {
    crate::util::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("theme=dark; usher_console=abc123; x=1"));
        assert_eq!(cookie(&headers, COOKIE).as_deref(), Some("abc123"));
        assert_eq!(cookie(&headers, "missing"), None);
        assert_eq!(random_token().len(), 64);
    }
}
