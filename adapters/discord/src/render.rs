//! Replies → Discord `CreateMessage` builders. Pure translation, no I/O
//! (attachments are fetched by the transport).

use serenity::all::{ButtonStyle, CreateActionRow, CreateButton, CreateMessage};
use usher_channel::{pieces, Button, Outbound, Piece};

use crate::convert::is_our_payload;
use crate::MAX_MESSAGE;

/// Five rows of five buttons is Discord's maximum per message.
const MAX_BUTTONS: usize = 25;
const PER_ROW: usize = 5;

/// Renders a reply into pieces: text within 2000 characters, buttons as
/// components under the text before them, attachments as files.
pub fn render(reply: &Outbound) -> Vec<Piece> {
    pieces(&reply.parts, MAX_MESSAGE, MAX_BUTTONS, |b| is_our_payload(&b.payload))
}

/// A text piece as a REST message: content plus action rows of buttons.
pub fn text_message(text: &str, buttons: &[Button]) -> CreateMessage {
    let mut message = CreateMessage::new().content(text);
    if !buttons.is_empty() {
        let rows = buttons
            .chunks(PER_ROW)
            .map(|row| {
                let row = row
                    .iter()
                    .map(|b| CreateButton::new(&b.payload).label(label(&b.title)).style(ButtonStyle::Primary));
                CreateActionRow::Buttons(row.collect())
            })
            .collect();
        message = message.components(rows);
    }
    message
}

/// Button labels are limited to 80 characters.
fn label(title: &str) -> String {
    title.chars().take(80).collect()
}
