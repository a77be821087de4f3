//! Sending one rendered message with teloxide, with errors sorted the way
//! the delivery queue needs them. (teloxide itself sleeps 10 s after a 5xx
//! answer before returning the error; the queue's backoff comes on top.)

use async_trait::async_trait;
use teloxide::payloads::SendMessageSetters;
use teloxide::prelude::Requester;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, InputFile};
use teloxide::{ApiError, Bot, RequestError};
use usher_channel::{Attachment, AttachmentKind, ConversationId, Outbound, Piece, SendError, Transport};

use crate::convert::chat;
use crate::render::render;

/// Sends through the Bot API.
pub(crate) struct TelegramTransport {
    pub bot: Bot,
    /// Base for attachment URLs that are paths on Usher's own server.
    pub files_url: Option<String>,
}

#[async_trait]
impl Transport for TelegramTransport {
    type Message = Piece;

    fn render(&self, reply: &Outbound) -> Vec<Piece> {
        render(reply)
    }

    fn notice(&self, text: &str) -> Piece {
        Piece::Text { text: text.to_string(), buttons: Vec::new() }
    }

    async fn send(&self, conversation: &ConversationId, message: &Piece) -> Result<(), SendError> {
        let Some(chat) = chat(conversation) else {
            return Err(SendError::Permanent(format!("{conversation} is not a Telegram conversation")));
        };
        let result = match message {
            Piece::Text { text, buttons } => {
                let request = self.bot.send_message(chat, text);
                if buttons.is_empty() {
                    request.await.map(drop)
                } else {
                    let rows = buttons.iter().map(|b| vec![InlineKeyboardButton::callback(&b.title, &b.payload)]);
                    request.reply_markup(InlineKeyboardMarkup::new(rows)).await.map(drop)
                }
            }
            Piece::File(file @ Attachment { kind, url, name, .. }) => match self.fetch(file).await {
                Ok(bytes) => {
                    let file = InputFile::memory(bytes).file_name(name.clone());
                    match kind {
                        AttachmentKind::Image => self.bot.send_photo(chat, file).await.map(drop),
                        AttachmentKind::Audio => self.bot.send_audio(chat, file).await.map(drop),
                        AttachmentKind::File => self.bot.send_document(chat, file).await.map(drop),
                    }
                }
                Err(e) => {
                    // The file is gone or unreachable: the fan still gets its name and link.
                    tracing::warn!(%url, error = %e, "attachment could not be fetched; sending a link");
                    self.bot.send_message(chat, format!("{name}: {url}")).await.map(drop)
                }
            },
        };
        result.map_err(classify)
    }
}

impl TelegramTransport {
    /// Downloads an attachment (relative URLs against `files_url`).
    async fn fetch(&self, file: &Attachment) -> Result<Vec<u8>, String> {
        let absolute = file.absolute_url(self.files_url.as_deref()).ok_or("relative URL and no files_url")?;
        let response = self.bot.client().get(absolute).send().await.map_err(|e| e.to_string())?;
        let response = response.error_for_status().map_err(|e| e.to_string())?;
        response.bytes().await.map(|b| b.to_vec()).map_err(|e| e.to_string())
    }
}

/// Sorts a Bot API error into retry-after, transient or permanent.
pub(crate) fn classify(e: RequestError) -> SendError {
    match e {
        RequestError::RetryAfter(after) => SendError::RetryAfter(after.duration()),
        RequestError::Network(e) => SendError::Transient(e.to_string()),
        RequestError::InvalidJson { source, .. } => SendError::Transient(format!("unreadable response: {source}")),
        RequestError::Io(e) => SendError::Transient(e.to_string()),
        RequestError::Api(ApiError::Unknown(msg)) if is_server_side(&msg) => SendError::Transient(msg),
        other => SendError::Permanent(other.to_string()),
    }
}

fn is_server_side(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["internal server error", "bad gateway", "gateway timeout", "service unavailable", "too many requests"]
        .iter()
        .any(|s| m.contains(s))
}
