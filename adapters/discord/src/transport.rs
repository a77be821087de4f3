//! Sending one rendered piece over Discord's REST API with serenity's
//! `Http`, with errors sorted the way the delivery queue needs them.
//!
//! With serenity's own rate limiter (production) 429s are absorbed inside
//! serenity. With it disabled (a proxy, or the test fake) a 429 reaches
//! here; serenity drops the body's `retry_after`, so the queue waits
//! [`RETRY_AFTER_UNKNOWN`] and tries again.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serenity::all::{CreateAttachment, CreateMessage, Http, HttpError};
use usher_channel::{Attachment, ConversationId, Outbound, Piece, SendError, Transport};

use crate::convert::channel;
use crate::render::{render, text_message};

/// The wait after a 429 whose `retry_after` serenity did not pass on.
pub const RETRY_AFTER_UNKNOWN: Duration = Duration::from_secs(1);

pub(crate) struct DiscordTransport {
    pub http: Arc<Http>,
    /// Base for attachment URLs that are paths on Usher's own server.
    pub files_url: Option<String>,
}

#[async_trait]
impl Transport for DiscordTransport {
    type Message = Piece;

    fn render(&self, reply: &Outbound) -> Vec<Piece> {
        render(reply)
    }

    fn notice(&self, text: &str) -> Piece {
        Piece::Text { text: text.to_string(), buttons: Vec::new() }
    }

    async fn send(&self, conversation: &ConversationId, piece: &Piece) -> Result<(), SendError> {
        let Some(channel) = channel(conversation) else {
            return Err(SendError::Permanent(format!("{conversation} is not a Discord conversation")));
        };
        let message = match piece {
            Piece::Text { text, buttons } => text_message(text, buttons),
            Piece::File(file @ Attachment { url, name, .. }) => match self.fetch(file).await {
                Ok(file) => CreateMessage::new().add_file(file),
                Err(e) => {
                    tracing::warn!(%url, error = %e, "attachment could not be fetched; sending a link");
                    CreateMessage::new().content(format!("{name}: {url}"))
                }
            },
        };
        channel.send_message(self.http.as_ref(), message).await.map(drop).map_err(classify)
    }
}

impl DiscordTransport {
    async fn fetch(&self, file: &Attachment) -> Result<CreateAttachment, String> {
        let absolute = file.absolute_url(self.files_url.as_deref()).ok_or("relative URL and no files_url")?;
        let mut upload = CreateAttachment::url(self.http.as_ref(), &absolute).await.map_err(|e| e.to_string())?;
        upload.filename = file.name.clone();
        Ok(upload)
    }
}

/// Sorts a serenity error into retry-after, transient or permanent.
pub(crate) fn classify(e: serenity::Error) -> SendError {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            let status = r.status_code.as_u16();
            let why = format!("{status} {}", r.error.message);
            match status {
                429 => SendError::RetryAfter(RETRY_AFTER_UNKNOWN),
                500..=599 => SendError::Transient(why),
                _ => SendError::Permanent(why),
            }
        }
        serenity::Error::Http(HttpError::Request(e)) => SendError::Transient(e.to_string()),
        serenity::Error::Io(e) => SendError::Transient(e.to_string()),
        other => SendError::Permanent(other.to_string()),
    }
}
