//! Persistence of the handoff desk. The conversation store implements it
//! too ([`crate::store::Store`] requires it), so agents, sessions and the
//! queue live next to the conversations, shared by every replica.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use usher_channel::{ConversationId, Outbound, Part};

use super::ticket::{Ticket, TicketState};
use crate::Error;

/// An agent account (without its password hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    /// Login name.
    pub name: String,
    /// What they may do in the console.
    pub role: Role,
    /// Created (ms since the epoch).
    pub created_ms: i64,
}

/// What a console account may do; every console route names the roles it
/// admits (`console::routes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Handles conversations: the queue, claiming, replies, notes.
    Agent,
    /// Reviews what the bot misunderstood and turns fans' messages into
    /// training examples; reads conversations but does not answer fans.
    Trainer,
    /// Everything, and the audit log.
    Admin,
}

impl Role {
    /// The role's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Trainer => "trainer",
            Self::Admin => "admin",
        }
    }

    /// A stored name (an unknown one reads as `agent`, the least).
    pub fn parse(name: &str) -> Self {
        match name {
            "admin" => Self::Admin,
            "trainer" => Self::Trainer,
            _ => Self::Agent,
        }
    }
}

/// A signed-in console session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// SHA-256 (hex) of the session cookie's value.
    pub token_hash: String,
    /// The agent.
    pub agent: String,
    /// The CSRF token state-changing requests must echo.
    pub csrf: String,
    /// Expiry (ms since the epoch).
    pub expires_ms: i64,
}

/// An internal note on a conversation: agents see it, the fan never does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    /// Store id.
    pub id: i64,
    /// Who wrote it.
    pub agent: String,
    /// The note.
    pub text: String,
    /// Written (ms since the epoch).
    pub created_ms: i64,
}

/// One audited agent action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// The agent (or the name tried, for a failed login).
    pub agent: String,
    /// `login`, `login_failed`, `login_limited`, `logout`, `session_expired`,
    /// `csrf_refused`, `console_socket`, `view`, `claim`, `reply`, `note`,
    /// `release`, `close`, `agent_added`, `agent_removed`, `role_changed`,
    /// `example_added`, `forbidden`.
    pub action: String,
    /// The conversation acted on.
    pub conversation: Option<String>,
    /// Details (a resolution tag, a reply's length).
    pub detail: Option<String>,
    /// When (ms since the epoch).
    pub created_ms: i64,
}

impl AuditEntry {
    /// An entry stamped now.
    pub fn now(agent: &str, action: &str, conversation: Option<&str>, detail: Option<String>) -> Self {
        Self {
            agent: agent.to_string(),
            action: action.to_string(),
            conversation: conversation.map(str::to_string),
            detail,
            created_ms: crate::util::now_ms(),
        }
    }
}

/// The outcome of a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Now owned by the claiming agent.
    Claimed(Ticket),
    /// The claiming agent owned it already.
    Already(Ticket),
    /// Another agent (named) owns it already.
    Taken(String),
    /// The conversation has no open ticket.
    NotWaiting,
}

/// Figures for the console and `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analytics {
    /// Conversations ever started.
    pub conversations: i64,
    /// Conversations handed to a human at least once.
    pub handed_off: i64,
    /// Share of conversations handled without a human (0 with none).
    pub containment_rate: f64,
    /// Share of conversations handed to a human.
    pub handoff_rate: f64,
    /// Median time from handoff to claim, in seconds (claimed tickets).
    pub median_wait_seconds: Option<f64>,
    /// Tickets waiting now.
    pub waiting: i64,
    /// Tickets claimed now.
    pub claimed: i64,
    /// Closed tickets per resolution tag.
    pub resolutions: Vec<(String, i64)>,
    /// The messages the bot most often failed to understand, with counts.
    pub top_fallbacks: Vec<(String, i64)>,
}

