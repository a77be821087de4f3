//! The embedded SQLite store (sqlx, WAL mode).

mod handoff;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use usher_channel::{render_plain, ConversationId, Inbound, Outbound, Part};

use super::{Store, StoredMessage, Transcript, TurnRecord};
use crate::dialogue::Tracker;
use crate::util::now_ms;
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
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }
}

fn json_col<T: serde::de::DeserializeOwned>(raw: Option<String>) -> Result<Option<T>, Error> {
    raw.map(|s| serde_json::from_str(&s)).transpose().map_err(Error::from)
}

#[async_trait]
impl Store for SqliteStore {
    async fn append_inbound(&self, inbound: &Inbound) -> Result<i64, Error> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO conversations (id, channel, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (id) DO UPDATE SET updated_ms = excluded.updated_ms",
        )
        .bind(inbound.conversation.as_str())
        .bind(&inbound.channel)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let id = sqlx::query(
            "INSERT INTO messages (conversation_id, direction, sender, text, payload, created_ms)
             VALUES (?1, 'in', ?2, ?3, ?4, ?5) RETURNING id",
        )
        .bind(inbound.conversation.as_str())
        .bind(&inbound.sender)
        .bind(&inbound.text)
        .bind(&inbound.payload)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>(0)?;
        tx.commit().await?;
        Ok(id)
    }

    async fn tracker(&self, conversation: &ConversationId) -> Result<Tracker, Error> {
        let row = sqlx::query("SELECT tracker FROM conversations WHERE id = ?1")
            .bind(conversation.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let raw: Option<String> = row.map(|r| r.try_get(0)).transpose()?.flatten();
        Ok(json_col(raw)?.unwrap_or_default())
    }

    async fn complete_turn(&self, turn: TurnRecord<'_>) -> Result<Vec<i64>, Error> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(turn.replies.len());
        for parts in turn.replies {
            let id = sqlx::query(
                "INSERT INTO messages (conversation_id, direction, sender, text, parts, reply_to, created_ms)
                 VALUES (?1, 'out', 'bot', ?2, ?3, ?4, ?5) RETURNING id",
            )
            .bind(turn.conversation.as_str())
            .bind(render_plain(parts))
            .bind(serde_json::to_string(parts)?)
            .bind(turn.inbound_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>(0)?;
            ids.push(id);
        }
        sqlx::query("UPDATE messages SET processed = 1, nlu = ?1, fallback = ?2 WHERE id = ?3")
            .bind(serde_json::to_string(&turn.nlu)?)
            .bind(turn.fallback)
            .bind(turn.inbound_id)
            .execute(&mut *tx)
            .await?;
        if let Some(ticket) = turn.handoff {
            // The unique index on open tickets makes a second handoff a no-op.
            sqlx::query(
                "INSERT INTO tickets (conversation_id, reason, priority, state, created_ms)
                 VALUES (?1, ?2, ?3, 'waiting', ?4) ON CONFLICT DO NOTHING",
            )
            .bind(turn.conversation.as_str())
            .bind(ticket.reason.as_str())
            .bind(ticket.priority)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE conversations SET tracker = ?1, updated_ms = ?2 WHERE id = ?3")
            .bind(serde_json::to_string(turn.tracker)?)
            .bind(now)
            .bind(turn.conversation.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn transcript(&self, conversation: &ConversationId) -> Result<Option<Transcript>, Error> {
        let Some(head) = sqlx::query("SELECT channel, tracker FROM conversations WHERE id = ?1")
            .bind(conversation.as_str())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT id, direction, sender, text, payload, parts, nlu, delivered, created_ms FROM messages
             WHERE conversation_id = ?1 ORDER BY id",
        )
        .bind(conversation.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut messages = Vec::with_capacity(rows.len());
        for r in rows {
            messages.push(StoredMessage {
                id: r.try_get("id")?,
                direction: r.try_get("direction")?,
                sender: r.try_get("sender")?,
                text: r.try_get("text")?,
                payload: r.try_get("payload")?,
                parts: json_col::<Vec<Part>>(r.try_get("parts")?)?,
                nlu: json_col(r.try_get("nlu")?)?,
                delivered: r.try_get::<i64, _>("delivered")? != 0,
                created_ms: r.try_get("created_ms")?,
            });
        }
        Ok(Some(Transcript {
            conversation: conversation.clone(),
            channel: head.try_get("channel")?,
            tracker: json_col(head.try_get("tracker")?)?.unwrap_or_default(),
            messages,
        }))
    }

    async fn pending(&self) -> Result<Vec<(i64, Inbound)>, Error> {
        let rows = sqlx::query(
            "SELECT m.id, m.conversation_id, c.channel, m.sender, m.text, m.payload
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.direction = 'in' AND m.processed = 0 ORDER BY m.id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut pending = Vec::with_capacity(rows.len());
        for r in rows {
            let conversation = ConversationId::new(r.try_get::<String, _>("conversation_id")?)?;
            let inbound = Inbound {
                conversation,
                channel: r.try_get("channel")?,
                sender: r.try_get("sender")?,
                text: r.try_get("text")?,
                payload: r.try_get("payload")?,
                attachments: Vec::new(),
            };
            pending.push((r.try_get("id")?, inbound));
        }
        Ok(pending)
    }

    async fn undelivered(&self, channel: &str, since_ms: i64) -> Result<Vec<Outbound>, Error> {
        let rows = sqlx::query(
            "SELECT m.id, m.conversation_id, m.parts
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.direction = 'out' AND m.delivered = 0 AND c.channel = ?1 AND m.created_ms >= ?2
             ORDER BY m.id",
        )
        .bind(channel)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut replies = Vec::with_capacity(rows.len());
        for r in rows {
            replies.push(Outbound {
                conversation: ConversationId::new(r.try_get::<String, _>("conversation_id")?)?,
                channel: channel.to_string(),
                id: r.try_get("id")?,
                parts: json_col::<Vec<Part>>(r.try_get("parts")?)?.unwrap_or_default(),
            });
        }
        Ok(replies)
    }

    async fn mark_delivered(&self, reply_id: i64) -> Result<(), Error> {
        sqlx::query("UPDATE messages SET delivered = 1 WHERE id = ?1").bind(reply_id).execute(&self.pool).await?;
        Ok(())
    }
}
