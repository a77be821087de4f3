//! Usher: a customer-service bot engine for ticketing, streaming and venues.
//!
//! A fan's message travels from a channel adapter ([`usher_channel`]) into the
//! [`engine`], which stores it, runs [`nlu`] on it, lets the [`dialogue`]
//! policy decide the replies from the staff-owned [`intents`], stores those
//! and hands them back to the channel. On the public routes (the web chat
//! socket, the REST API) the message is let in only with the conversation's
//! own credential: `usher_webchat`'s socket route asks the [`Gate`]
//! ([`access::Access`]) before the upgrade, and the REST handlers call
//! [`access::Access::authorize`] before anything is stored.
//!
//! [`Gate`]: usher_channel::Gate
//!
//! # Layout
//! - [`access`]: who may act for a conversation on the public routes (web
//!   chat session tokens, API keys, identity verification).
//! - [`config`]: `config.yaml` as typed structs, with environment overrides.
//! - [`intents`]: the intent YAML format, its loader (every error with file,
//!   line and column) and the validated `Domain`.
//! - [`nlu`]: the `IntentClassifier` trait, the hashing n-gram classifier
//!   trained with candle-nn, and rule-based entity extraction.
//! - [`knowledge`]: documents in `knowledge/` indexed into qdrant-edge (or
//!   a Qdrant server) for hybrid dense + BM25 retrieval and cited answers.
//! - [`dialogue`]: the conversation tracker and the policy (responses, forms,
//!   clarification, fallback, handoff).
//! - [`store`]: the `Store` trait, the SQLite store and the PostgreSQL store.
//! - [`cluster`]: notices between replicas (PostgreSQL `LISTEN`/`NOTIFY`).
//! - [`handoff`]: the human handoff queue, agents and the desk they act through.
//! - [`console`]: the agent console (`/console`), its API and `/metrics`.
//! - [`engine`]: per-conversation ordered workers tying it all together.
//! - [`http`]: the axum server: REST API, health, and the web chat routes.
//! - [`reload`]: hot reload of the intent files while serving.
//! - [`watch`]: debounced directory watching (intents, knowledge).
//! - [`bootstrap`]: building a ready engine from a config.
//! - [`limit`]: keyed rate limits (per client address, per conversation).
//! - [`metrics`]: latency histograms and counters for `/metrics`.
//! - [`error`]: the crate's error enum.
#![deny(missing_docs)]

pub mod access;
pub mod bootstrap;
pub mod cluster;
pub mod config;
pub mod console;
pub mod creative;
pub mod dialogue;
pub mod engine;
pub mod error;
pub mod handoff;
pub mod http;
pub use usher_intents as intents;
pub mod knowledge;
pub mod limit;
pub mod metrics;
pub mod nlu;
pub mod reload;
pub mod store;
pub mod util;
pub mod watch;

pub use error::Error;
