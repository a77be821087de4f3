//! Building a ready engine from a config: intent files, store, trained NLU.

use std::sync::Arc;

use crate::config::{Config, StoreKind};
use crate::engine::{Brain, Engine};
use crate::intents::{self, Diagnostic};
use crate::nlu::{Nlu, Provenance};
use crate::store::{SqliteStore, Store};
use crate::Error;

/// Loads and validates the intent files, then trains (or loads the cached)
/// classifier for them. Synchronous and CPU-heavy: call it off the runtime.
pub fn brain(
    config: &Config,
    progress: &mut dyn FnMut(usize, usize, f32),
) -> Result<(Brain, Provenance, Vec<Diagnostic>), Error> {
    let loaded = intents::load(&config.intents).map_err(Error::Intents)?;
    let train = config.nlu.train_config();
    let (nlu, provenance) = Nlu::train_or_load(&loaded.domain, &config.model_cache(), &train, progress)?;
    Ok((Brain { domain: loaded.domain, nlu }, provenance, loaded.warnings))
}

/// Opens the configured store.
pub async fn store(config: &Config) -> Result<Arc<dyn Store>, Error> {
    match config.store.kind {
        StoreKind::Sqlite => Ok(Arc::new(SqliteStore::open(&config.sqlite_path()).await?)),
    }
}

/// A ready engine: brain trained on the blocking pool, store opened,
/// unanswered messages from a previous run re-queued.
pub async fn engine(
    config: &Config,
    mut progress: impl FnMut(usize, usize, f32) + Send + 'static,
) -> Result<(Engine, Provenance), Error> {
    let cfg = config.clone();
    let (brain, provenance, warnings) = tokio::task::spawn_blocking(move || brain(&cfg, &mut progress))
        .await
        .map_err(|e| Error::Model(format!("training task failed: {e}")))??;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let engine = Engine::new(store(config).await?, brain);
    let recovered = engine.recover().await?;
    if recovered > 0 {
        tracing::info!(recovered, "answering messages left unanswered by the last run");
    }
    Ok((engine, provenance))
}
