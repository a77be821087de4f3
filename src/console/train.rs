//! Review to training: a trainer files a fan's message under an intent (or
//! a new one) from the console. The example is added to the intent's file
//! as one more line of its `examples:` list, so the file keeps its comments
//! and formatting; the whole directory is validated with the change before
//! it is written (atomically), the audit log records it, and the intent
//! watcher hot-reloads it like any other edit.
//!
//! Edits are serialised in this process, and each one checks that the file
//! still holds what it read: an edit made meanwhile by someone else (an
//! editor, another replica) is a 409 conflict, never a corrupted file.

use std::path::Path as FsPath;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use usher_channel::ConversationId;

use super::auth::SignedIn;
use super::ConsoleState;
use crate::handoff::AuditEntry;
use crate::http::AppError;
use crate::intents;

/// The longest example a trainer may add, in characters.
pub const MAX_EXAMPLE_CHARS: usize = 500;

/// Where new intents go, in the intents directory.
pub const NEW_INTENTS_FILE: &str = "reviewed.yaml";

/// A trainer's choice for one message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainRequest {
    /// The intent the message belongs to (`[a-z0-9_]+`); a new name makes
    /// a new intent in `reviewed.yaml` that hands the fan to a person
    /// until staff give it a response.
    pub intent: String,
}

/// What was added.
#[derive(Debug, Serialize)]
pub struct Trained {
    /// The intent.
    pub intent: String,
    /// The example.
    pub example: String,
    /// Whether the intent was created for it.
    pub created: bool,
    /// `file:line` of the new example.
    pub at: String,
}

/// An intent, for the trainer's picker.
#[derive(Debug, Serialize)]
pub struct IntentView {
    /// Its name.
    pub name: String,
    /// Its title.
    pub title: String,
    /// How many examples it has.
    pub examples: usize,
}

fn bad(status: StatusCode, message: impl Into<String>) -> AppError {
    AppError::new(status, message)
}

/// `GET /console/api/intents`: the intents a message can be filed under.
pub async fn intents(State(state): State<ConsoleState>, _who: SignedIn) -> Json<Vec<IntentView>> {
    let brain = state.desk.engine().brain();
    Json(
        brain
            .domain
            .intents
            .iter()
            .map(|i| IntentView { name: i.name.clone(), title: i.title.clone(), examples: i.examples.len() })
            .collect(),
    )
}

/// `POST /console/api/conversations/{id}/messages/{message}/train`.
pub async fn train(
    State(state): State<ConsoleState>,
    who: SignedIn,
    Path((id, message)): Path<(String, i64)>,
    body: Bytes,
) -> Result<Json<Trained>, AppError> {
    let conversation = ConversationId::new(id).map_err(|e| bad(StatusCode::BAD_REQUEST, e.to_string()))?;
    let request: TrainRequest =
        serde_json::from_slice(&body).map_err(|e| bad(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))?;
    let intent = request.intent.trim().to_string();
    if !intents::Intent::valid_name(&intent) {
        return Err(bad(StatusCode::BAD_REQUEST, format!("{intent:?}: intent names use a-z, 0-9 and _ only")));
    }
    let engine = state.desk.engine();
    let transcript = engine
        .transcript(&conversation)
        .await?
        .ok_or_else(|| bad(StatusCode::NOT_FOUND, format!("no conversation {conversation}")))?;
    let stored = transcript.messages.iter().find(|m| m.id == message && m.direction == "in").ok_or_else(|| {
        bad(StatusCode::NOT_FOUND, format!("conversation {conversation} has no fan message {message}"))
    })?;
    let example = stored.text.split_whitespace().collect::<Vec<_>>().join(" ");
    if example.is_empty() {
        return Err(bad(StatusCode::BAD_REQUEST, "the message has no text to learn from"));
    }
    if example.chars().count() > MAX_EXAMPLE_CHARS {
        return Err(bad(
            StatusCode::BAD_REQUEST,
            format!(
                "an example is at most {MAX_EXAMPLE_CHARS} characters; this message has {}",
                example.chars().count()
            ),
        ));
    }
    let dir = state.intents.clone();
    let (name, text) = (intent.clone(), example.clone());
    let guard = state.training.lock().await;
    let added = tokio::task::spawn_blocking(move || add_example(&dir, &name, &text))
        .await
        .map_err(|e| bad(StatusCode::INTERNAL_SERVER_ERROR, format!("edit task failed: {e}")))??;
    drop(guard);
    let detail =
        format!("{} {intent}: {example:?} at {}", if added.created { "new intent" } else { "intent" }, added.at);
    engine
        .store()
        .audit(&AuditEntry::now(&who.agent, "example_added", Some(conversation.as_str()), Some(detail)))
        .await?;
    tracing::info!(agent = %who.agent, intent = %intent, at = %added.at, "example added from the console");
    Ok(Json(added))
}

