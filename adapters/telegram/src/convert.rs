//! Telegram updates → fan messages. Pure translation, no I/O.

use teloxide::types::{CallbackQuery, ChatId, Message, Update, UpdateKind};
use usher_channel::{ConversationId, Inbound};

use crate::CHANNEL;

/// Commands and the button payloads they stand for.
pub const COMMANDS: &[(&str, &str)] = &[("start", "/greet"), ("help", "/greet"), ("human", "/talk_to_human")];

/// What one update means for the adapter.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A fan message for the engine. `callback` is set for a button press
    /// (it must be answered so the fan's spinner stops).
    Message {
        /// The chat, for the typing action.
        chat: ChatId,
        /// The message.
        inbound: Inbound,
        /// The callback query id of a button press.
        callback: Option<String>,
    },
    /// Something a fan sent that we cannot read (sticker, voice, photo
    /// without caption): answer politely.
    Unreadable {
        /// The fan's conversation.
        conversation: ConversationId,
    },
    /// A press of a button that is not ours (or lost its data): answer the
    /// query so the spinner stops, do nothing else.
    StaleButton {
        /// The callback query id.
        callback: String,
    },
    /// Nothing to do (edited messages, channel posts, bots, unknown types).
    Ignored {
        /// Why, for the log.
        reason: &'static str,
    },
}

/// The conversation id of a Telegram chat (`telegram:<chat id>`; `None`
/// only if the id rules ever stop admitting it).
pub fn conversation(chat: ChatId) -> Option<ConversationId> {
    ConversationId::new(format!("{CHANNEL}:{}", chat.0)).ok()
}

/// The Telegram chat of one of our conversation ids.
pub fn chat(conversation: &ConversationId) -> Option<ChatId> {
    let id = conversation.as_str().strip_prefix(CHANNEL)?.strip_prefix(':')?;
    id.parse().ok().map(ChatId)
}

/// Translates one update.
pub fn event(update: &Update) -> Event {
    match &update.kind {
        UpdateKind::Message(message) => from_message(message),
        UpdateKind::CallbackQuery(query) => from_callback(query),
        UpdateKind::EditedMessage(_) => Event::Ignored { reason: "edited message" },
        UpdateKind::ChannelPost(_) | UpdateKind::EditedChannelPost(_) => Event::Ignored { reason: "channel post" },
        UpdateKind::Error(_) => Event::Ignored { reason: "update of an unknown type" },
        _ => Event::Ignored { reason: "update type not used by Usher" },
    }
}

fn from_message(message: &Message) -> Event {
    if message.from.as_ref().is_some_and(|u| u.is_bot) {
        return Event::Ignored { reason: "message from a bot" };
    }
    let Some(conversation) = conversation(message.chat.id) else {
        return Event::Ignored { reason: "chat id not usable as a conversation id" };
    };
    let sender = message.from.as_ref().map_or_else(|| message.chat.id.0.to_string(), |u| u.id.0.to_string());
    let text = message.text().or_else(|| message.caption()).unwrap_or_default();
    if text.trim().is_empty() {
        return Event::Unreadable { conversation };
    }
    let payload = command(text);
    let text = if payload.is_some() { String::new() } else { text.to_string() };
    let inbound = Inbound {
        conversation,
        channel: CHANNEL.into(),
        sender,
        text,
        payload,
        attachments: Vec::new(),
        platform_id: Some(format!("message:{}", message.id.0)),
        request_id: None,
    };
    Event::Message { chat: message.chat.id, inbound, callback: None }
}

/// The payload of a known command (`/start`, `/help@MyBot`, `/human please`).
fn command(text: &str) -> Option<String> {
    let word = text.trim().strip_prefix('/')?.split_whitespace().next()?;
    let name = word.split('@').next()?.to_ascii_lowercase();
    COMMANDS.iter().find(|(c, _)| *c == name).map(|(_, payload)| payload.to_string())
}

fn from_callback(query: &CallbackQuery) -> Event {
    let callback = query.id.0.clone();
    let chat = query.message.as_ref().map(|m| m.chat().id);
    let ours = query.data.as_deref().filter(|d| is_our_payload(d));
    let (Some(chat), Some(data)) = (chat, ours) else {
        return Event::StaleButton { callback };
    };
    let Some(conversation) = conversation(chat) else {
        return Event::StaleButton { callback };
    };
    let inbound = Inbound {
        conversation,
        channel: CHANNEL.into(),
        sender: query.from.id.0.to_string(),
        text: String::new(),
        payload: Some(data.to_string()),
        attachments: Vec::new(),
        platform_id: Some(format!("callback:{callback}")),
        request_id: None,
    };
    Event::Message { chat, inbound, callback: Some(callback) }
}

