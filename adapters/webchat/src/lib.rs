//! Usher's web chat channel: a WebSocket endpoint and the embeddable
//! `widget.js`, served from assets compiled into the binary.
//!
//! Embed it on any page with one tag: `<script src="https://HOST/widget.js"></script>`.
//! The widget asks `POST /api/v1/webchat/sessions` for a conversation (an id
//! and a secret token), keeps both in `localStorage`, loads the history from
//! `GET /api/v1/conversations/{id}` with `Authorization: Bearer <token>`,
//! opens `/ws?conversation=ID` offering the subprotocols `usher` and
//! `usher-token.<token>`, and reconnects after a restart. A socket without
//! the conversation's token is refused before the upgrade (401).
//!
//! # Layout
//! - [`config`]: the `channels.webchat` section of `config.yaml`.
//! - [`protocol`]: the JSON frames on the socket.
//! - `hub`: live sockets per conversation and the [`WebChat`] adapter.
//! - `routes`: `/ws`, `/widget.js`, the demo page `/` and the session route.
#![deny(missing_docs)]

pub mod config;
mod hub;
pub mod protocol;
mod routes;

pub use config::Config;
pub use hub::WebChat;

/// The channel name in [`usher_channel::Inbound::channel`].
pub const CHANNEL: &str = "webchat";
