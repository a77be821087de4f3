//! Human handoff: the queue of conversations waiting for a person, the
//! agents who answer them and the desk that carries out their actions.
//!
//! The dialogue policy parks a conversation ([`crate::dialogue::Handoff`]);
//! the engine opens a [`Ticket`] in the same transaction as that turn. From
//! then on the bot stays silent: the [`Desk`] lets a signed-in agent claim
//! the ticket, reply through the fan's own channel, write internal notes,
//! hand the conversation back to the bot or close it. The fan is told their
//! queue position and an estimated wait, and told again when it changes.
//!
//! # Layout
//! - [`ticket`]: tickets, their states and priorities.
//! - [`store`]: the [`HandoffStore`] persistence trait (agents, sessions,
//!   tickets, notes, audit log, analytics).
//! - [`desk`]: agent actions, each audited, and the queue-position notices.
//! - [`config`]: the `handoff:` section of `config.yaml`.
//! - [`hours`]: business hours.
//! - [`password`]: argon2id password hashing.
//! - [`event`]: live events for the console's WebSocket.

pub mod config;
pub mod desk;
pub mod event;
pub mod hours;
pub mod password;
pub mod store;
pub mod ticket;

pub use config::HandoffConfig;
pub use desk::{ConversationView, Desk, QueueEntry};
pub use event::Event;
pub use hours::BusinessHours;
pub use store::{Agent, Analytics, AuditEntry, Claim, HandoffStore, Note, Role, Session};
pub use ticket::{NewTicket, Ticket, TicketState};
