//! The `store:` section of `config.yaml`: which conversation store.

use serde::Deserialize;

/// Which conversation store to use.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite` (the embedded default: `<data_dir>/usher.db`) or `postgres`
    /// (shared by replicas; URL from `DATABASE_URL`).
    #[serde(default)]
    pub kind: StoreKind,
    /// PostgreSQL connections per replica (as many again hold turn locks).
    /// Default 16.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { kind: StoreKind::default(), pool_size: default_pool_size() }
    }
}

fn default_pool_size() -> u32 {
    16
}

/// Store backends.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// One SQLite file in WAL mode.
    #[default]
    Sqlite,
    /// A PostgreSQL database (`DATABASE_URL`), shared by replicas.
    Postgres,
}
