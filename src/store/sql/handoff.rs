//! The handoff desk's queries, shared by both backends.

/// Implements [`HandoffStore`](crate::handoff::HandoffStore) for `$store`,
/// a struct with a sqlx `pool` field whose rows are `$row`.
macro_rules! handoff_queries {
    ($store:ty, $row:ty) => {
        const _: () = {
        use ::sqlx::Row as _;
        /// Ticket columns plus the fan's latest message.
        const TICKET: &str = "SELECT t.id, t.conversation_id, c.channel, t.reason, t.priority, t.state, t.agent,
                t.resolution, t.created_ms, t.claimed_ms, t.ended_ms, t.notified_position,
                (SELECT m.text FROM messages m WHERE m.conversation_id = t.conversation_id AND m.direction = 'in'
                 ORDER BY m.id DESC LIMIT 1) AS preview
            FROM tickets t JOIN conversations c ON c.id = t.conversation_id";

        fn ticket_row(r: &$row) -> Result<$crate::handoff::Ticket, $crate::Error> {
            let reason: String = r.try_get("reason")?;
            let state: String = r.try_get("state")?;
            Ok($crate::handoff::Ticket {
                id: r.try_get("id")?,
                conversation: ::usher_channel::ConversationId::new(r.try_get::<String, _>("conversation_id")?)?,
                channel: r.try_get("channel")?,
                reason: $crate::dialogue::Reason::parse(&reason).unwrap_or_default(),
                priority: r.try_get("priority")?,
                state: $crate::handoff::TicketState::parse(&state).ok_or_else(|| $crate::Error::Invalid(format!("unknown ticket state {state:?}")))?,
                agent: r.try_get("agent")?,
                resolution: r.try_get("resolution")?,
                created_ms: r.try_get("created_ms")?,
                claimed_ms: r.try_get("claimed_ms")?,
                ended_ms: r.try_get("ended_ms")?,
                notified_position: r.try_get("notified_position")?,
                preview: r.try_get("preview")?,
            })
        }

        impl $store {
            async fn tickets_where(&self, filter: &str, conversation: &::usher_channel::ConversationId) -> Result<Option<$crate::handoff::Ticket>, $crate::Error> {
                let sql = format!("{TICKET} WHERE t.conversation_id = $1 {filter} ORDER BY t.id DESC LIMIT 1");
                let row = sqlx::query(&sql).bind(conversation.as_str()).fetch_optional(&self.pool).await?;
                row.as_ref().map(ticket_row).transpose()
            }
        }

        #[::async_trait::async_trait]
        impl $crate::handoff::HandoffStore for $store {
            async fn add_agent(&self, name: &str, password_hash: &str, role: $crate::handoff::Role) -> Result<bool, $crate::Error> {
                let done = sqlx::query(
                    "INSERT INTO agents (name, password_hash, created_ms, role) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(name)
                .bind(password_hash)
                .bind($crate::util::now_ms())
                .bind(role.as_str())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_role(&self, name: &str, role: $crate::handoff::Role) -> Result<bool, $crate::Error> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("UPDATE agents SET role = $1 WHERE name = $2")
                    .bind(role.as_str())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM agent_sessions WHERE agent = $1").bind(name).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn remove_agent(&self, name: &str) -> Result<Option<u64>, $crate::Error> {
                let mut tx = self.begin_write().await?;
                // Their conversations go back to the queue (in the same
                // transaction): another agent can claim them at once.
                let returned = sqlx::query(
                    "UPDATE tickets SET state = 'waiting', agent = NULL, claimed_ms = NULL, notified_position = NULL
                     WHERE agent = $1 AND state = 'claimed'",
                )
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // Sessions go with the agent (ON DELETE CASCADE).
                let done = sqlx::query("DELETE FROM agents WHERE name = $1").bind(name).execute(&mut *tx).await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                tx.commit().await?;
                Ok(Some(returned))
            }

            async fn count_login_attempt(&self, keys: &[(String, i64)], window_ms: i64) -> Result<Option<i64>, $crate::Error> {
                let now = $crate::util::now_ms();
                // Ended windows go first, in their own statement (outside the
                // transaction that locks the keys, so no two lock in different orders).
                sqlx::query("DELETE FROM login_attempts WHERE window_ms <= $1")
                    .bind(now - window_ms)
                    .execute(&self.pool)
                    .await?;
                let mut tx = self.begin_write().await?;
                for (key, limit) in keys {
                    // One statement per key: the row lock (PostgreSQL) or the
                    // write lock (SQLite) orders concurrent attempts.
                    let row = sqlx::query(
                        "INSERT INTO login_attempts (key, window_ms, attempts) VALUES ($1, $2, 1)
                         ON CONFLICT (key) DO UPDATE SET attempts = login_attempts.attempts + 1
                         RETURNING attempts, window_ms",
                    )
                    .bind(key)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    let attempts: i64 = row.try_get("attempts")?;
                    if attempts > *limit {
                        let began: i64 = row.try_get("window_ms")?;
                        // Dropping the transaction counts nothing.
                        return Ok(Some((began + window_ms - now).max(1)));
                    }
                }
                tx.commit().await?;
                Ok(None)
            }

            async fn login_succeeded(&self, keys: &[String]) -> Result<(), $crate::Error> {
                let mut tx = self.begin_write().await?;
                for key in keys {
                    sqlx::query("UPDATE login_attempts SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0")
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn set_display_name(&self, name: &str, display_name: &str) -> Result<bool, $crate::Error> {
                let done = sqlx::query("UPDATE agents SET display_name = $1 WHERE name = $2")
                    .bind(display_name)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn display_name(&self, name: &str) -> Result<Option<String>, $crate::Error> {
                let row = sqlx::query("SELECT display_name FROM agents WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| r.try_get::<Option<String>, _>(0)).transpose()?.flatten())
            }

            async fn agents(&self) -> Result<Vec<$crate::handoff::Agent>, $crate::Error> {
                let rows = sqlx::query("SELECT name, role, created_ms FROM agents ORDER BY name").fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        let role = $crate::handoff::Role::parse(&r.try_get::<String, _>("role")?);
                        Ok($crate::handoff::Agent { name: r.try_get("name")?, role, created_ms: r.try_get("created_ms")? })
                    })
                    .collect()
            }

            async fn password_hash(&self, name: &str) -> Result<Option<String>, $crate::Error> {
                let row = sqlx::query("SELECT password_hash FROM agents WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| r.try_get(0)).transpose()?)
            }

            async fn create_session(&self, session: &$crate::handoff::Session) -> Result<(), $crate::Error> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM agent_sessions WHERE expires_ms < $1").bind($crate::util::now_ms()).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO agent_sessions (token_hash, agent, csrf, expires_ms) VALUES ($1, $2, $3, $4)")
                    .bind(&session.token_hash)
                    .bind(&session.agent)
                    .bind(&session.csrf)
                    .bind(session.expires_ms)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session(&self, token_hash: &str, now_ms: i64) -> Result<Option<($crate::handoff::Session, $crate::handoff::Role)>, $crate::Error> {
                let row = sqlx::query(
                    "SELECT s.token_hash, s.agent, s.csrf, s.expires_ms, a.role FROM agent_sessions s \
                     JOIN agents a ON a.name = s.agent WHERE s.token_hash = $1 AND s.expires_ms > $2",
                )
                .bind(token_hash)
                .bind(now_ms)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok(($crate::handoff::Session {
                        token_hash: r.try_get("token_hash")?,
                        agent: r.try_get("agent")?,
                        csrf: r.try_get("csrf")?,
                        expires_ms: r.try_get("expires_ms")?,
                    }, $crate::handoff::Role::parse(&r.try_get::<String, _>("role")?)))
                })
                .transpose()
            }

            async fn delete_session(&self, token_hash: &str) -> Result<(), $crate::Error> {
                sqlx::query("DELETE FROM agent_sessions WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
                Ok(())
            }

            async fn conversation_exists(&self, conversation: &::usher_channel::ConversationId) -> Result<bool, $crate::Error> {
                let row = sqlx::query("SELECT 1 FROM conversations WHERE id = $1")
                    .bind(conversation.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some())
            }

            async fn queue(&self) -> Result<Vec<$crate::handoff::Ticket>, $crate::Error> {
                let sql = format!("{TICKET} WHERE t.state IN ('waiting', 'claimed') ORDER BY t.priority DESC, t.id");
                let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
                rows.iter().map(ticket_row).collect()
            }

            async fn open_ticket(&self, conversation: &::usher_channel::ConversationId) -> Result<Option<$crate::handoff::Ticket>, $crate::Error> {
                self.tickets_where("AND t.state IN ('waiting', 'claimed')", conversation).await
            }

            async fn latest_ticket(&self, conversation: &::usher_channel::ConversationId) -> Result<Option<$crate::handoff::Ticket>, $crate::Error> {
                self.tickets_where("", conversation).await
            }

            async fn claim(&self, conversation: &::usher_channel::ConversationId, agent: &str) -> Result<$crate::handoff::Claim, $crate::Error> {
                let done = sqlx::query(
                    "UPDATE tickets SET state = 'claimed', agent = $1, claimed_ms = $2
                     WHERE conversation_id = $3 AND state = 'waiting'",
                )
                .bind(agent)
                .bind($crate::util::now_ms())
                .bind(conversation.as_str())
                .execute(&self.pool)
                .await?;
                let open = self.open_ticket(conversation).await?;
                Ok(match open {
                    Some(t) if done.rows_affected() == 1 => $crate::handoff::Claim::Claimed(t),
                    Some(t) => match t.agent.clone() {
                        Some(owner) if owner == agent => $crate::handoff::Claim::Already(t),
                        Some(owner) => $crate::handoff::Claim::Taken(owner),
                        None => $crate::handoff::Claim::NotWaiting,
                    },
                    None => $crate::handoff::Claim::NotWaiting,
                })
            }

            async fn end_ticket(
                &self,
                conversation: &::usher_channel::ConversationId,
                agent: &str,
                state: $crate::handoff::TicketState,
                resolution: Option<&str>,
            ) -> Result<Option<$crate::handoff::Ticket>, $crate::Error> {
                let done = sqlx::query(
                    "UPDATE tickets SET state = $1, resolution = $2, ended_ms = $3
                     WHERE conversation_id = $4 AND state = 'claimed' AND agent = $5",
                )
                .bind(state.as_str())
                .bind(resolution)
                .bind($crate::util::now_ms())
                .bind(conversation.as_str())
                .bind(agent)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                self.latest_ticket(conversation).await
            }

            async fn set_notified(&self, ticket: i64, position: i64) -> Result<bool, $crate::Error> {
                let done = sqlx::query(
                    "UPDATE tickets SET notified_position = $1
                     WHERE id = $2 AND state = 'waiting' AND (notified_position IS NULL OR notified_position <> $1)",
                )
                .bind(position)
                .bind(ticket)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn append_outbound(
                &self,
                conversation: &::usher_channel::ConversationId,
                sender: &str,
                parts: &[::usher_channel::Part],
            ) -> Result<Option<::usher_channel::Outbound>, $crate::Error> {
                let mut tx = self.begin_write().await?;
                let Some(channel) = sqlx::query("SELECT channel FROM conversations WHERE id = $1")
                    .bind(conversation.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(None);
                };
                let now = $crate::util::now_ms();
                let id = sqlx::query(
                    "INSERT INTO messages (conversation_id, direction, sender, text, parts, created_ms)
                     VALUES ($1, 'out', $2, $3, $4, $5) RETURNING id",
                )
                .bind(conversation.as_str())
                .bind(sender)
                .bind(::usher_channel::render_plain(parts))
                .bind(serde_json::to_string(parts)?)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
                .try_get::<i64, _>(0)?;
                sqlx::query("UPDATE conversations SET updated_ms = $1 WHERE id = $2")
                    .bind(now)
                    .bind(conversation.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(::usher_channel::Outbound {
                    conversation: conversation.clone(),
                    channel: channel.try_get("channel")?,
                    id,
                    parts: parts.to_vec(),
                }))
            }

            async fn add_note(&self, conversation: &::usher_channel::ConversationId, agent: &str, text: &str) -> Result<$crate::handoff::Note, $crate::Error> {
                let created_ms = $crate::util::now_ms();
                let id = sqlx::query(
                    "INSERT INTO notes (conversation_id, agent, text, created_ms) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(conversation.as_str())
                .bind(agent)
                .bind(text)
                .bind(created_ms)
                .fetch_one(&self.pool)
                .await?
                .try_get::<i64, _>(0)?;
                Ok($crate::handoff::Note { id, agent: agent.to_string(), text: text.to_string(), created_ms })
            }

            async fn notes(&self, conversation: &::usher_channel::ConversationId) -> Result<Vec<$crate::handoff::Note>, $crate::Error> {
                let rows = sqlx::query("SELECT id, agent, text, created_ms FROM notes WHERE conversation_id = $1 ORDER BY id")
                    .bind(conversation.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::handoff::Note {
                            id: r.try_get("id")?,
                            agent: r.try_get("agent")?,
                            text: r.try_get("text")?,
                            created_ms: r.try_get("created_ms")?,
                        })
                    })
                    .collect()
            }

            async fn audit(&self, entry: &$crate::handoff::AuditEntry) -> Result<(), $crate::Error> {
                sqlx::query(
                    "INSERT INTO audit (agent, action, conversation_id, detail, created_ms) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&entry.agent)
                .bind(&entry.action)
                .bind(&entry.conversation)
                .bind(&entry.detail)
                .bind(entry.created_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn audit_log(&self, limit: i64) -> Result<Vec<$crate::handoff::AuditEntry>, $crate::Error> {
                let rows = sqlx::query(
                    "SELECT agent, action, conversation_id, detail, created_ms FROM audit ORDER BY id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::handoff::AuditEntry {
                            agent: r.try_get("agent")?,
                            action: r.try_get("action")?,
                            conversation: r.try_get("conversation_id")?,
                            detail: r.try_get("detail")?,
                            created_ms: r.try_get("created_ms")?,
                        })
                    })
                    .collect()
            }

            async fn recent_waits(&self, limit: i64) -> Result<Vec<i64>, $crate::Error> {
                let rows = sqlx::query(
                    "SELECT claimed_ms - created_ms FROM tickets WHERE claimed_ms IS NOT NULL ORDER BY claimed_ms DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| Ok(r.try_get::<i64, _>(0)?)).collect()
            }

            async fn analytics(&self, top: i64) -> Result<$crate::handoff::Analytics, $crate::Error> {
                let counts = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM conversations),
                            (SELECT COUNT(DISTINCT conversation_id) FROM tickets),
                            (SELECT COUNT(*) FROM tickets WHERE state = 'waiting'),
                            (SELECT COUNT(*) FROM tickets WHERE state = 'claimed')",
                )
                .fetch_one(&self.pool)
                .await?;
                let conversations: i64 = counts.try_get(0)?;
                let handed_off: i64 = counts.try_get(1)?;
                let mut waits: Vec<i64> =
                    sqlx::query("SELECT claimed_ms - created_ms FROM tickets WHERE claimed_ms IS NOT NULL ORDER BY 1")
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(|r| r.try_get::<i64, _>(0))
                        .collect::<Result<_, _>>()?;
                waits.sort_unstable();
                let resolutions = sqlx::query(
                    "SELECT resolution, COUNT(*) FROM tickets WHERE state = 'closed' AND resolution IS NOT NULL
                     GROUP BY resolution ORDER BY 2 DESC, 1",
                )
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_, $crate::Error>>()?;
                let top_fallbacks = sqlx::query(
                    "SELECT MIN(text), COUNT(*) FROM messages WHERE direction = 'in' AND fallback = 1 AND TRIM(text) <> ''
                     GROUP BY LOWER(TRIM(text)) ORDER BY 2 DESC, 1 LIMIT $1",
                )
                .bind(top)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_, $crate::Error>>()?;
                let rate = |n: i64| if conversations == 0 { 0.0 } else { n as f64 / conversations as f64 };
                Ok($crate::handoff::Analytics {
                    conversations,
                    handed_off,
                    containment_rate: if conversations == 0 { 0.0 } else { rate(conversations - handed_off) },
                    handoff_rate: rate(handed_off),
                    median_wait_seconds: $crate::util::median(&waits).map(|ms| ms / 1000.0),
                    waiting: counts.try_get(2)?,
                    claimed: counts.try_get(3)?,
                    resolutions,
                    top_fallbacks,
                })
            }
        }
        };
    };
}
