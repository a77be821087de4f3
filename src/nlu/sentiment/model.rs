//! The sentiment model: a vocabulary (which messages are readable at all)
//! and one of two readers, the fine-tuned encoder with a GRU head
//! ([`super::tuned`]) or the small word GRU ([`super::words`]). Both give
//! two logits per text, divided by a temperature fitted on the dev split.

use std::collections::HashMap;
use std::path::Path;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::tuned::{Tuned, TunedMeta};
use super::words::Words;
use super::{tokens, Labelled};
use crate::nlu::encoder::{Branch, Encoder, FineTune};
use crate::Error;

/// Fewer known words than this and a message gets no score: "A12345" or
/// "hi" say nothing about mood, and unknown words skew the model.
pub const MIN_KNOWN_WORDS: usize = 3;
/// The label of neutral training texts (0 negative, 1 positive).
pub const NEUTRAL: u32 = 2;

/// Training results.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct SentimentReport {
    /// Accuracy on the test sentences (`None` when not measured).
    pub test_accuracy: Option<f64>,
    /// Accuracy on the dev sentences.
    pub dev_accuracy: f64,
    /// Sentences trained on.
    pub n_train: usize,
    /// Training seconds.
    pub train_seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    vocab: Vec<String>,
    report: Option<SentimentReport>,
    /// Present for the encoder reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encoder: Option<TunedMeta>,
    /// Logits are divided by this before the softmax.
    #[serde(default = "one")]
    temperature: f32,
}

fn one() -> f32 {
    1.0
}

enum Reader {
    Words(Words),
    Encoder(Box<Tuned>),
}

/// A trained sentiment model.
pub struct Sentiment {
    vocab: HashMap<String, u32>,
    words: Vec<String>,
    reader: Reader,
    temperature: f32,
    /// Figures from training, when known.
    pub report: Option<SentimentReport>,
}

/// The training words seen at least twice, after `<pad>` and `<unk>`.
fn vocabulary(train: &[Labelled]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (t, _) in train {
        for w in tokens(t) {
            *counts.entry(w).or_default() += 1;
        }
    }
    let mut kept: Vec<String> = counts.into_iter().filter(|(_, c)| *c >= 2).map(|(w, _)| w).collect();
    kept.sort();
    ["<pad>", "<unk>"].iter().map(|s| s.to_string()).chain(kept).collect()
}

/// Each word's index in `words`.
fn index(words: &[String]) -> HashMap<String, u32> {
    words.iter().enumerate().map(|(i, w)| (w.clone(), i as u32)).collect()
}

