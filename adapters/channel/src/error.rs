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
    /// A body that is not UTF-8.
    #[error("the body is not valid UTF-8 (byte {valid_up_to})")]
    NotUtf8 {
        /// Bytes before the first invalid one.
        valid_up_to: usize,
    },
    /// A body that is not the expected JSON.
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
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
