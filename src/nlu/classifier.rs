//! The intent classifier: features → trained [`Head`].
//!
//! Features are hashed word and character n-grams (always) concatenated
//! with the sentence encoder's embedding when an encoder is loaded: like
//! Rasa's DIET, dense pretrained features plus sparse lexical ones.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor};

use super::encoder::{EmbeddingCache, Encoder, COSINE_SCALE};
use super::features::{featurize, DIM};
use super::head::{Head, TrainConfig, TrainReport};
use super::{Embedded, IntentClassifier};
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

    /// These features with the encoder fine-tuned on `texts` labelled `y`,
    /// and the tuning's cosine class vectors (unchanged and `None` without
    /// an encoder or with `cfg.fine_tune.layers == 0`).
    fn fine_tuned(
        self,
        texts: &[&str],
        y: &[u32],
        classes: usize,
        cfg: &TrainConfig,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<(Self, Option<Tensor>), Error> {
        match self {
            Self::EncoderAndNgrams { encoder, cache } if cfg.fine_tune.layers > 0 => {
                let (tuned, vectors) = encoder.fine_tuned(texts, y, classes, &cfg.fine_tune, cfg.seed, progress)?;
                Ok((Self::tuned(tuned, &cache)?, vectors))
            }
            other => Ok((other, None)),
        }
    }

    /// These features with the fine-tuned encoder layers saved in `tensors`, if any.
    fn with_tuned_tensors(self, tensors: &HashMap<String, Tensor>) -> Result<Self, Error> {
        match self {
            Self::EncoderAndNgrams { encoder, cache } => match encoder.with_tuned_tensors(tensors)? {
                Some(tuned) => Self::tuned(tuned, &cache),
                None => Ok(Self::EncoderAndNgrams { encoder, cache }),
            },
            other => Ok(other),
        }
    }

    /// Features over a fine-tuned encoder, with its own embedding cache beside `cache`.
    fn tuned(encoder: Encoder, cache: &EmbeddingCache) -> Result<Self, Error> {
        let cache = Arc::new(cache.for_encoder(&encoder)?);
        Ok(Self::EncoderAndNgrams { encoder: Arc::new(encoder), cache })
    }

    /// The sentence encoder, if the features include one.
    pub fn encoder(&self) -> Option<&Encoder> {
        match self {
            Self::Ngrams => None,
            Self::EncoderAndNgrams { encoder, .. } => Some(encoder),
        }
    }

    /// The sentence-embedding columns of a feature matrix, if any.
    fn dense_part(&self, x: &Tensor) -> Result<Option<Tensor>, Error> {
        self.encoder().map(|e| Ok(x.narrow(1, 0, e.dim())?.contiguous()?)).transpose()
    }

    /// The sentence embeddings of `texts` (`None` with n-grams alone);
    /// `cached` embeds through the cache (training data).
    pub fn embeddings(&self, texts: &[&str], cached: bool) -> Result<Option<Vec<Vec<f32>>>, Error> {
        Ok(match self {
            Self::Ngrams => None,
            Self::EncoderAndNgrams { encoder, cache } if cached => Some(cache.embed(encoder, texts)?),
            Self::EncoderAndNgrams { encoder, .. } => Some(encoder.encode(texts)?),
        })
    }

    /// The feature matrix of `texts`; `cached` embeds through the cache (training data).
    pub fn matrix(&self, texts: &[&str], cached: bool) -> Result<Tensor, Error> {
        let dense = self.embeddings(texts, cached)?;
        self.assemble(texts, dense.as_deref())
    }

    /// The feature matrix of `texts` from their sentence embeddings `dense`
    /// (`None` for n-grams alone) and their n-grams.
    fn assemble(&self, texts: &[&str], dense: Option<&[Vec<f32>]>) -> Result<Tensor, Error> {
        let dim = self.dim();
        let mut rows = Vec::with_capacity(texts.len() * dim);
        for (i, text) in texts.iter().enumerate() {
            if let Some(d) = dense {
                rows.extend_from_slice(&d[i]);
            }
            rows.extend(featurize(text));
        }
        Ok(Tensor::from_vec(rows, (texts.len(), dim), &Device::Cpu)?)
    }
}

