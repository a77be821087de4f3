//! Live events for the agent console's WebSocket.

use serde::{Deserialize, Serialize};
use usher_channel::ConversationId;

/// Something the console should refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A ticket was opened, claimed, returned or closed.
    Queue,
    /// A message was added to a conversation (fan, bot, agent or note).
    Message {
        /// The conversation.
        conversation: ConversationId,
    },
    /// An agent signed out (`session`: that session's token hash) or was
    /// removed (`None`: all their sessions): their console sockets close,
    /// on every replica. Never sent to the page.
    SessionEnded {
        /// The agent.
        agent: String,
        /// The ended session's token hash; `None` for all of the agent's.
        session: Option<String>,
    },
}
