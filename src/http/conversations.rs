//! `POST /api/v1/conversations/{id}/messages` and `GET /api/v1/conversations/{id}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use usher_channel::{render_plain, ConversationId, Inbound, Part};

use super::{AppError, AppState};
use crate::nlu::Parse;
use crate::store::Transcript;
use crate::Error;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// What the fan typed.
    #[serde(default)]
    pub text: String,
    /// A pressed button's payload.
    #[serde(default)]
    pub payload: Option<String>,
}

/// One reply in the response.
#[derive(Debug, Serialize)]
pub struct ReplyView {
    /// Store id.
    pub id: i64,
    /// Plain-text rendering.
    pub text: String,
    /// The parts (text, buttons, attachments, handoff notice).
    pub parts: Vec<Part>,
}

/// The response body.
#[derive(Debug, Serialize)]
pub struct PostedMessage {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// The stored message's id.
    pub message_id: i64,
    /// The bot's replies (empty while a human owns the conversation).
    pub replies: Vec<ReplyView>,
    /// What NLU made of the message.
    pub nlu: Parse,
}

fn conversation(id: String) -> Result<ConversationId, AppError> {
    ConversationId::new(id).map_err(|e| AppError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

pub(super) async fn post_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<PostedMessage>, AppError> {
    let conversation = conversation(id)?;
    let body = std::str::from_utf8(&body).map_err(|e| {
        AppError::new(StatusCode::BAD_REQUEST, format!("the body is not valid UTF-8 (byte {})", e.valid_up_to()))
    })?;
    let body: PostMessage = serde_json::from_str(body)
        .map_err(|e| AppError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))?;
    let mut inbound = Inbound::text(conversation.clone(), "api", body.text);
    inbound.payload = body.payload;
    let turn = state.engine.handle(inbound).await?;
    let replies = turn
        .replies
        .into_iter()
        .map(|o| ReplyView { id: o.id, text: render_plain(&o.parts), parts: o.parts })
        .collect();
    Ok(Json(PostedMessage { conversation_id: conversation, message_id: turn.inbound_id, replies, nlu: turn.parse }))
}

pub(super) async fn transcript(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Transcript>, AppError> {
    let conversation = conversation(id)?;
    match state.engine.transcript(&conversation).await? {
        Some(t) => Ok(Json(t)),
        None => Err(Error::NotFound(conversation.to_string()).into()),
    }
}
