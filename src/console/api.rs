//! The console's JSON API: every handler takes a [`SignedIn`] agent.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use usher_channel::ConversationId;

use super::auth::SignedIn;
use super::ConsoleState;
use crate::handoff::{Analytics, AuditEntry, ConversationView, Note, QueueEntry, Ticket};
use crate::http::AppError;

/// How many fallback messages the analytics list.
const TOP_FALLBACKS: i64 = 10;

/// A reply or a note.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// The text.
    pub text: String,
}

/// A close request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Close {
    /// The resolution tag, e.g. `refunded`.
    pub resolution: String,
}

/// A canned reply.
#[derive(Debug, Serialize)]
pub struct Canned {
    /// Its title in the picker.
    pub title: String,
    /// The text it fills in.
    pub text: String,
}

/// A sent reply.
#[derive(Debug, Serialize)]
pub struct Sent {
    /// Its store id.
    pub message_id: i64,
    /// The fan's channel it went to.
    pub channel: String,
}

fn id(raw: String) -> Result<ConversationId, AppError> {
    ConversationId::new(raw).map_err(|e| AppError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, AppError> {
    serde_json::from_slice(bytes).map_err(|e| AppError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// `GET /console/api/queue`.
pub async fn queue(State(state): State<ConsoleState>, _: SignedIn) -> Result<Json<Vec<QueueEntry>>, AppError> {
    Ok(Json(state.desk.queue().await?))
}

/// `GET /console/api/conversations/{id}`.
pub async fn conversation(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(raw): Path<String>,
) -> Result<Json<ConversationView>, AppError> {
    Ok(Json(state.desk.view(&id(raw)?, &who.agent).await?))
}

/// `POST /console/api/conversations/{id}/claim`.
pub async fn claim(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(raw): Path<String>,
) -> Result<Json<Ticket>, AppError> {
    Ok(Json(state.desk.claim(&id(raw)?, &who.agent).await?))
}

/// `POST /console/api/conversations/{id}/reply` with `{"text": ...}`.
pub async fn reply(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Result<Json<Sent>, AppError> {
    let conversation = id(raw)?;
    let text: Text = body(&bytes)?;
    let sent = state.desk.reply(&conversation, &who.agent, &text.text).await?;
    Ok(Json(Sent { message_id: sent.id, channel: sent.channel }))
}

/// `POST /console/api/conversations/{id}/notes` with `{"text": ...}`.
pub async fn note(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Result<Json<Note>, AppError> {
    let conversation = id(raw)?;
    let text: Text = body(&bytes)?;
    Ok(Json(state.desk.note(&conversation, &who.agent, &text.text).await?))
}

/// `POST /console/api/conversations/{id}/release`: back to the bot.
pub async fn release(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(raw): Path<String>,
) -> Result<Json<Ticket>, AppError> {
    Ok(Json(state.desk.release(&id(raw)?, &who.agent).await?))
}

/// `POST /console/api/conversations/{id}/close` with `{"resolution": ...}`.
pub async fn close(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Result<Json<Ticket>, AppError> {
    let conversation = id(raw)?;
    let close: Close = body(&bytes)?;
    Ok(Json(state.desk.close(&conversation, &who.agent, &close.resolution).await?))
}

/// `GET /console/api/canned`: the intent files' canned replies.
pub async fn canned(State(state): State<ConsoleState>, _: SignedIn) -> Json<Vec<Canned>> {
    let brain = state.desk.engine().brain();
    Json(brain.domain.canned.iter().map(|(title, text)| Canned { title: title.clone(), text: text.clone() }).collect())
}

/// `GET /console/api/analytics`.
pub async fn analytics(State(state): State<ConsoleState>, _: SignedIn) -> Result<Json<Analytics>, AppError> {
    Ok(Json(state.desk.engine().store().analytics(TOP_FALLBACKS).await?))
}

/// `GET /console/api/audit`: the latest 200 agent actions.
pub async fn audit(State(state): State<ConsoleState>, _: SignedIn) -> Result<Json<Vec<AuditEntry>>, AppError> {
    Ok(Json(state.desk.engine().store().audit_log(200).await?))
}

/// The generated-files directory, if the creative tools are loaded.
fn files_dir(state: &ConsoleState) -> std::path::PathBuf {
    let files = state.desk.engine().tools().and_then(|t| t.files().cloned());
    files.map(|f| f.dir().to_path_buf()).unwrap_or_default()
}

/// `GET /console/api/fans?conversation=ID` or `?email=E` (admins): everything
/// held about a fan.
pub async fn fan_export(
    State(state): State<ConsoleState>,
    _: SignedIn,
    query: Result<axum::extract::Query<crate::privacy::fans::Selector>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let axum::extract::Query(selector) =
        query.map_err(|e| AppError::new(StatusCode::BAD_REQUEST, format!("invalid query: {}", e.body_text())))?;
    let store = state.desk.engine().store().clone();
    let conversations = selector.conversations(store.as_ref()).await?;
    Ok(Json(crate::privacy::fans::export(store.as_ref(), &files_dir(&state), &conversations).await?))
}

/// `POST /console/api/fans/erase` with `{"conversation": ID}` or `{"email": E}`
/// (admins): erases the fan; audited under the admin's name.
pub async fn fan_erase(
    State(state): State<ConsoleState>,
    who: SignedIn,
    bytes: Bytes,
) -> Result<Json<serde_json::Value>, AppError> {
    let selector: crate::privacy::fans::Selector = body(&bytes)?;
    let store = state.desk.engine().store().clone();
    let conversations = selector.conversations(store.as_ref()).await?;
    let detail = crate::privacy::fans::erase(store.as_ref(), &files_dir(&state), &conversations, &who.agent).await?;
    Ok(Json(serde_json::json!({ "erased": detail })))
}
