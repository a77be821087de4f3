//! JSON frames on the web chat socket.

use serde::{Deserialize, Serialize};
use usher_channel::{ConversationId, Inbound, MessageBody, Part};

/// Largest accepted frame, in bytes.
pub const MAX_FRAME: usize = 64 * 1024;

/// From the widget.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// A fan message or button press.
    Message {
        /// The widget's id for this message, echoed in the ack.
        client_id: u64,
        /// What the fan typed (the button title for a press).
        #[serde(default)]
        text: String,
        /// A pressed button's payload.
        #[serde(default)]
        payload: Option<String>,
    },
}

impl ClientFrame {
    /// Reads a text frame; the error is serde's, with line and column.
    pub fn decode(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The widget's id and the message for the engine.
    pub fn into_inbound(self, conversation: ConversationId) -> (u64, Inbound) {
        let Self::Message { client_id, text, payload } = self;
        (client_id, MessageBody { text, payload }.into_inbound(conversation, crate::CHANNEL))
    }
}

/// To the widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The message is stored.
    Ack {
        /// The widget's id.
        client_id: u64,
        /// The store's id.
        message_id: i64,
    },
    /// A frame or message was refused; nothing was stored.
    Error {
        /// The widget's id, when the frame could be read.
        client_id: Option<u64>,
        /// Why.
        reason: String,
    },
    /// A bot (or agent) reply.
    Reply {
        /// The store's id.
        id: i64,
        /// What to show.
        parts: Vec<Part>,
    },
}
