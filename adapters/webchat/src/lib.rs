//! Usher's web chat channel: a WebSocket endpoint and the embeddable
//! `widget.js`, served from assets compiled into the binary.
//!
//! Embed it on any page with one tag: `<script src="https://HOST/widget.js"></script>`.
//! The widget keeps its conversation id in `localStorage`, loads the history
//! from `GET /api/v1/conversations/{id}` and reconnects after a restart.
//!
//! # Layout
//! - [`config`]: the `channels.webchat` section of `config.yaml`.
//! - [`protocol`]: the JSON frames on the socket.
//! - `hub`: live sockets per conversation and the [`WebChat`] adapter.
//! - `routes`: `/ws`, `/widget.js` and the demo page `/`.
#![deny(missing_docs)]

pub mod config;
mod hub;
pub mod protocol;
mod routes;

pub use config::Config;
pub use hub::WebChat;

/// The channel name in [`usher_channel::Inbound::channel`].
pub const CHANNEL: &str = "webchat";
