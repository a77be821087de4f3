//! The crate's one error enum.

/// What can go wrong setting up the Telegram channel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No bot token.
    #[error("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export its token")]
    MissingToken,
    /// Webhook mode without a public URL.
    #[error("channels.telegram.mode is webhook but channels.telegram.webhook_url is not set")]
    MissingWebhookUrl,
    /// A URL in the config that does not parse.
    #[error("channels.telegram.{key}: {url:?} is not a valid URL: {reason}")]
    InvalidUrl {
        /// The config key.
        key: &'static str,
        /// The value.
        url: String,
        /// Why.
        reason: String,
    },
    /// Telegram refused a setup call (getMe, setWebhook).
    #[error("Telegram refused {call}: {reason}")]
    Setup {
        /// The API method.
        call: &'static str,
        /// Telegram's answer.
        reason: String,
    },
}

impl From<Error> for usher_channel::Error {
    fn from(e: Error) -> Self {
        usher_channel::Error::Platform { channel: crate::CHANNEL.into(), message: e.to_string() }
    }
}
