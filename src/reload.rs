//! Hot reload: watches the intent files; an edit is validated, retrained on
//! the blocking pool and swapped into the engine atomically, while the old
//! model keeps answering. Invalid files keep the old model; every error is
//! logged with file:line:column and shown at `/api/v1/admin/reload-status`.
//! The conversation tests (`reload.conversation_tests`) run on every reload
//! on a scratch engine with the new model; their failures are listed in the
//! status, and with `reload.require_passing_tests` a change that breaks one
//! keeps the old model.
//!
//! With `nlu.fine_tune_layers` above 0 the encoder's fine-tuning stays out
//! of that path (`nlu.fine_tune_in_background`): the reload trains a head
//! over the frozen encoder, which answers at once, and a [`Tuner`] then
//! fine-tunes on the blocking pool and swaps the tuned model in when it is
//! ready (its state is `fine_tune` in the status). An edit cancels a run
//! for older files; the tuned model is cached, so a restart loads it.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use usher_channel::Shutdown;

use crate::bootstrap;
use crate::config::Config;
use crate::engine::{Brain, Engine};
use crate::nlu::encoder::Cancel;
use crate::nlu::{Nlu, Provenance};
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
    /// The background fine-tuning of the encoder (`nlu.fine_tune_layers`).
    pub fine_tune: TuningStatus,
}

/// Where the background fine-tuning stands.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TuningStatus {
    /// `none` (nothing to tune: not configured, or the tuned model was
    /// cached), `running` (the frozen head answers meanwhile), `ready` (the
    /// tuned model answers), `cancelled` (an edit or a shutdown replaced
    /// it), `refused` (a conversation test fails with it and
    /// `reload.require_passing_tests` is set) or `failed`.
    pub state: String,
    /// Top encoder layers tuned.
    pub layers: usize,
    /// When it started (ms since the epoch; 0 before the first).
    pub started_ms: i64,
    /// How long it ran, once it stopped.
    pub seconds: Option<f64>,
    /// Why it failed or was refused.
    pub error: Option<String>,
    /// Each conversation test failing with the tuned model.
    pub test_failures: Vec<String>,
}

/// Shared, readable status of the reloader.
pub type StatusHandle = Arc<RwLock<ReloadStatus>>;

/// A fresh status for a server that has not reloaded yet.
pub fn initial_status(intents: usize) -> StatusHandle {
    let fine_tune = TuningStatus { state: "none".into(), ..TuningStatus::default() };
    Arc::new(RwLock::new(ReloadStatus { outcome: "none".into(), intents, fine_tune, ..ReloadStatus::default() }))
}

/// Starts watching `config.intents`; reloads until `shutdown` fires. With
/// `tune_now` (the engine came from [`bootstrap::serving_engine`] with
/// fine-tuning still to do) the background fine-tuning starts at once.
pub fn watch(
    engine: Engine,
    config: Config,
    status: StatusHandle,
    shutdown: Shutdown,
    tune_now: bool,
) -> Result<(), Error> {
    let dir = config.intents.clone();
    let tuner = Tuner::new(shutdown.clone());
    tuner.follow(&engine, &config, &status, tune_now);
    crate::watch::watch(&dir, false, shutdown, move |first| {
        let (engine, config, status, tuner) = (engine.clone(), config.clone(), Arc::clone(&status), tuner.clone());
        async move { reload(&engine, &config, &status, &tuner, first).await }
    })
}