/// Adds `example` to `intent` in the files under `dir` (creating the
/// intent in [`NEW_INTENTS_FILE`] when no file has it), after checking
/// the directory loads with the change.
pub fn add_example(dir: &FsPath, intent: &str, example: &str) -> Result<Trained, AppError> {
    let broken = |r: intents::Report| {
        bad(StatusCode::CONFLICT, format!("the intent files do not load now; fix them first:\n{r}"))
    };
    let mut sources = intents::read_files(dir).map_err(broken)?;
    let loaded = intents::load_sources(&sources).map_err(broken)?;
    let existing = loaded.domain.intent(intent);
    if existing.is_some_and(|i| i.examples.iter().any(|e| e.text.eq_ignore_ascii_case(example))) {
        return Err(bad(StatusCode::CONFLICT, format!("{example:?} is already an example of {intent}")));
    }
    let (file, before, after, line) = match existing {
        Some(i) => {
            let file = i.origin.file.clone();
            let before = sources.iter().find(|(p, _)| *p == file).map(|(_, src)| src.clone()).unwrap_or_default();
            let last = i.example_origin(i.examples.len() - 1);
            let (after, line) = insert_after(&before, last.line, last.column, example).ok_or_else(|| {
                bad(
                    StatusCode::CONFLICT,
                    format!(
                        "{}: write the examples of {intent} as a list, one per line, to add to them here",
                        i.origin
                    ),
                )
            })?;
            (file, before, after, line)
        }
        None => {
            let file = dir.join(NEW_INTENTS_FILE);
            let before = sources.iter().find(|(p, _)| *p == file).map(|(_, src)| src.clone()).unwrap_or_default();
            let (after, line) = new_intent(&before, intent, example).ok_or_else(|| {
                bad(
                    StatusCode::CONFLICT,
                    format!("{}: its `intents:` list must be the file's last section", file.display()),
                )
            })?;
            (file, before, after, line)
        }
    };
    // The whole directory must load with the change.
    sources.retain(|(p, _)| *p != file);
    sources.push((file.clone(), after.clone()));
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    if let Err(report) = intents::load_sources(&sources) {
        return Err(bad(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the example would break the intent files:\n{report}"),
        ));
    }
    // Still what we read? Someone else's edit in between is a conflict.
    let now = if file.exists() { read(&file)? } else { String::new() };
    if now != before {
        return Err(bad(
            StatusCode::CONFLICT,
            format!("{} changed while the example was added: try again", file.display()),
        ));
    }
    let tmp = file.with_extension(format!("yaml.tmp-{}", std::process::id()));
    std::fs::write(&tmp, &after).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &file).map_err(|e| io(&file, e))?;
    Ok(Trained {
        intent: intent.to_string(),
        example: example.to_string(),
        created: existing.is_none(),
        at: format!("{}:{line}", file.display()),
    })
}

fn read(path: &FsPath) -> Result<String, AppError> {
    std::fs::read_to_string(path).map_err(|e| io(path, e))
}

fn io(path: &FsPath, e: std::io::Error) -> AppError {
    bad(StatusCode::INTERNAL_SERVER_ERROR, format!("{}: {e}", path.display()))
}

