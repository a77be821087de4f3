//! The embedded SQLite store (sqlx, WAL mode).

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crate::Error;

/// Conversations in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    /// A transaction that takes the write lock at once. A deferred one that
    /// reads first and writes later fails with `SQLITE_BUSY` (no waiting)
    /// when another connection committed in between; an immediate one waits
    /// its turn under the busy timeout.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, Error> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

conversation_queries!(SqliteStore, {
    async fn lock(&self, _conversation: &usher_channel::ConversationId) -> Result<crate::store::TurnLock, Error> {
        // One process owns the file; the engine's per-conversation worker
        // already orders its turns.
        Ok(crate::store::TurnLock::local())
    }
});
handoff_queries!(SqliteStore, sqlx::sqlite::SqliteRow);
