//! The learned entity tagger: a BiLSTM over the encoder's token states with
//! BIO tags, trained from the inline-annotated examples. It finds entities
//! the rules miss (a show name not in any lookup list); the engine combines
//! it with the regex and lookup extractors.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::rnn::{LSTMConfig, LSTM, RNN};
use candle_nn::{AdamW, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::encoder::{Encoder, TokenStates};
use crate::intents::{Domain, Example, Span};
use crate::Error;

const HIDDEN: usize = 64;
const EPOCHS: usize = 30;

/// A training sequence: token states and gold tag indices.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// One vector per token.
    pub states: Vec<Vec<f32>>,
    /// One tag index per token.
    pub tags: Vec<u32>,
}

/// The BiLSTM tagger.
pub struct Tagger {
    tags: Vec<String>,
    fwd: LSTM,
    bwd: LSTM,
    out: Linear,
    varmap: VarMap,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    tags: Vec<String>,
    input: usize,
}

/// The BIO tag set for `entities`: `O`, then `B-x`, `I-x` per entity.
pub fn tag_set<'a>(entities: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut tags = vec!["O".to_string()];
    for e in entities {
        tags.push(format!("B-{e}"));
        tags.push(format!("I-{e}"));
    }
    tags
}

/// Gold BIO tags for tokens at `offsets`, from annotated `spans`.
pub fn bio(offsets: &[(usize, usize)], spans: &[Span], tags: &[String]) -> Vec<u32> {
    let index: HashMap<&str, u32> = tags.iter().enumerate().map(|(i, t)| (t.as_str(), i as u32)).collect();
    let mut previous: Option<usize> = None;
    offsets
        .iter()
        .map(|&(start, _)| {
            let hit = spans.iter().position(|s| s.start <= start && start < s.end);
            let tag = match hit {
                Some(k) => {
                    let prefix = if previous == Some(k) { "I" } else { "B" };
                    index.get(format!("{prefix}-{}", spans[k].entity).as_str()).copied().unwrap_or(0)
                }
                None => 0,
            };
            previous = hit;
            tag
        })
        .collect()
}

fn build(input: usize, n_tags: usize, varmap: &VarMap) -> Result<(LSTM, LSTM, Linear), Error> {
    let vb = VarBuilder::from_varmap(varmap, DType::F32, &Device::Cpu);
    let fwd = candle_nn::rnn::lstm(input, HIDDEN, LSTMConfig::default(), vb.pp("fwd"))?;
    let bwd = candle_nn::rnn::lstm(input, HIDDEN, LSTMConfig::default(), vb.pp("bwd"))?;
    let out = candle_nn::linear(2 * HIDDEN, n_tags, vb.pp("out"))?;
    Ok((fwd, bwd, out))
}

impl Tagger {
    fn new(tags: Vec<String>, input: usize, varmap: VarMap) -> Result<Self, Error> {
        let (fwd, bwd, out) = build(input, tags.len(), &varmap)?;
        Ok(Self { tags, fwd, bwd, out, varmap })
    }

    /// The tag names.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Tag scores (batch × tokens × tags) for right-padded sequences.
    fn logits(&self, batch: &[&[Vec<f32>]]) -> Result<Tensor, Error> {
        let len = batch.iter().map(|s| s.len()).max().unwrap_or(1).max(1);
        let dim = batch.iter().flat_map(|s| s.first()).map(Vec::len).next().unwrap_or(1);
        let mut data = Vec::with_capacity(batch.len() * len * dim);
        for seq in batch {
            for t in 0..len {
                match seq.get(t) {
                    Some(v) => data.extend_from_slice(v),
                    None => data.extend(std::iter::repeat_n(0.0, dim)),
                }
            }
        }
        let x = Tensor::from_vec(data, (batch.len(), len, dim), &Device::Cpu)?;
        let reverse = Tensor::new((0..len as u32).rev().collect::<Vec<_>>().as_slice(), &Device::Cpu)?;
        let hf: Vec<Tensor> = self.fwd.seq(&x)?.iter().map(|s| s.h().clone()).collect();
        let hb: Vec<Tensor> = self.bwd.seq(&x.index_select(&reverse, 1)?)?.iter().map(|s| s.h().clone()).collect();
        let hf = Tensor::stack(&hf, 1)?;
        let hb = Tensor::stack(&hb, 1)?.index_select(&reverse, 1)?;
        Ok(self.out.forward(&Tensor::cat(&[hf, hb], 2)?)?)
    }

