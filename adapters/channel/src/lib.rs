//! The channel contract between Usher's engine and its platform adapters.
//!
//! An adapter translates one platform's events into [`Inbound`] messages and
//! renders the engine's [`Outbound`] replies natively (or as plain text, via
//! [`render_plain`]). Adapters depend on this crate only, never on the engine.
//!
//! # Layout
//! - [`message`]: the message types, `Inbound`, `Outbound` and their parts.
//! - [`access`]: who may act for a conversation on the public routes: the
//!   [`Gate`] that issues and checks web chat tokens, and credential parsing.
//! - [`decode`]: reading a fan message from raw request bytes.
//! - [`adapter`]: the [`Adapter`] trait and the [`Context`] it runs in: the
//!   sender into the engine, the receiver of replies and the shutdown signal.
//! - [`render`]: the plain-text fallback renderer for platforms without
//!   buttons or attachments.
//! - [`delivery`]: the per-chat delivery queue (rate limits, `retry_after`,
//!   backoff, receipts) the platform adapters send through.
//! - [`split`]: cutting long replies at sentence or line boundaries to fit
//!   a platform's length limit.
//! - [`secret`]: constant-time comparison of secrets.
//! - [`error`]: the crate's error enum.
//! - `compliance` (feature `compliance`): the shared suite every adapter runs.
#![deny(missing_docs)]

pub mod access;
pub mod adapter;
#[cfg(feature = "compliance")]
pub mod compliance;
pub mod decode;
pub mod delivery;
pub mod error;
pub mod message;
pub mod render;
pub mod secret;
pub mod split;

pub use access::{Gate, Identity, WebSession};
pub use adapter::{
    Accepted, Adapter, Context, InboundSender, Receipts, Rejection, Shutdown, ShutdownTrigger, Submission,
};
pub use decode::MessageBody;
pub use delivery::{DeliveryQueue, Limits, SendError, Transport};
pub use error::{retry_after_secs, Error};
pub use message::{
    is_intent_payload, Attachment, AttachmentKind, Button, ConversationId, Inbound, Outbound, Part, MAX_TEXT_BYTES,
};
pub use render::{pieces, render_plain, Piece};
pub use secret::constant_time_eq;
pub use split::split_text;
