//! Replies → Telegram messages. Pure translation, no I/O.

use usher_channel::{pieces, Outbound, Piece};

use crate::convert::is_our_payload;
use crate::MAX_MESSAGE;

/// Inline keyboards hold up to 100 buttons; more than a screenful helps no one.
const MAX_BUTTONS: usize = 12;

/// Renders a reply: text split at sentence or line boundaries within 4096
/// characters, buttons as an inline keyboard (one per row) under the text
/// before them, attachments as photo, audio or document messages. Button
/// payloads that are not valid callback data (64 bytes) are listed as text.
pub fn render(reply: &Outbound) -> Vec<Piece> {
    pieces(&reply.parts, MAX_MESSAGE, MAX_BUTTONS, |b| is_our_payload(&b.payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use usher_channel::{Button, ConversationId, Part};

    #[test]
    fn payloads_that_are_not_callback_data_are_typed() {
        let buttons = vec![
            Button { title: "Refund".into(), payload: "/refund_request".into() },
            Button { title: "Say".into(), payload: "hello there".into() },
        ];
        let reply = Outbound {
            conversation: ConversationId::new("telegram:1").unwrap(),
            channel: "telegram".into(),
            id: 1,
            parts: vec![Part::Text { text: "Hi".into() }, Part::Buttons { buttons: buttons.clone() }],
        };
        let out = render(&reply);
        assert_eq!(out.len(), 2);
        // The keyboard hangs under the typed list, which came last.
        let typed = Piece::Text { text: "• Say (send \"hello there\")".into(), buttons: vec![buttons[0].clone()] };
        assert_eq!(out[1], typed);
    }
}
