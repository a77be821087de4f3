//! The properties Usher's fuzz targets check, in one place: the cargo-fuzz
//! targets in `fuzz/` call these on every input, and `tests/regressions.rs`
//! replays every input a fuzzing run ever found (`regressions/`) through them
//! on each `cargo test`.
//!
//! # Layout
//! - [`intent_loader`]: staff YAML through the whole intent loader.
//! - [`inbound`]: raw bytes through every inbound decoder (the REST body,
//!   the web chat frame, conversation ids) and the shared message limits.
//!
//! Each function panics when a property fails; that is how libFuzzer and
//! the tests see a finding.
#![deny(missing_docs)]

mod inbound;
mod intent_loader;

pub use inbound::inbound;
pub use intent_loader::intent_loader;
