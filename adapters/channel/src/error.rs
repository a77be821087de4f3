//! The crate's one error enum.

/// What can go wrong at the channel boundary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A conversation id with forbidden characters or length.
    #[error("invalid conversation id {0:?}: use 1-128 characters from A-Z a-z 0-9 _ - . :")]
    InvalidConversationId(String),
    /// A message with no text, payload or attachment.
    #[error("message is empty")]
    EmptyMessage,
    /// A message over the size limit.
    #[error("message is {size} bytes, over the {limit}-byte limit")]
    MessageTooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The engine is gone (shutting down).
    #[error("the engine is not accepting messages (shutting down)")]
    EngineClosed,
    /// The platform failed.
    #[error("{channel}: {message}")]
    Platform {
        /// The channel name.
        channel: String,
        /// What happened.
        message: String,
    },
}
