//! The conversation store: every inbound message is written before it is
//! acknowledged, every reply before it is sent. [`Store`] is the boundary
//! with two backends: [`SqliteStore`] (the embedded default) and
//! [`PgStore`] (PostgreSQL, shared by replicas). Both run the same queries
//! (`sql`), each on its own migrations (`migrations/sqlite`,
//! `migrations/postgres`: the same versions in each dialect).
//!
//! ## Layout
//! - [`config`]: the `store:` section of `config.yaml`.
//! - `sql`: the queries both backends share.
//! - `sqlite`, `postgres`: connecting, migrating, and what differs
//!   (PostgreSQL's per-conversation advisory lock).

pub mod config;
#[macro_use]
mod sql;
mod postgres;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use serde::Serialize;
use usher_channel::{ConversationId, Inbound, Outbound, Part};

use crate::dialogue::Tracker;
use crate::handoff::{HandoffStore, NewTicket};
use crate::Error;

/// Web chat sessions one conversation keeps (the oldest go first).
pub const MAX_WEB_SESSIONS: i64 = 20;

/// One message as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    /// Store id (increasing within a conversation).
    pub id: i64,
    /// `in` (from the fan) or `out` (to the fan).
    pub direction: String,
    /// The fan's id; `bot`, `agent:NAME` or `system` for outbound messages.
    pub sender: String,
    /// The fan's text, or the reply rendered as plain text.
    pub text: String,
    /// A pressed button's payload.
    pub payload: Option<String>,
    /// Reply parts (outbound only).
    pub parts: Option<Vec<Part>>,
    /// NLU result (inbound only, once processed).
    pub nlu: Option<serde_json::Value>,
    /// Outbound only: the channel reported it delivered.
    pub delivered: bool,
    /// Milliseconds since the epoch.
    pub created_ms: i64,
}

/// A conversation's full history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transcript {
    /// Its id.
    pub conversation: ConversationId,
    /// The channel it started on.
    pub channel: String,
    /// Its dialogue state.
    pub tracker: Tracker,
    /// Messages, oldest first.
    pub messages: Vec<StoredMessage>,
}

/// The outcome of one processed message, written in one transaction.
#[derive(Debug, Clone)]
pub struct TurnRecord<'a> {
    /// The conversation.
    pub conversation: &'a ConversationId,
    /// The inbound message answered.
    pub inbound_id: i64,
    /// Its text as it is to be kept (redacted), when that differs from
    /// what was appended.
    pub text: Option<String>,
    /// Hashes that find the fan again (of the emails they gave), for
    /// export and erasure.
    pub fan_keys: Vec<String>,
    /// What NLU made of it.
    pub nlu: serde_json::Value,
    /// The replies, each one message.
    pub replies: &'a [Vec<Part>],
    /// The tracker after the turn.
    pub tracker: &'a Tracker,
    /// The bot did not understand the message (counted for the console).
    pub fallback: bool,
    /// The turn handed the conversation over: open this ticket.
    pub handoff: Option<NewTicket>,
}

/// Held while one replica processes one message of a conversation, so
/// that turns of a conversation never interleave across replicas.
/// Release it with [`TurnLock::release`]; dropping it also releases it.
#[must_use]
pub struct TurnLock(Option<sqlx::Transaction<'static, sqlx::Postgres>>);

impl TurnLock {
    /// No lock needed (one process owns the store).
    pub fn local() -> Self {
        Self(None)
    }

    /// True when replicas share the store (the lock is a database lock).
    pub fn shared(&self) -> bool {
        self.0.is_some()
    }

    /// Ends the lock's transaction, which frees the advisory lock.
    pub async fn release(self) -> Result<(), Error> {
        if let Some(tx) = self.0 {
            tx.commit().await?;
        }
        Ok(())
    }
}

/// What [`Store::append_inbound`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stored message's id.
    pub id: i64,
    /// False when the platform delivered an already stored message again.
    pub fresh: bool,
}

/// Persistence of conversations (and, through [`HandoffStore`], of the
/// handoff desk).
#[async_trait]
pub trait Store: HandoffStore + Send + Sync + 'static {
    /// Stores a fan message (creating the conversation). A message whose
    /// `platform_id` is already stored for the conversation is not stored
    /// again: the first copy's id comes back with `fresh: false`.
    async fn append_inbound(&self, inbound: &Inbound) -> Result<Appended, Error>;
    /// The tracker of a conversation (a fresh one if it has none).
    async fn tracker(&self, conversation: &ConversationId) -> Result<Tracker, Error>;
    /// Stores replies, NLU result and tracker atomically; returns reply ids.
    async fn complete_turn(&self, turn: TurnRecord<'_>) -> Result<Vec<i64>, Error>;
    /// The conversations a fan key (see [`TurnRecord::fan_keys`]) was seen in.
    async fn conversations_for_key(&self, key_hash: &str) -> Result<Vec<ConversationId>, Error>;
    /// Deletes a conversation and everything held about it (messages,
    /// tickets, notes, web sessions, fan keys; audit entries about it lose
    /// their conversation and details). Returns the rows deleted.
    async fn erase(&self, conversation: &ConversationId) -> Result<u64, Error>;
    /// Erases up to `batch` conversations last active before `before_ms`
    /// (on `channel`, or on any channel but those in `except`), oldest
    /// first, skipping those with an open ticket. Returns how many.
    async fn expire(&self, before_ms: i64, channel: Option<&str>, except: &[String], batch: i64) -> Result<u64, Error>;
    /// The whole conversation, or `None` if it does not exist.
    async fn transcript(&self, conversation: &ConversationId) -> Result<Option<Transcript>, Error>;
    /// Inbound messages stored but not yet answered (after a crash), oldest first.
    async fn pending(&self) -> Result<Vec<(i64, Inbound)>, Error>;
    /// Replies on `channel` created in `[since_ms, before_ms)` that no
    /// adapter has reported delivered, oldest first (resent when the adapter
    /// starts; replies from its start on are routed to it live).
    async fn undelivered(&self, channel: &str, since_ms: i64, before_ms: i64) -> Result<Vec<Outbound>, Error>;
    /// Marks a reply as delivered by its channel.
    async fn mark_delivered(&self, reply_id: i64) -> Result<(), Error>;
    /// Whether an inbound message already has its replies (another replica
    /// may have answered it while this one waited for the turn lock).
    async fn is_processed(&self, inbound_id: i64) -> Result<bool, Error>;
    /// One stored reply, for routing a reply another replica made.
    async fn reply(&self, reply_id: i64) -> Result<Option<Outbound>, Error>;
    /// Stores a web chat session of `conversation` by its token's SHA-256
    /// (hex); a conversation keeps its newest [`MAX_WEB_SESSIONS`].
    async fn open_web_session(&self, conversation: &ConversationId, token_hash: &str) -> Result<(), Error>;
    /// The token hashes of `conversation`'s web chat sessions.
    async fn web_session_hashes(&self, conversation: &ConversationId) -> Result<Vec<String>, Error>;
    /// Checks the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), Error>;
    /// Takes the conversation's turn lock (waiting for it).
    async fn lock(&self, conversation: &ConversationId) -> Result<TurnLock, Error>;
}
