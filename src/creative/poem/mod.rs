//! Poems from a word-level GRU language model trained on public-domain
//! sonnets; a theme word seeds each poem.
//!
//! # Layout
//! - [`corpus`]: reading the sonnets and turning tokens back into verse.
//! - [`ngram`]: the Kneser-Ney bigram baseline the GRU is measured against.
//! - this file: the [`Poet`] model: training, perplexity, generation.

pub mod corpus;
pub mod ngram;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::rnn::{GRUConfig, GRUState, RNN};
use candle_nn::{AdamW, Embedding, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap, GRU};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::Error;
use corpus::EOS;

const EMBED: usize = 96;
const HIDDEN: usize = 256;
/// Words seen fewer times than this become `<unk>`.
const MIN_COUNT: usize = 8;
const SEQ: usize = 32;
const BATCH: usize = 64;
const UNK: &str = "<unk>";

/// Training figures, kept with the weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoetReport {
    /// Test perplexity of the GRU.
    pub test_perplexity: f64,
    /// Test perplexity of the Kneser-Ney bigram baseline.
    pub baseline_perplexity: f64,
    /// Vocabulary size.
    pub vocab: usize,
    /// Training tokens.
    pub n_train: usize,
    /// Epochs.
    pub epochs: usize,
    /// Training seconds.
    pub train_seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    vocab: Vec<String>,
    report: Option<PoetReport>,
}

/// How to write one poem.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The theme word (refused when not usable, see [`Poet::compose`]).
    pub theme: String,
    /// The sampling seed: the same seed gives the same poem.
    pub seed: u64,
    /// Softmax temperature (0.2–2.0).
    pub temperature: f32,
    /// Lines (1–14).
    pub lines: usize,
    /// Words a poem must not contain (checked after generation; the poem is
    /// redrawn, and refused if no draw is clean).
    pub blocked: Vec<String>,
}

impl Request {
    /// A four-line poem on `theme` with seed 7 at temperature 0.8.
    pub fn new(theme: &str) -> Self {
        Self { theme: theme.into(), seed: 7, temperature: 0.8, lines: 4, blocked: Vec::new() }
    }
}

/// The theme used when a fan gives none (or only symbols or emoji).
pub const DEFAULT_THEME: &str = "night";
/// Longest theme accepted, in characters.
pub const MAX_THEME: usize = 40;
/// Draws tried before a blocked word makes us give up.
const DRAWS: u64 = 8;

/// The trained poem model.
pub struct Poet {
    vocab: HashMap<String, u32>,
    words: Vec<String>,
    embedding: Embedding,
    gru: GRU,
    out: Linear,
    varmap: VarMap,
    /// Figures from training.
    pub report: Option<PoetReport>,
    /// The first 16 hex digits of the SHA-256 of `model.safetensors`
    /// (empty before it is saved).
    pub model: String,
}

/// The generator's name in provenance metadata.
pub const GENERATOR: &str = "usher poem-gru";

/// The line a poem ends with: what wrote it.
pub fn signature(made: &crate::creative::provenance::Provenance) -> String {
    format!("(written by {}, model {}, seed {})", made.generator, made.model, made.seed)
}

fn build(vocab_len: usize, vb: &VarBuilder) -> Result<(Embedding, GRU, Linear), Error> {
    let embedding = candle_nn::embedding(vocab_len, EMBED, vb.pp("embedding"))?;
    let gru = candle_nn::rnn::gru(EMBED, HIDDEN, GRUConfig::default(), vb.pp("gru"))?;
    let out = candle_nn::linear(HIDDEN, vocab_len, vb.pp("out"))?;
    Ok((embedding, gru, out))
}

impl Poet {
    fn new(words: Vec<String>, varmap: VarMap) -> Result<Self, Error> {
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let (embedding, gru, out) = build(words.len(), &vb)?;
        let vocab = words.iter().enumerate().map(|(i, w)| (w.clone(), i as u32)).collect();
        Ok(Self { vocab, words, embedding, gru, out, varmap, report: None, model: String::new() })
    }

    /// Token ids (unknown words → `<unk>`).
    pub fn ids(&self, tokens: &[String]) -> Vec<u32> {
        let unk = self.vocab.get(UNK).copied().unwrap_or(0);
        tokens.iter().map(|t| self.vocab.get(t).copied().unwrap_or(unk)).collect()
    }

    /// Vocabulary size.
    pub fn vocab_len(&self) -> usize {
        self.words.len()
    }

    /// Logits for every position of `ids` (batch, time) → (batch, time, vocab).
    fn logits(&self, ids: &Tensor) -> Result<Tensor, Error> {
        let x = self.embedding.forward(ids)?;
        let states = self.gru.seq(&x)?;
        let hs: Vec<Tensor> = states.iter().map(|s| s.h.clone()).collect();
        let h = Tensor::stack(&hs, 1)?;
        Ok(self.out.forward(&h)?)
    }