/// Persistence of agents, sessions, tickets, notes and the audit log.
#[async_trait]
pub trait HandoffStore: Send + Sync {
    /// Adds an agent with `role`; false if the name is taken.
    async fn add_agent(&self, name: &str, password_hash: &str, role: Role) -> Result<bool, Error>;
    /// Changes an agent's role and ends their sessions (they sign in again
    /// with the new one); false if there is no such agent.
    async fn set_role(&self, name: &str, role: Role) -> Result<bool, Error>;
    /// Removes an agent and their sessions, and puts the tickets they had
    /// claimed back in the queue, in one transaction; how many went back,
    /// or `None` if there was no such agent.
    async fn remove_agent(&self, name: &str) -> Result<Option<u64>, Error>;
    /// Counts a sign-in attempt under every `(key, limit)` in one
    /// transaction, unless a key is at its limit in its current window of
    /// `window_ms`: then nothing is counted and the wait until that window
    /// ends comes back (ms).
    async fn count_login_attempt(&self, keys: &[(String, i64)], window_ms: i64) -> Result<Option<i64>, Error>;
    /// After a good sign-in: refunds its attempt under each key (the
    /// failures before it still count for their window).
    async fn login_succeeded(&self, keys: &[String]) -> Result<(), Error>;
    /// Sets the name fans see for an agent; false if there is no such agent.
    async fn set_display_name(&self, name: &str, display_name: &str) -> Result<bool, Error>;
    /// The name fans see for an agent, if one was set.
    async fn display_name(&self, name: &str) -> Result<Option<String>, Error>;
    /// Every agent, by name.
    async fn agents(&self) -> Result<Vec<Agent>, Error>;
    /// An agent's password hash.
    async fn password_hash(&self, name: &str) -> Result<Option<String>, Error>;
    /// Stores a new session.
    async fn create_session(&self, session: &Session) -> Result<(), Error>;
    /// The unexpired session with this token hash, and its agent's role now.
    async fn session(&self, token_hash: &str, now_ms: i64) -> Result<Option<(Session, Role)>, Error>;
    /// Ends a session.
    async fn delete_session(&self, token_hash: &str) -> Result<(), Error>;
    /// Whether the conversation exists.
    async fn conversation_exists(&self, conversation: &ConversationId) -> Result<bool, Error>;
    /// Open tickets in queue order: priority first, then age.
    async fn queue(&self) -> Result<Vec<Ticket>, Error>;
    /// The conversation's open ticket.
    async fn open_ticket(&self, conversation: &ConversationId) -> Result<Option<Ticket>, Error>;
    /// The conversation's latest ticket, open or not.
    async fn latest_ticket(&self, conversation: &ConversationId) -> Result<Option<Ticket>, Error>;
    /// Claims the conversation's waiting ticket for `agent`, atomically.
    async fn claim(&self, conversation: &ConversationId, agent: &str) -> Result<Claim, Error>;
    /// Ends the ticket `agent` holds on the conversation (returned to the
    /// bot or closed); `None` if they hold none.
    async fn end_ticket(
        &self,
        conversation: &ConversationId,
        agent: &str,
        state: TicketState,
        resolution: Option<&str>,
    ) -> Result<Option<Ticket>, Error>;
    /// Records that the fan was told `position`; false if they already were.
    async fn set_notified(&self, ticket: i64, position: i64) -> Result<bool, Error>;
    /// Stores a message to the fan from `sender` (`agent:NAME`, `system`);
    /// `None` if the conversation does not exist.
    async fn append_outbound(
        &self,
        conversation: &ConversationId,
        sender: &str,
        parts: &[Part],
    ) -> Result<Option<Outbound>, Error>;
    /// Adds an internal note.
    async fn add_note(&self, conversation: &ConversationId, agent: &str, text: &str) -> Result<Note, Error>;
    /// The conversation's notes, oldest first.
    async fn notes(&self, conversation: &ConversationId) -> Result<Vec<Note>, Error>;
    /// Appends to the audit log.
    async fn audit(&self, entry: &AuditEntry) -> Result<(), Error>;
    /// The latest audit entries, newest first.
    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>, Error>;
    /// Waits (handoff to claim, ms) of the latest claimed tickets.
    async fn recent_waits(&self, limit: i64) -> Result<Vec<i64>, Error>;
    /// Figures with the `top` most frequent fallback messages.
    async fn analytics(&self, top: i64) -> Result<Analytics, Error>;
}