/// Class probabilities from logits at `temperature` (negative, positive
/// and, for a three-class head, neutral).
fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let e: Vec<f32> = logits.iter().map(|l| ((l - max) / temperature).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// The score in [-1, 1]: P(positive) − P(negative).
fn score_of(logits: &[f32], temperature: f32) -> f32 {
    let p = softmax(logits, temperature);
    p.get(1).copied().unwrap_or(0.0) - p.first().copied().unwrap_or(0.0)
}

/// P(positive | positive or negative): SST-2's question.
fn positive(logits: &[f32], temperature: f32) -> f32 {
    let p = softmax(logits, temperature);
    let (neg, pos) = (p.first().copied().unwrap_or(0.5), p.get(1).copied().unwrap_or(0.5));
    pos / (pos + neg).max(f32::MIN_POSITIVE)
}

impl Sentiment {
    fn with(words: Vec<String>, reader: Reader) -> Self {
        Self { vocab: index(&words), words, reader, temperature: 1.0, report: None }
    }

    /// Which reader this is, for reports: the word GRU, or the encoder with
    /// how many tuned layers.
    pub fn kind(&self) -> String {
        match &self.reader {
            Reader::Words(_) => "words GRU".into(),
            Reader::Encoder(t) => format!("encoder ({} tuned layers) + GRU head", t.meta.layers),
        }
    }

    /// The softmax temperature fitted on dev.
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// The reader's logits per text (2 classes, or 3 with neutral), in input order.
    fn logits(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        match &self.reader {
            Reader::Words(w) => Ok(w.logits(&self.vocab, texts)?.to_vec2::<f32>()?),
            Reader::Encoder(t) => t.logits(texts),
        }
    }

    /// `text` without emails, links and codes with digits ("A12345"), if
    /// what is left is readable: at least [`MIN_KNOWN_WORDS`] known words,
    /// and at least 60 % of its words known.
    fn readable(&self, text: &str) -> Option<String> {
        let noise = |w: &&str| w.contains('@') || w.contains("://") || w.chars().any(|c| c.is_ascii_digit());
        let cleaned = text.split_whitespace().filter(|w| !noise(w)).collect::<Vec<_>>().join(" ");
        let words = tokens(&cleaned);
        let known = words.iter().filter(|w| self.vocab.contains_key(w.as_str())).count();
        (known >= MIN_KNOWN_WORDS && known * 10 >= words.len() * 6).then_some(cleaned)
    }

    /// Scores in [-1, 1] (P(positive) − P(negative)), one per text; `None` when
    /// the text says nothing the model can read (see `readable`). The word
    /// GRU reads the cleaned text; the encoder reads the message as the
    /// NLU pass does, so that [`Self::known_from_logits`] agrees with this.
    pub fn score_known(&self, texts: &[&str]) -> Result<Vec<Option<f32>>, Error> {
        let readable: Vec<(usize, String)> =
            texts.iter().enumerate().filter_map(|(i, t)| Some((i, self.readable(t)?))).collect();
        let inputs: Vec<&str> = match &self.reader {
            Reader::Words(_) => readable.iter().map(|(_, c)| c.as_str()).collect(),
            Reader::Encoder(_) => readable.iter().map(|(i, _)| texts[*i]).collect(),
        };
        let mut out = vec![None; texts.len()];
        for ((i, _), s) in readable.iter().zip(self.score(&inputs)?) {
            out[*i] = Some(s);
        }
        Ok(out)
    }

    /// The encoder reader as a branch of the NLU's pass (`None` for the
    /// word GRU): its logits then come with the pass, see
    /// [`Self::known_from_logits`].
    pub fn branch(&self) -> Option<Branch<'_>> {
        match &self.reader {
            Reader::Words(_) => None,
            Reader::Encoder(t) => Some(Branch { encoder: &t.encoder, head: &t.head }),
        }
    }

    /// [`Self::score_known`] from the branch's logits of each text.
    pub fn known_from_logits(&self, texts: &[&str], logits: &[Vec<f32>]) -> Vec<Option<f32>> {
        texts.iter().zip(logits).map(|(t, l)| self.readable(t).map(|_| score_of(l, self.temperature))).collect()
    }

    /// Scores in [-1, 1] (P(positive) − P(negative)), one per text.
    pub fn score(&self, texts: &[&str]) -> Result<Vec<f32>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.logits(texts)?.iter().map(|l| score_of(l, self.temperature)).collect())
    }

    /// P(positive | positive or negative) per text.
    pub fn probabilities(&self, texts: &[&str]) -> Result<Vec<f32>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.logits(texts)?.iter().map(|l| positive(l, self.temperature)).collect())
    }

    /// Accuracy on labelled sentences.
    pub fn accuracy(&self, data: &[Labelled]) -> Result<f64, Error> {
        let texts: Vec<&str> = data.iter().map(|(t, _)| t.as_str()).collect();
        let p = self.probabilities(&texts)?;
        let correct = p.iter().zip(data).filter(|(p, (_, y))| u32::from(**p > 0.5) == *y).count();
        Ok(correct as f64 / data.len().max(1) as f64)
    }

    /// Fits the softmax temperature on `dev` (least negative log-likelihood
    /// over a grid from 0.25 to 5).
    pub fn calibrate(&mut self, dev: &[Labelled]) -> Result<f32, Error> {
        let texts: Vec<&str> = dev.iter().map(|(t, _)| t.as_str()).collect();
        let logits = self.logits(&texts)?;
        let nll = |t: f32| -> f64 {
            logits
                .iter()
                .zip(dev)
                .map(|(l, (_, y))| {
                    let p = f64::from(positive(l, t)).clamp(1e-7, 1.0 - 1e-7);
                    -if *y == 1 { p.ln() } else { (1.0 - p).ln() }
                })
                .sum()
        };
        let grid = (1..=100).map(|i| i as f32 * 0.05);
        self.temperature = grid.min_by(|a, b| nll(*a).total_cmp(&nll(*b))).unwrap_or(1.0);
        Ok(self.temperature)
    }

    /// Trains the word GRU on `train`; `progress(epoch, epochs, loss)` after each epoch.
    pub fn train(
        train: &[Labelled],
        epochs: usize,
        seed: u64,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<Self, Error> {
        let words = vocabulary(train);
        let vocab = index(&words);
        let mut rng = StdRng::seed_from_u64(seed);
        let reader = Words::train(&vocab, train, epochs, &mut rng, progress)?;
        Ok(Self::with(words, Reader::Words(reader)))
    }

    /// Fine-tunes `encoder`'s top `cfg.layers` layers with a GRU head on
    /// `train`; with `neutral` texts the head has a third class for them
    /// (requests that are neither praise nor complaint), which the score
    /// leaves out.
    pub fn train_tuned(
        train: &[Labelled],
        neutral: &[String],
        encoder: &Encoder,
        cfg: &FineTune,
        seed: u64,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<Self, Error> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut all = train.to_vec();
        all.extend(neutral.iter().map(|t| (t.clone(), NEUTRAL)));
        let classes = if neutral.is_empty() { 2 } else { 3 };
        let tuned = Tuned::train(encoder, &all, classes, cfg, seed, &mut rng, progress)?;
        Ok(Self::with(vocabulary(train), Reader::Encoder(Box::new(tuned))))
    }

    /// Writes `model.safetensors` and `vocab.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let weights = dir.join("model.safetensors");
        match &self.reader {
            Reader::Words(w) => w.varmap.save(&weights)?,
            Reader::Encoder(t) => t.save(&weights)?,
        }
        self.save_meta(dir)
    }

    /// Writes only `vocab.json` (the vocabulary, report and temperature)
    /// into `dir`, beside weights already there.
    pub fn save_meta(&self, dir: &Path) -> Result<(), Error> {
        let encoder = match &self.reader {
            Reader::Words(_) => None,
            Reader::Encoder(t) => Some(t.meta.clone()),
        };
        let meta = Meta { vocab: self.words.clone(), report: self.report, encoder, temperature: self.temperature };
        crate::util::write_json(&dir.join("vocab.json"), &meta)
    }

    /// Loads a model saved by [`Self::save`]; an encoder reader needs the
    /// encoder it was tuned from. Errors name the bad file.
    pub fn load(dir: &Path, encoder: Option<&Encoder>) -> Result<Self, Error> {
        let meta: Meta = crate::util::read_json(&dir.join("vocab.json"))?;
        let weights = dir.join("model.safetensors");
        let reader = match meta.encoder {
            None => {
                let mut words = Words::new(meta.vocab.len(), candle_nn::VarMap::new())?;
                words.varmap.load(&weights).map_err(|e| Error::Model(format!("{}: {e}", weights.display())))?;
                Reader::Words(words)
            }
            Some(tuned) => {
                let base = encoder.ok_or_else(|| {
                    Error::Model(format!(
                        "{}: this model reads the sentence encoder, which is not loaded",
                        dir.display()
                    ))
                })?;
                Reader::Encoder(Box::new(Tuned::load(&weights, base, tuned)?))
            }
        };
        let mut model = Self::with(meta.vocab, reader);
        model.report = meta.report;
        model.temperature = meta.temperature;
        Ok(model)
    }
}