    /// Trains on `train` tokens; `progress(epoch, epochs, loss)` after each epoch.
    pub fn train(
        train: &[String],
        epochs: usize,
        seed: u64,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<Self, Error> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for t in train {
            *counts.entry(t).or_default() += 1;
        }
        let mut kept: Vec<String> =
            counts.into_iter().filter(|(w, c)| *c >= MIN_COUNT && *w != UNK).map(|(w, _)| w.to_string()).collect();
        kept.sort();
        let words: Vec<String> = std::iter::once(UNK.to_string()).chain(kept).collect();
        let model = Self::new(words, VarMap::new())?;
        let mut rng = StdRng::seed_from_u64(seed);
        let vars = crate::nlu::seeded::reinit(&model.varmap, &mut rng, HIDDEN)?;
        let mut opt = AdamW::new(vars, ParamsAdamW { lr: 3e-3, weight_decay: 0.0, ..Default::default() })?;
        let ids = model.ids(train);
        let starts: Vec<usize> = (0..ids.len().saturating_sub(SEQ + 1)).step_by(SEQ).collect();
        let mut order = starts.clone();
        for epoch in 0..epochs {
            order.shuffle(&mut rng);
            let (mut loss_sum, mut batches) = (0.0, 0);
            for chunk in order.chunks(BATCH) {
                let (x, y) = batch(&ids, chunk)?;
                let logits = model.logits(&x)?;
                let loss = candle_nn::loss::cross_entropy(&logits.flatten_to(1)?, &y.flatten_all()?)?;
                opt.backward_step(&loss)?;
                loss_sum += loss.to_scalar::<f32>()?;
                batches += 1;
            }
            progress(epoch + 1, epochs, loss_sum / batches.max(1) as f32);
        }
        Ok(model)
    }

    /// Perplexity on a token stream (windows of [`SEQ`], hidden state reset
    /// per window, as in training).
    pub fn perplexity(&self, tokens: &[String]) -> Result<f64, Error> {
        let ids = self.ids(tokens);
        let starts: Vec<usize> = (0..ids.len().saturating_sub(SEQ + 1)).step_by(SEQ).collect();
        let (mut nll, mut n) = (0.0f64, 0usize);
        for chunk in starts.chunks(BATCH) {
            let (x, y) = batch(&ids, chunk)?;
            let logits = self.logits(&x)?;
            let loss = candle_nn::loss::cross_entropy(&logits.flatten_to(1)?, &y.flatten_all()?)?;
            let count = chunk.len() * SEQ;
            nll += f64::from(loss.to_scalar::<f32>()?) * count as f64;
            n += count;
        }
        Ok((nll / n.max(1) as f64).exp())
    }

    /// Writes a poem. The theme is trimmed and lower-cased; an empty or
    /// symbol-only theme (emoji) becomes [`DEFAULT_THEME`]; a theme over
    /// [`MAX_THEME`] characters, or a blocked word, is refused with a reason.
    pub fn compose(&self, request: &Request) -> Result<String, Error> {
        let theme = theme(&request.theme, &request.blocked)?;
        let lines = request.lines.clamp(1, 14);
        let temperature = request.temperature.clamp(0.2, 2.0);
        for draw in 0..DRAWS {
            let mut rng = StdRng::seed_from_u64(request.seed.wrapping_add(draw.wrapping_mul(0x9E37_79B9)));
            let tokens = self.sample(&theme, lines, temperature, &mut rng)?;
            let blocked = tokens.iter().any(|t| request.blocked.iter().any(|b| b.eq_ignore_ascii_case(t)));
            if !blocked {
                return Ok(corpus::detokenize(&tokens));
            }
        }
        Err(Error::Model("could not write a poem without blocked words; try another theme".into()))
    }

    fn sample(&self, theme: &str, lines: usize, temperature: f32, rng: &mut StdRng) -> Result<Vec<String>, Error> {
        let eos = self.vocab.get(EOS).copied();
        let unk = self.vocab.get(UNK).copied();
        let mut tokens = vec![theme.to_string()];
        let mut state: Option<GRUState> = None;
        let mut next = self.ids(&tokens)[0];
        let mut done_lines = 0;
        // Generous cap: sonnet lines average about 10 tokens.
        for _ in 0..lines * 24 {
            let x = self.embedding.forward(&Tensor::new(&[next], &Device::Cpu)?)?;
            let s = match &state {
                Some(s) => self.gru.step(&x, s)?,
                None => self.gru.step(&x, &self.gru.zero_state(1)?)?,
            };
            let logits = self.out.forward(&s.h)?.i(0)?;
            state = Some(s);
            let mut weights = (logits / f64::from(temperature))?.to_vec1::<f32>()?;
            if let Some(u) = unk {
                weights[u as usize] = f32::NEG_INFINITY;
            }
            next = sample_index(&weights, rng);
            if Some(next) == eos {
                done_lines += 1;
                tokens.push(EOS.to_string());
                if done_lines >= lines {
                    break;
                }
            } else {
                tokens.push(self.words[next as usize].clone());
            }
        }
        Ok(tokens)
    }

