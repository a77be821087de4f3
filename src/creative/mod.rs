//! The creative toolset fans enjoy. So far: a read on how a fan's text
//! sounds (`usher analyze`). Melodies and poems are still to come (issue 7).
//!
//! # Layout
//! - [`analysis`]: sentiment (the NLU's GRU), style metrics, rhyme scheme
//!   and emotion words, with a one-paragraph summary.
pub mod analysis;
