//! Decoding a fan message from the raw bytes a channel received (the REST
//! API's request body). Pure functions, so they can be fuzzed (`fuzz/`).

use serde::{Deserialize, Serialize};

use crate::{ConversationId, Error, Inbound};

/// A fan message as JSON on the wire: `{"text": …, "payload": …}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// What the fan typed.
    #[serde(default)]
    pub text: String,
    /// A pressed button's payload.
    #[serde(default)]
    pub payload: Option<String>,
}

impl MessageBody {
    /// Reads a body: UTF-8, then JSON with only the known fields.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::NotUtf8 { valid_up_to: e.valid_up_to() })?;
        serde_json::from_str(text).map_err(|e| Error::InvalidJson(e.to_string()))
    }

    /// The message for the engine, from `channel`.
    pub fn into_inbound(self, conversation: ConversationId, channel: &str) -> Inbound {
        let mut inbound = Inbound::text(conversation, channel, self.text);
        inbound.payload = self.payload;
        inbound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_decodes_and_bad_bytes_say_where() {
        let body = MessageBody::decode(br#"{"text":"refund please","payload":"/refund"}"#).unwrap();
        assert_eq!(body.text, "refund please");
        assert_eq!(body.payload.as_deref(), Some("/refund"));
        let e = MessageBody::decode(b"{\"text\":\"ok\xff\"}").unwrap_err();
        assert_eq!(e.to_string(), "the body is not valid UTF-8 (byte 11)");
        let e = MessageBody::decode(br#"{"text":"x","admin":true}"#).unwrap_err();
        assert!(e.to_string().starts_with("invalid JSON body: unknown field `admin`"), "{e}");
    }
}
