//! The desk: every agent action on a handed-over conversation, each checked
//! against the ticket's state, audited and announced to the consoles; and
//! the notices that keep waiting fans told of their place in the queue.

use serde::Serialize;
use usher_channel::{ConversationId, Outbound, Part, Shutdown};

use super::{AuditEntry, Claim, Event, HandoffConfig, Note, Ticket, TicketState};
use crate::engine::Engine;
use crate::store::Transcript;
use crate::util::now_ms;
use crate::Error;

/// Longest resolution tag.
const MAX_TAG: usize = 40;

/// Claimed tickets whose waits estimate the next ones.
const WAIT_SAMPLE: i64 = 20;

/// A queue row for the console.
#[derive(Debug, Clone, Serialize)]
pub struct QueueEntry {
    /// The ticket.
    #[serde(flatten)]
    pub ticket: Ticket,
    /// 1-based place among waiting tickets (`None` once claimed).
    pub position: Option<usize>,
    /// Seconds since the handoff.
    pub waiting_seconds: i64,
}

/// Everything the console shows about one conversation.
#[derive(Debug, Clone, Serialize)]
pub struct ConversationView {
    /// Messages with their NLU results.
    pub transcript: Transcript,
    /// Its latest ticket.
    pub ticket: Option<Ticket>,
    /// Internal notes.
    pub notes: Vec<Note>,
}

/// Agent actions over one engine.
#[derive(Clone)]
pub struct Desk {
    engine: Engine,
    config: HandoffConfig,
}

