//! Usher: a customer-service bot engine for ticketing, streaming and venues.
//!
//! A fan's message travels from a channel adapter ([`usher_channel`]) into the
//! [`engine`], and from there one way. On the public routes (the web chat
//! socket, the REST API) it is let in only with the conversation's own
//! credential: `usher_webchat`'s socket route asks the [`Gate`]
//! ([`access::Access`]) before the upgrade, and the REST handlers call
//! [`access::Access::authorize`] before anything is stored.
//!
//! # The path of one message
//! 1. **Store.** [`engine::Engine::handle`] (REST) or the adapter's
//!    submission queues the message on its conversation's worker, which
//!    stores it (`Store::append_inbound`) and acknowledges it.
//! 2. **Understand.** `engine::worker::understand` runs
//!    [`nlu::Nlu::parse_batch_in`] on the NLU thread, batched across
//!    conversations, each message in its [`nlu::Context`] (the intents
//!    recognised last, so follow-ups count only after what they follow): a
//!    [`nlu::Parse`] of intents, entities and sentiment, nothing more (a
//!    pressed button is [`nlu::Parse::certain`]). The MiniLM encoder runs
//!    once per batch ([`nlu::encoder::Encoder::encode_with_branch`]): the
//!    classifier reads its sentence embeddings, the tagger its token
//!    states, the sentiment model's own fine-tuned layers continue from the
//!    layers it shares with the pass, and the parse keeps each message's
//!    [`nlu::Embedding`] for the knowledge query.
//! 3. **Plan.** [`dialogue::plan`] walks the policy (and the flow under
//!    way, step by step) on a copy of the tracker and returns the
//!    [`dialogue::Need`]s it lacks: a knowledge passage, a creative tool's
//!    output, a backend action's outcome.
//! 4. **Consult.** `engine::worker::consult` hands each need to its
//!    [`engine::consult::Source`] (the [`knowledge::KnowledgeBase`], the
//!    creative [`creative::tools::Toolset`], a backend call through
//!    [`actions::Actions::call`]) under its timeout, CPU work on the
//!    blocking pool and I/O async (the knowledge base searches with the
//!    parse's embedding, encoding nothing), and records what came back in a
//!    [`dialogue::Evidence`]; then it plans again until nothing is missing.
//! 5. **Decide.** [`dialogue::decide`] (pure) turns the tracker, the parse
//!    and the evidence into a [`dialogue::Decision`]: replies, slot changes,
//!    a handoff reason, whether the turn was a fallback, and the
//!    [`dialogue::Rule`] that decided; [`dialogue::Explanation`] puts that
//!    together with the parse's top intents, nearest training examples and
//!    entity sources and the evidence.
//! 6. **Persist and route.** `engine::worker::at_rest` replaces fans'
//!    personal data in what will be stored ([`privacy`]); `engine::worker::persist` stores the replies,
//!    the explanation with the message, the tracker and any ticket in one transaction
//!    (`Store::complete_turn`); the worker then routes each reply to its
//!    channel's adapter and tells the consoles.
//!
//! [`Gate`]: usher_channel::Gate
//!
//! # Layout
//! - [`access`]: who may act for a conversation on the public routes (web
//!   chat session tokens, API keys, identity verification).
//! - [`actions`]: backend calls staff declare in the intent files, to the
//!   endpoints in `config.yaml` (signed, idempotent, timed out, breakers).
//! - [`config`]: `config.yaml` as typed structs, with environment overrides.
//! - [`intents`]: the intent YAML format, its loader (every error with file,
//!   line and column) and the validated `Domain`.
//! - [`nlu`]: the `IntentClassifier` trait, the hashing n-gram classifier
//!   trained with candle-nn, rule-based entity extraction, and the
//!   conversation context follow-ups are read in.
//! - [`knowledge`]: documents in `knowledge/` indexed into qdrant-edge (or
//!   a Qdrant server) for hybrid dense + BM25 retrieval and cited answers.
//! - [`dialogue`]: the conversation tracker, the evidence vocabulary and the
//!   pure policy (plan, decide: responses, flows and forms, backend calls,
//!   clarification, fallback, handoff).
//! - [`store`]: the `Store` trait, the SQLite store and the PostgreSQL store.
//! - [`cluster`]: notices between replicas (PostgreSQL `LISTEN`/`NOTIFY`).
//! - [`handoff`]: the human handoff queue, agents and the desk they act through.
//! - [`convtest`]: conversation tests (`usher test conversations`): fan
//!   turns and what must follow, on the engine with backend calls stubbed.
//! - [`privacy`]: fans' personal data (emails, phones, cards, IBANs,
//!   addresses, sensitive entities) replaced by placeholders before a turn
//!   is stored.
//! - [`recs`]: recommendations: a SASRec recommender in candle over
//!   item ids and content embeddings, its benchmark and peers.
//! - [`import`]: `usher import rasa`: a Rasa 3.x project as intent files
//!   and conversation tests, with everything that did not map listed.
//! - [`console`]: the agent console (`/console`), its API and `/metrics`.
//! - [`engine`]: per-conversation ordered workers running the path above,
//!   and the sources consulted for the policy.
//! - [`http`]: the axum server: REST API, health, and the web chat routes.
//! - [`reload`]: hot reload of the intent files while serving.
//! - [`watch`]: debounced directory watching (intents, knowledge).
//! - [`bootstrap`]: building a ready engine from a config.
//! - [`limit`]: keyed rate limits (per client address, per conversation).
//! - [`metrics`]: latency histograms and counters for `/metrics`.
//! - [`error`]: the crate's error enum.
#![deny(missing_docs)]

pub mod access;
pub mod actions;
pub mod bootstrap;
pub mod cluster;
pub mod config;
pub mod console;
pub mod convtest;
pub mod creative;
pub mod dialogue;
pub mod engine;
pub mod error;
pub mod handoff;
pub mod http;
pub mod import;
pub use usher_intents as intents;
pub mod knowledge;
pub mod limit;
pub mod metrics;
pub mod nlu;
pub mod privacy;
pub mod recs;
pub mod reload;
pub mod store;
pub mod util;
pub mod watch;

pub use error::Error;
