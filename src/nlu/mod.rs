//! Natural-language understanding: which intent a message expresses, how
//! sure we are, and which entities it mentions.
//!
//! The [`IntentClassifier`] trait is the boundary between the dialogue
//! engine and models. [`Classifier`] trains a small head over
//! [`Features`]: hashed n-grams (download-free) plus, when the MiniLM
//! [`encoder::Encoder`] is available, its sentence embeddings. Model code
//! here is synchronous: the engine calls it on a blocking pool, never on
//! async worker threads. Its settings (the `nlu:` section of `config.yaml`)
//! are in [`config`]. [`audit`] is `usher validate --deep`: confusable,
//! near-duplicate and thin intents from the examples' embeddings.
//! [`sentiment`] scores each message's mood; when it is a fine-tuned copy
//! of the encoder it is read as a [`encoder::Branch`] of the same pass.
//! [`tagger`] finds entities in the token states of that pass; its
//! [`tagger::Design`] can add [`word_shape`] features and a CRF layer
//! (`crf.rs`).

pub mod audit;
mod classifier;
pub mod config;
mod crf;
pub mod encoder;
mod entities;
pub mod eval;
pub mod features;
mod head;
pub(crate) mod seeded;
pub mod sentiment;
pub mod tagger;
pub mod word_shape;

pub use classifier::{Classifier, Features, Parts};
pub use entities::{EntityExtractor, EntityMatch};
pub use head::{Head, TrainConfig, TrainReport};
use sentiment::Sentiment;
use tagger::Tagger;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::intents::Domain;
use crate::Error;
use encoder::FineTune;

/// The design of the tagger trained on the intent files: the plain BiLSTM
/// until word shapes and the CRF layer are chosen for the demo domain (the
/// SGD slots chose theirs on their dev split, [`eval::slots::DESIGN`]).
pub const TAGGER: tagger::Design = tagger::Design { word_shape: false, crf: false };

/// Ranks intents for texts.
pub trait IntentClassifier: Send + Sync {
    /// A name for logs.
    fn name(&self) -> &str;
    /// The intent names, in output order.
    fn labels(&self) -> &[String];
    /// For each text, a probability per label.
    fn predict(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error>;
    /// As [`Self::predict`], reusing `embedded` (sentence embeddings of
    /// `texts` the NLU step computed already) when they are this
    /// classifier's features, instead of running the encoder again.
    fn predict_embedded(&self, texts: &[&str], embedded: &Embedded<'_>) -> Result<Vec<Vec<f32>>, Error> {
        let _ = embedded;
        self.predict(texts)
    }
    /// For each of `embedded`'s vectors, the `k` training examples nearest
    /// to it as (example index in training order, cosine similarity), best
    /// first; empty when the classifier keeps no example embeddings from
    /// that encoder. `classifier::example_row` reads an index.
    fn nearest(&self, embedded: &Embedded<'_>, k: usize) -> Result<Vec<Vec<(usize, f32)>>, Error> {
        let _ = (embedded, k);
        Ok(Vec::new())
    }
}

/// Sentence embeddings of a batch of texts and the encoder that made them.
#[derive(Debug, Clone, Copy)]
pub struct Embedded<'a> {
    /// [`encoder::Encoder::id`] of the encoder.
    pub encoder: &'a str,
    /// One L2-normalised vector per text.
    pub vectors: &'a [Vec<f32>],
}

/// A message's sentence embedding and the encoder that made it: the
/// knowledge base searches with it instead of encoding the message again.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// [`encoder::Encoder::id`] of the encoder.
    pub encoder: Arc<str>,
    /// The L2-normalised vector.
    pub vector: Arc<[f32]>,
}

/// An intent and the classifier's confidence in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// The intent name.
    pub name: String,
    /// Probability, 0 to 1.
    pub confidence: f32,
}

/// What the conversation says about the next message: the intents it
/// recognised last, newest last. Follow-up intents (`after:` in the intent
/// files) are recognised only right after the intents they follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The latest recognised intents, newest last.
    pub recent: Vec<String>,
}