/// Validates and retrains now (over the frozen encoder when fine-tuning
/// runs in the background); runs the conversation tests on the new model;
/// swaps it in on success (and, with `require_passing_tests`, only when
/// every test passes); then starts the fine-tuning the new files need.
pub async fn reload(engine: &Engine, config: &Config, status: &StatusHandle, tuner: &Tuner, since: Instant) {
    let cfg = config.clone();
    let current = engine.brain();
    let (features, sentiment) = (current.nlu.features().clone(), current.nlu.sentiment().cloned());
    let built = tokio::task::spawn_blocking(move || {
        let built = bootstrap::brain_quick(&cfg, features, sentiment, &mut |_, _, _| {});
        crate::util::release_freed_memory();
        built
    })
    .await
    .map_err(|e| Error::Model(format!("reload task failed: {e}")))
    .and_then(|r| r);
    let (brain, provenance, warnings, pending) = match built {
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
    if required && !test_failures.is_empty() {
        for failure in &test_failures {
            tracing::error!("reload refused: conversation test fails: {failure}");
        }
        let mut s = status.write().unwrap_or_else(|p| p.into_inner());
        s.outcome = "failed".into();
        s.errors = vec![format!(
            "{} conversation test(s) fail with this change (reload.require_passing_tests): the previous model keeps serving",
            test_failures.len()
        )];
        finish(&mut s, since, tests_run, test_failures);
        return;
    }
    if required {
        engine.swap_shared_brain(Arc::clone(&brain));
    }
    // Before the attempt is counted: whoever sees it sees the new run too.
    tuner.follow(engine, config, status, pending);
    for failure in &test_failures {
        tracing::warn!("conversation test fails after the reload: {failure}");
    }
    let mut s = status.write().unwrap_or_else(|p| p.into_inner());
    s.intents = brain.domain.intents.len();
    s.outcome = "ok".into();
    s.errors.clear();
    s.warnings = warnings.iter().map(ToString::to_string).collect();
    finish(&mut s, since, tests_run, test_failures);
    let trained = matches!(provenance, Provenance::Trained(_));
    tracing::info!(intents = s.intents, ms = s.duration_ms, trained, tests = tests_run, "intent files reloaded");
}

/// Counts a finished reload attempt with its tests.
fn finish(s: &mut ReloadStatus, since: Instant, tests_run: usize, test_failures: Vec<String>) {
    s.attempts += 1;
    s.finished_ms = crate::util::now_ms();
    s.duration_ms = since.elapsed().as_millis() as u64;
    s.tests_run = tests_run;
    s.test_failures = test_failures;
}

/// Fine-tunes the encoder for the files now serving, on the blocking pool,
/// one run at a time: a new start (an edit) or the shutdown cancels the
/// run before it. The tuned model is cached (a restart loads it) and
/// swapped in only while the same files still serve.
#[derive(Clone)]
pub struct Tuner {
    current: Arc<std::sync::Mutex<(u64, Cancel)>>,
}

impl Tuner {
    /// A tuner whose runs stop when `shutdown` fires.
    pub fn new(mut shutdown: Shutdown) -> Self {
        let tuner = Self { current: Arc::new(std::sync::Mutex::new((0, Cancel::default()))) };
        let current = Arc::clone(&tuner.current);
        tokio::spawn(async move {
            shutdown.recv().await;
            current.lock().unwrap_or_else(|p| p.into_inner()).1.cancel();
        });
        tuner
    }

    /// Cancels the run in progress and makes `cancel` the current run's
    /// flag; returns the new run's generation.
    fn next(&self, cancel: Cancel) -> u64 {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.1.cancel();
        *current = (current.0 + 1, cancel);
        current.0
    }

    /// After a new brain went live: starts its fine-tuning when `pending`;
    /// otherwise cancels any run for older files and reports whether the
    /// brain's classifier is tuned (loaded from the cache) or not.
    pub fn follow(&self, engine: &Engine, config: &Config, status: &StatusHandle, pending: bool) {
        if pending {
            return self.start(engine, config, status);
        }
        self.next(Cancel::default());
        let tuned = match engine.brain().nlu.features().encoder() {
            Some(encoder) if config.nlu.fine_tune_layers > 0 => encoder.tuned_layers(),
            _ => 0,
        };
        let state = if tuned > 0 { "ready" } else { "none" };
        status.write().unwrap_or_else(|p| p.into_inner()).fine_tune =
            TuningStatus { state: state.into(), layers: tuned, ..TuningStatus::default() };
    }

    /// Cancels the run in progress and starts one for the brain answering now.
    pub fn start(&self, engine: &Engine, config: &Config, status: &StatusHandle) {
        let cancel = Cancel::default();
        let generation = self.next(cancel.clone());
        let mut cfg = config.nlu.train_config();
        cfg.fine_tune.cancel = cancel;
        let started_ms = crate::util::now_ms();
        let examples = crate::nlu::training_examples(&engine.brain().domain).count();
        let layers = cfg.fine_tune.layers_for(examples);
        status.write().unwrap_or_else(|p| p.into_inner()).fine_tune =
            TuningStatus { state: "running".into(), layers, started_ms, ..TuningStatus::default() };
        tracing::info!(layers, "fine-tuning the encoder in the background");
        let run = Run { tuner: self.clone(), generation, engine: engine.clone(), config: config.clone() };
        let status = Arc::clone(status);
        tokio::spawn(async move {
            let started = Instant::now();
            let (state, failures, error) = match run.tune(cfg).await {
                Ok((state, failures)) => (state, failures, None),
                Err(Error::Cancelled(_)) => ("cancelled", Vec::new(), None),
                Err(e) => ("failed", Vec::new(), Some(e.to_string())),
            };
            // Held while the status is written: no newer run starts meanwhile.
            let current = run.tuner.current.lock().unwrap_or_else(|p| p.into_inner());
            if current.0 != generation {
                return; // a newer run owns the status
            }
            let mut s = status.write().unwrap_or_else(|p| p.into_inner());
            let t = &mut s.fine_tune;
            t.state = state.into();
            t.seconds = Some(started.elapsed().as_secs_f64());
            t.error = error.or_else(|| {
                (state == "refused").then(|| {
                    format!(
                        "{} conversation test(s) fail with the tuned model: the frozen one keeps serving",
                        failures.len()
                    )
                })
            });
            t.test_failures = failures;
            match &t.error {
                Some(e) => tracing::error!(state, "background fine-tuning: {e}"),
                None => tracing::info!(state, seconds = t.seconds, "background fine-tuning finished"),
            }
        });
    }
}

/// One background fine-tuning.
struct Run {
    tuner: Tuner,
    generation: u64,
    engine: Engine,
    config: Config,
}

impl Run {
    /// Trains (or loads) the tuned classifier, checks it against the
    /// conversation tests and swaps it in: the state to report and the
    /// tests that fail with it.
    async fn tune(&self, cfg: crate::nlu::TrainConfig) -> Result<(&'static str, Vec<String>), Error> {
        let base = self.engine.brain();
        let (domain, features, cache) = (base.domain.clone(), base.nlu.features().clone(), self.config.model_cache());
        let (classifier, _) = tokio::task::spawn_blocking(move || {
            let tuned = Nlu::classifier(&domain, &features, &cache, &cfg, &mut |_, _, _| {});
            crate::util::release_freed_memory();
            tuned
        })
        .await
        .map_err(|e| Error::Model(format!("fine-tuning task failed: {e}")))??;
        let nlu = base.nlu.with_classifier(classifier, &base.domain);
        let brain = Arc::new(Brain { domain: base.domain.clone(), nlu });
        let (_, failures) = conversation_tests(&self.engine, &self.config, &brain).await?;
        for failure in &failures {
            tracing::warn!("conversation test fails with the tuned model: {failure}");
        }
        if self.config.reload.require_passing_tests && !failures.is_empty() {
            return Ok(("refused", failures));
        }
        // Only over the brain it was tuned for, and only while no newer run started.
        let current = || self.tuner.current.lock().unwrap_or_else(|p| p.into_inner()).0 == self.generation;
        let swapped = self.engine.swap_brain_if(brain, |now| std::ptr::eq(now, &*base) && current());
        Ok((if swapped { "ready" } else { "cancelled" }, failures))
    }
}

/// Records a reload refused before any test ran.
fn refused(status: &StatusHandle, since: Instant, e: &Error) {
    let mut s = status.write().unwrap_or_else(|p| p.into_inner());
    finish(&mut s, since, 0, Vec::new());
    s.outcome = "failed".into();
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