impl Desk {
    /// A desk for `engine`.
    pub fn new(engine: Engine, config: HandoffConfig) -> Self {
        Self { engine, config }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The settings.
    pub fn config(&self) -> &HandoffConfig {
        &self.config
    }

    /// Open tickets in the order agents should take them.
    pub async fn queue(&self) -> Result<Vec<QueueEntry>, Error> {
        let now = now_ms();
        let mut position = 0;
        Ok(self
            .engine
            .store()
            .queue()
            .await?
            .into_iter()
            .map(|ticket| {
                let waiting = ticket.state == TicketState::Waiting;
                position += usize::from(waiting);
                QueueEntry {
                    position: waiting.then_some(position),
                    waiting_seconds: (now - ticket.created_ms).max(0) / 1000,
                    ticket,
                }
            })
            .collect())
    }

    /// A conversation with its ticket and notes, as `agent` views it (the
    /// view is audited).
    pub async fn view(&self, conversation: &ConversationId, agent: &str) -> Result<ConversationView, Error> {
        let store = self.engine.store();
        let transcript =
            store.transcript(conversation).await?.ok_or_else(|| Error::NotFound(conversation.to_string()))?;
        self.audit(agent, "view", conversation, None).await?;
        Ok(ConversationView {
            transcript,
            ticket: store.latest_ticket(conversation).await?,
            notes: store.notes(conversation).await?,
        })
    }

    /// Takes a waiting conversation for `agent`; another agent's claim wins.
    pub async fn claim(&self, conversation: &ConversationId, agent: &str) -> Result<Ticket, Error> {
        self.require_conversation(conversation).await?;
        match self.engine.store().claim(conversation, agent).await? {
            Claim::Claimed(ticket) => {
                // Fans see the display name an admin chose, never the login name.
                let shown = self.engine.store().display_name(agent).await?.unwrap_or_else(|| "Someone".into());
                let notice = format!("{shown} from the support team has joined the conversation.");
                self.engine.send(conversation, "system", vec![Part::Handoff { notice }]).await?;
                self.audit(agent, "claim", conversation, None).await?;
                self.engine.publish(Event::Queue);
                Ok(ticket)
            }
            Claim::Already(ticket) => Ok(ticket),
            Claim::Taken(owner) => Err(Error::Conflict(format!("{owner} has already claimed this conversation"))),
            Claim::NotWaiting => Err(Error::Conflict("this conversation is not waiting for an agent".into())),
        }
    }

    /// Sends `text` to the fan through their own channel.
    pub async fn reply(&self, conversation: &ConversationId, agent: &str, text: &str) -> Result<Outbound, Error> {
        let text = self.checked_text(text)?;
        self.require_owner(conversation, agent).await?;
        let sent = self.engine.send(conversation, &format!("agent:{agent}"), vec![Part::Text { text }]).await?;
        self.audit(agent, "reply", conversation, Some(format!("message {}", sent.id))).await?;
        Ok(sent)
    }

    /// Adds an internal note (any signed-in agent, on any conversation).
    pub async fn note(&self, conversation: &ConversationId, agent: &str, text: &str) -> Result<Note, Error> {
        let text = self.checked_text(text)?;
        self.require_conversation(conversation).await?;
        let note = self.engine.store().add_note(conversation, agent, &text).await?;
        self.audit(agent, "note", conversation, None).await?;
        self.engine.publish(Event::Message { conversation: conversation.clone() });
        Ok(note)
    }

    /// Hands the conversation back to the bot, which answers the fan's next message.
    pub async fn release(&self, conversation: &ConversationId, agent: &str) -> Result<Ticket, Error> {
        let ticket = self.end(conversation, agent, TicketState::Returned, None).await?;
        let notice = "You're back with Usher, the support bot. Ask me anything, or type /human for a person.";
        self.engine.send(conversation, "system", vec![Part::Handoff { notice: notice.into() }]).await?;
        self.audit(agent, "release", conversation, None).await?;
        Ok(ticket)
    }

    /// Closes the conversation's ticket with a resolution tag (`refunded`, `no_action`).
    pub async fn close(&self, conversation: &ConversationId, agent: &str, resolution: &str) -> Result<Ticket, Error> {
        let tag = resolution.trim();
        let valid = !tag.is_empty()
            && tag.len() <= MAX_TAG
            && tag.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !valid {
            return Err(Error::Invalid(format!(
                "a resolution tag is 1 to {MAX_TAG} characters of a-z, 0-9, '_' or '-', e.g. \"refunded\""
            )));
        }
        let ticket = self.end(conversation, agent, TicketState::Closed, Some(tag)).await?;
        let notice = "The support team has closed this conversation. Thanks for getting in touch!";
        self.engine.send(conversation, "system", vec![Part::Handoff { notice: notice.into() }]).await?;
        self.audit(agent, "close", conversation, Some(tag.to_string())).await?;
        Ok(ticket)
    }

    /// Records a sign-in, sign-out, failed or refused sign-in (with the
    /// client's address where known).
    pub async fn audit_session(&self, agent: &str, action: &str, address: Option<&str>) -> Result<(), Error> {
        let detail = address.map(|a| format!("address {a}"));
        self.engine.store().audit(&AuditEntry::now(agent, action, None, detail)).await
    }

    /// Tells each waiting fan whose place changed their position and
    /// estimated wait (or the out-of-hours message). Safe on several
    /// replicas: the store lets one of them tell each fan each position.
    pub async fn notify_positions(&self) -> Result<usize, Error> {
        let store = self.engine.store();
        let per_position = self.wait_per_position().await?;
        let open = self.config.business_hours.as_ref().is_none_or(|h| h.is_open(now_ms()));
        let mut told = 0;
        let waiting = store.queue().await?.into_iter().filter(|t| t.state == TicketState::Waiting);
        for (i, ticket) in waiting.enumerate() {
            let position = i as i64 + 1;
            if ticket.notified_position == Some(position) || !store.set_notified(ticket.id, position).await? {
                continue;
            }
            let minutes = ((per_position * position as f64) / 60_000.0).ceil().max(1.0) as i64;
            let first = ticket.notified_position.is_none();
            let notice = match (open, first) {
                (false, true) => self.config.out_of_hours_message.clone(),
                (false, false) => format!("Update: you're now number {position} in the queue."),
                (true, true) => format!(
                    "You're number {position} in the queue. Estimated wait: about {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ),
                (true, false) => format!(
                    "Update: you're now number {position} in the queue (about {minutes} minute{}).",
                    if minutes == 1 { "" } else { "s" }
                ),
            };
            self.engine.send(&ticket.conversation, "system", vec![Part::Handoff { notice }]).await?;
            told += 1;
        }
        Ok(told)
    }

    /// Keeps waiting fans informed until `shutdown`: after every queue change.
    pub fn spawn_notifier(&self, mut shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        let desk = self.clone();
        let mut events = self.engine.events();
        tokio::spawn(async move {
            let mut pending = true;
            loop {
                if pending {
                    if let Err(e) = desk.notify_positions().await {
                        tracing::warn!(error = %e, "could not update queue positions");
                    }
                }
                tokio::select! {
                    event = events.recv() => {
                        pending = match event {
                            Ok(Event::Queue) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                            Ok(Event::Message { .. } | Event::SessionEnded { .. }) => false,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                        };
                    }
                    _ = shutdown.recv() => return,
                }
            }
        })
    }

    /// The estimated wait per queue position, in ms: the median wait of
    /// recently claimed tickets, else the configured default.
    async fn wait_per_position(&self) -> Result<f64, Error> {
        let mut waits = self.engine.store().recent_waits(WAIT_SAMPLE).await?;
        waits.sort_unstable();
        let default = f64::from(self.config.default_wait_minutes) * 60_000.0;
        Ok(crate::util::median(&waits).unwrap_or(default))
    }

    async fn end(
        &self,
        conversation: &ConversationId,
        agent: &str,
        state: TicketState,
        resolution: Option<&str>,
    ) -> Result<Ticket, Error> {
        self.require_owner(conversation, agent).await?;
        let ticket = self.engine.store().end_ticket(conversation, agent, state, resolution).await?;
        let ticket = ticket.ok_or_else(|| Error::Conflict("you no longer hold this conversation".into()))?;
        self.engine.publish(Event::Queue);
        Ok(ticket)
    }

    /// The conversation exists (404 otherwise: a forged or mistyped id).
    async fn require_conversation(&self, conversation: &ConversationId) -> Result<(), Error> {
        if self.engine.store().conversation_exists(conversation).await? {
            Ok(())
        } else {
            Err(Error::NotFound(conversation.to_string()))
        }
    }

    /// `agent` holds the conversation's open ticket.
    async fn require_owner(&self, conversation: &ConversationId, agent: &str) -> Result<(), Error> {
        self.require_conversation(conversation).await?;
        match self.engine.store().open_ticket(conversation).await? {
            Some(t) if t.state == TicketState::Claimed && t.agent.as_deref() == Some(agent) => Ok(()),
            Some(t) if t.state == TicketState::Claimed => Err(Error::Conflict(format!(
                "{} holds this conversation",
                t.agent.unwrap_or_else(|| "another agent".into())
            ))),
            Some(_) => Err(Error::Conflict("claim this conversation first".into())),
            None => Err(Error::Conflict("this conversation is not with an agent (closed or handed back)".into())),
        }
    }

    fn checked_text(&self, text: &str) -> Result<String, Error> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::Invalid("the message is empty".into()));
        }
        let chars = text.chars().count();
        if chars > self.config.max_reply_chars {
            return Err(Error::TooLarge(format!(
                "the message has {chars} characters; the limit is {}",
                self.config.max_reply_chars
            )));
        }
        Ok(text.to_string())
    }

    async fn audit(
        &self,
        agent: &str,
        action: &str,
        conversation: &ConversationId,
        detail: Option<String>,
    ) -> Result<(), Error> {
        self.engine.store().audit(&AuditEntry::now(agent, action, Some(conversation.as_str()), detail)).await
    }
}