    /// Writes `model.safetensors` (f16: half the size, same poems to the
    /// eye) and `vocab.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::util::save_vars_f16(&self.varmap, &dir.join("model.safetensors"))?;
        let meta = Meta { vocab: self.words.clone(), report: self.report };
        crate::util::write_json(&dir.join("vocab.json"), &meta)
    }

    /// Loads a model saved by [`Self::save`]; errors name the bad file.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let meta: Meta = crate::util::read_json(&dir.join("vocab.json"))?;
        let weights = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights).map_err(|e| Error::io(&weights, e))?;
        let hash = crate::util::sha256_hex(&bytes)[..16].to_string();
        let model = Self { report: meta.report, model: hash, ..Self::new(meta.vocab, VarMap::new())? };
        crate::util::load_vars(&model.varmap, &weights)?;
        Ok(model)
    }

    /// What a poem written now from `seed` says made it.
    pub fn provenance(&self, seed: u64) -> crate::creative::provenance::Provenance {
        crate::creative::provenance::Provenance::now(GENERATOR, &self.model, seed)
    }
}

/// Inputs and next-token targets for windows starting at `starts`.
fn batch(ids: &[u32], starts: &[usize]) -> Result<(Tensor, Tensor), Error> {
    let mut x = Vec::with_capacity(starts.len() * SEQ);
    let mut y = Vec::with_capacity(starts.len() * SEQ);
    for &s in starts {
        x.extend_from_slice(&ids[s..s + SEQ]);
        y.extend_from_slice(&ids[s + 1..s + SEQ + 1]);
    }
    let shape = (starts.len(), SEQ);
    Ok((Tensor::from_vec(x, shape, &Device::Cpu)?, Tensor::from_vec(y, shape, &Device::Cpu)?))
}

fn sample_index(logits: &[f32], rng: &mut StdRng) -> u32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = logits.iter().map(|&l| f64::from((l - max).exp())).collect();
    let total: f64 = weights.iter().sum();
    let mut r = rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
    for (i, w) in weights.iter().enumerate() {
        if r < *w {
            return i as u32;
        }
        r -= w;
    }
    (weights.len() - 1) as u32
}

/// The usable theme word, or why not.
pub fn theme(raw: &str, blocked: &[String]) -> Result<String, Error> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_THEME {
        return Err(Error::Model(format!("a theme is one word or two, at most {MAX_THEME} characters")));
    }
    let word: String = raw
        .split_whitespace()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_alphabetic() || *c == '\'')
        .flat_map(char::to_lowercase)
        .collect();
    if word.is_empty() {
        return Ok(DEFAULT_THEME.to_string());
    }
    if blocked.iter().any(|b| b.eq_ignore_ascii_case(&word)) {
        return Err(Error::Model("I'd rather not write about that; how about another theme?".into()));
    }
    Ok(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn themes_are_cleaned_defaulted_or_refused() {
        let blocked = vec!["damn".to_string()];
        assert_eq!(theme("  Ocean  waves", &blocked).unwrap(), "ocean");
        assert_eq!(theme("", &blocked).unwrap(), DEFAULT_THEME);
        assert_eq!(theme("🎸🎶", &blocked).unwrap(), DEFAULT_THEME);
        assert!(theme(&"x".repeat(10_000), &blocked).unwrap_err().to_string().contains("at most 40"));
        assert!(theme("DAMN", &blocked).unwrap_err().to_string().contains("another theme"));
    }

    #[test]
    fn a_tiny_model_trains_and_writes_deterministically() {
        let line = "the night is long and the stars are bright <eos> ";
        let text: Vec<String> = line.repeat(200).split_whitespace().map(str::to_string).collect();
        let poet = Poet::train(&text, 40, 3, &mut |_, _, _| {}).unwrap();
        let ppl = poet.perplexity(&text).unwrap();
        assert!(ppl < 3.0, "a repeated line must become predictable: {ppl}");
        let request = Request { lines: 2, ..Request::new("night") };
        let a = poet.compose(&request).unwrap();
        assert_eq!(a, poet.compose(&request).unwrap(), "same seed, same poem");
        assert_eq!(a.lines().count(), 2, "{a}");
        assert!(a.starts_with("Night"), "{a}");
        let dir = tempfile::tempdir().unwrap();
        poet.save(dir.path()).unwrap();
        assert_eq!(Poet::load(dir.path()).unwrap().compose(&request).unwrap(), a);
        std::fs::write(dir.path().join("model.safetensors"), b"garbage").unwrap();
        let e = Poet::load(dir.path()).err().unwrap().to_string();
        assert!(e.contains("model.safetensors"), "{e}");
    }
}