/// Features and a trained head, with the intent names of its outputs.
///
/// With a fine-tuned encoder, the head's probabilities are mixed with
/// those of the cosine classifier trained with the encoder and (except on
/// a small training set) with the vote of the ten training examples
/// nearest the message. With an
/// encoder, a confidence is that probability scaled by the
/// cosine similarity between the message and the nearest training example:
/// a softmax is sure of itself even on messages unlike anything the staff
/// wrote, and the similarity brings those down towards the fallback (on
/// CLINC150 this separates out-of-scope messages better than the
/// probability alone).
pub struct Classifier {
    /// What it is, for logs and the status (says whether the encoder is tuned).
    name: String,
    labels: Vec<String>,
    features: Features,
    head: Head,
    /// Sentence embeddings of the training examples (examples × dim), when
    /// the features include an encoder.
    examples: Option<Tensor>,
    /// The fine-tuning's cosine classifier (unit class vectors, labels ×
    /// dim), when the encoder was fine-tuned, and its weight beside the
    /// head's probabilities.
    cosine: Option<(Tensor, f32)>,
    /// With a fine-tuned encoder: the training examples' intents (beside
    /// `examples`) and the weight of the vote of the ones nearest a message
    /// beside the other probabilities.
    knn: Option<(Vec<u32>, f32)>,
}

/// The classifier's name over `features`.
fn name_of(features: &Features) -> String {
    match features.encoder().map(Encoder::tuned_layers) {
        None => "hashed n-grams + MLP".into(),
        Some(0) => "MiniLM embeddings + hashed n-grams + MLP".into(),
        Some(k) => format!("MiniLM embeddings (top {k} layers fine-tuned) + hashed n-grams + MLP"),
    }
}

/// An intent's name in words: `Lost_Ticket` → "lost ticket" (with
/// [`TrainConfig::name_examples`], a sentence encoder and a small training
/// set, one more example of it, after the others).
fn in_words(name: &str) -> String {
    name.split(['_', '-', '.', '/']).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ").to_lowercase()
}

/// The text and intent of row `i` of a classifier's example embeddings
/// (what [`IntentClassifier::nearest`](super::IntentClassifier::nearest)
/// answers with), given the staff's `examples` as (text, intent) in
/// training order: past them come the intents' names, in `labels`' order,
/// when [`Classifier::train`] made them examples too.
pub(super) fn example_row(examples: &[(String, String)], labels: &[String], i: usize) -> Option<(String, String)> {
    match examples.get(i) {
        Some(example) => Some(example.clone()),
        None => labels.get(i - examples.len()).map(|name| (in_words(name), name.clone())),
    }
}

/// Name of the training examples' embeddings in a saved file.
const EXAMPLES: &str = "examples";
/// Names of the cosine classifier's class vectors and weight in a saved file.
const CLASSES: &str = "cosine.classes";
const COSINE_WEIGHT: &str = "cosine.weight";
/// Names of the examples' intents and the neighbours' vote weight in a saved file.
const KNN_LABELS: &str = "knn.labels";
const KNN_WEIGHT: &str = "knn.weight";
/// Neighbours that vote, and the scale on their cosines before the softmax.
const KNN_K: usize = 10;
const KNN_SCALE: f32 = 20.0;

