//! Backend actions: the calls staff declare under `actions:` in the intent
//! files, made to the endpoints `config.yaml` names.
//!
//! Each call carries an `Idempotency-Key` derived from the conversation,
//! the inbound message and the action (a message answered again after a
//! crash sends the same key, so the backend can refuse to refund twice) and,
//! when the endpoint has a secret, `X-Usher-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of the exact body bytes. Values go into paths
//! percent-encoded and into bodies JSON-encoded, never by concatenation.
//! Every attempt has a timeout; only safe methods are retried; a circuit
//! breaker per endpoint stops calls to a backend that keeps failing.
//! Redirects are not followed, responses over the size limit are cut off,
//! and anything but JSON from a successful call is an error.
//!
//! # Layout
//! - [`config`]: the `actions:` section of `config.yaml`.
//! - `request`: building the URL and body from an [`ActionSpec`].
//! - `breaker`: the per-endpoint circuit breaker.
//! - `rasa`: the bridge to a Rasa action server (`call: rasa.NAME`), in
//!   its webhook protocol.
//! - this module: [`Actions`], which checks the endpoints at load and makes
//!   the calls.

mod breaker;
pub mod config;
mod rasa;
mod request;

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use crate::dialogue::Called;
use crate::intents::{Action, ActionSpec, Diagnostic, Domain, Method, Report, Severity, StepKind};
use crate::Error;
use breaker::Breaker;
pub use config::{ActionsConfig, BreakerConfig, DemoBackendConfig, EndpointConfig};
pub use rasa::RasaCall;
pub use request::{idempotency_key, Values};

/// The signature header: `sha256=` and the hex HMAC of the body.
pub const SIGNATURE_HEADER: &str = "x-usher-signature";

/// The idempotency header.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// The header carrying the turn's request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A configured backend.
struct Endpoint {
    base: reqwest::Url,
    headers: HeaderMap,
    secret: Option<Vec<u8>>,
    timeout: Duration,
    retries: u32,
    max_bytes: usize,
    allow_link_local: bool,
    breaker: Breaker,
}

impl Endpoint {
    /// The longest one call may take: every attempt and the pauses between.
    fn budget(&self) -> Duration {
        self.timeout * (self.retries + 1) + Duration::from_millis(100 * u64::from(self.retries) + 500)
    }
}

/// The configured backends and the HTTP client that calls them.
pub struct Actions {
    endpoints: BTreeMap<String, Endpoint>,
    /// The Rasa action server, when configured.
    rasa: Option<Endpoint>,
    client: reqwest::Client,
}

/// Whether `ip` is link-local or a cloud metadata address.
pub fn link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => {
            let metadata = v6 == "fd00:ec2::254".parse::<std::net::Ipv6Addr>().expect("a valid address");
            metadata
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local())
        }
    }
}

fn config_error(name: &str, message: String) -> Error {
    let section = if name == "rasa" { "actions.rasa".to_string() } else { format!("actions.endpoints.{name}") };
    Error::Invalid(format!("config.yaml {section}: {message}"))
}

impl Actions {
    /// Checks every endpoint (an http(s) URL not resolving to a link-local
    /// or metadata address unless allowed; header names and the variables
    /// it names) and builds the client.
    pub fn new(config: &ActionsConfig) -> Result<Self, Error> {
        let mut endpoints = BTreeMap::new();
        for (name, e) in &config.endpoints {
            endpoints.insert(name.clone(), Self::endpoint(name, e, config.breaker)?);
        }
        let rasa = config.rasa.as_ref().map(|e| Self::endpoint("rasa", e, config.breaker)).transpose()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("usher/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Invalid(format!("cannot build the actions HTTP client: {e}")))?;
        Ok(Self { endpoints, rasa, client })
    }

    fn endpoint(name: &str, e: &EndpointConfig, breaker: BreakerConfig) -> Result<Endpoint, Error> {
        let base = reqwest::Url::parse(&e.url).map_err(|err| config_error(name, format!("url {:?}: {err}", e.url)))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(config_error(name, format!("url {:?} must be http or https", e.url)));
        }
        let host = base.host_str().ok_or_else(|| config_error(name, format!("url {:?} has no host", e.url)))?;
        if !e.allow_link_local {
            let port = base.port_or_known_default().unwrap_or(80);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            // An unresolvable name is left to fail at call time (DNS may come
            // up later); every address it resolves to now must be allowed.
            let addrs: Vec<IpAddr> =
                (host, port).to_socket_addrs().map(|a| a.map(|s| s.ip()).collect()).unwrap_or_default();
            if let Some(ip) = addrs.into_iter().find(|ip| link_local(*ip)) {
                return Err(config_error(
                    name,
                    format!(
                        "url {:?} resolves to the link-local or metadata address {ip}: set allow_link_local: true if you mean it",
                        e.url
                    ),
                ));
            }
        }
        let mut headers = HeaderMap::new();
        let literal = e.headers.iter().map(|(k, v)| (k, Ok(v.clone())));
        let from_env = e.headers_env.iter().map(|(k, var)| {
            (
                k,
                std::env::var(var)
                    .map_err(|_| config_error(name, format!("header {k}: the variable {var} is not set"))),
            )
        });
        for (key, value) in literal.chain(from_env) {
            let header = HeaderName::try_from(key.as_str())
                .map_err(|_| config_error(name, format!("{key:?} is not a header name")))?;
            let value = HeaderValue::try_from(value?)
                .map_err(|_| config_error(name, format!("header {key}: the value is not a valid header value")))?;
            headers.insert(header, value);
        }
        let secret = match &e.secret_env {
            Some(var) => match std::env::var(var) {
                Ok(s) if !s.is_empty() => Some(s.into_bytes()),
                _ => {
                    tracing::warn!(endpoint = name, variable = %var, "the signing secret is not set: calls go unsigned");
                    None
                }
            },
            None => None,
        };
        Ok(Endpoint {
            base,
            headers,
            secret,
            timeout: Duration::from_millis(e.timeout_ms.max(1)),
            retries: e.retries,
            max_bytes: e.max_response_bytes,
            allow_link_local: e.allow_link_local,
            breaker: Breaker::new(breaker),
        })
    }