/// `text` quoted as YAML would read it back unchanged.
fn scalar(text: &str) -> String {
    let plain = serde_yaml::to_string(text).unwrap_or_else(|_| format!("{text:?}"));
    plain.trim_end_matches('\n').to_string()
}

/// `src` with `example` as a new list item after the block-list item that
/// starts at `line`:`column` (1-based; the column of its text), with the
/// same indentation; and the new item's line. `None` when that item is not
/// a one-line `- item` (a flow list, a multi-line scalar).
fn insert_after(src: &str, line: usize, column: usize, example: &str) -> Option<(String, usize)> {
    let lines: Vec<&str> = src.split_inclusive('\n').collect();
    let item = lines.get(line.checked_sub(1)?)?;
    let prefix = item.get(..column.checked_sub(1)?)?;
    let indent = prefix.strip_suffix("- ")?;
    if !indent.chars().all(|c| c == ' ') {
        return None;
    }
    let rest = item[prefix.len()..].trim_end();
    if rest.ends_with('|') || rest.ends_with('>') || rest.starts_with('[') {
        return None;
    }
    // A plain scalar continued on the next lines would be split.
    let next = lines.get(line).map(|l| l.trim_end()).unwrap_or_default();
    let deeper = next.len() - next.trim_start().len() > indent.len() + 1;
    if deeper && !next.trim_start().starts_with('#') {
        return None;
    }
    let mut out = String::with_capacity(src.len() + example.len() + indent.len() + 4);
    for l in &lines[..line] {
        out.push_str(l);
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("{indent}- {}\n", scalar(example)));
    for l in &lines[line..] {
        out.push_str(l);
    }
    Some((out, line + 1))
}

/// `src` (the new intents' file, maybe empty) with a new intent holding
/// `example` at its end; and the example's line. `None` when the file's
/// last top-level section is not `intents:`.
fn new_intent(src: &str, intent: &str, example: &str) -> Option<(String, usize)> {
    let mut out = src.to_string();
    if out.is_empty() {
        out.push_str("# Intents created in the console's review (usher: review to training).\nintents:\n");
    } else {
        let last_section = src.lines().rfind(|l| !l.starts_with([' ', '#', '-']) && !l.trim().is_empty());
        if last_section.map(str::trim_end) != Some("intents:") {
            return None;
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str(&format!("  - name: {intent}\n    examples:\n"));
    let line = out.lines().count() + 1;
    out.push_str(&format!("      - {}\n    action: handoff\n", scalar(example)));
    Some((out, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "# Tickets.\nintents:\n  - name: refund\n    examples:\n      - refund please # the classic\n      - money back\n    respond: refund\n\n  - name: other\n    examples: [a, b]\n    respond: x\n";

    #[test]
    fn an_example_goes_after_the_last_one_keeping_comments() {
        let (out, line) = insert_after(SRC, 6, 9, "I want: my money").unwrap();
        assert_eq!(line, 7);
        assert!(out.starts_with("# Tickets.\nintents:\n  - name: refund\n    examples:\n      - refund please # the classic\n      - money back\n      - 'I want: my money'\n    respond: refund\n"), "{out}");
        let v: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(v["intents"][0]["examples"][2], "I want: my money");
    }

    #[test]
    fn flow_lists_are_not_edited() {
        assert_eq!(insert_after(SRC, 10, 16, "c"), None);
    }

    #[test]
    fn new_intents_start_or_extend_their_file() {
        let (first, line) = new_intent("", "parking", "where do I park").unwrap();
        assert_eq!(first.lines().nth(line - 1), Some("      - where do I park"));
        let (second, line) = new_intent(&first, "lockers", "#1 question: lockers?").unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&second).unwrap();
        assert_eq!(v["intents"][1]["examples"][0], "#1 question: lockers?");
        assert_eq!(v["intents"][1]["action"], "handoff");
        assert!(second.lines().nth(line - 1).unwrap().contains("lockers?"));
        assert_eq!(new_intent("intents:\n  - name: a\nresponses:\n  a: [hi]\n", "b", "c"), None);
    }
}
