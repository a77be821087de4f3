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
}

fn enabled() -> bool {
    true
}

fn title() -> String {
    "Support".into()
}

impl Default for Config {
    fn default() -> Self {
        Self { enabled: enabled(), title: title() }
    }
}