    /// The longest a call to `action`'s endpoint may take, retries included.
    pub fn budget(&self, endpoint: &str) -> Duration {
        self.endpoints.get(endpoint).map_or(Duration::from_secs(1), Endpoint::budget)
    }

    /// Calls `spec` with `values`; never fails: every problem is an outcome
    /// (`error`, `timeout`) with its detail.
    #[tracing::instrument(skip_all, fields(action = %spec.name, endpoint = %spec.endpoint, key = %values.key, request_id = %values.request_id))]
    pub async fn call(&self, spec: &ActionSpec, values: &Values<'_>) -> Called {
        let started = Instant::now();
        let mut called = Called::new(&spec.name, &spec.endpoint);
        let Some(endpoint) = self.endpoints.get(&spec.endpoint) else {
            called.detail = Some(format!("no endpoint {:?} in config.yaml", spec.endpoint));
            return called;
        };
        let (url, body) = match request::build(&endpoint.base, spec, values) {
            Ok(built) => built,
            Err(why) => {
                called.detail = Some(why);
                return finish(called, started);
            }
        };
        let body = body.map(|b| serde_json::to_vec(&b).unwrap_or_default());
        let ids = (values.key.as_str(), values.request_id);
        let answer = self.exchange(endpoint, spec.method, &url, body.as_deref(), ids, &mut called).await;
        if let Some((status, json)) = answer {
            called.outcome = spec.outcome_for(status).to_string();
            // A declared answer (ok, not_found, a staff outcome) may carry
            // fields for its response; errors save nothing.
            if called.outcome != "error" {
                called.saved = request::saved(spec, json.as_ref());
            }
        }
        finish(called, started)
    }

