//! The `access:` section of `config.yaml`. The secrets themselves
//! (`USHER_API_KEYS`, `USHER_WEBCHAT_IDENTITY_SECRET`) come from the
//! environment only.

use serde::Deserialize;

/// Rate limits on credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Wrong tokens one conversation may be shown per minute (in bursts of
    /// up to `wrong_token_burst`) before they get 429. The right token is
    /// never refused for it. Default 10 / 10.
    pub wrong_token_per_minute: u32,
    /// See `wrong_token_per_minute`.
    pub wrong_token_burst: u32,
    /// Requests per second one API key may make (bursts of up to
    /// `api_key_burst`); beyond it: 429 with `Retry-After`. Default 50 / 200.
    pub api_key_per_second: u32,
    /// See `api_key_per_second`.
    pub api_key_burst: u32,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self { wrong_token_per_minute: 10, wrong_token_burst: 10, api_key_per_second: 50, api_key_burst: 200 }
    }
}
