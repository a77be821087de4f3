//! The PostgreSQL store: what replicas share. Same queries as SQLite; turns
//! of one conversation are serialised across replicas by a transaction-level
//! advisory lock keyed on the conversation id.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use usher_channel::ConversationId;

use super::TurnLock;
use crate::Error;

/// Conversations in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Connections that only hold turn locks. A separate pool: a turn that
    /// holds a lock connection also needs a query connection, and taking
    /// both from one pool could deadlock once every connection held a lock.
    locks: PgPool,
}

impl PgStore {
    /// Connects to `url` with up to `connections` query connections (and as
    /// many lock connections) and migrates the database. Replicas starting
    /// together are safe: sqlx's migrator takes an advisory lock.
    pub async fn connect(url: &str, connections: u32) -> Result<Self, Error> {
        let options = |wait| PgPoolOptions::new().max_connections(connections).acquire_timeout(wait);
        let pool = options(Duration::from_secs(10)).connect(url).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        // Waiting for a lock connection is waiting for a turn: under load
        // hundreds of conversations queue here, which is back-pressure, not
        // an error.
        let locks = options(Duration::from_secs(600)).connect(url).await?;
        Ok(Self { pool, locks })
    }

    /// A transaction for the shared queries (PostgreSQL waits on row locks).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, Error> {
        Ok(self.pool.begin().await?)
    }

    /// The query pool (the cluster bus listens on it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

conversation_queries!(PgStore, {
    async fn lock(&self, conversation: &ConversationId) -> Result<TurnLock, Error> {
        let mut tx = self.locks.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(conversation.as_str())
            .execute(&mut *tx)
            .await?;
        Ok(TurnLock(Some(tx)))
    }
});
handoff_queries!(PgStore, sqlx::postgres::PgRow);
