//! Sign-in, sign-out and the [`SignedIn`] extractor.
//!
//! A session is a random 256-bit token in an `HttpOnly; SameSite=Strict`
//! cookie; the store keeps only its SHA-256, the agent, a CSRF token and
//! the expiry, so every replica knows every session.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ConsoleState;
use crate::handoff::{password, AuditEntry, Role, Session};
use crate::http::{AppError, Client};
use crate::util::now_ms;
use usher_channel::constant_time_eq;

/// The session cookie over plain HTTP.
pub const COOKIE: &str = "usher_console";

/// The session cookie over HTTPS: `Secure`, and the `__Host-` prefix makes
/// browsers refuse it unless it is host-only with `Path=/` (no subdomain or
/// plain-HTTP page can plant or overwrite it).
pub const SECURE_COOKIE: &str = "__Host-usher_console";

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

/// Who is signed in, their role and the token to echo.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    /// The agent.
    pub agent: String,
    /// What they may do.
    pub role: Role,
    /// The CSRF token for `X-CSRF-Token`.
    pub csrf: String,
}

/// A signed-in agent whose role the route admits (401 without a session;
/// 403 without the CSRF token on a state-changing request, or when
/// [`super::PERMITS`] does not admit their role on this route).
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The agent's name.
    pub agent: String,
    /// Their role, as the store has it now.
    pub role: Role,
    /// The session.
    pub session: Session,
}

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let unauthorized = || AppError::new(StatusCode::UNAUTHORIZED, "sign in first (no session, or it expired)");
        let token = cookie(&parts.headers, SECURE_COOKIE)
            .or_else(|| cookie(&parts.headers, COOKIE))
            .ok_or_else(unauthorized)?;
        let (session, role) =
            state.desk.engine().store().session(&digest(&token), now_ms()).await?.ok_or_else(unauthorized)?;
        let path = parts.extensions.get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or_default();
        if !super::permits(parts.method.as_str(), path).contains(&role) {
            let detail = format!("{} {path} as {}", parts.method, role.as_str());
            state
                .desk
                .engine()
                .store()
                .audit(&AuditEntry::now(&session.agent, "forbidden", None, Some(detail)))
                .await?;
            let why = format!("the {} role may not do this ({} {path})", role.as_str(), parts.method);
            return Err(AppError::new(StatusCode::FORBIDDEN, why));
        }
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
                state.desk.audit_session(&session.agent, "csrf_refused", None).await?;
                return Err(AppError::new(StatusCode::FORBIDDEN, "missing or wrong X-CSRF-Token header"));
            }
        }
        Ok(Self { agent: session.agent.clone(), role, session })
    }
}

/// Whether the client reached us over HTTPS (a trusted proxy said so).
pub struct Https(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for Https {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<Client>().is_some_and(|c| c.https)))
    }
}

/// The client's address as the sign-in limiter keys it (through trusted
/// proxies; IPv6 by /64), or `unknown` where the server does not record it.
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let client = parts.extensions.get::<Client>().map(|c| c.limit_key().to_string());
        let peer = || parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(Self(client.or_else(peer).unwrap_or_else(|| "unknown".into())))
    }
}

/// Refuses a sign-in sent from another site (login CSRF: a cross-site form
/// signing the victim in to the attacker's account): a foreign `Origin`, a
/// `Sec-Fetch-Site` other than same-origin, or a body that is not JSON
/// (which a form cannot send without a CORS preflight).
fn same_site_json(headers: &HeaderMap) -> Result<(), AppError> {
    let foreign = || AppError::new(StatusCode::FORBIDDEN, "cross-site sign-in refused");
    if !super::ws::same_origin(headers) {
        return Err(foreign());
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return Err(foreign());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(AppError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "sign in with Content-Type: application/json"));
    }
    Ok(())
}

/// Longest password sign-in reads (argon2 hashes whatever it is given).
const MAX_PASSWORD_BYTES: usize = 1024;