    /// Trains on `sequences` with the given tag set.
    pub fn train(sequences: &[Sequence], tags: Vec<String>, epochs: usize, seed: u64) -> Result<Self, Error> {
        let input = sequences.iter().flat_map(|s| s.states.first()).map(Vec::len).next().unwrap_or(1);
        let model = Self::new(tags, input, VarMap::new())?;
        let mut rng = StdRng::seed_from_u64(seed);
        let vars = super::seeded::reinit(&model.varmap, &mut rng, HIDDEN)?;
        let mut opt = AdamW::new(vars, ParamsAdamW { lr: 3e-3, weight_decay: 1e-4, ..Default::default() })?;
        let mut order: Vec<usize> = (0..sequences.len()).filter(|&i| !sequences[i].tags.is_empty()).collect();
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            // Similar lengths together keep padding small.
            for chunk in order.chunks(32) {
                let batch: Vec<&[Vec<f32>]> = chunk.iter().map(|&i| sequences[i].states.as_slice()).collect();
                let logits = model.logits(&batch)?;
                let (b, t, k) = logits.dims3()?;
                let mut gold = Vec::with_capacity(b * t);
                let mut mask = Vec::with_capacity(b * t);
                for &i in chunk {
                    let tags = &sequences[i].tags;
                    for j in 0..t {
                        gold.push(tags.get(j).copied().unwrap_or(0));
                        mask.push(if j < tags.len() { 1f32 } else { 0.0 });
                    }
                }
                let gold = Tensor::from_vec(gold, (b * t, 1), &Device::Cpu)?;
                let mask = Tensor::from_vec(mask, b * t, &Device::Cpu)?;
                let logp = candle_nn::ops::log_softmax(&logits.reshape((b * t, k))?, D::Minus1)?;
                let picked = logp.gather(&gold, 1)?.squeeze(1)?;
                let loss = (picked.mul(&mask)?.sum_all()?.neg()? / f64::from(mask.sum_all()?.to_scalar::<f32>()?))?;
                opt.backward_step(&loss)?;
            }
        }
        Ok(model)
    }

    /// Trains a tagger for `domain`'s entities on `examples` (token states from `encoder`).
    pub fn train_for(domain: &Domain, encoder: &Encoder, examples: &[Example], seed: u64) -> Result<Self, Error> {
        let tags = tag_set(domain.entities.keys().map(String::as_str));
        let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        let states = encoder.token_states(&texts)?;
        let sequences: Vec<Sequence> = states
            .into_iter()
            .zip(examples)
            .map(|(s, ex)| Sequence { tags: bio(&s.offsets, &ex.entities, &tags), states: s.states })
            .collect();
        Self::train(&sequences, tags, EPOCHS, seed)
    }

    /// Tag indices per token of each sequence.
    pub fn predict(&self, sequences: &[TokenStates]) -> Result<Vec<Vec<u32>>, Error> {
        let mut out = Vec::with_capacity(sequences.len());
        for s in sequences {
            if s.states.is_empty() {
                out.push(Vec::new());
                continue;
            }
            let best = self.logits(&[s.states.as_slice()])?.argmax(D::Minus1)?.squeeze(0)?.to_vec1::<u32>()?;
            out.push(best);
        }
        Ok(out)
    }

    /// Entity spans `(start, end, entity)` from predicted tags.
    pub fn spans(&self, tags: &[u32], offsets: &[(usize, usize)]) -> Vec<(usize, usize, String)> {
        let mut spans: Vec<(usize, usize, String)> = Vec::new();
        for (&tag, &(start, end)) in tags.iter().zip(offsets) {
            let name = self.tags.get(tag as usize).map(String::as_str).unwrap_or("O");
            if let Some(entity) = name.strip_prefix("I-") {
                if let Some(last) = spans.last_mut().filter(|l| l.2 == entity) {
                    last.1 = end;
                    continue;
                }
                spans.push((start, end, entity.to_string()));
            } else if let Some(entity) = name.strip_prefix("B-") {
                spans.push((start, end, entity.to_string()));
            }
        }
        spans
    }

    /// Writes `path` (safetensors) and `path.json` (tags).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        self.varmap.save(path)?;
        let meta = Meta { tags: self.tags.clone(), input: self.input_dim() };
        crate::util::write_json(&path.with_extension("json"), &meta)
    }

    fn input_dim(&self) -> usize {
        self.varmap
            .data()
            .lock()
            .ok()
            .and_then(|d| d.get("fwd.weight_ih_l0").and_then(|v| v.dims().get(1).copied()))
            .unwrap_or(0)
    }

    /// Loads a tagger written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self, Error> {
        let meta: Meta = crate::util::read_json(&path.with_extension("json"))?;
        let mut model = Self::new(meta.tags, meta.input, VarMap::new())?;
        model.varmap.load(path).map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
        Ok(model)
    }
}
