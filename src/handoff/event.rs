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
}