impl Context {
    /// How many of the latest intents a follow-up may follow: the one just
    /// before, or the one before a question the bot asked in between.
    pub const WINDOW: usize = 2;

    /// The context after `recent` (the tracker's recent intents, newest last).
    pub fn after<'a>(recent: impl DoubleEndedIterator<Item = &'a str>) -> Self {
        let mut recent: Vec<String> = recent.rev().take(Self::WINDOW).map(str::to_string).collect();
        recent.reverse();
        Self { recent }
    }

    fn allows(&self, after: &[String]) -> bool {
        after.is_empty() || after.iter().any(|a| self.recent.contains(a))
    }
}

/// A training example close to a message, for explanations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neighbour {
    /// The example's text.
    pub text: String,
    /// The intent it belongs to.
    pub intent: String,
    /// Cosine similarity of its sentence embedding to the message's.
    pub similarity: f32,
}

/// Training examples shown as a message's nearest.
pub const NEIGHBOURS: usize = 3;

/// What NLU made of one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parse {
    /// The best intent.
    pub intent: Ranked,
    /// The top five intents, best first.
    pub ranking: Vec<Ranked>,
    /// Entities found.
    pub entities: Vec<EntityMatch>,
    /// Sentiment in [-1, 1] (negative to positive), when a model is loaded.
    pub sentiment: Option<f32>,
    /// The message's sentence embedding, when an encoder is loaded.
    #[serde(skip)]
    pub embedding: Option<Embedding>,
    /// The training examples nearest to the message, best first (with an
    /// encoder; the explanation shows them).
    #[serde(skip)]
    pub nearest: Vec<Neighbour>,
}

impl Parse {
    /// A message whose intent is known for certain (a pressed button),
    /// with the entities found in its text.
    pub fn certain(intent: &str, entities: Vec<EntityMatch>) -> Self {
        let intent = Ranked { name: intent.to_string(), confidence: 1.0 };
        Self { ranking: vec![intent.clone()], intent, entities, sentiment: None, embedding: None, nearest: Vec::new() }
    }
}

/// A trained classifier and the entity rules of one domain.
pub struct Nlu {
    classifier: Arc<dyn IntentClassifier>,
    extractor: EntityExtractor,
    features: Features,
    sentiment: Option<Arc<Sentiment>>,
    tagger: Option<Arc<Tagger>>,
    /// Per label (the classifier's order), the intents it follows up on.
    after: Vec<Vec<String>>,
    /// The training examples as (text, intent), in training order.
    examples: Vec<(String, String)>,
}

/// How the classifier came to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Provenance {
    /// Loaded from the on-disk cache.
    Cached,
    /// Trained now.
    Trained(TrainReport),
}

impl Nlu {
    /// Wraps a classifier with the domain's entity rules.
    pub fn new(classifier: Classifier, domain: &Domain) -> Self {
        let features = classifier.features().clone();
        let after =
            classifier.labels().iter().map(|l| domain.intent(l).map(|i| i.after.clone()).unwrap_or_default()).collect();
        let examples =
            training_examples(domain).map(|(text, i)| (text.to_string(), domain.intents[i].name.clone())).collect();
        Self {
            classifier: Arc::new(classifier),
            extractor: EntityExtractor::new(domain),
            features,
            sentiment: None,
            tagger: None,
            after,
            examples,
        }
    }

    /// Adds a sentiment model: every parse then carries a score.
    pub fn with_sentiment(mut self, sentiment: Option<Arc<Sentiment>>) -> Self {
        self.sentiment = sentiment;
        self
    }

    /// The sentiment model, if any (shared with retrains).
    pub fn sentiment(&self) -> Option<&Arc<Sentiment>> {
        self.sentiment.as_ref()
    }

    /// Retrains start from `features` (the pretrained encoder), not from
    /// the classifier's fine-tuned one.
    fn with_base_features(mut self, features: Features) -> Self {
        self.features = features;
        self
    }

