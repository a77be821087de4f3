//! The conversation queries, shared by both backends.

/// Deletes everything held about conversation `$id` in transaction `$tx`:
/// its messages, tickets, notes, web sessions and fan keys, then the
/// conversation; audit entries about it keep the action and time only.
/// The rows deleted.
macro_rules! erase_in {
    ($tx:ident, $id:expr) => {{
        let mut deleted = 0u64;
        for table in ["messages", "tickets", "notes", "web_sessions", "fan_keys"] {
            let sql = format!("DELETE FROM {table} WHERE conversation_id = $1");
            deleted += sqlx::query(&sql).bind($id).execute(&mut *$tx).await?.rows_affected();
        }
        sqlx::query("UPDATE audit SET conversation_id = NULL, detail = NULL WHERE conversation_id = $1")
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        deleted +=
            sqlx::query("DELETE FROM conversations WHERE id = $1").bind($id).execute(&mut *$tx).await?.rows_affected();
        deleted
    }};
}

/// Implements [`Store`](crate::store::Store) for `$store`, a struct with a
/// sqlx `pool` field; `$extra` holds the backend's own methods (the lock).
macro_rules! conversation_queries {
    ($store:ty, { $($extra:tt)* }) => {
        const _: () = {
        use ::sqlx::Row as _;
        #[::async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn append_inbound(&self, inbound: &::usher_channel::Inbound) -> Result<$crate::store::Appended, $crate::Error> {
                let now = $crate::util::now_ms();
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO conversations (id, channel, created_ms, updated_ms) VALUES ($1, $2, $3, $3)
                     ON CONFLICT (id) DO UPDATE SET updated_ms = excluded.updated_ms",
                )
                .bind(inbound.conversation.as_str())
                .bind(&inbound.channel)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let fresh = sqlx::query(
                    "INSERT INTO messages (conversation_id, direction, sender, text, payload, created_ms, platform_id)
                     VALUES ($1, 'in', $2, $3, $4, $5, $6)
                     ON CONFLICT (conversation_id, platform_id) WHERE platform_id IS NOT NULL DO NOTHING
                     RETURNING id",
                )
                .bind(inbound.conversation.as_str())
                .bind(&inbound.sender)
                .bind(&inbound.text)
                .bind(&inbound.payload)
                .bind(now)
                .bind(&inbound.platform_id)
                .fetch_optional(&mut *tx)
                .await?;
                let appended = match fresh {
                    Some(row) => $crate::store::Appended { id: row.try_get::<i64, _>(0)?, fresh: true },
                    // Delivered again by the platform: the first copy stands.
                    None => {
                        let id = sqlx::query("SELECT id FROM messages WHERE conversation_id = $1 AND platform_id = $2")
                            .bind(inbound.conversation.as_str())
                            .bind(&inbound.platform_id)
                            .fetch_one(&mut *tx)
                            .await?
                            .try_get::<i64, _>(0)?;
                        $crate::store::Appended { id, fresh: false }
                    }
                };
                tx.commit().await?;
                Ok(appended)
            }

            async fn tracker(&self, conversation: &::usher_channel::ConversationId) -> Result<$crate::dialogue::Tracker, $crate::Error> {
                let row = sqlx::query("SELECT tracker FROM conversations WHERE id = $1")
                    .bind(conversation.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                let raw: Option<String> = row.map(|r| r.try_get(0)).transpose()?.flatten();
                Ok($crate::store::sql::json_col(raw)?.unwrap_or_default())
            }

            async fn complete_turn(&self, turn: $crate::store::TurnRecord<'_>) -> Result<Vec<i64>, $crate::Error> {
                let now = $crate::util::now_ms();
                let mut tx = self.begin_write().await?;
                let mut ids = Vec::with_capacity(turn.replies.len());
                for parts in turn.replies {
                    let id = sqlx::query(
                        "INSERT INTO messages (conversation_id, direction, sender, text, parts, reply_to, created_ms)
                         VALUES ($1, 'out', 'bot', $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(turn.conversation.as_str())
                    .bind(::usher_channel::render_plain(parts))
                    .bind(serde_json::to_string(parts)?)
                    .bind(turn.inbound_id)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get::<i64, _>(0)?;
                    ids.push(id);
                }
                sqlx::query("UPDATE messages SET processed = 1, nlu = $1, fallback = $2, text = COALESCE($4, text) WHERE id = $3")
                    .bind(serde_json::to_string(&turn.nlu)?)
                    .bind(i64::from(turn.fallback))
                    .bind(turn.inbound_id)
                    .bind(turn.text.as_deref())
                    .execute(&mut *tx)
                    .await?;
                if let Some(ticket) = turn.handoff {
                    // The unique index on open tickets makes a second handoff a no-op.
                    sqlx::query(
                        "INSERT INTO tickets (conversation_id, reason, priority, state, created_ms)
                         VALUES ($1, $2, $3, 'waiting', $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(turn.conversation.as_str())
                    .bind(ticket.reason.as_str())
                    .bind(ticket.priority)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                for key in &turn.fan_keys {
                    sqlx::query("INSERT INTO fan_keys (conversation_id, key_hash, created_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                        .bind(turn.conversation.as_str())
                        .bind(key)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("UPDATE conversations SET tracker = $1, updated_ms = $2 WHERE id = $3")
                    .bind(serde_json::to_string(turn.tracker)?)
                    .bind(now)
                    .bind(turn.conversation.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(ids)
            }

            async fn transcript(&self, conversation: &::usher_channel::ConversationId) -> Result<Option<$crate::store::Transcript>, $crate::Error> {
                let Some(head) = sqlx::query("SELECT channel, tracker FROM conversations WHERE id = $1")
                    .bind(conversation.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(None);
                };
                let rows = sqlx::query(
                    "SELECT id, direction, sender, text, payload, parts, nlu, delivered, created_ms FROM messages
                     WHERE conversation_id = $1 ORDER BY id",
                )
                .bind(conversation.as_str())
                .fetch_all(&self.pool)
                .await?;
                let mut messages = Vec::with_capacity(rows.len());
                for r in rows {
                    messages.push($crate::store::StoredMessage {
                        id: r.try_get("id")?,
                        direction: r.try_get("direction")?,
                        sender: r.try_get("sender")?,
                        text: r.try_get("text")?,
                        payload: r.try_get("payload")?,
                        parts: $crate::store::sql::json_col::<Vec<::usher_channel::Part>>(r.try_get("parts")?)?,
                        nlu: $crate::store::sql::json_col(r.try_get("nlu")?)?,
                        delivered: r.try_get::<i64, _>("delivered")? != 0,
                        created_ms: r.try_get("created_ms")?,
                    });
                }
                Ok(Some($crate::store::Transcript {
                    conversation: conversation.clone(),
                    channel: head.try_get("channel")?,
                    tracker: $crate::store::sql::json_col(head.try_get("tracker")?)?.unwrap_or_default(),
                    messages,
                }))
            }

            async fn pending(&self) -> Result<Vec<(i64, ::usher_channel::Inbound)>, $crate::Error> {
                let rows = sqlx::query(
                    "SELECT m.id, m.conversation_id, c.channel, m.sender, m.text, m.payload, m.platform_id
                     FROM messages m JOIN conversations c ON c.id = m.conversation_id
                     WHERE m.direction = 'in' AND m.processed = 0 ORDER BY m.id",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut pending = Vec::with_capacity(rows.len());
                for r in rows {
                    let conversation = ::usher_channel::ConversationId::new(r.try_get::<String, _>("conversation_id")?)?;
                    let inbound = ::usher_channel::Inbound {
                        conversation,
                        channel: r.try_get("channel")?,
                        sender: r.try_get("sender")?,
                        text: r.try_get("text")?,
                        payload: r.try_get("payload")?,
                        attachments: Vec::new(),
                        platform_id: r.try_get("platform_id")?,
                        request_id: None,
                    };
                    pending.push((r.try_get("id")?, inbound));
                }
                Ok(pending)
            }

            async fn undelivered(&self, channel: &str, since_ms: i64, before_ms: i64) -> Result<Vec<::usher_channel::Outbound>, $crate::Error> {
                let rows = sqlx::query(
                    "SELECT m.id, m.conversation_id, m.parts
                     FROM messages m JOIN conversations c ON c.id = m.conversation_id
                     WHERE m.direction = 'out' AND m.delivered = 0 AND c.channel = $1
                       AND m.created_ms >= $2 AND m.created_ms < $3
                     ORDER BY m.id",
                )
                .bind(channel)
                .bind(since_ms)
                .bind(before_ms)
                .fetch_all(&self.pool)
                .await?;
                let mut replies = Vec::with_capacity(rows.len());
                for r in rows {
                    replies.push(::usher_channel::Outbound {
                        conversation: ::usher_channel::ConversationId::new(r.try_get::<String, _>("conversation_id")?)?,
                        channel: channel.to_string(),
                        id: r.try_get("id")?,
                        parts: $crate::store::sql::json_col::<Vec<::usher_channel::Part>>(r.try_get("parts")?)?.unwrap_or_default(),
                    });
                }
                Ok(replies)
            }

            async fn mark_delivered(&self, reply_id: i64) -> Result<(), $crate::Error> {
                sqlx::query("UPDATE messages SET delivered = 1 WHERE id = $1").bind(reply_id).execute(&self.pool).await?;
                Ok(())
            }

            async fn is_processed(&self, inbound_id: i64) -> Result<bool, $crate::Error> {
                let row = sqlx::query("SELECT processed FROM messages WHERE id = $1 AND direction = 'in'")
                    .bind(inbound_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.is_some_and(|p| p != 0))
            }

            async fn reply(&self, reply_id: i64) -> Result<Option<::usher_channel::Outbound>, $crate::Error> {
                let row = sqlx::query(
                    "SELECT m.id, m.conversation_id, c.channel, m.parts
                     FROM messages m JOIN conversations c ON c.id = m.conversation_id
                     WHERE m.id = $1 AND m.direction = 'out'",
                )
                .bind(reply_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok(::usher_channel::Outbound {
                        conversation: ::usher_channel::ConversationId::new(r.try_get::<String, _>("conversation_id")?)?,
                        channel: r.try_get("channel")?,
                        id: r.try_get("id")?,
                        parts: $crate::store::sql::json_col::<Vec<::usher_channel::Part>>(r.try_get("parts")?)?
                            .unwrap_or_default(),
                    })
                })
                .transpose()
            }

            async fn open_web_session(&self, conversation: &::usher_channel::ConversationId, token_hash: &str) -> Result<(), $crate::Error> {
                let mut tx = self.begin_write().await?;
                sqlx::query("INSERT INTO web_sessions (token_hash, conversation_id, created_ms) VALUES ($1, $2, $3)")
                    .bind(token_hash)
                    .bind(conversation.as_str())
                    .bind($crate::util::now_ms())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "DELETE FROM web_sessions WHERE conversation_id = $1 AND token_hash NOT IN
                       (SELECT token_hash FROM web_sessions WHERE conversation_id = $1
                        ORDER BY created_ms DESC, token_hash LIMIT $2)",
                )
                .bind(conversation.as_str())
                .bind($crate::store::MAX_WEB_SESSIONS)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn web_session_hashes(&self, conversation: &::usher_channel::ConversationId) -> Result<Vec<String>, $crate::Error> {
                let rows = sqlx::query("SELECT token_hash FROM web_sessions WHERE conversation_id = $1")
                    .bind(conversation.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| Ok(r.try_get::<String, _>(0)?)).collect()
            }

            async fn conversations_for_key(&self, key_hash: &str) -> Result<Vec<::usher_channel::ConversationId>, $crate::Error> {
                let rows = sqlx::query("SELECT DISTINCT conversation_id FROM fan_keys WHERE key_hash = $1 ORDER BY conversation_id")
                    .bind(key_hash)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| Ok(::usher_channel::ConversationId::new(r.try_get::<String, _>(0)?)?))
                    .collect()
            }

            async fn erase(&self, conversation: &::usher_channel::ConversationId) -> Result<u64, $crate::Error> {
                let mut tx = self.begin_write().await?;
                let deleted = erase_in!(tx, conversation.as_str());
                tx.commit().await?;
                Ok(deleted)
            }

            async fn expire(&self, before_ms: i64, channel: Option<&str>, except: &[String], batch: i64) -> Result<u64, $crate::Error> {
                let mut sql = String::from(
                    "SELECT id FROM conversations c WHERE updated_ms < $1
                     AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.conversation_id = c.id AND t.state IN ('waiting', 'claimed'))",
                );
                let mut n = 2;
                if channel.is_some() {
                    sql.push_str(&format!(" AND channel = ${n}"));
                    n += 1;
                }
                for _ in except {
                    sql.push_str(&format!(" AND channel <> ${n}"));
                    n += 1;
                }
                sql.push_str(&format!(" ORDER BY updated_ms LIMIT ${n}"));
                let mut tx = self.begin_write().await?;
                let mut query = sqlx::query(&sql).bind(before_ms);
                if let Some(c) = channel {
                    query = query.bind(c);
                }
                for c in except {
                    query = query.bind(c);
                }
                let ids: Vec<String> = query.bind(batch).fetch_all(&mut *tx).await?.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
                for id in &ids {
                    erase_in!(tx, id.as_str());
                }
                tx.commit().await?;
                Ok(ids.len() as u64)
            }

            async fn ping(&self) -> Result<(), $crate::Error> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            $($extra)*
        }
        };
    };
}
