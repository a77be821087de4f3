//! Messages crossing the channel boundary.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::Error;

/// Largest accepted fan message text, in bytes (20 kB).
pub const MAX_TEXT_BYTES: usize = 20 * 1024;

/// Identifies one conversation across channels and restarts.
///
/// 1 to 128 characters from `[A-Za-z0-9_.:-]`; adapters prefix platform ids
/// with their channel name (`telegram:12345`) so ids never collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConversationId(String);

impl ConversationId {
    /// Validates and wraps a conversation id.
    pub fn new(id: impl Into<String>) -> Result<Self, Error> {
        let id = id.into();
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
        if id.is_empty() || id.len() > 128 || !id.chars().all(valid_char) {
            return Err(Error::InvalidConversationId(id));
        }
        Ok(Self(id))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ConversationId {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<ConversationId> for String {
    fn from(id: ConversationId) -> Self {
        id.0
    }
}

/// A message from a fan, as an adapter hands it to the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    /// The conversation it belongs to.
    pub conversation: ConversationId,
    /// The channel it came from (`webchat`, `telegram`, `discord`, `api`).
    pub channel: String,
    /// The platform's id of the sender.
    pub sender: String,
    /// What the fan typed (empty when only a button was pressed).
    pub text: String,
    /// The payload of a pressed button, e.g. `/talk_to_human`.
    pub payload: Option<String>,
    /// Files the fan sent.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// The platform's own id of this message (a Telegram update id, a
    /// Discord message or interaction id): a message the platform delivers
    /// again is stored and answered once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_id: Option<String>,
    /// The id of the HTTP request that carried it (`x-request-id`), which
    /// the turn's log lines and backend calls carry; the engine makes one
    /// for messages that came another way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Inbound {
    /// A text message.
    pub fn text(conversation: ConversationId, channel: &str, text: impl Into<String>) -> Self {
        Self {
            sender: conversation.to_string(),
            conversation,
            channel: channel.to_string(),
            text: text.into(),
            payload: None,
            attachments: Vec::new(),
            platform_id: None,
            request_id: None,
        }
    }

    /// Checks the limits every channel shares: some text or a payload, and
    /// at most [`MAX_TEXT_BYTES`] of text.
    pub fn validate(&self) -> Result<(), Error> {
        let payload_empty = self.payload.as_deref().is_none_or(|p| p.trim().is_empty());
        if self.text.trim().is_empty() && payload_empty && self.attachments.is_empty() {
            return Err(Error::EmptyMessage);
        }
        let size = self.text.len() + self.payload.as_deref().map_or(0, str::len);
        if size > MAX_TEXT_BYTES {
            return Err(Error::MessageTooLarge { size, limit: MAX_TEXT_BYTES });
        }
        Ok(())
    }
}

/// A bot reply for one conversation, made of parts in display order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    /// The conversation to deliver to.
    pub conversation: ConversationId,
    /// The channel to deliver through.
    pub channel: String,
    /// The store's id of this reply, so a resend can be recognised.
    pub id: i64,
    /// What to show.
    pub parts: Vec<Part>,
}

/// One displayable piece of a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// Quick-reply buttons.
    Buttons {
        /// The buttons, in order.
        buttons: Vec<Button>,
    },
    /// A file: image, audio or other.
    Attachment(Attachment),
    /// The conversation has been handed to (or back from) a human agent.
    Handoff {
        /// What to tell the fan.
        notice: String,
    },
}

/// Whether `data` is a button payload the engine understands and a
/// platform may carry as a button's id: `/` and an intent name, maybe with
/// its entities as a JSON object (`/more_like{"item": "dune"}`), within
/// `max_bytes` (Telegram's callback data: 64; Discord's custom id: 100).
pub fn is_intent_payload(data: &str, max_bytes: usize) -> bool {
    let Some(rest) = data.strip_prefix('/') else {
        return false;
    };
    let (name, entities) = match rest.split_once('{') {
        Some((name, json)) => (name, Some(format!("{{{json}"))),
        None => (rest, None),
    };
    let entities_ok =
        entities.is_none_or(|j| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&j).is_ok());
    !name.is_empty()
        && data.len() <= max_bytes
        && entities_ok
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A quick-reply button: pressing it sends `payload` back as an [`Inbound`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// What the button shows.
    pub title: String,
    /// What pressing it sends, e.g. `/refund_request`.
    pub payload: String,
}

/// The kind of an attachment, which decides how platforms render it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    /// A picture.
    Image,
    /// Sound.
    Audio,
    /// Any other file.
    File,
}

/// A file in a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// How to render it.
    pub kind: AttachmentKind,
    /// Where it can be fetched (an absolute URL or a path on Usher's server).
    pub url: String,
    /// The file name to show.
    pub name: String,
    /// The MIME type.
    pub mime: String,
}

impl Attachment {
    /// Where to download the file: the URL itself when absolute, else the
    /// path joined to `base` (the server's own address); `None` for a
    /// relative URL without a base.
    pub fn absolute_url(&self, base: Option<&str>) -> Option<String> {
        let url = self.url.trim();
        if url.starts_with("http://") || url.starts_with("https://") {
            return Some(url.to_string());
        }
        let base = base?.trim_end_matches('/');
        Some(format!("{base}/{}", url.trim_start_matches('/')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_urls_resolve_against_the_server() {
        let a = |url: &str| Attachment {
            kind: AttachmentKind::Audio,
            url: url.into(),
            name: "m.wav".into(),
            mime: "audio/wav".into(),
        };
        assert_eq!(
            a("/files/m.wav").absolute_url(Some("http://127.0.0.1:8080/")).unwrap(),
            "http://127.0.0.1:8080/files/m.wav"
        );
        assert_eq!(a("https://cdn.example/m.wav").absolute_url(None).unwrap(), "https://cdn.example/m.wav");
        assert_eq!(a("files/m.wav").absolute_url(None), None);
    }

    #[test]
    fn conversation_ids_are_validated() {
        assert!(ConversationId::new("web-abc_1:2.3").is_ok());
        assert!(ConversationId::new("").is_err());
        assert!(ConversationId::new("a/b").is_err());
        assert!(ConversationId::new("x".repeat(129)).is_err());
        let parsed: Result<ConversationId, _> = serde_json::from_str("\"../etc\"");
        assert!(parsed.is_err());
    }

    #[test]
    fn inbound_limits() {
        let id = ConversationId::new("c1").unwrap();
        assert!(matches!(Inbound::text(id.clone(), "api", "  ").validate(), Err(Error::EmptyMessage)));
        let big = Inbound::text(id.clone(), "api", "a".repeat(MAX_TEXT_BYTES + 1));
        assert!(matches!(big.validate(), Err(Error::MessageTooLarge { .. })));
        let mut button = Inbound::text(id, "api", "");
        button.payload = Some("/greet".into());
        assert!(button.validate().is_ok());
    }

    #[test]
    fn parts_serialize_with_a_type_tag() {
        let part = Part::Text { text: "hi".into() };
        assert_eq!(serde_json::to_value(&part).unwrap(), serde_json::json!({"type": "text", "text": "hi"}));
    }
}
