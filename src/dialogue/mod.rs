//! Dialogue management: the per-conversation [`Tracker`] and the policy that
//! turns a parsed message and the evidence consulted for it into replies
//! (responses, flows and the forms they stand for, backend calls,
//! clarification, fallback and handoff).
//!
//! # Layout
//! - [`evidence`]: what the policy asks for ([`Need`]) and what comes back
//!   ([`Evidence`]): knowledge passages, tool output.
//! - `policy`: [`plan`] (what is missing) and [`decide`] (evidence → a
//!   [`Decision`]), one set of rules walked twice; pure and synchronous.
//! - [`explain`]: why a turn went as it did ([`Explanation`]), from the
//!   parse, the evidence and the [`Rule`] that decided.
//! - `tracker`: the state kept between turns, the flows under way among it.
//! - `system`: the built-in responses.

pub mod evidence;
pub mod explain;
mod policy;
mod system;
mod tracker;

#[cfg(test)]
mod tests;

pub use evidence::{Called, Evidence, Found, Need, Passage, Produced, Said};
pub use explain::Explanation;
pub use policy::{
    command_payload, decide, digression_bar, fill, payload_entities, payload_intent, plan, Decision, Message, Rule,
    HUMAN_PAYLOAD, OUT_OF_SCOPE,
};
pub use tracker::{ActiveFlow, Handoff, Reason, Tracker};