impl Classifier {
    /// Trains on `(text, label index)` pairs.
    pub fn train(
        labels: Vec<String>,
        data: &[(String, usize)],
        features: Features,
        cfg: &TrainConfig,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<(Self, TrainReport), Error> {
        let named: Vec<(String, usize)>;
        // Chosen on val for the encoder's features; the n-grams alone were not measured.
        let data = if cfg.name_examples && features.encoder().is_some() && cfg.fine_tune.is_small(data.len()) {
            named = data.iter().cloned().chain(labels.iter().enumerate().map(|(i, l)| (in_words(l), i))).collect();
            &named
        } else {
            data
        };
        let texts: Vec<&str> = data.iter().map(|(t, _)| t.as_str()).collect();
        let y: Vec<u32> = data.iter().map(|(_, l)| *l as u32).collect();
        let (features, classes) = features.fine_tuned(&texts, &y, labels.len(), cfg, progress)?;
        let x = features.matrix(&texts, true)?;
        let (head, report) = Head::train(&x, &y, labels.len(), cfg, progress)?;
        let examples = features.dense_part(&x)?;
        // The vote, like the cosine classifier, goes with a tuned encoder;
        // it lost on a small set's validation split, so it is off there.
        let vote = if cfg.fine_tune.is_small(texts.len()) { 0.0 } else { cfg.knn_weight };
        let knn = classes.as_ref().map(|_| (y, vote));
        let cosine = classes.map(|c| (c, cfg.cosine_weight));
        Ok((Self { name: name_of(&features), labels, features, head, examples, cosine, knn }, report))
    }

    /// Loads a head (and fine-tuned encoder layers) saved with [`Self::save`].
    pub fn load(path: &Path, labels: Vec<String>, features: Features) -> Result<Self, Error> {
        let bad = |what: String| Error::Model(format!("{}: {what}", path.display()));
        let mut tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| bad(e.to_string()))?;
        let features = features.with_tuned_tensors(&tensors)?;
        let examples = tensors.remove(EXAMPLES);
        let fits = match (features.encoder(), &examples) {
            (Some(encoder), Some(e)) => e.dims2().is_ok_and(|(_, d)| d == encoder.dim()),
            (None, None) => true,
            _ => false,
        };
        if !fits {
            return Err(bad("the training examples' embeddings do not fit the features".into()));
        }
        let cosine = match (tensors.remove(CLASSES), tensors.remove(COSINE_WEIGHT)) {
            (Some(c), Some(w))
                if c.dims2().is_ok_and(|d| Some(d) == features.encoder().map(|e| (labels.len(), e.dim()))) =>
            {
                Some((c, scalar(&w)?))
            }
            (None, None) => None,
            _ => return Err(bad("the cosine classifier does not fit the features and labels".into())),
        };
        let knn = match (tensors.remove(KNN_LABELS), tensors.remove(KNN_WEIGHT), &examples) {
            (Some(y), Some(w), Some(e)) => {
                let y = y.to_vec1::<u32>()?;
                if y.len() != e.dims2()?.0 || y.iter().any(|&l| l as usize >= labels.len()) {
                    return Err(bad("the nearest-neighbour labels do not fit the examples and labels".into()));
                }
                Some((y, scalar(&w)?))
            }
            (None, None, _) => None,
            _ => return Err(bad("the nearest-neighbour vote does not fit the features".into())),
        };
        let head = Head::from_tensors(&mut tensors, features.dim(), labels.len()).map_err(bad)?;
        Ok(Self { name: name_of(&features), labels, features, head, examples, cosine, knn })
    }

    /// Saves the head and any fine-tuned encoder layers as safetensors.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let mut tensors: HashMap<String, Tensor> = self.head.tensors().into_iter().collect();
        if let Some(encoder) = self.features.encoder() {
            tensors.extend(encoder.tuned_tensors());
        }
        if let Some(examples) = &self.examples {
            tensors.insert(EXAMPLES.to_string(), examples.clone());
        }
        if let Some((classes, weight)) = &self.cosine {
            tensors.insert(CLASSES.to_string(), classes.clone());
            tensors.insert(COSINE_WEIGHT.to_string(), Tensor::new(&[*weight], &Device::Cpu)?);
        }
        if let Some((y, weight)) = &self.knn {
            tensors.insert(KNN_LABELS.to_string(), Tensor::new(y.as_slice(), &Device::Cpu)?);
            tensors.insert(KNN_WEIGHT.to_string(), Tensor::new(&[*weight], &Device::Cpu)?);
        }
        candle_core::safetensors::save(&tensors, path)?;
        Ok(())
    }

    /// Class confidences (see [`Classifier`]); `cached` embeds through the embedding cache.
    pub fn probabilities(&self, texts: &[&str], cached: bool) -> Result<Vec<Vec<f32>>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.confidences(&self.features.matrix(texts, cached)?)
    }

    /// Class confidences of a feature matrix: only the parts that weigh
    /// something are computed (serving's path).
    fn confidences(&self, x: &Tensor) -> Result<Vec<Vec<f32>>, Error> {
        Ok(self.parts(x, false)?.iter().map(|p| self.mix(p)).collect())
    }

    /// What the confidences of `texts` are mixed from (see [`Parts`]), every
    /// part whatever its weight, for weighing them afresh; `cached` embeds
    /// through the embedding cache.
    pub fn parts_of(&self, texts: &[&str], cached: bool) -> Result<Vec<Parts>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.parts(&self.features.matrix(texts, cached)?, true)
    }

    /// A message's confidences from its parts under this classifier's weights.
    pub fn mix(&self, parts: &Parts) -> Vec<f32> {
        parts.mix(self.cosine_weight(), self.knn_weight())
    }

    /// The parts of each row of a feature matrix; without `every`, not the
    /// cosine classifier's or the vote when their weight is 0.
    fn parts(&self, x: &Tensor, every: bool) -> Result<Vec<Parts>, Error> {
        let head = self.head.probabilities(x)?;
        let Some(dense) = self.features.dense_part(x)? else {
            return Ok(head.into_iter().map(|head| Parts { head, cosine: None, vote: None, nearest: None }).collect());
        };
        let cosine: Vec<Option<Vec<f32>>> = match self.cosine.as_ref().filter(|c| every || c.1 > 0.0) {
            Some((classes, _)) => {
                let logits = (dense.matmul(&classes.t()?)? * COSINE_SCALE)?;
                candle_nn::ops::softmax_last_dim(&logits)?.to_vec2::<f32>()?.into_iter().map(Some).collect()
            }
            None => vec![None; head.len()],
        };
        let sims = match &self.examples {
            Some(examples) => dense.matmul(&examples.t()?)?.to_vec2::<f32>()?,
            None => vec![Vec::new(); head.len()],
        };
        let knn = self.knn.as_ref().filter(|k| every || k.1 > 0.0);
        Ok(head
            .into_iter()
            .zip(cosine)
            .zip(sims)
            .map(|((head, cosine), row)| Parts {
                vote: knn.map(|(y, _)| knn_vote(&row, y, head.len())),
                nearest: self.examples.as_ref().map(|_| row.iter().copied().fold(f32::MIN, f32::max)),
                cosine,
                head,
            })
            .collect())
    }

    /// With a fine-tuned encoder, weighs its cosine classifier `w` beside
    /// the head; unchanged otherwise.
    pub fn set_cosine_weight(&mut self, w: f32) {
        if let Some(c) = &mut self.cosine {
            c.1 = w;
        }
    }

    /// With a fine-tuned encoder, weighs the nearest training examples'
    /// vote `w` beside the other probabilities; unchanged otherwise.
    pub fn set_knn_weight(&mut self, w: f32) {
        if let Some(k) = &mut self.knn {
            k.1 = w;
        }
    }

    /// The weight of the tuning's cosine classifier (0 without one).
    pub fn cosine_weight(&self) -> f32 {
        self.cosine.as_ref().map_or(0.0, |c| c.1)
    }

    /// The weight of the nearest examples' vote (0 without one).
    pub fn knn_weight(&self) -> f32 {
        self.knn.as_ref().map_or(0.0, |k| k.1)
    }

    /// Whether the encoder was fine-tuned with a cosine classifier.
    pub fn has_cosine(&self) -> bool {
        self.cosine.is_some()
    }

    /// The features this classifier uses.
    pub fn features(&self) -> &Features {
        &self.features
    }
}

