//! The intent classifier: features → trained [`Head`].
//!
//! Features are hashed word and character n-grams (always) concatenated
//! with the sentence encoder's embedding when an encoder is loaded: like
//! Rasa's DIET, dense pretrained features plus sparse lexical ones.

use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor};

use super::encoder::{EmbeddingCache, Encoder};
use super::features::{featurize, DIM};
use super::head::{Head, TrainConfig, TrainReport};
use super::IntentClassifier;
use crate::Error;

/// What the head sees.
#[derive(Clone)]
pub enum Features {
    /// Hashed n-grams only (no download needed).
    Ngrams,
    /// Sentence embeddings plus hashed n-grams.
    EncoderAndNgrams {
        /// The encoder.
        encoder: Arc<Encoder>,
        /// Embeddings of training examples.
        cache: Arc<EmbeddingCache>,
    },
}

impl Features {
    /// Input width of the head.
    pub fn dim(&self) -> usize {
        match self {
            Self::Ngrams => DIM,
            Self::EncoderAndNgrams { encoder, .. } => encoder.dim() + DIM,
        }
    }

    /// Identifies the features in cache keys and logs.
    pub fn id(&self) -> String {
        match self {
            Self::Ngrams => "ngrams".into(),
            Self::EncoderAndNgrams { encoder, .. } => format!("minilm-{}+ngrams", encoder.id()),
        }
    }

    /// The feature matrix of `texts`; `cached` embeds through the cache (training data).
    pub fn matrix(&self, texts: &[&str], cached: bool) -> Result<Tensor, Error> {
        let dim = self.dim();
        let dense = match self {
            Self::Ngrams => None,
            Self::EncoderAndNgrams { encoder, cache } if cached => Some(cache.embed(encoder, texts)?),
            Self::EncoderAndNgrams { encoder, .. } => Some(encoder.encode(texts)?),
        };
        let mut rows = Vec::with_capacity(texts.len() * dim);
        for (i, text) in texts.iter().enumerate() {
            if let Some(d) = &dense {
                rows.extend_from_slice(&d[i]);
            }
            rows.extend(featurize(text));
        }
        Ok(Tensor::from_vec(rows, (texts.len(), dim), &Device::Cpu)?)
    }
}

/// Features and a trained head, with the intent names of its outputs.
pub struct Classifier {
    labels: Vec<String>,
    features: Features,
    head: Head,
}

impl Classifier {
    /// Trains on `(text, label index)` pairs.
    pub fn train(
        labels: Vec<String>,
        data: &[(String, usize)],
        features: Features,
        cfg: &TrainConfig,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<(Self, TrainReport), Error> {
        let texts: Vec<&str> = data.iter().map(|(t, _)| t.as_str()).collect();
        let x = features.matrix(&texts, true)?;
        let y: Vec<u32> = data.iter().map(|(_, l)| *l as u32).collect();
        let (head, report) = Head::train(&x, &y, labels.len(), cfg, progress)?;
        Ok((Self { labels, features, head }, report))
    }

    /// Loads a head saved with [`Self::save`].
    pub fn load(path: &Path, labels: Vec<String>, features: Features) -> Result<Self, Error> {
        let head = Head::load(path, features.dim(), labels.len())?;
        Ok(Self { labels, features, head })
    }

    /// Saves the head.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        self.head.save(path)
    }

    /// Class probabilities; `cached` embeds through the embedding cache.
    pub fn probabilities(&self, texts: &[&str], cached: bool) -> Result<Vec<Vec<f32>>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.head.probabilities(&self.features.matrix(texts, cached)?)
    }

    /// The features this classifier uses.
    pub fn features(&self) -> &Features {
        &self.features
    }
}

impl IntentClassifier for Classifier {
    fn name(&self) -> &str {
        match self.features {
            Features::Ngrams => "hashed n-grams + MLP",
            Features::EncoderAndNgrams { .. } => "MiniLM embeddings + hashed n-grams + MLP",
        }
    }

    fn labels(&self) -> &[String] {
        &self.labels
    }

    fn predict(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        self.probabilities(texts, false)
    }
}
