//! Building a ready engine from a config: intent files, store, trained NLU.

use std::sync::Arc;

use crate::cluster::Bus;
use crate::config::{Config, StoreKind};
use crate::engine::{Brain, Engine};
use crate::intents::{self, Diagnostic};
use crate::knowledge::KnowledgeBase;
use crate::nlu::encoder::{fetch, EmbeddingCache, Encoder};
use crate::nlu::sentiment::Sentiment;
use crate::nlu::{Features, Nlu, Provenance};
use crate::store::{PgStore, SqliteStore, Store};
use crate::Error;

/// The classifier's features: the configured encoder plus n-grams, or
/// n-grams alone (logged clearly) when no encoder is configured or it cannot
/// be loaded. Loads the encoder: call it off the runtime.
pub fn features(config: &Config) -> Features {
    let Some(encoder) = encoder(config) else { return Features::Ngrams };
    match EmbeddingCache::open(&config.model_cache(), &encoder) {
        Ok(cache) => Features::EncoderAndNgrams { encoder: Arc::new(encoder), cache: Arc::new(cache) },
        Err(e) => {
            tracing::error!(error = %e, "cannot open the embedding cache: falling back to the hashed n-gram classifier");
            Features::Ngrams
        }
    }
}

/// The configured sentence encoder, or `None` (logged clearly: the intent
/// classifier then uses hashed n-grams alone) when none is configured or it
/// cannot be loaded. For commands that need the encoder but not the
/// classifier's embedding cache. Call it off the runtime.
pub fn encoder(config: &Config) -> Option<Encoder> {
    let Some(dir) = &config.nlu.encoder else {
        tracing::info!("no encoder configured: using the hashed n-gram classifier");
        return None;
    };
    if !fetch::present(dir) {
        tracing::warn!(
            "no sentence encoder in {}: falling back to the hashed n-gram classifier (run `usher models fetch`)",
            dir.display()
        );
        return None;
    }
    let loaded =
        config.nlu.device.device().and_then(|device| Encoder::load_on(dir, device, config.nlu.cpu_precision.get()));
    match loaded {
        Ok(encoder) => {
            tracing::info!(encoder = %dir.display(), "sentence encoder loaded");
            Some(encoder)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot load the sentence encoder: falling back to the hashed n-gram classifier");
            None
        }
    }
}

/// The sentiment model, or `None` (logged) when none is configured or it
/// cannot be loaded. A model that reads the sentence encoder gets
/// `encoder` (the one the NLU loaded, so the weights are shared).
pub fn sentiment(config: &Config, encoder: Option<&Encoder>) -> Option<Arc<Sentiment>> {
    let dir = config.nlu.sentiment.as_ref()?;
    match Sentiment::load(dir, encoder) {
        Ok(model) => Some(Arc::new(model)),
        Err(e) => {
            tracing::warn!(error = %e, "no sentiment model (train one with `usher train sentiment`): messages get no sentiment score");
            None
        }
    }
}

/// Loads and validates the intent files, then trains (or loads the cached)
/// classifier for them. Synchronous and CPU-heavy: call it off the runtime.
pub fn brain(
    config: &Config,
    features: Features,
    sentiment: Option<Arc<Sentiment>>,
    progress: &mut dyn FnMut(usize, usize, f32),
) -> Result<(Brain, Provenance, Vec<Diagnostic>), Error> {
    let (brain, provenance, warnings, _) =
        brain_with(config, load_intents(config)?, features, sentiment, false, progress)?;
    Ok((brain, provenance, warnings))
}

/// [`brain`] for intent files the caller has loaded and validated already
/// (`usher test thresholds` checks its cases against them before training).
pub fn brain_of(
    config: &Config,
    loaded: intents::Loaded,
    features: Features,
    progress: &mut dyn FnMut(usize, usize, f32),
) -> Result<Brain, Error> {
    Ok(brain_with(config, loaded, features, None, false, progress)?.0)
}

