//! `POST /api/v1/conversations/{id}/messages` and `GET /api/v1/conversations/{id}`,
//! for the conversation's own web chat client (its session token) or a
//! backend with an API key; channel namespaces are refused.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use usher_channel::{render_plain, ConversationId, MessageBody, Part};

use super::{AppError, AppState};
use crate::access::Caller;
use crate::dialogue::Explanation;
use crate::store::Transcript;
use crate::Error;

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
    /// What NLU made of the message and what was consulted for it.
    pub nlu: serde_json::Value,
    /// Why the bot did what it did (with `?explain=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// The query string of a posted message.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PostQuery {
    /// Return the turn's explanation too.
    #[serde(default)]
    explain: bool,
}

fn conversation(id: String) -> Result<ConversationId, AppError> {
    ConversationId::new(id).map_err(|e| AppError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

pub(super) async fn post_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<PostQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PostedMessage>, AppError> {
    let Query(query) = query.map_err(|e| AppError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let conversation = conversation(id)?;
    state.access.authorize(&conversation, super::credential(&headers)?).await?;
    let mut inbound = MessageBody::decode(&body)
        .map_err(|e| AppError::new(StatusCode::BAD_REQUEST, e.to_string()))?
        .into_inbound(conversation.clone(), "api");
    // Set by the request-id layer (or the caller): the turn's logs and backend calls carry it.
    inbound.request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let turn = state.engine.handle(inbound).await?;
    let nlu = turn.details()?;
    let replies = turn
        .replies
        .into_iter()
        .map(|o| ReplyView { id: o.id, text: render_plain(&o.parts), parts: o.parts })
        .collect();
    let explanation = query.explain.then_some(turn.explanation);
    Ok(Json(PostedMessage { conversation_id: conversation, message_id: turn.inbound_id, replies, nlu, explanation }))
}

pub(super) async fn transcript(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Transcript>, AppError> {
    let conversation = conversation(id)?;
    let caller = state.access.authorize(&conversation, super::credential(&headers)?).await?;
    match state.engine.transcript(&conversation).await? {
        Some(mut t) => {
            if caller == Caller::Fan {
                // Fans see that an agent wrote, never the agent's login name.
                for m in t.messages.iter_mut().filter(|m| m.sender.starts_with("agent:")) {
                    m.sender = "agent".into();
                }
            }
            Ok(Json(t))
        }
        None => Err(Error::NotFound(conversation.to_string()).into()),
    }
}
