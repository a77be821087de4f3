//! The sentiment model: embeddings → GRU → masked mean over time → linear
//! (2 classes). Initialised from a seeded RNG: deterministic under a seed.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::rnn::{GRUConfig, RNN};
use candle_nn::{AdamW, Embedding, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap, GRU};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::{tokens, Labelled};
use crate::Error;

const EMBED: usize = 64;
const HIDDEN: usize = 64;
const MAX_LEN: usize = 48;
/// Fewer known words than this and a message gets no score: "A12345" or
/// "hi" say nothing about mood, and unknown words skew the GRU.
pub const MIN_KNOWN_WORDS: usize = 3;
const PAD: u32 = 0;
const UNK: u32 = 1;

/// Training results.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct SentimentReport {
    /// Accuracy on the test sentences.
    pub test_accuracy: f64,
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
}

/// A trained sentiment model.
pub struct Sentiment {
    vocab: HashMap<String, u32>,
    words: Vec<String>,
    embedding: Embedding,
    gru: GRU,
    out: Linear,
    varmap: VarMap,
    /// Figures from training, when known.
    pub report: Option<SentimentReport>,
}

fn build(vocab_len: usize, vb: &VarBuilder) -> Result<(Embedding, GRU, Linear), Error> {
    let embedding = candle_nn::embedding(vocab_len, EMBED, vb.pp("embedding"))?;
    let gru = candle_nn::rnn::gru(EMBED, HIDDEN, GRUConfig::default(), vb.pp("gru"))?;
    let out = candle_nn::linear(HIDDEN, 2, vb.pp("out"))?;
    Ok((embedding, gru, out))
}

impl Sentiment {
    fn new(words: Vec<String>, varmap: VarMap) -> Result<Self, Error> {
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let (embedding, gru, out) = build(words.len(), &vb)?;
        let vocab = words.iter().enumerate().map(|(i, w)| (w.clone(), i as u32)).collect();
        Ok(Self { vocab, words, embedding, gru, out, varmap, report: None })
    }

    fn ids(&self, text: &str) -> Vec<u32> {
        let mut ids: Vec<u32> =
            tokens(text).iter().take(MAX_LEN).map(|t| self.vocab.get(t).copied().unwrap_or(UNK)).collect();
        if ids.is_empty() {
            ids.push(UNK);
        }
        ids
    }

    fn logits(&self, texts: &[&str]) -> Result<Tensor, Error> {
        let rows: Vec<Vec<u32>> = texts.iter().map(|t| self.ids(t)).collect();
        let len = rows.iter().map(Vec::len).max().unwrap_or(1);
        let mut ids = Vec::with_capacity(rows.len() * len);
        let mut mask = Vec::with_capacity(rows.len() * len);
        for r in &rows {
            ids.extend(r.iter().copied().chain(std::iter::repeat_n(PAD, len - r.len())));
            mask.extend((0..len).map(|i| if i < r.len() { 1f32 } else { 0.0 }));
        }
        let ids = Tensor::from_vec(ids, (rows.len(), len), &Device::Cpu)?;
        let mask = Tensor::from_vec(mask, (rows.len(), len, 1), &Device::Cpu)?;
        let x = self.embedding.forward(&ids)?;
        let states = self.gru.seq(&x)?;
        let hs: Vec<Tensor> = states.iter().map(|s| s.h.clone()).collect();
        let h = Tensor::stack(&hs, 1)?; // (batch, time, hidden)
        let pooled = h.broadcast_mul(&mask)?.sum(1)?.broadcast_div(&mask.sum(1)?)?;
        Ok(self.out.forward(&pooled)?)
    }

