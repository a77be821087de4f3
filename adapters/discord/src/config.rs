//! The `channels.discord` section of `config.yaml`. The bot token comes from
//! `DISCORD_TOKEN`, never from the file.

use serde::Deserialize;

/// Discord settings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Run the Discord channel. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// The channel where fans ask for help; each fan's first message there
    /// opens a thread for their conversation. Without it only direct
    /// messages are served.
    #[serde(default)]
    pub support_channel: Option<u64>,
    /// Register the `/support` slash command on start. Default true.
    #[serde(default = "yes")]
    pub slash_command: bool,
    /// Another base URL for the REST API (and the gateway URL lookup), e.g.
    /// a proxy such as twilight-http-proxy or a test fake. Serenity's own
    /// rate limiter is then off; the delivery queue handles 429s.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Base URL that relative attachment URLs (files Usher serves itself)
    /// are fetched from before upload. The binary sets it to its own address.
    #[serde(default)]
    pub files_url: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for Config {
    fn default() -> Self {
        Self { enabled: false, support_channel: None, slash_command: true, api_url: None, files_url: None }
    }
}
