//! The creative toolset fans enjoy: a read on how a fan's text sounds
//! (`usher analyze`), short poems (`usher create poem`) and four-bar
//! melodies (`usher create melody`).
//!
//! # Layout
//! - [`config`]: the `creative:` section of `config.yaml`.
//! - [`files`]: generated files under a quota, a TTL and a per-conversation cap.
//! - [`analysis`]: sentiment (the NLU's GRU), style metrics, rhyme scheme
//!   and emotion words, with a one-paragraph summary.
//! - [`melody`]: a DCGAN over piano rolls trained on the Bach chorales'
//!   soprano lines; MIDI, WAV and piano-roll PNG output; objective metrics.
//! - [`poem`]: a word-level GRU language model on public-domain sonnets,
//!   its Kneser-Ney baseline and theme-seeded generation.
//! - [`provenance`]: what made a file, in its own metadata (MIDI text,
//!   WAV `INFO`, PNG `tEXt`) and at the end of a poem.
//! - [`watermark`]: the inaudible mark in generated audio and its detector
//!   (`usher create verify`).
//! - [`tools`]: the tools the dialogue policy calls (`tool.write_poem`).
pub mod analysis;
pub mod config;
pub mod files;
pub mod melody;
pub mod poem;
pub mod provenance;
pub mod tools;
pub mod watermark;
