//! The SQL both backends share. Queries use `$N` placeholders, which
//! PostgreSQL and sqlx's SQLite driver both read; integer columns are 64-bit
//! in both schemas and flags are 0/1 integers, so one query text and one row
//! decoding serve both. Each backend invokes the macros on its store type
//! (a struct with a sqlx `pool` field).
//!
//! ## Layout
//! - `conversations`: [`Store`](crate::store::Store) (messages, trackers, turns).
//! - `handoff`: [`HandoffStore`](crate::handoff::HandoffStore) (agents, sessions, tickets, notes, audit).

#[macro_use]
mod conversations;
#[macro_use]
mod handoff;

use crate::Error;

/// A JSON text column, decoded.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(raw: Option<String>) -> Result<Option<T>, Error> {
    raw.map(|s| serde_json::from_str(&s)).transpose().map_err(Error::from)
}
