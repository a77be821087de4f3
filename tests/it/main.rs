//! The integration tests, in one binary so that the crate is linked once.
//! `tests/signin_timing.rs` stays apart: its medians need an unloaded process.

#[path = "../common/mod.rs"]
mod common;

mod access;
mod actions;
mod bad_input;
mod browser;
mod channels;
mod cli;
mod cluster;
mod conversations;
mod crash;
mod encoder;
mod engine;
mod explain;
mod fine_tune;
mod handoff;
mod http;
mod knowledge;
mod layering;
mod load;
mod one_pass;
mod packed;
mod privacy;
mod rasa;
mod rasa_import;
mod reload;
mod restart;
mod security;