/// A weight saved as a one-element tensor (0 if empty).
fn scalar(t: &Tensor) -> Result<f32, Error> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?.first().copied().unwrap_or(0.0))
}

/// What one message's confidences are mixed from: the head's
/// probabilities, the fine-tuning's cosine classifier's and the nearest
/// examples' vote (with a tuned encoder), and its cosine with the nearest
/// training example (with an encoder).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Parts {
    head: Vec<f32>,
    cosine: Option<Vec<f32>>,
    vote: Option<Vec<f32>>,
    nearest: Option<f32>,
}

impl Parts {
    /// The confidences with the cosine classifier weighed `cosine` beside
    /// the head and the vote `vote` beside both, scaled by the nearest
    /// example's similarity (see [`Classifier`]).
    pub fn mix(&self, cosine: f32, vote: f32) -> Vec<f32> {
        let mut p = self.head.clone();
        for (part, w) in [(&self.cosine, cosine), (&self.vote, vote)] {
            if let Some(q) = part.as_ref().filter(|_| w > 0.0) {
                p.iter_mut().zip(q).for_each(|(p, q)| *p = (1.0 - w) * *p + w * q);
            }
        }
        if let Some(sim) = self.nearest {
            p.iter_mut().for_each(|v| *v *= sim.clamp(0.0, 1.0));
        }
        p
    }
}

/// The vote of the [`KNN_K`] training examples most similar to a message
/// (`sims`: its cosine with each; `y`: their intents): a softmax over the
/// scaled cosines, summed per intent.
fn knn_vote(sims: &[f32], y: &[u32], classes: usize) -> Vec<f32> {
    let mut ranked: Vec<(usize, f32)> = sims.iter().copied().enumerate().collect();
    let k = KNN_K.min(ranked.len());
    let mut vote = vec![0f32; classes];
    if k == 0 {
        return vote;
    }
    ranked.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
    let top = &ranked[..k];
    let max = top.iter().map(|r| r.1).fold(f32::MIN, f32::max);
    let weights: Vec<f32> = top.iter().map(|r| ((r.1 - max) * KNN_SCALE).exp()).collect();
    let total: f32 = weights.iter().sum();
    for ((i, _), w) in top.iter().zip(weights) {
        vote[y[*i] as usize] += w / total;
    }
    vote
}