/// [`brain`] for a server: with `nlu.fine_tune_in_background` and no tuned
/// classifier cached, the classifier is trained over the frozen encoder
/// (seconds) and the `bool` says fine-tuning is still to do
/// ([`crate::reload::Tuner`] does it).
pub fn brain_quick(
    config: &Config,
    features: Features,
    sentiment: Option<Arc<Sentiment>>,
    progress: &mut dyn FnMut(usize, usize, f32),
) -> Result<(Brain, Provenance, Vec<Diagnostic>, bool), Error> {
    brain_with(config, load_intents(config)?, features, sentiment, config.nlu.fine_tune_in_background, progress)
}

/// Loads and validates the configured intent files.
fn load_intents(config: &Config) -> Result<intents::Loaded, Error> {
    intents::load(&config.intents).map_err(Error::Intents)
}

fn brain_with(
    config: &Config,
    loaded: intents::Loaded,
    features: Features,
    sentiment: Option<Arc<Sentiment>>,
    quick: bool,
    progress: &mut dyn FnMut(usize, usize, f32),
) -> Result<(Brain, Provenance, Vec<Diagnostic>, bool), Error> {
    crate::actions::check_endpoints(&config.actions, &loaded.domain).map_err(Error::Intents)?;
    let train = config.nlu.train_config();
    let cache = config.model_cache();
    let (nlu, provenance, pending) = if quick {
        Nlu::train_or_load_quick(&loaded.domain, features, &cache, &train, progress)?
    } else {
        let (nlu, provenance) = Nlu::train_or_load(&loaded.domain, features, &cache, &train, progress)?;
        (nlu, provenance, false)
    };
    let brain = Brain { domain: loaded.domain, nlu: nlu.with_sentiment(sentiment) };
    Ok((brain, provenance, loaded.warnings, pending))
}

/// Opens the configured store.
pub async fn store(config: &Config) -> Result<Arc<dyn Store>, Error> {
    match config.store.kind {
        StoreKind::Sqlite => Ok(Arc::new(SqliteStore::open(&config.sqlite_path()).await?)),
        StoreKind::Postgres => Ok(Arc::new(PgStore::connect(&config.database_url()?, config.store.pool_size).await?)),
    }
}

/// An engine over the configured store; on PostgreSQL it joins the other
/// replicas through the cluster bus.
pub async fn engine_on_store(config: &Config, brain: Brain) -> Result<Engine, Error> {
    match config.store.kind {
        StoreKind::Sqlite => Ok(Engine::new(store(config).await?, brain)),
        StoreKind::Postgres => {
            let pg = PgStore::connect(&config.database_url()?, config.store.pool_size).await?;
            let (bus, notices) = Bus::start(pg.pool().clone()).await?;
            let engine = Engine::new(Arc::new(pg), brain);
            engine.attach_bus(bus, notices);
            Ok(engine)
        }
    }
}

/// A ready engine: brain trained on the blocking pool, store opened,
/// unanswered messages from a previous run re-queued.
pub async fn engine(
    config: &Config,
    progress: impl FnMut(usize, usize, f32) + Send + 'static,
) -> Result<(Engine, Provenance), Error> {
    let (engine, provenance, _) = engine_with(config, false, progress).await?;
    Ok((engine, provenance))
}

/// [`engine`] for a server: its classifier comes from [`brain_quick`], and
/// the `bool` says the encoder's fine-tuning is still to do
/// ([`crate::reload::watch`] starts it).
pub async fn serving_engine(
    config: &Config,
    progress: impl FnMut(usize, usize, f32) + Send + 'static,
) -> Result<(Engine, Provenance, bool), Error> {
    engine_with(config, config.nlu.fine_tune_in_background, progress).await
}

