//! The `channels.webchat` section of `config.yaml`.

use serde::Deserialize;

/// Web chat settings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Serve `/ws`, `/widget.js` and the demo page. Default true.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Title shown in the widget header. Default "Support".
    #[serde(default = "title")]
    pub title: String,
    /// Sockets that send nothing (not even a ping) for this long are
    /// closed; the widget reconnects when the fan types again. Default 600 s.
    #[serde(default = "idle_timeout_secs")]
    pub idle_timeout_secs: u64,
}

fn idle_timeout_secs() -> u64 {
    600
}

fn enabled() -> bool {
    true
}

fn title() -> String {
    "Support".into()
}

impl Default for Config {
    fn default() -> Self {
        Self { enabled: enabled(), title: title(), idle_timeout_secs: idle_timeout_secs() }
    }
}
