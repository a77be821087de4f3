//! Hot reload: watches the intent files; an edit is validated, retrained on
//! the blocking pool and swapped into the engine atomically, while the old
//! model keeps answering. Invalid files keep the old model; every error is
//! logged with file:line:column and shown at `/api/v1/admin/reload-status`.
//! The conversation tests (`reload.conversation_tests`) run on every reload
//! on a scratch engine with the new model; their failures are listed in the
//! status, and with `reload.require_passing_tests` a change that breaks one
//! keeps the old model.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use usher_channel::Shutdown;

use crate::bootstrap;
use crate::config::Config;
use crate::engine::Engine;
use crate::nlu::Provenance;
use crate::Error;

/// The `reload:` section of `config.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadConfig {
    /// Conversation tests run on every reload (a file or a directory;
    /// skipped when absent). Default `tests/conversations`.
    #[serde(default = "default_tests")]
    pub conversation_tests: PathBuf,
    /// Keep the old model when a reload breaks a conversation test.
    /// Default false: the new model serves and the failures are listed.
    #[serde(default)]
    pub require_passing_tests: bool,
}

fn default_tests() -> PathBuf {
    PathBuf::from("tests/conversations")
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self { conversation_tests: default_tests(), require_passing_tests: false }
    }
}

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
    /// Conversation tests run with the reloaded files (none when there are
    /// no tests, or the files were refused before them).
    pub tests_run: usize,
    /// Each failing conversation test: `file: name: turn N: difference`.
    pub test_failures: Vec<String>,
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

/// Validates and retrains now; runs the conversation tests on the new
/// model; swaps it in on success (and, with `require_passing_tests`, only
/// when every test passes).
pub async fn reload(engine: &Engine, config: &Config, status: &StatusHandle, since: Instant) {
    let cfg = config.clone();
    let current = engine.brain();
    let (features, sentiment) = (current.nlu.features().clone(), current.nlu.sentiment().cloned());
    let built = tokio::task::spawn_blocking(move || {
        let built = bootstrap::brain(&cfg, features, sentiment, &mut |_, _, _| {});
        crate::util::release_freed_memory();
        built
    })
    .await
    .map_err(|e| Error::Model(format!("reload task failed: {e}")))
    .and_then(|r| r);
    let (brain, provenance, warnings) = match built {
        Ok(built) => built,
        Err(e) => return refused(status, since, &e),
    };
    let brain = Arc::new(brain);
    let required = config.reload.require_passing_tests;
    if !required {
        // Tests are advice: the new model answers at once.
        engine.swap_shared_brain(Arc::clone(&brain));
    }
    let tests = conversation_tests(engine, config, &brain).await;
    let (tests_run, test_failures) = match tests {
        Ok(found) => found,
        Err(e) => (0, vec![format!("the conversation tests could not run: {e}")]),
    };
    let mut s = status.write().unwrap_or_else(|p| p.into_inner());
    s.attempts += 1;
    s.finished_ms = crate::util::now_ms();
    s.duration_ms = since.elapsed().as_millis() as u64;
    s.tests_run = tests_run;
    s.test_failures = test_failures;
    if required && !s.test_failures.is_empty() {
        s.outcome = "failed".into();
        s.errors = vec![format!(
            "{} conversation test(s) fail with this change (reload.require_passing_tests): the previous model keeps serving",
            s.test_failures.len()
        )];
        for failure in &s.test_failures {
            tracing::error!("reload refused: conversation test fails: {failure}");
        }
        return;
    }
    if required {
        engine.swap_shared_brain(Arc::clone(&brain));
    }
    s.intents = brain.domain.intents.len();
    s.outcome = "ok".into();
    s.errors.clear();
    s.warnings = warnings.iter().map(ToString::to_string).collect();
    let trained = matches!(provenance, Provenance::Trained(_));
    for failure in &s.test_failures {
        tracing::warn!("conversation test fails after the reload: {failure}");
    }
    tracing::info!(intents = s.intents, ms = s.duration_ms, trained, tests = tests_run, "intent files reloaded");
}

/// Records a reload refused before any test ran.
fn refused(status: &StatusHandle, since: Instant, e: &Error) {
    let mut s = status.write().unwrap_or_else(|p| p.into_inner());
    s.attempts += 1;
    s.finished_ms = crate::util::now_ms();
    s.duration_ms = since.elapsed().as_millis() as u64;
    s.outcome = "failed".into();
    s.tests_run = 0;
    s.test_failures.clear();
    s.errors = match e {
        Error::Intents(report) => report.errors().map(ToString::to_string).collect(),
        other => vec![other.to_string()],
    };
    for err in &s.errors {
        tracing::error!("reload refused, the previous model keeps serving: {err}");
    }
}

/// Runs the configured conversation tests on a scratch engine (its own
/// throwaway store, the live knowledge base) with `brain`: how many ran,
/// and each failure.
async fn conversation_tests(
    live: &Engine,
    config: &Config,
    brain: &Arc<crate::engine::Brain>,
) -> Result<(usize, Vec<String>), Error> {
    let path = &config.reload.conversation_tests;
    if !path.exists() {
        return Ok((0, Vec::new()));
    }
    let cases = crate::convtest::load(path)?;
    let scratch = crate::convtest::Scratch::new(&config.data_dir, Arc::clone(brain)).await?;
    if let Some(kb) = live.knowledge() {
        scratch.engine.set_knowledge(kb);
    }
    let report = crate::convtest::run(&scratch.engine, &cases).await?;
    let failures = report
        .outcomes
        .iter()
        .flat_map(|o| {
            o.failures.iter().map(move |(turn, _, diffs)| {
                format!("{}: {}: turn {turn}: {}", o.file.display(), o.name, diffs.join("; "))
            })
        })
        .collect();
    Ok((report.outcomes.len(), failures))
}