async fn engine_with(
    config: &Config,
    quick: bool,
    mut progress: impl FnMut(usize, usize, f32) + Send + 'static,
) -> Result<(Engine, Provenance, bool), Error> {
    let cfg = config.clone();
    let ((brain, provenance, warnings, pending), mood) = tokio::task::spawn_blocking(move || {
        let features = features(&cfg);
        let mood = sentiment(&cfg, features.encoder());
        let built = load_intents(&cfg)
            .and_then(|loaded| brain_with(&cfg, loaded, features, mood.clone(), quick, &mut progress))
            .map(|b| (b, mood));
        crate::util::release_freed_memory();
        built
    })
    .await
    .map_err(|e| Error::Model(format!("training task failed: {e}")))??;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let engine = engine_on_store(config, brain).await?;
    let cfg = config.clone();
    let tools = tokio::task::spawn_blocking(move || crate::creative::tools::Toolset::load(&cfg, mood))
        .await
        .map_err(|e| Error::Model(format!("loading the creative tools failed: {e}")))?;
    engine.set_tools(Arc::new(tools));
    engine.set_actions(Arc::new(crate::actions::Actions::new(&config.actions)?));
    engine.set_privacy(&config.privacy);
    recommender(config, &engine).await?;
    let recovered = engine.recover().await?;
    if recovered > 0 {
        tracing::info!(recovered, "answering messages left unanswered by the last run");
    }
    Ok((engine, provenance, pending))
}

/// Loads the configured catalogue into a recommender (its items embedded
/// with the engine's sentence encoder, cached) and attaches it to the
/// engine for `tool.recommend`. Nothing when no catalogue is configured;
/// without an encoder items are compared by hashed words; a bad catalogue
/// file is an error naming its file and line.
pub async fn recommender(config: &Config, engine: &Engine) -> Result<(), Error> {
    let (cfg, features) = (config.clone(), engine.brain().nlu.features().clone());
    let rec = tokio::task::spawn_blocking(move || recommender_with(&cfg, features))
        .await
        .map_err(|e| Error::Model(format!("loading the catalogue failed: {e}")))??;
    if let Some(rec) = rec {
        tracing::info!(items = rec.catalogue().entries.len(), "recommendation catalogue loaded");
        engine.set_recommender(Arc::new(rec));
    }
    Ok(())
}

/// The configured recommender with `features`' encoder (hashed words
/// without one), or `None` when no catalogue is configured. CPU work.
pub fn recommender_with(config: &Config, features: Features) -> Result<Option<crate::recs::Recommender>, Error> {
    let Some(path) = config.recommendations.catalogue.clone() else { return Ok(None) };
    let rules = &config.recommendations;
    let rec = match features {
        Features::EncoderAndNgrams { encoder, cache } => {
            crate::recs::service::load(rules, &path, |texts| cache.embed(&encoder, texts))
        }
        Features::Ngrams => {
            tracing::info!("no sentence encoder: recommendations compare items by hashed words");
            crate::recs::service::load(rules, &path, |texts| Ok(crate::recs::service::hashed_content(texts)))
        }
    };
    rec.map(Some)
}

/// Opens the configured knowledge base with the engine's sentence encoder,
/// indexes what changed in `knowledge/` and attaches it to the engine.
/// `None` (logged) when it is disabled or no encoder is loaded; a damaged
/// store or an unreachable Qdrant server is an error.
pub async fn knowledge(
    config: &Config,
    engine: &Engine,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<Option<Arc<KnowledgeBase>>, Error> {
    if !config.knowledge.enabled {
        tracing::info!("knowledge base disabled in the config");
        return Ok(None);
    }
    let Features::EncoderAndNgrams { encoder, .. } = engine.brain().nlu.features().clone() else {
        tracing::warn!(
            "the knowledge base needs the sentence encoder (run `usher models fetch`): knowledge answers are off"
        );
        return Ok(None);
    };
    let kb = Arc::new(KnowledgeBase::open(config, encoder, false).await?);
    let report = kb.index(progress).await?;
    tracing::info!(
        store = %kb.store().describe(),
        documents = report.documents,
        added = report.added.len(),
        updated = report.updated.len(),
        removed = report.removed.len(),
        skipped = report.problems.len(),
        ms = report.elapsed_ms,
        "knowledge base indexed"
    );
    engine.set_knowledge(Arc::clone(&kb));
    // Indexing and the loads before it are over: what they freed goes back.
    tokio::task::spawn_blocking(crate::util::release_freed_memory)
        .await
        .map_err(|e| Error::Model(format!("releasing memory failed: {e}")))?;
    Ok(Some(kb))
}