    /// The attempts of one call (safe methods retried) unless the
    /// endpoint's breaker is open, feeding the breaker: the status and JSON
    /// of the answer used, or none (then `called` says why: `error` or
    /// `timeout`).
    async fn exchange(
        &self,
        endpoint: &Endpoint,
        method: Method,
        url: &reqwest::Url,
        body: Option<&[u8]>,
        ids: (&str, &str),
        called: &mut Called,
    ) -> Option<(u16, Option<serde_json::Value>)> {
        if let Err(wait) = endpoint.breaker.admit() {
            called.detail = Some(format!("circuit open after repeated failures; next try in {} ms", wait.as_millis()));
            return None;
        }
        let attempts = if method.is_safe() { endpoint.retries + 1 } else { 1 };
        let mut answer = None;
        // Whether the backend looks up: it answered, and not with a 5xx.
        let mut healthy = false;
        for attempt in 1..=attempts {
            called.attempts = attempt;
            let result = self.attempt(endpoint, method, url, body, ids).await;
            healthy = false;
            answer = None;
            match result {
                Ok((status, json)) => {
                    called.status = Some(status);
                    called.outcome = "error".into();
                    called.detail = None;
                    answer = Some((status, json));
                    healthy = status < 500;
                }
                Err(Failure::Timeout) => {
                    called.outcome = "timeout".into();
                    called.detail = Some(format!("no answer within {} ms", endpoint.timeout.as_millis()));
                }
                Err(Failure::Transport(why)) => {
                    called.outcome = "error".into();
                    called.detail = Some(why);
                }
                Err(Failure::Answer { status, why }) => {
                    called.status = Some(status);
                    called.outcome = "error".into();
                    called.detail = Some(why);
                    healthy = status < 500;
                }
            }
            if healthy || attempt == attempts {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
        endpoint.breaker.record(healthy);
        answer
    }

    /// One request: the status and, for a successful answer, its JSON.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        method: Method,
        url: &reqwest::Url,
        body: Option<&[u8]>,
        (key, request_id): (&str, &str),
    ) -> Result<(u16, Option<serde_json::Value>), Failure> {
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self
            .client
            .request(method, url.clone())
            .headers(endpoint.headers.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(IDEMPOTENCY_HEADER, key)
            .header(REQUEST_ID_HEADER, request_id);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.to_vec());
        }
        if let Some(secret) = &endpoint.secret {
            // A request without a body signs the empty body.
            request = request.header(SIGNATURE_HEADER, signature(secret, body.unwrap_or_default()));
        }
        let exchange = async {
            let mut response = request.send().await.map_err(|e| Failure::Transport(transport(&e)))?;
            if let Some(addr) = response.remote_addr().filter(|a| !endpoint.allow_link_local && link_local(a.ip())) {
                return Err(Failure::Transport(format!(
                    "the backend resolved to the link-local address {}",
                    addr.ip()
                )));
            }
            let status = response.status().as_u16();
            if response.status().is_redirection() {
                let to = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("?");
                return Err(Failure::Answer { status, why: format!("redirect to {to} not followed") });
            }
            let json_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| {
                t.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| Failure::Transport(transport(&e)))? {
                if bytes.len() + chunk.len() > endpoint.max_bytes {
                    return Err(Failure::Answer {
                        status,
                        why: format!("response over {} bytes cut off", endpoint.max_bytes),
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            if !(200..=299).contains(&status) {
                // Refusals may explain themselves in JSON; anything else is ignored.
                let json = if json_type { serde_json::from_slice(&bytes).ok() } else { None };
                return Ok((status, json));
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok((status, None));
            }
            if !json_type {
                return Err(Failure::Answer { status, why: "the answer is not application/json".into() });
            }
            match serde_json::from_slice(&bytes) {
                Ok(json) => Ok((status, Some(json))),
                Err(e) => Err(Failure::Answer { status, why: format!("malformed JSON in the answer: {e}") }),
            }
        };
        match tokio::time::timeout(endpoint.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Timeout),
        }
    }
}

/// Why an attempt did not produce a usable answer.
enum Failure {
    Timeout,
    /// The request never got an answer (refused, reset).
    Transport(String),
    /// The backend answered, unusably (a redirect, too large, not JSON).
    Answer {
        status: u16,
        why: String,
    },
}

/// The error and its causes, without the URL: a path or query may hold a
/// fan's order number or email, and the text reaches logs and explanations.
fn transport(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(&format!(" for url ({url})"), "").replace(url.as_str(), "the endpoint");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn finish(mut called: Called, started: Instant) -> Called {
    called.duration_ms = started.elapsed().as_millis() as u64;
    called
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", crate::access::hmac_hex(secret, body))
}

/// Every action that names an endpoint `config` lacks, and every
/// `call: rasa.NAME` without `actions.rasa`, as a report with file, line
/// and column (the running bot keeps its last good model).
pub fn check_endpoints(config: &ActionsConfig, domain: &Domain) -> Result<(), Report> {
    // Where each Rasa call is written: on an intent, or in a flow's step.
    let on_intents = domain.intents.iter().filter_map(|i| match (&i.action, &i.call_at) {
        (Action::Call(c), Some(at)) => Some((c, at, Some(i.name.clone()))),
        _ => None,
    });
    let in_flows = domain.flows.values().flat_map(|f| {
        let intent = f.name.strip_prefix("form:").map(str::to_string);
        f.steps.iter().filter_map(move |s| match &s.kind {
            StepKind::Call { action, .. } => Some((action, &s.origin, intent.clone())),
            _ => None,
        })
    });
    let rasa_calls = on_intents.chain(in_flows).filter(|(c, ..)| config.rasa.is_none() && c.starts_with("rasa.")).map(
        |(c, at, intent)| Diagnostic {
            severity: Severity::Error,
            file: at.file.clone(),
            line: at.line,
            column: at.column,
            intent,
            message: format!("{c} needs a Rasa action server: set actions.rasa.url in config.yaml"),
        },
    );
    let diagnostics: Vec<Diagnostic> = domain
        .actions
        .values()
        .filter(|a| !config.endpoints.contains_key(&a.endpoint))
        .map(|a| {
            let known: Vec<&str> = config.endpoints.keys().map(String::as_str).collect();
            Diagnostic {
                severity: Severity::Error,
                file: a.origin.file.clone(),
                line: a.origin.line,
                column: a.origin.column,
                intent: None,
                message: format!(
                    "action {:?} names endpoint {:?}, which config.yaml does not define (actions.endpoints has: {})",
                    a.name,
                    a.endpoint,
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            }
        })
        .chain(rasa_calls)
        .collect();
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(Report { diagnostics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_and_metadata_addresses_are_recognised() {
        for ip in ["169.254.169.254", "fe80::1", "fd00:ec2::254", "::ffff:169.254.1.1"] {
            assert!(link_local(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.1", "10.0.0.1", "::1", "2001:db8::1"] {
            assert!(!link_local(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
