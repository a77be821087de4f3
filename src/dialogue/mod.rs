//! Dialogue management: the per-conversation [`Tracker`] and the policy that
//! turns a parsed message into replies (responses, forms, clarification,
//! fallback and handoff).

mod policy;
mod system;
mod tracker;

pub use policy::{
    command_payload, decide, fill, payload_intent, wants_knowledge, wants_tool, Message, HUMAN_PAYLOAD, OUT_OF_SCOPE,
};
pub use tracker::{ActiveForm, Handoff, Reason, Tracker};
