//! Retention: conversations older than `privacy.retention_days` (or their
//! channel's period in `retention_by_channel`) are deleted with everything
//! held about them, in batches of `sweep_batch` conversations per
//! transaction so turns never wait long, every `sweep_minutes`. A
//! conversation with an open ticket waits until the ticket closes.

use std::sync::Arc;

use usher_channel::Shutdown;

use super::PrivacyConfig;
use crate::store::Store;
use crate::Error;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// One sweep as of `now_ms` (the caller's clock): the conversations deleted.
pub async fn sweep(store: &dyn Store, config: &PrivacyConfig, now_ms: i64) -> Result<u64, Error> {
    let batch = config.sweep_batch.max(1);
    let mut total = 0;
    let overridden: Vec<String> = config.retention_by_channel.keys().cloned().collect();
    let mut passes: Vec<(Option<&str>, u32, &[String])> =
        config.retention_by_channel.iter().map(|(c, d)| (Some(c.as_str()), *d, &[][..])).collect();
    if let Some(days) = config.retention_days {
        passes.push((None, days, &overridden));
    }
    for (channel, days, except) in passes {
        let before = now_ms - i64::from(days) * DAY_MS;
        loop {
            let n = store.expire(before, channel, except, batch).await?;
            total += n;
            if n < batch as u64 {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    Ok(total)
}

/// Sweeps every `sweep_minutes` until `shutdown`; nothing when no
/// retention is configured.
pub fn spawn(
    store: Arc<dyn Store>,
    config: PrivacyConfig,
    mut shutdown: Shutdown,
) -> Option<tokio::task::JoinHandle<()>> {
    if config.retention_days.is_none() && config.retention_by_channel.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(config.sweep_minutes.max(1) * 60));
        loop {
            tokio::select! {
                _ = tick.tick() => match sweep(store.as_ref(), &config, crate::util::now_ms()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(conversations = n, "retention: deleted conversations past their retention period"),
                    Err(e) => tracing::warn!(error = %e, "retention sweep failed; trying again at the next one"),
                },
                _ = shutdown.recv() => return,
            }
        }
    }))
}