impl IntentClassifier for Classifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn labels(&self) -> &[String] {
        &self.labels
    }

    fn predict(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        self.probabilities(texts, false)
    }

    fn predict_embedded(&self, texts: &[&str], embedded: &Embedded<'_>) -> Result<Vec<Vec<f32>>, Error> {
        let ours = self.features.encoder().is_some_and(|e| e.id() == embedded.encoder);
        if !ours || texts.is_empty() || embedded.vectors.len() != texts.len() {
            return self.predict(texts);
        }
        self.confidences(&self.features.assemble(texts, Some(embedded.vectors))?)
    }

    fn nearest(&self, embedded: &Embedded<'_>, k: usize) -> Result<Vec<Vec<(usize, f32)>>, Error> {
        let ours = self.features.encoder().is_some_and(|e| e.id() == embedded.encoder);
        let Some(examples) = self.examples.as_ref().filter(|_| ours && !embedded.vectors.is_empty()) else {
            return Ok(Vec::new());
        };
        let dim = examples.dims2()?.1;
        let rows: Vec<f32> = embedded.vectors.iter().flatten().copied().collect();
        let x = Tensor::from_vec(rows, (embedded.vectors.len(), dim), &Device::Cpu)?;
        let sims = x.matmul(&examples.t()?)?.to_vec2::<f32>()?;
        Ok(sims
            .into_iter()
            .map(|row| {
                let mut ranked: Vec<(usize, f32)> = row.into_iter().enumerate().collect();
                let k = k.min(ranked.len());
                if k > 0 {
                    ranked.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
                }
                ranked.truncate(k);
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                ranked
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{knn_vote, Parts};

    #[test]
    fn an_intents_name_in_words() {
        assert_eq!(super::in_words("Refund_not_showing_up"), "refund not showing up");
        assert_eq!(super::in_words("card-arrival"), "card arrival");
        assert_eq!(super::in_words("faq/opening_hours"), "faq opening hours");
        assert_eq!(super::in_words("__greet"), "greet");
        let examples = vec![("where is my refund".to_string(), "Refund_not_showing_up".to_string())];
        let labels = ["Refund_not_showing_up".to_string(), "card_arrival".to_string()];
        assert_eq!(super::example_row(&examples, &labels, 0), Some(examples[0].clone()));
        assert_eq!(
            super::example_row(&examples, &labels, 2),
            Some(("card arrival".to_string(), "card_arrival".to_string())),
            "past the examples: the names, in the labels' order"
        );
        assert_eq!(super::example_row(&examples, &labels, 3), None);
    }

    #[test]
    fn parts_mix_by_their_weights_under_the_nearest_similarity() {
        let parts = Parts {
            head: vec![1.0, 0.0],
            cosine: Some(vec![0.0, 1.0]),
            vote: Some(vec![0.5, 0.5]),
            nearest: Some(0.5),
        };
        assert_eq!(parts.mix(0.0, 0.0), vec![0.5, 0.0], "the head alone, scaled by the similarity");
        assert_eq!(parts.mix(1.0, 0.0), vec![0.0, 0.5], "the cosine classifier alone");
        assert_eq!(parts.mix(0.5, 0.5), vec![0.25, 0.25], "the vote mixed beside both");
        let bare = Parts { head: vec![0.3, 0.7], cosine: None, vote: None, nearest: None };
        assert_eq!(bare.mix(0.75, 0.5), vec![0.3, 0.7], "missing parts weigh nothing");
    }

    #[test]
    fn the_nearest_examples_vote_for_their_intents() {
        // Twelve examples: the two nearest are intent 2's, one is intent 0's,
        // and nine far ones, of which only seven fit in the top ten.
        let mut sims = vec![0.1f32; 9];
        sims.extend([0.9, 0.88, 0.7]);
        let mut y = vec![1u32; 9];
        y.extend([2, 2, 0]);
        let vote = knn_vote(&sims, &y, 3);
        assert!((vote.iter().sum::<f32>() - 1.0).abs() < 1e-5, "a distribution: {vote:?}");
        assert!(vote[2] > vote[0] && vote[0] > vote[1], "nearer votes weigh more: {vote:?}");
        assert!(vote[1] > 0.0, "far neighbours in the top ten still vote");
        assert_eq!(knn_vote(&[0.5], &[1], 2), vec![0.0, 1.0], "fewer examples than neighbours");
        assert_eq!(knn_vote(&[], &[], 2), vec![0.0, 0.0], "no examples, no vote");
    }
}