    /// Scores in [-1, 1] (P(positive) * 2 - 1), one per text; `None` when
    /// the text says nothing the model can read: fewer than
    /// [`MIN_KNOWN_WORDS`] known words, or under 60 % of its words known,
    /// after dropping emails, links and codes with digits ("A12345").
    pub fn score_known(&self, texts: &[&str]) -> Result<Vec<Option<f32>>, Error> {
        let cleaned: Vec<String> = texts
            .iter()
            .map(|t| {
                let noise = |w: &&str| w.contains('@') || w.contains("://") || w.chars().any(|c| c.is_ascii_digit());
                t.split_whitespace().filter(|w| !noise(w)).collect::<Vec<_>>().join(" ")
            })
            .collect();
        let readable: Vec<bool> = cleaned
            .iter()
            .map(|t| {
                let words = tokens(t);
                let known = words.iter().filter(|w| self.vocab.contains_key(w.as_str())).count();
                known >= MIN_KNOWN_WORDS && known * 10 >= words.len() * 6
            })
            .collect();
        let refs: Vec<&str> = cleaned.iter().map(String::as_str).collect();
        let scores = self.score(&refs)?;
        Ok(scores.into_iter().zip(readable).map(|(s, ok)| ok.then_some(s)).collect())
    }

    /// Scores in [-1, 1] (P(positive) * 2 - 1), one per text.
    pub fn score(&self, texts: &[&str]) -> Result<Vec<f32>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let p = candle_nn::ops::softmax_last_dim(&self.logits(texts)?)?.to_vec2::<f32>()?;
        Ok(p.iter().map(|row| row[1] * 2.0 - 1.0).collect())
    }

    /// Accuracy on labelled sentences.
    pub fn accuracy(&self, data: &[Labelled]) -> Result<f64, Error> {
        let mut correct = 0;
        for chunk in data.chunks(256) {
            let texts: Vec<&str> = chunk.iter().map(|(t, _)| t.as_str()).collect();
            let pred = self.logits(&texts)?.argmax(D::Minus1)?.to_vec1::<u32>()?;
            correct += pred.iter().zip(chunk).filter(|(p, (_, l))| *p == l).count();
        }
        Ok(correct as f64 / data.len().max(1) as f64)
    }

    /// Trains on `train`; `progress(epoch, epochs, loss)` after each epoch.
    pub fn train(
        train: &[Labelled],
        epochs: usize,
        seed: u64,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<Self, Error> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for (t, _) in train {
            for w in tokens(t) {
                *counts.entry(w).or_default() += 1;
            }
        }
        let mut kept: Vec<String> = counts.into_iter().filter(|(_, c)| *c >= 2).map(|(w, _)| w).collect();
        kept.sort();
        let words: Vec<String> = ["<pad>", "<unk>"].iter().map(|s| s.to_string()).chain(kept).collect();
        let model = Self::new(words, VarMap::new())?;
        let mut rng = StdRng::seed_from_u64(seed);
        let vars = crate::nlu::seeded::reinit(&model.varmap, &mut rng, HIDDEN)?;
        let params = ParamsAdamW { lr: 2e-3, weight_decay: 1e-4, ..Default::default() };
        let mut opt = AdamW::new(vars, params)?;
        let mut order: Vec<usize> = (0..train.len()).collect();
        for epoch in 0..epochs {
            order.shuffle(&mut rng);
            let (mut loss_sum, mut batches) = (0.0, 0);
            for chunk in order.chunks(32) {
                let texts: Vec<&str> = chunk.iter().map(|&i| train[i].0.as_str()).collect();
                let labels: Vec<u32> = chunk.iter().map(|&i| train[i].1).collect();
                let y = Tensor::new(labels.as_slice(), &Device::Cpu)?;
                let loss = candle_nn::loss::cross_entropy(&model.logits(&texts)?, &y)?;
                opt.backward_step(&loss)?;
                loss_sum += loss.to_scalar::<f32>()?;
                batches += 1;
            }
            progress(epoch + 1, epochs, loss_sum / batches.max(1) as f32);
        }
        Ok(model)
    }

    /// Writes `model.safetensors` and `vocab.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.varmap.save(dir.join("model.safetensors"))?;
        let meta = Meta { vocab: self.words.clone(), report: self.report };
        crate::util::write_json(&dir.join("vocab.json"), &meta)
    }

    /// Loads a model saved by [`Self::save`]; errors name the bad file.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let meta: Meta = crate::util::read_json(&dir.join("vocab.json"))?;
        let mut model = Self::new(meta.vocab, VarMap::new())?;
        let weights = dir.join("model.safetensors");
        model.varmap.load(&weights).map_err(|e| Error::Model(format!("{}: {e}", weights.display())))?;
        model.report = meta.report;
        Ok(model)
    }
}
