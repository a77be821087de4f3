//! Usher's Discord channel, through serenity.
//!
//! Fans reach support two ways: a direct message to the bot, or a message in
//! the configured support channel, which opens a thread of its own for that
//! fan (one conversation per thread). The `/support` slash command opens
//! such a thread (or greets in a DM). Buttons become message components;
//! pressing one sends its payload. Replies go through the shared per-chat
//! [`usher_channel::DeliveryQueue`], split at 2000 characters.
//!
//! Gateway intents: `GUILDS` (thread events), `GUILD_MESSAGES`,
//! `DIRECT_MESSAGES` and the privileged `MESSAGE_CONTENT` (enable it under
//! Bot → Privileged Gateway Intents in the developer portal).
//!
//! # Layout
//! - [`config`]: the `channels.discord` section of `config.yaml`.
//! - [`convert`]: gateway events → [`usher_channel::Inbound`] (pure).
//! - [`render`]: [`usher_channel::Outbound`] → `CreateMessage` builders (pure).
//! - `transport`: sending one message over REST with serenity's `Http`.
//! - `adapter`: the [`Discord`] adapter: event handling, threads, `/support`.
//! - `gateway`: the serenity client feeding gateway events to the adapter.
//! - `fake` (feature `fake`): a local fake of the REST API for tests.
#![deny(missing_docs)]

mod adapter;
pub mod config;
pub mod convert;
mod error;
#[cfg(feature = "fake")]
pub mod fake;
mod gateway;
pub mod render;
mod transport;

pub use adapter::{Discord, Incoming, IncomingSender};
pub use config::Config;
pub use error::Error;
pub use transport::RETRY_AFTER_UNKNOWN;

/// The channel name in [`usher_channel::Inbound::channel`].
pub const CHANNEL: &str = "discord";

/// Discord's message length limit, in characters.
pub const MAX_MESSAGE: usize = 2000;
