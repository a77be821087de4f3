//! The small reader: word embeddings → GRU → masked mean over time →
//! linear (2 classes), trained from scratch. Needs no encoder.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::rnn::GRUConfig;
use candle_nn::{AdamW, Embedding, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap, GRU};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{tokens, Labelled};
use crate::Error;

const EMBED: usize = 64;
const HIDDEN: usize = 64;
const MAX_LEN: usize = 48;
const PAD: u32 = 0;
const UNK: u32 = 1;

/// The word GRU and its variables.
pub(super) struct Words {
    embedding: Embedding,
    gru: GRU,
    out: Linear,
    pub(super) varmap: VarMap,
}

impl Words {
    pub(super) fn new(vocab_len: usize, varmap: VarMap) -> Result<Self, Error> {
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let embedding = candle_nn::embedding(vocab_len, EMBED, vb.pp("embedding"))?;
        let gru = candle_nn::rnn::gru(EMBED, HIDDEN, GRUConfig::default(), vb.pp("gru"))?;
        let out = candle_nn::linear(HIDDEN, 2, vb.pp("out"))?;
        Ok(Self { embedding, gru, out, varmap })
    }

    fn ids(vocab: &HashMap<String, u32>, text: &str) -> Vec<u32> {
        let mut ids: Vec<u32> =
            tokens(text).iter().take(MAX_LEN).map(|t| vocab.get(t).copied().unwrap_or(UNK)).collect();
        if ids.is_empty() {
            ids.push(UNK);
        }
        ids
    }

    /// Logits (texts × 2).
    pub(super) fn logits(&self, vocab: &HashMap<String, u32>, texts: &[&str]) -> Result<Tensor, Error> {
        let rows: Vec<Vec<u32>> = texts.iter().map(|t| Self::ids(vocab, t)).collect();
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
        Ok(self.out.forward(&super::masked_mean_of_gru(&self.gru, &x, &mask)?)?)
    }

    /// Trains a new reader over `vocab` on `train`.
    pub(super) fn train(
        vocab: &HashMap<String, u32>,
        train: &[Labelled],
        epochs: usize,
        rng: &mut StdRng,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<Self, Error> {
        let model = Self::new(vocab.len(), VarMap::new())?;
        let vars = crate::nlu::seeded::reinit(&model.varmap, rng, HIDDEN)?;
        let params = ParamsAdamW { lr: 2e-3, weight_decay: 1e-4, ..Default::default() };
        let mut opt = AdamW::new(vars, params)?;
        let mut order: Vec<usize> = (0..train.len()).collect();
        for epoch in 0..epochs {
            order.shuffle(rng);
            let (mut loss_sum, mut batches) = (0.0, 0);
            for chunk in order.chunks(32) {
                let texts: Vec<&str> = chunk.iter().map(|&i| train[i].0.as_str()).collect();
                let labels: Vec<u32> = chunk.iter().map(|&i| train[i].1).collect();
                let y = Tensor::new(labels.as_slice(), &Device::Cpu)?;
                let loss = candle_nn::loss::cross_entropy(&model.logits(vocab, &texts)?, &y)?;
                opt.backward_step(&loss)?;
                loss_sum += loss.to_scalar::<f32>()?;
                batches += 1;
            }
            progress(epoch + 1, epochs, loss_sum / batches.max(1) as f32);
        }
        Ok(model)
    }
}
