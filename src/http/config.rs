//! The `http:` section of `config.yaml`: the listener, per-address and
//! per-conversation rate limits, timeouts and trusted proxies.

use serde::Deserialize;

/// The HTTP listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Interface to bind. Default `127.0.0.1`.
    #[serde(default = "default_host")]
    pub host: String,
    /// Port. Default 8080; 0 picks a free one.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Requests per second one client address may make (bursts up to
    /// `ip_burst`); beyond it: 429 with `Retry-After`. Default 20 / 100.
    #[serde(default = "default_ip_rate")]
    pub ip_per_second: u32,
    /// See `ip_per_second`.
    #[serde(default = "default_ip_burst")]
    pub ip_burst: u32,
    /// Messages per minute one conversation may send (bursts up to
    /// `conversation_burst`), on every channel. Default 30 / 10.
    #[serde(default = "default_conversation_rate")]
    pub conversation_per_minute: u32,
    /// See `conversation_per_minute`.
    #[serde(default = "default_conversation_burst")]
    pub conversation_burst: u32,
    /// Longest a request may take before a 408. Default 30 s.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// A request's headers must arrive within this (slow clients are
    /// cut off). Default 10 s.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto`
    /// are believed (their own addresses). Empty (the default): the peer's
    /// address is the client's, and forwarded headers are ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

fn default_ip_rate() -> u32 {
    20
}

fn default_ip_burst() -> u32 {
    100
}

fn default_conversation_rate() -> u32 {
    30
}

fn default_conversation_burst() -> u32 {
    10
}

fn default_request_timeout() -> u64 {
    30
}

fn default_header_timeout() -> u64 {
    10
}

fn default_host() -> String {
    "127.0.0.1".into()
}

fn default_port() -> u16 {
    8080
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            host: default_host(),
            port: default_port(),
            ip_per_second: default_ip_rate(),
            ip_burst: default_ip_burst(),
            conversation_per_minute: default_conversation_rate(),
            conversation_burst: default_conversation_burst(),
            request_timeout_secs: default_request_timeout(),
            header_timeout_secs: default_header_timeout(),
            trusted_proxies: Vec::new(),
        }
    }
}