/// `POST /console/api/login`. The attempt is counted before the password
/// is checked, at most `handoff.concurrent_password_checks` checks run at
/// once, and an unknown name is checked against a dummy hash, so timing
/// does not tell which names exist.
pub async fn login(
    State(state): State<ConsoleState>,
    ClientAddress(address): ClientAddress,
    Https(https): Https,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    same_site_json(&headers)?;
    let form: Login = serde_json::from_slice(&body)
        .map_err(|e| AppError::new(StatusCode::BAD_REQUEST, format!("invalid sign-in body: {e}")))?;
    if !password::valid_name(&form.name) {
        return Err(AppError::new(StatusCode::BAD_REQUEST, password::NAME_RULE));
    }
    if form.password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::new(StatusCode::BAD_REQUEST, "the password is over 1024 bytes"));
    }
    if let Err(wait) = state.limiter.attempt(&address, &form.name).await? {
        state.desk.audit_session(&form.name, "login_limited", Some(&address)).await?;
        return Err(AppError::too_many("too many failed sign-ins", wait));
    }
    let store = state.desk.engine().store();
    let hash = store.password_hash(&form.name).await?;
    let permit = Arc::clone(&state.password_checks)
        .acquire_owned()
        .await
        .map_err(|e| AppError::from(crate::Error::Invalid(format!("password check failed: {e}"))))?;
    let password = form.password;
    // argon2 is deliberately slow: off the async workers.
    let ok = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        match hash {
            Some(hash) => password::verify(&password, &hash),
            None => {
                let _ = password::verify(&password, password::dummy_hash());
                false
            }
        }
    })
    .await
    .map_err(|e| AppError::from(crate::Error::Invalid(format!("password check failed: {e}"))))?;
    if !ok {
        state.desk.audit_session(&form.name, "login_failed", Some(&address)).await?;
        return Err(AppError::new(StatusCode::UNAUTHORIZED, "wrong name or password"));
    }
    state.limiter.succeeded(&address, &form.name).await?;
    let token = random_token();
    let hours = state.desk.config().session_hours;
    let session = Session {
        token_hash: digest(&token),
        agent: form.name.clone(),
        csrf: random_token(),
        expires_ms: now_ms() + i64::from(hours) * 3_600_000,
    };
    store.create_session(&session).await?;
    let role = match store.session(&session.token_hash, now_ms()).await? {
        Some((_, role)) => role,
        None => return Err(AppError::new(StatusCode::UNAUTHORIZED, "the agent was removed while signing in")),
    };
    state.desk.audit_session(&form.name, "login", Some(&address)).await?;
    let secure = state.desk.config().secure_cookie.applies(https);
    let (name, flag) = if secure { (SECURE_COOKIE, "; Secure") } else { (COOKIE, "") };
    let max_age = u64::from(hours) * 3600;
    let cookie = format!("{name}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{flag}");
    let view = SessionView { agent: session.agent, role, csrf: session.csrf };
    Ok(([(header::SET_COOKIE, cookie)], Json(view)).into_response())
}

/// `POST /console/api/logout`.
pub async fn logout(State(state): State<ConsoleState>, who: SignedIn) -> Result<Response, AppError> {
    state.desk.engine().store().delete_session(&who.session.token_hash).await?;
    state.desk.audit_session(&who.agent, "logout", None).await?;
    state.desk.engine().publish(crate::handoff::Event::SessionEnded {
        agent: who.agent.clone(),
        session: Some(who.session.token_hash.clone()),
    });
    let clear = HeaderValue::from_static("usher_console=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    let clear_secure =
        HeaderValue::from_static("__Host-usher_console=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure");
    let mut response = Json(serde_json::json!({ "signed_out": true })).into_response();
    response.headers_mut().append(header::SET_COOKIE, clear);
    response.headers_mut().append(header::SET_COOKIE, clear_secure);
    Ok(response)
}

/// `GET /console/api/session`: who is signed in and their CSRF token.
pub async fn session(who: SignedIn) -> Json<SessionView> {
    Json(SessionView { agent: who.agent, role: who.role, csrf: who.session.csrf })
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

/// A 256-bit session or CSRF token.
fn random_token() -> String {
    crate::util::random_hex(32)
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
