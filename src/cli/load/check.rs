//! Reading each fan's transcript back from the store and comparing it with
//! what the fan's socket received.

use std::collections::HashMap;

use anyhow::Context as _;

use super::fan::{with_backoff, Fan, Limits};

/// Lost, duplicated and out-of-order replies over all fans.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub lost: usize,
    pub duplicated: usize,
    pub out_of_order: usize,
    /// Fans whose transcript could not be read (the server stopped, say):
    /// their acknowledged messages with no reply seen count as lost.
    pub unverified: usize,
    /// The first read-back failure.
    pub error: Option<String>,
}

/// The bot's stored replies to this fan's acknowledged messages, and how
/// many of those messages have none.
struct Stored {
    replies: Vec<i64>,
    unanswered: usize,
}

/// Reads every fan's transcript (16 at a time, backing off on 429) and
/// tallies what went wrong.
pub async fn tally(
    client: &reqwest::Client,
    base: &str,
    fans: &[Fan],
    limits: &Limits,
    until: tokio::time::Instant,
) -> Tally {
    use futures::StreamExt;
    let checks = futures::stream::iter(fans.iter().map(|f| stored_replies(client, base, f, limits, until)))
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    let mut t = Tally::default();
    for (f, stored) in fans.iter().zip(checks) {
        let mut seen: HashMap<i64, usize> = HashMap::new();
        for id in &f.received {
            *seen.entry(*id).or_default() += 1;
        }
        t.duplicated += seen.values().map(|n| n - 1).sum::<usize>();
        t.out_of_order += f.received.windows(2).filter(|w| w[1] < w[0]).count();
        match stored {
            Ok(stored) => {
                t.lost += stored.replies.iter().filter(|id| !seen.contains_key(id)).count();
                t.lost += stored.unanswered;
            }
            Err(e) => {
                t.unverified += 1;
                t.lost += f.acked.len().saturating_sub(f.latencies.len());
                t.error.get_or_insert_with(|| format!("{}: {e:#}", f.conversation));
            }
        }
    }
    t
}

async fn stored_replies(
    client: &reqwest::Client,
    base: &str,
    f: &Fan,
    limits: &Limits,
    until: tokio::time::Instant,
) -> anyhow::Result<Stored> {
    if f.acked.is_empty() {
        return Ok(Stored { replies: Vec::new(), unanswered: 0 });
    }
    let url = format!("{base}/api/v1/conversations/{}", f.conversation);
    let transcript: serde_json::Value = with_backoff(limits, until, || client.get(&url).bearer_auth(&f.token))
        .await?
        .error_for_status()?
        .json()
        .await?;
    let messages = transcript["messages"].as_array().context("transcript without messages")?;
    let mut replies = Vec::new();
    let mut answered: HashMap<i64, bool> = HashMap::new();
    let mut current: Option<i64> = None;
    for m in messages {
        let id = m["id"].as_i64().unwrap_or_default();
        match (m["direction"].as_str(), m["sender"].as_str()) {
            (Some("in"), _) => {
                current = Some(id);
                answered.insert(id, false);
            }
            (Some("out"), Some("bot")) => {
                replies.push(id);
                if let Some(c) = current {
                    answered.insert(c, true);
                }
            }
            _ => {}
        }
    }
    let unanswered = f.acked.iter().filter(|id| !answered.get(id).copied().unwrap_or(false)).count();
    Ok(Stored { replies, unanswered })
}
