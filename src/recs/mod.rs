//! Recommendations: what a fan may like to watch or see next.
//!
//! # Layout
//! - [`data`]: interaction data for benchmarks (MovieLens with its
//!   leave-one-out split) and the [`data::Item`] every catalogue is made of.
//! - [`model`]: the sequential recommender, SASRec in candle over item ids
//!   and MiniLM content embeddings (cold start), seeded.
//! - [`eval`]: HR@10 / NDCG@10 against the whole catalogue, and the peers
//!   (most popular, item-kNN by co-occurrence and by content).
//! - [`benchmark`]: `usher test recs`, every method in one run, plus cold start.
//! - [`catalogue`]: a service's own catalogue file (titles and events).
//! - [`config`]: the `recommendations:` section of `config.yaml`.
//! - [`service`]: the [`Recommender`] the bot asks, under the staff's rules.
//! - [`chat`]: the `recommend` tool: a turn's message, buttons and slots in,
//!   suggestions as buttons with reasons out.
//!
//! # The path of one request
//! A fan asks "what should I watch next?"; the intent's `tool.recommend`
//! becomes a tool need; the engine's recommend source calls the intent
//! files' `fan_history` action (when the slots fill its path) for the fan's
//! history, then [`chat::reply`] on the blocking pool reads the message and
//! the remembered slots, [`Recommender::recommend`] ranks the eligible
//! items, and the policy sends the text with one button per suggestion and
//! "Not for me", and keeps the slots it returned.
pub mod benchmark;
pub mod catalogue;
pub mod chat;
pub mod config;
pub mod data;
pub mod eval;
pub mod model;
pub mod service;

pub use config::RecsConfig;
pub use service::{Answer, Recommender, Request, Suggestion};
