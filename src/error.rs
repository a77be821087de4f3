//! The engine's one error enum.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The intent files are invalid (every problem is listed).
    #[error("{0}")]
    Intents(crate::intents::Report),
    /// The configuration file is missing or invalid.
    #[error("config {file}: {message}")]
    Config {
        /// The config file.
        file: PathBuf,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// An environment variable holds an unusable value (a secret: the
    /// message never quotes it).
    #[error("{name}: {message}")]
    Environment {
        /// The variable.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A conversation test file is invalid.
    #[error("{file}: {message}")]
    ConversationTest {
        /// The test file.
        file: PathBuf,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// A project to import is in a format Usher cannot take.
    #[error("{file}: {message}")]
    Import {
        /// The file (or directory) at fault.
        file: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// A data file (a benchmark split, a catalogue) has a bad row.
    #[error("{}{}: {message}", file.display(), if *line > 0 { format!(" line {line}") } else { String::new() })]
    Data {
        /// The file.
        file: PathBuf,
        /// The 1-based line (0 when the problem is the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The conversation store failed.
    #[error("store: {0}")]
    Store(#[from] sqlx::Error),
    /// A store migration failed.
    #[error("store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A tensor operation failed.
    #[error("model: {0}")]
    Tensor(#[from] candle_core::Error),
    /// A model could not be trained or loaded.
    #[error("model: {0}")]
    Model(String),
    /// Work stopped because newer work made it stale (a fine-tuning an
    /// edit replaced).
    #[error("{0} cancelled: newer work replaced it")]
    Cancelled(&'static str),
    /// JSON (de)serialisation failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A message broke the channel contract.
    #[error(transparent)]
    Channel(#[from] usher_channel::Error),
    /// The knowledge base or its vector store failed.
    #[error("knowledge base: {0}")]
    Knowledge(String),
    /// No such conversation.
    #[error("conversation {0} not found")]
    NotFound(String),
    /// A request or input that cannot be honoured as given.
    #[error("{0}")]
    Invalid(String),
    /// An input over its size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The request conflicts with the current state (a ticket another agent holds).
    #[error("{0}")]
    Conflict(String),
    /// A platform delivered a stored message again (it is answered once).
    #[error("message {0} was already received; a platform's redelivery is answered once")]
    Duplicate(i64),
    /// Too many messages: wait this long.
    #[error("too many messages: wait {} s", crate::limit::retry_after_secs(*.0))]
    RateLimited(std::time::Duration),
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    ShuttingDown,
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}
