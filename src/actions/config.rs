//! The `actions:` section of `config.yaml`: the backends actions call.
//! Secrets (header values, the signing key) come only from the
//! environment; the file names the variables.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Backends for the intent files' `actions:`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ActionsConfig {
    /// Endpoints by the name actions use (`endpoint: encore`).
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointConfig>,
    /// When a backend is taken for down.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// A Rasa action server for `call: rasa.NAME`: `url` is its webhook
    /// (`http://127.0.0.1:5055/webhook`).
    #[serde(default)]
    pub rasa: Option<EndpointConfig>,
    /// Start the Encore demo's example backend (`examples/encore-backend`)
    /// as a child process of `usher serve`, listening here; its data lives
    /// in `data_dir/encore-backend.sqlite`. Unset: nothing is started.
    #[serde(default)]
    pub demo_backend: Option<DemoBackendConfig>,
}

/// The demo backend `usher serve` starts.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DemoBackendConfig {
    /// Its address (`127.0.0.1:8081`).
    pub listen: String,
}

/// One backend.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The base URL (`http://127.0.0.1:8081/api`); http or https only.
    pub url: String,
    /// Headers sent on every call, not secret (`X-Client: usher`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers whose values come from environment variables
    /// (`Authorization: ENCORE_BACKEND_TOKEN`).
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
    /// The variable holding the HMAC-SHA256 key that signs each body
    /// (`X-Usher-Signature: sha256=<hex>`). Unset: calls go unsigned, with
    /// a warning at start.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Per attempt, in milliseconds. Default 3000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Retries of safe methods (GET, HEAD) after a failed attempt. Default 1.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Larger responses are cut off and count as an error. Default 256 KiB.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Allow a base URL that resolves to a link-local or cloud metadata
    /// address (169.254.0.0/16, fe80::/10, fd00:ec2::254). Default false.
    #[serde(default)]
    pub allow_link_local: bool,
}

/// The circuit breaker each endpoint has.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failed calls (errors, timeouts, 5xx) that open it. Default 5.
    #[serde(default = "default_failures")]
    pub failures: u32,
    /// How long it stays open before one trial call, in ms. Default 30000.
    #[serde(default = "default_cooldown_ms")]
    pub cooldown_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { failures: default_failures(), cooldown_ms: default_cooldown_ms() }
    }
}

fn default_timeout_ms() -> u64 {
    3000
}

fn default_retries() -> u32 {
    1
}

fn default_max_response_bytes() -> usize {
    256 * 1024
}

fn default_failures() -> u32 {
    5
}

fn default_cooldown_ms() -> u64 {
    30_000
}
