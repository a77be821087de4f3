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
    /// A public route was called for a conversation without a credential.
    #[error("this conversation needs its session token (or an API key) as `Authorization: Bearer <token>`")]
    MissingCredential,
    /// A credential that cannot be a token or key.
    #[error("invalid credential: {0}")]
    MalformedCredential(&'static str),
    /// A well-formed credential that does not open the conversation.
    #[error("the credential presented does not open conversation {conversation}")]
    WrongCredential {
        /// The conversation asked for.
        conversation: String,
    },
    /// A conversation id in a channel's namespace, asked for on a public route.
    #[error(
        "conversation {conversation} belongs to the {channel} channel and cannot be reached through the public API"
    )]
    ClosedNamespace {
        /// The id asked for.
        conversation: String,
        /// Its channel prefix.
        channel: String,
    },
    /// Too many wrong credentials for one conversation (or calls for one key).
    #[error("too many attempts for {what}: retry in {} s", retry_after.as_secs().max(1))]
    TooManyAttempts {
        /// The conversation or key limited.
        what: String,
        /// How long to wait.
        retry_after: std::time::Duration,
    },
    /// A widget asked for a verified identity and no secret is configured.
    #[error("identity verification is not configured on this server (USHER_WEBCHAT_IDENTITY_SECRET)")]
    IdentityNotConfigured,
    /// The identity's HMAC does not match its user id.
    #[error("the identity hash does not match the user id")]
    WrongIdentity,
    /// The credential could not be checked (the store is down).
    #[error("credentials cannot be checked now: {0}")]
    AccessUnavailable(String),
    /// The platform failed.
    #[error("{channel}: {message}")]
    Platform {
        /// The channel name.
        channel: String,
        /// What happened.
        message: String,
    },
}

/// Whole seconds to put in `Retry-After` for a wait (at least 1).
pub fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

impl Error {
    /// The HTTP status a public route answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MissingCredential
            | Self::MalformedCredential(_)
            | Self::WrongCredential { .. }
            | Self::WrongIdentity => 401,
            Self::ClosedNamespace { .. } => 403,
            Self::MessageTooLarge { .. } => 413,
            Self::TooManyAttempts { .. } => 429,
            Self::AccessUnavailable(_) | Self::EngineClosed => 503,
            Self::Platform { .. } => 502,
            _ => 400,
        }
    }

    /// How long to wait before retrying, for a 429.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::TooManyAttempts { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}
