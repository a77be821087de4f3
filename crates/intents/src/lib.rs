//! Staff-owned intent files: the raw YAML format, its loader and the
//! validated [`Domain`] the engine runs on. The format is documented for
//! staff in `docs/intents.md`.
//!
//! The crate has no async runtime and no model code, so the loader can be
//! fuzzed on its own (`fuzz/`).
//!
//! # Layout
//! - `raw`: the file format as serde structs (`deny_unknown_fields`).
//! - `load`: reading files, parsing each item apart so one bad item does not
//!   hide the others, and the size limit.
//! - `nesting`: refusing absurdly nested flow collections before libyaml
//!   spends quadratic time on them.
//! - `locate`: finding the line and column of a YAML path for diagnostics.
//! - `annotation`: inline entity annotations in examples (`[A12345](order_id)`).
//! - `link`: cross-checking intents, entities, forms and responses.
//! - `actions`: checking backend calls (`actions:`): method, path and body
//!   placeholders, saved fields, status mapping, outcome responses.
//! - `flows`: checking flows (`flows:`): each step, branch conditions
//!   (MiniJinja expressions), targets, unreachable steps, and loops that
//!   never wait for the fan; an intent's form becomes a flow too.
//! - `domain`: the validated [`Domain`].
//! - `diagnostic`: [`Diagnostic`] and [`Report`], every problem with file,
//!   line, column and intent.
#![deny(missing_docs)]

mod actions;
mod annotation;
mod diagnostic;
mod domain;
mod flows;
mod link;
mod load;
mod locate;
mod nesting;
mod raw;

#[cfg(test)]
mod tests;

pub use diagnostic::{Diagnostic, Report, Severity};
pub use domain::*;
pub use flows::OUTCOME;
pub use load::{load, load_sources, read_files, Loaded, SYSTEM_RESPONSES};
pub use locate::{locate, Pos, Seg};
