//! Staff-owned intent files: the raw YAML format, its loader and the
//! validated [`Domain`] the engine runs on. The format is documented for
//! staff in `docs/intents.md`.

mod annotation;
mod diagnostic;
mod domain;
mod link;
mod load;
mod locate;
mod raw;

#[cfg(test)]
mod tests;

pub use diagnostic::{Diagnostic, Report, Severity};
pub use domain::*;
pub use load::{load, load_sources, Loaded, SYSTEM_RESPONSES};
