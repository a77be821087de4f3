//! Cross-replica notices over PostgreSQL `LISTEN`/`NOTIFY`: console events
//! and the ids of new replies, so that a fan's socket on replica A receives
//! the reply an agent typed on replica B. Notices carry ids, never content
//! (`NOTIFY` payloads are capped at 8 kB); receivers read the store.

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::mpsc;

use crate::handoff::Event;
use crate::Error;

/// The `NOTIFY` channel.
const CHANNEL: &str = "usher_events";

/// What one replica tells the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// A console event.
    Event {
        /// What changed.
        event: Event,
    },
    /// A reply was stored; replicas holding the fan's socket deliver it.
    Reply {
        /// The reply's store id.
        id: i64,
        /// Its channel.
        channel: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: String,
    #[serde(flatten)]
    notice: Notice,
}

/// Sends notices to the other replicas (in order, from one task).
#[derive(Debug, Clone)]
pub struct Bus {
    tx: mpsc::UnboundedSender<Notice>,
}

impl Bus {
    /// Starts listening and publishing on `pool`'s database; returns the
    /// bus and the notices other replicas send.
    pub async fn start(pool: PgPool) -> Result<(Self, mpsc::UnboundedReceiver<Notice>), Error> {
        let origin = format!("{:016x}", rand::random::<u64>());
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let me = origin.clone();
        tokio::spawn(async move {
            loop {
                // recv reconnects by itself after a dropped connection.
                match listener.recv().await {
                    Ok(n) => match serde_json::from_str::<Envelope>(n.payload()) {
                        Ok(env) if env.origin == me => {}
                        Ok(env) => {
                            if in_tx.send(env.notice).is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "unreadable cluster notice"),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster listener failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        let (tx, mut out) = mpsc::unbounded_channel::<Notice>();
        tokio::spawn(async move {
            while let Some(notice) = out.recv().await {
                let Ok(payload) = serde_json::to_string(&Envelope { origin: origin.clone(), notice }) else {
                    continue;
                };
                if let Err(e) =
                    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(&payload).execute(&pool).await
                {
                    tracing::warn!(error = %e, "could not notify the other replicas");
                }
            }
        });
        tracing::info!("cluster bus on PostgreSQL LISTEN/NOTIFY");
        Ok((Self { tx }, in_rx))
    }

    /// Queues a notice for the other replicas.
    pub fn send(&self, notice: Notice) {
        let _ = self.tx.send(notice);
    }
}

/// Sends one notice to every replica listening on `pool`'s database, from
/// a process that is not one (`usher agents remove`).
pub async fn tell(pool: &PgPool, notice: Notice) -> Result<(), Error> {
    let payload = serde_json::to_string(&Envelope { origin: "cli".into(), notice })?;
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(&payload).execute(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use usher_channel::ConversationId;

    #[test]
    fn notices_round_trip_as_json() {
        let conversation = ConversationId::new("web-1").expect("id");
        for notice in [
            Notice::Event { event: Event::Queue },
            Notice::Event { event: Event::Message { conversation } },
            Notice::Reply { id: 7, channel: "webchat".into() },
        ] {
            let env = Envelope { origin: "a".into(), notice: notice.clone() };
            let text = serde_json::to_string(&env).expect("json");
            let back: Envelope = serde_json::from_str(&text).expect("parse");
            assert_eq!(back.notice, notice, "{text}");
        }
    }
}
