//! The crate's one error enum.

/// What can go wrong setting up the Discord channel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No bot token.
    #[error(
        "DISCORD_TOKEN is not set: create an application and bot in the Discord developer portal and export its token"
    )]
    MissingToken,
    /// The gateway client failed.
    #[error("Discord gateway: {0}")]
    Gateway(String),
}

impl From<Error> for usher_channel::Error {
    fn from(e: Error) -> Self {
        usher_channel::Error::Platform { channel: crate::CHANNEL.into(), message: e.to_string() }
    }
}