    /// The features retrains start from (shared with retrains): the
    /// pretrained encoder even when the classifier fine-tuned it.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// Loads the classifier for `domain` from `cache_dir`, or trains and
    /// caches it. The cache key is the domain's fingerprint, the features
    /// and the training settings, so any edit to an intent file retrains.
    pub fn train_or_load(
        domain: &Domain,
        features: Features,
        cache_dir: &Path,
        cfg: &TrainConfig,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<(Self, Provenance), Error> {
        let tagger = Self::tagger(domain, &features, cache_dir, cfg.seed)?;
        let (model, provenance) = Self::classifier(domain, &features, cache_dir, cfg, progress)?;
        let mut nlu = Self::new(model, domain).with_base_features(features);
        nlu.tagger = tagger;
        Ok((nlu, provenance))
    }

    /// The intent classifier for `domain` alone: loaded from `cache_dir`
    /// (the file [`Self::train_or_load`] keeps), or trained and cached.
    pub fn classifier(
        domain: &Domain,
        features: &Features,
        cache_dir: &Path,
        cfg: &TrainConfig,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<(Classifier, Provenance), Error> {
        let labels: Vec<String> = domain.intents.iter().map(|i| i.name.clone()).collect();
        let path = Self::classifier_path(domain, features, cache_dir, cfg);
        if path.exists() {
            match Classifier::load(&path, labels.clone(), features.clone()) {
                Ok(model) => return Ok((model, Provenance::Cached)),
                Err(e) => tracing::warn!(error = %e, "ignoring unreadable model cache; retraining"),
            }
        }
        let data: Vec<(String, usize)> = training_examples(domain).map(|(t, i)| (t.to_string(), i)).collect();
        let (model, report) = Classifier::train(labels, &data, features.clone(), cfg, progress)?;
        std::fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
        // A unique temporary name: concurrent trainers never write the same file.
        let tmp = path.with_extension(format!("tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
        model.save(&tmp)?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        Ok((model, Provenance::Trained(report)))
    }

    /// Where [`Self::classifier`] keeps the classifier for these inputs. The
    /// key is the domain's fingerprint, the features and the training
    /// settings, so any edit to an intent file retrains.
    fn classifier_path(domain: &Domain, features: &Features, cache_dir: &Path, cfg: &TrainConfig) -> PathBuf {
        let key = format!("{}-{}-{:?}", domain.fingerprint, features.id(), cfg);
        let digest = crate::util::sha256_hex(key.as_bytes());
        cache_dir.join(format!("intent-head-{}.safetensors", &digest[..16]))
    }

    /// [`Self::train_or_load`] without waiting for fine-tuning: when `cfg`
    /// fine-tunes the encoder and no tuned classifier is cached, a head over
    /// the frozen encoder is trained (or loaded) instead, which takes
    /// seconds. The `bool` says the fine-tuning is still to do:
    /// [`Self::classifier`] with `cfg` does it, [`Self::with_classifier`]
    /// puts the result in.
    pub fn train_or_load_quick(
        domain: &Domain,
        features: Features,
        cache_dir: &Path,
        cfg: &TrainConfig,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<(Self, Provenance, bool), Error> {
        let tunes = cfg.fine_tune.layers > 0 && features.encoder().is_some();
        if !tunes || Self::classifier_path(domain, &features, cache_dir, cfg).exists() {
            let (nlu, provenance) = Self::train_or_load(domain, features, cache_dir, cfg, progress)?;
            return Ok((nlu, provenance, false));
        }
        let frozen = TrainConfig { fine_tune: FineTune::default(), ..cfg.clone() };
        let (nlu, provenance) = Self::train_or_load(domain, features, cache_dir, &frozen, progress)?;
        Ok((nlu, provenance, true))
    }

    /// This NLU (its tagger, sentiment model and base features) around
    /// another classifier for the same `domain`: the background
    /// fine-tuning's.
    pub fn with_classifier(&self, classifier: Classifier, domain: &Domain) -> Self {
        let mut nlu = Self::new(classifier, domain).with_base_features(self.features.clone());
        nlu.sentiment = self.sentiment.clone();
        nlu.tagger = self.tagger.clone();
        nlu
    }

    /// The learned entity tagger for `domain`, when an encoder is loaded and
    /// examples carry annotations. Cached by the encoder, the entity names
    /// and the annotated examples: edits that only touch other examples
    /// reuse it, keeping hot reloads fast.
    fn tagger(domain: &Domain, features: &Features, cache_dir: &Path, seed: u64) -> Result<Option<Arc<Tagger>>, Error> {
        let Features::EncoderAndNgrams { encoder, .. } = features else { return Ok(None) };
        let annotated: Vec<String> = domain
            .intents
            .iter()
            .flat_map(|i| &i.examples)
            .filter(|e| !e.entities.is_empty())
            .map(|e| format!("{}{:?}", e.text, e.entities))
            .collect();
        if annotated.is_empty() {
            return Ok(None);
        }
        let entities: Vec<&String> = domain.entities.keys().collect();
        let key = format!("{}-{entities:?}-{annotated:?}-{seed}-{TAGGER:?}", encoder.id());
        let path = cache_dir.join(format!("tagger-{}.safetensors", &crate::util::sha256_hex(key.as_bytes())[..16]));
        if let Ok(t) = Tagger::load(&path) {
            return Ok(Some(Arc::new(t)));
        }
        let examples: Vec<_> = domain.intents.iter().flat_map(|i| i.examples.iter().cloned()).collect();
        let tagger = Tagger::train_for(domain, encoder, &examples, TAGGER, seed)?;
        std::fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
        tagger.save(&path)?;
        Ok(Some(Arc::new(tagger)))
    }

    /// The classifier's name, for logs.
    pub fn classifier_name(&self) -> &str {
        self.classifier.name()
    }

    /// Parses a batch of messages, each read alone (no follow-ups).
    pub fn parse_batch(&self, texts: &[&str]) -> Result<Vec<Parse>, Error> {
        self.parse_batch_in(texts, &vec![Context::default(); texts.len()])
    }

    /// Parses a batch of messages, each in its conversation's context:
    /// follow-up intents whose context is absent get no probability, and
    /// the rest share theirs.
    pub fn parse_batch_in(&self, texts: &[&str], contexts: &[Context]) -> Result<Vec<Parse>, Error> {
        // One encoder pass: sentence embeddings for the classifier and the
        // knowledge query, token states for the tagger and, when the
        // sentiment model is a tuned encoder, its logits (its own top
        // layers run over the shared bottom ones).
        let base = self.features.encoder();
        let branch = self.sentiment.as_ref().and_then(|s| s.branch());
        let mut mood = None;
        let (vectors, states) = match (base, &branch) {
            (Some(e), Some(b)) => {
                let reading = e.encode_with_branch(texts, self.tagger.is_some(), b)?;
                mood = Some(reading.logits);
                (reading.vectors, reading.states)
            }
            (Some(e), None) if self.tagger.is_some() => e.encode_with_tokens(texts)?,
            (Some(e), None) => (e.encode(texts)?, Vec::new()),
            (None, _) => (Vec::new(), Vec::new()),
        };
        let encoder = base.map(|e| Arc::<str>::from(e.id()));
        let (mut probs, nearest) = match &encoder {
            Some(id) => {
                let embedded = Embedded { encoder: id, vectors: &vectors };
                (self.classifier.predict_embedded(texts, &embedded)?, self.classifier.nearest(&embedded, NEIGHBOURS)?)
            }
            None => (self.classifier.predict(texts)?, Vec::new()),
        };
        let mut nearest = nearest.into_iter();
        for (p, context) in probs.iter_mut().zip(contexts) {
            self.condition(p, context);
        }
        let labels = self.classifier.labels();
        let mut tagged = self.tagged(texts, &states)?.into_iter();
        let scores = match (&self.sentiment, mood) {
            (Some(s), Some(logits)) => s.known_from_logits(texts, &logits),
            (Some(s), None) => s.score_known(texts)?,
            (None, _) => vec![None; texts.len()],
        };
        let mut vectors = vectors.into_iter();
        Ok(texts
            .iter()
            .zip(probs)
            .zip(scores)
            .map(|((text, p), sentiment)| {
                let mut ranking: Vec<Ranked> =
                    labels.iter().zip(p).map(|(name, confidence)| Ranked { name: name.clone(), confidence }).collect();
                ranking.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
                ranking.truncate(5);
                let intent = ranking.first().cloned().unwrap_or(Ranked { name: String::new(), confidence: 0.0 });
                let mut entities = self.extractor.extract(text);
                let free: Vec<EntityMatch> = tagged
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|t| !entities.iter().any(|m| t.start < m.end && m.start < t.end))
                    .collect();
                entities.extend(free);
                entities.sort_by_key(|m| m.start);
                let embedding = encoder
                    .as_ref()
                    .zip(vectors.next())
                    .map(|(id, v)| Embedding { encoder: Arc::clone(id), vector: v.into() });
                let nearest = nearest
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(i, similarity)| {
                        let (text, intent) = classifier::example_row(&self.examples, labels, i)?;
                        Some(Neighbour { text, intent, similarity })
                    })
                    .collect();
                Parse { intent, ranking, entities, sentiment, embedding, nearest }
            })
            .collect())
    }

    /// Entities the tagger finds in each text, from the texts' token states
    /// (empty without a tagger).
    fn tagged(&self, texts: &[&str], states: &[encoder::TokenStates]) -> Result<Vec<Vec<EntityMatch>>, Error> {
        let Some(tagger) = self.tagger.as_ref().filter(|_| !states.is_empty()) else {
            return Ok(vec![Vec::new(); texts.len()]);
        };
        let predicted = tagger.predict(texts, states)?;
        Ok(texts
            .iter()
            .zip(states)
            .zip(predicted)
            .map(|((text, s), tags)| {
                tagger
                    .spans(text, &tags, &s.offsets)
                    .into_iter()
                    .filter_map(|(start, end, entity)| {
                        let surface = text.get(start..end)?.to_string();
                        Some(EntityMatch {
                            value: self.extractor.canonical(&entity, &surface),
                            entity,
                            text: surface,
                            start,
                            end,
                            extractor: "tagger",
                        })
                    })
                    .collect()
            })
            .collect())
    }

    /// Zeroes the follow-ups `context` does not allow and renormalises.
    fn condition(&self, p: &mut [f32], context: &Context) {
        let mut kept = 0.0;
        for (p, after) in p.iter_mut().zip(&self.after) {
            if !context.allows(after) {
                *p = 0.0;
            }
            kept += *p;
        }
        if kept > 0.0 {
            p.iter_mut().for_each(|p| *p /= kept);
        }
    }

    /// Parses one message, read alone.
    pub fn parse(&self, text: &str) -> Result<Parse, Error> {
        self.parse_in(text, &Context::default())
    }

    /// Parses one message in its conversation's context.
    pub fn parse_in(&self, text: &str, context: &Context) -> Result<Parse, Error> {
        self.parse_batch_in(&[text], std::slice::from_ref(context))?
            .pop()
            .ok_or_else(|| Error::Model("classifier returned nothing".into()))
    }

    /// Entities only (for button payloads, which skip the classifier).
    pub fn entities(&self, text: &str) -> Vec<EntityMatch> {
        self.extractor.extract(text)
    }
}

/// The domain's examples as (text, intent index), in the order the
/// classifier is trained on (and keeps their embeddings in).
pub(crate) fn training_examples(domain: &Domain) -> impl Iterator<Item = (&str, usize)> {
    domain
        .intents
        .iter()
        .enumerate()
        .flat_map(|(i, intent)| intent.examples.iter().map(move |ex| (ex.text.as_str(), i)))
}
