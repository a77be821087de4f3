//! A fan's rights: everything held about them, found by conversation or
//! by the email they gave (through the hashed fan keys), exported as JSON
//! or erased with an audit entry that says how much, never whose. Used by
//! `usher fans` and by the console's admin routes.

use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Value};
use usher_channel::ConversationId;

use crate::handoff::{AuditEntry, TicketState};
use crate::store::Store;
use crate::Error;

/// Which fan: exactly one of a conversation id and an email.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// One conversation.
    #[serde(default)]
    pub conversation: Option<String>,
    /// Every conversation in which the fan gave this email.
    #[serde(default)]
    pub email: Option<String>,
}

impl Selector {
    /// The fan's conversations. Refused: both or neither given, an id that
    /// is not one, an email with no `@`, a conversation that does not exist.
    pub async fn conversations(&self, store: &dyn Store) -> Result<Vec<ConversationId>, Error> {
        match (&self.conversation, &self.email) {
            (Some(id), None) => {
                let id = ConversationId::new(id.clone())?;
                if store.transcript(&id).await?.is_none() {
                    return Err(Error::NotFound(format!("no conversation {id}")));
                }
                Ok(vec![id])
            }
            (None, Some(email)) if email.contains('@') && email.trim().len() <= 320 => {
                store.conversations_for_key(&super::fan_key(email)).await
            }
            (None, Some(_)) => Err(Error::Invalid("`email` is not an email address".into())),
            _ => Err(Error::Invalid("give exactly one of `conversation` and `email`".into())),
        }
    }
}

/// Everything held about `conversations` as one JSON object: each
/// conversation's transcript (messages as stored, tracker), notes, open
/// ticket and generated files.
pub async fn export(store: &dyn Store, files_dir: &Path, conversations: &[ConversationId]) -> Result<Value, Error> {
    let mut held = Vec::new();
    for id in conversations {
        let Some(transcript) = store.transcript(id).await? else { continue };
        let files: Vec<String> =
            crate::creative::files::sets_of(files_dir, id.as_str()).iter().map(|p| p.display().to_string()).collect();
        held.push(json!({
            "transcript": transcript,
            "notes": store.notes(id).await?,
            "open_ticket": store.open_ticket(id).await?,
            "files": files,
        }));
    }
    Ok(json!({ "conversations": held }))
}

/// Erases `conversations` (store rows and generated files) for `by` (an
/// agent, or `cli`), and records `fan_erased` with the counts. A
/// conversation an agent holds is refused before anything is deleted:
/// the agent closes the ticket first. Returns the audit detail.
pub async fn erase(
    store: &dyn Store,
    files_dir: &Path,
    conversations: &[ConversationId],
    by: &str,
) -> Result<String, Error> {
    for id in conversations {
        if let Some(ticket) = store.open_ticket(id).await?.filter(|t| t.state == TicketState::Claimed) {
            let agent = ticket.agent.unwrap_or_default();
            return Err(Error::Conflict(format!("{agent} is handling conversation {id}: close its ticket first")));
        }
    }
    let (mut rows, mut sets) = (0, 0);
    for id in conversations {
        rows += store.erase(id).await?;
        for set in crate::creative::files::sets_of(files_dir, id.as_str()) {
            std::fs::remove_dir_all(&set).map_err(|e| Error::io(&set, e))?;
            sets += 1;
        }
    }
    let detail = format!("{} conversation(s), {rows} row(s), {sets} file set(s)", conversations.len());
    store.audit(&AuditEntry::now(by, "fan_erased", None, Some(detail.clone()))).await?;
    Ok(detail)
}
