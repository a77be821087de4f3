//! Hot reload: watches the intent files; an edit is validated, retrained on
//! the blocking pool and swapped into the engine atomically, while the old
//! model keeps answering. Invalid files keep the old model; every error is
//! logged with file:line:column and shown at `/api/v1/admin/reload-status`.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde::Serialize;
use usher_channel::Shutdown;

use crate::bootstrap;
use crate::config::Config;
use crate::engine::Engine;
use crate::nlu::Provenance;
use crate::Error;

/// The outcome of the latest reload.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ReloadStatus {
    /// Reloads attempted since start.
    pub attempts: u64,
    /// `ok`, `failed`, or `none` before the first reload.
    pub outcome: String,
    /// When it finished (ms since the epoch).
    pub finished_ms: i64,
    /// From the file event to the new model answering (or to the failure).
    pub duration_ms: u64,
    /// Intents in the model now serving.
    pub intents: usize,
    /// Every error (`file:line:column: ...`) when it failed.
    pub errors: Vec<String>,
    /// Warnings of the files now serving.
    pub warnings: Vec<String>,
}

/// Shared, readable status of the reloader.
pub type StatusHandle = Arc<RwLock<ReloadStatus>>;

/// A fresh status for a server that has not reloaded yet.
pub fn initial_status(intents: usize) -> StatusHandle {
    Arc::new(RwLock::new(ReloadStatus { outcome: "none".into(), intents, ..ReloadStatus::default() }))
}

/// Starts watching `config.intents`; reloads until `shutdown` fires.
pub fn watch(engine: Engine, config: Config, status: StatusHandle, shutdown: Shutdown) -> Result<(), Error> {
    let dir = config.intents.clone();
    crate::watch::watch(&dir, false, shutdown, move |first| {
        let (engine, config, status) = (engine.clone(), config.clone(), Arc::clone(&status));
        async move { reload(&engine, &config, &status, first).await }
    })
}

/// Validates and retrains now; swaps the model in on success.
pub async fn reload(engine: &Engine, config: &Config, status: &StatusHandle, since: Instant) {
    let cfg = config.clone();
    let current = engine.brain();
    let (features, sentiment) = (current.nlu.features().clone(), current.nlu.sentiment().cloned());
    let built = tokio::task::spawn_blocking(move || bootstrap::brain(&cfg, features, sentiment, &mut |_, _, _| {}))
        .await
        .map_err(|e| Error::Model(format!("reload task failed: {e}")))
        .and_then(|r| r);
    let mut s = status.write().unwrap_or_else(|p| p.into_inner());
    s.attempts += 1;
    s.finished_ms = crate::util::now_ms();
    match built {
        Ok((brain, provenance, warnings)) => {
            s.intents = brain.domain.intents.len();
            engine.swap_brain(brain);
            s.duration_ms = since.elapsed().as_millis() as u64;
            s.outcome = "ok".into();
            s.errors.clear();
            s.warnings = warnings.iter().map(ToString::to_string).collect();
            let trained = matches!(provenance, Provenance::Trained(_));
            tracing::info!(intents = s.intents, ms = s.duration_ms, trained, "intent files reloaded");
        }
        Err(e) => {
            s.duration_ms = since.elapsed().as_millis() as u64;
            s.outcome = "failed".into();
            s.errors = match &e {
                Error::Intents(report) => report.errors().map(ToString::to_string).collect(),
                other => vec![other.to_string()],
            };
            for err in &s.errors {
                tracing::error!("reload refused, the previous model keeps serving: {err}");
            }
        }
    }
}