/// Our callback data is a button payload (the render side never sends
/// anything else), within callback data's 64 bytes.
pub fn is_our_payload(data: &str) -> bool {
    usher_channel::is_intent_payload(data, 64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_with_entities_fit_callback_data() {
        assert!(is_our_payload("/refund_request"));
        assert!(is_our_payload(r#"/more_like{"item": "signal-from-vega"}"#));
        assert!(!is_our_payload(r#"/more_like{"item": "#));
        assert!(!is_our_payload("/has space"));
        assert!(!is_our_payload(&format!("/x{{\"a\": \"{}\"}}", "y".repeat(60))));
    }

    fn update(value: serde_json::Value) -> Update {
        serde_json::from_str(&value.to_string()).expect("a valid update")
    }

    fn message(extra: serde_json::Value) -> serde_json::Value {
        let mut m = json!({
            "message_id": 5, "date": 1_700_000_000,
            "chat": {"id": 42, "type": "private", "first_name": "Fan"},
            "from": {"id": 42, "is_bot": false, "first_name": "Fan"},
        });
        m.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        m
    }

    #[test]
    fn text_becomes_a_fan_message() {
        let e = event(&update(json!({"update_id": 1, "message": message(json!({"text": "I want a refund"}))})));
        let Event::Message { inbound, callback, chat } = e else { panic!("{e:?}") };
        assert_eq!(inbound.conversation.as_str(), "telegram:42");
        assert_eq!(inbound.text, "I want a refund");
        assert_eq!(inbound.sender, "42");
        assert_eq!(inbound.platform_id.as_deref(), Some("message:5"), "a redelivery is recognised by it");
        assert_eq!((callback, chat), (None, ChatId(42)));
    }

    #[test]
    fn commands_become_payloads() {
        for (text, payload) in
            [("/start", "/greet"), ("/help@EncoreBot", "/greet"), ("/human now please", "/talk_to_human")]
        {
            let e = event(&update(json!({"update_id": 1, "message": message(json!({"text": text}))})));
            let Event::Message { inbound, .. } = e else { panic!("{e:?}") };
            assert_eq!(inbound.payload.as_deref(), Some(payload), "{text}");
            assert!(inbound.text.is_empty());
        }
        // Unknown commands are ordinary text for NLU.
        let e = event(&update(json!({"update_id": 1, "message": message(json!({"text": "/refund"}))})));
        let Event::Message { inbound, .. } = e else { panic!("{e:?}") };
        assert_eq!((inbound.text.as_str(), inbound.payload), ("/refund", None));
    }

    #[test]
    fn callback_with_our_payload_is_a_press_and_foreign_data_is_stale() {
        let press = |data: serde_json::Value| {
            update(json!({"update_id": 2, "callback_query": {
                "id": "cb-1", "from": {"id": 42, "is_bot": false, "first_name": "Fan"},
                "message": message(json!({"text": "Choose"})), "chat_instance": "ci", "data": data,
            }}))
        };
        let Event::Message { inbound, callback, .. } = event(&press(json!("/refund_request"))) else { panic!() };
        assert_eq!(inbound.payload.as_deref(), Some("/refund_request"));
        assert_eq!(callback.as_deref(), Some("cb-1"));
        for foreign in [json!("buy:123"), json!("/../../etc"), json!("/x".repeat(40))] {
            assert_eq!(event(&press(foreign)), Event::StaleButton { callback: "cb-1".into() });
        }
    }

    #[test]
    fn odd_updates_are_ignored_or_answered_politely() {
        let sticker = message(json!({"sticker": {
            "file_id": "f", "file_unique_id": "u", "type": "regular", "width": 512, "height": 512,
            "is_animated": false, "is_video": false}}));
        assert!(matches!(event(&update(json!({"update_id": 3, "message": sticker}))), Event::Unreadable { .. }));
        let voice = message(json!({"voice": {"file_id": "f", "file_unique_id": "u", "duration": 3}}));
        assert!(matches!(event(&update(json!({"update_id": 4, "message": voice}))), Event::Unreadable { .. }));
        let edited =
            json!({"update_id": 5, "edited_message": message(json!({"text": "x", "edit_date": 1_700_000_001}))});
        assert_eq!(event(&update(edited)), Event::Ignored { reason: "edited message" });
        let unknown = json!({"update_id": 6, "brand_new_kind": {"x": 1}});
        assert!(matches!(event(&update(unknown)), Event::Ignored { .. }));
        let empty = message(json!({"text": "   "}));
        assert!(matches!(event(&update(json!({"update_id": 7, "message": empty}))), Event::Unreadable { .. }));
    }

    #[test]
    fn a_long_caption_is_text_and_the_engine_judges_its_size() {
        let caption = "c".repeat(10_000);
        let photo = message(
            json!({"caption": caption, "photo": [{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]}),
        );
        let Event::Message { inbound, .. } = event(&update(json!({"update_id": 8, "message": photo}))) else {
            panic!()
        };
        assert_eq!(inbound.text.len(), 10_000);
    }

    #[test]
    fn conversation_ids_round_trip() {
        assert_eq!(chat(&conversation(ChatId(-1001234)).unwrap()), Some(ChatId(-1001234)));
        assert_eq!(chat(&ConversationId::new("discord:1").unwrap()), None);
    }
}
