//! The `channels.telegram` section of `config.yaml`.
//!
//! Secrets come from the environment, never from the file: the bot token
//! from `TELEGRAM_BOT_TOKEN`, the webhook secret from
//! `TELEGRAM_WEBHOOK_SECRET` (a random one is made per start if unset; it is
//! registered with `setWebhook` on every start).

use serde::Deserialize;

/// Telegram settings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Run the Telegram channel. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// How updates arrive. Default `polling`.
    #[serde(default)]
    pub mode: Mode,
    /// Webhook mode: the public HTTPS URL Telegram posts to, ending in
    /// `webhook_path` (e.g. `https://bot.example.com/telegram/webhook`).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The route on Usher's server that receives webhook updates.
    #[serde(default = "webhook_path")]
    pub webhook_path: String,
    /// The Bot API server. Default `https://api.telegram.org`; point it at a
    /// local Bot API server or a test fake.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Base URL that relative attachment URLs (files Usher serves itself)
    /// are fetched from before upload. The binary sets it to its own address.
    #[serde(default)]
    pub files_url: Option<String>,
}

/// How updates reach Usher.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `getUpdates` long polling: works behind NAT, no public URL.
    #[default]
    Polling,
    /// Telegram posts updates to `webhook_url`.
    Webhook,
}

fn webhook_path() -> String {
    "/telegram/webhook".into()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: Mode::Polling,
            webhook_url: None,
            webhook_path: webhook_path(),
            api_url: None,
            files_url: None,
        }
    }
}
