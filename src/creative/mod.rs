//! The creative toolset fans enjoy: a read on how a fan's text sounds
//! (`usher analyze`) and short poems (`usher create poem`). Melodies are
//! still to come.
//!
//! # Layout
//! - [`analysis`]: sentiment (the NLU's GRU), style metrics, rhyme scheme
//!   and emotion words, with a one-paragraph summary.
//! - [`poem`]: a word-level GRU language model on public-domain sonnets,
//!   its Kneser-Ney baseline and theme-seeded generation.
//! - [`tools`]: the tools the dialogue policy calls (`tool.write_poem`).
pub mod analysis;
pub mod poem;
pub mod tools;
