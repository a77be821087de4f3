//! Usher's Telegram channel, through teloxide.
//!
//! Long polling (the default: no public URL needed) or a webhook merged into
//! Usher's axum server, with the `X-Telegram-Bot-Api-Secret-Token` header
//! checked on every request. Text and captions become fan messages; inline
//! keyboard presses (callback queries) become button payloads; `/start`,
//! `/help` and `/human` map to the `greet` and `talk_to_human` intents.
//! Replies go out through the shared per-chat [`usher_channel::DeliveryQueue`]
//! (Telegram's rate limits, `retry_after`, backoff), split at 4096 characters.
//! An update is confirmed to Telegram only after the engine stored it.
//!
//! # Layout
//! - [`config`]: the `channels.telegram` section of `config.yaml`.
//! - [`convert`]: Telegram updates → [`usher_channel::Inbound`] (pure).
//! - [`render`]: [`usher_channel::Outbound`] → Telegram messages (pure).
//! - `transport`: sending one rendered message with teloxide.
//! - `adapter`: the [`Telegram`] adapter: polling loop and update handling.
//! - `webhook`: the webhook route.
//! - `fake` (feature `fake`): a local fake Bot API for tests.
#![deny(missing_docs)]

mod adapter;
pub mod config;
pub mod convert;
mod error;
#[cfg(feature = "fake")]
pub mod fake;
pub mod render;
mod transport;
mod webhook;

pub use adapter::Telegram;
pub use config::{Config, Mode};
pub use error::Error;

/// The channel name in [`usher_channel::Inbound::channel`].
pub const CHANNEL: &str = "telegram";

/// Telegram's message length limit, in UTF-16 code units.
pub const MAX_MESSAGE: usize = 4096;

/// The webhook secret header.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
