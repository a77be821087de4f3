//! Fine-tuning the encoder's top layers on labelled sentences.
//!
//! The bottom layers stay frozen: their outputs for the training sentences
//! are computed once, in length-sorted batches, and kept, so an epoch runs
//! only the top layers forward and backward. Those layers and a cosine
//! classifier (started at the class means of the pretrained embeddings) are
//! trained with AdamW on cross-entropy, under a seed. The result is a new
//! [`Encoder`]: the intent head is then trained on its embeddings as usual.
//! Only the tuned layers are saved, beside the head.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{DType, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use sha2::{Digest, Sha256};

use super::bert::{l2_rows, mean_pool, run, Bert, Layer, Mode};
use super::Encoder;
use crate::Error;

/// Fine-tuning settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FineTune {
    /// Top layers to train (0: none, the encoder stays frozen).
    pub layers: usize,
    /// Passes over the examples.
    pub epochs: usize,
    /// AdamW learning rate of the encoder layers.
    pub learning_rate: f64,
    /// Sentences per step.
    pub batch_size: usize,
}

impl Default for FineTune {
    fn default() -> Self {
        Self { layers: 0, epochs: 3, learning_rate: 5e-5, batch_size: 32 }
    }
}

/// Logit scale of the cosine classifier.
const SCALE: f64 = 20.0;
/// Learning rate of the classifier's class vectors.
const CLASS_LEARNING_RATE: f64 = 1e-3;
/// Name prefix of the tuned layers in a saved file.
const PREFIX: &str = "encoder.layer";

/// The frozen layers' output for one batch of training sentences.
struct Batch {
    hidden: Tensor,
    mask: Tensor,
    bias: Tensor,
    labels: Tensor,
}

impl Encoder {
    /// How many top layers are fine-tuned (0 for the pretrained encoder).
    pub fn tuned_layers(&self) -> usize {
        self.tuned
    }

    /// Fine-tunes the top `cfg.layers` layers to tell `classes` classes
    /// apart; `labels[i]` is the class of `texts[i]`. `progress(epoch,
    /// epochs, loss)` follows each epoch.
    pub fn fine_tuned(
        &self,
        texts: &[&str],
        labels: &[u32],
        classes: usize,
        cfg: &FineTune,
        seed: u64,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<Encoder, Error> {
        let total = self.config.num_hidden_layers;
        let k = cfg.layers.min(total);
        if k == 0 || texts.is_empty() || classes == 0 || labels.len() != texts.len() {
            return Ok(self.clone());
        }
        let frozen = total - k;
        let mut batches = Vec::new();
        self.forward_batches_to(texts, frozen, cfg.batch_size, |chunk, hidden, mask, _| {
            let y: Vec<u32> = chunk.iter().map(|&i| labels[i]).collect();
            let labels = Tensor::new(y, hidden.device())?;
            batches.push(Batch {
                hidden: hidden.clone(),
                mask: mask.clone(),
                bias: Bert::attention_bias(mask)?,
                labels,
            });
            Ok(())
        })?;
        let mut tuned = Vec::with_capacity(k);
        let mut vars = Vec::new();
        let model = self.candle()?;
        for layer in &model.layers[frozen..] {
            let (layer, v) = layer.to_vars()?;
            tuned.push(layer);
            vars.extend(v);
        }
        let classes = Var::from_tensor(&self.class_means(&batches, frozen, classes)?)?;
        let mut encoder_opt =
            AdamW::new(vars, ParamsAdamW { lr: cfg.learning_rate, weight_decay: 0.01, ..Default::default() })?;
        let mut class_opt = AdamW::new(
            vec![classes.clone()],
            ParamsAdamW { lr: CLASS_LEARNING_RATE, weight_decay: 0.0, ..Default::default() },
        )?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..batches.len()).collect();
        for epoch in 0..cfg.epochs {
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0;
            for &i in &order {
                let b = &batches[i];
                let embedding = mean_pool(&run(&tuned, &b.hidden, &b.bias, Mode::Train)?, &b.mask)?;
                let logits = (embedding.matmul(&l2_rows(classes.as_tensor())?.t()?)? * SCALE)?;
                let loss = candle_nn::loss::cross_entropy(&logits, &b.labels)?;
                let grads = loss.backward()?;
                encoder_opt.step(&grads)?;
                class_opt.step(&grads)?;
                loss_sum += loss.to_scalar::<f32>()?;
            }
            progress(epoch + 1, cfg.epochs, loss_sum / batches.len().max(1) as f32);
        }
        let tuned = tuned.iter().map(Layer::detach).collect::<candle_core::Result<Vec<_>>>()?;
        self.with_layers(tuned)
    }

    /// Normalised mean embedding of each class under the pretrained top layers.
    fn class_means(&self, batches: &[Batch], frozen: usize, classes: usize) -> Result<Tensor, Error> {
        let dim = self.dim;
        let mut sums = vec![0f32; classes * dim];
        let model = self.candle()?;
        for b in batches {
            let hidden = run(&model.layers[frozen..], &b.hidden, &b.bias, Mode::Infer)?;
            let rows = mean_pool(&hidden, &b.mask)?.to_vec2::<f32>()?;
            for (row, y) in rows.iter().zip(b.labels.to_vec1::<u32>()?) {
                let sum = &mut sums[y as usize * dim..(y as usize + 1) * dim];
                sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
        }
        Ok(l2_rows(&Tensor::from_vec(sums, (classes, dim), &self.device)?)?)
    }

    /// This encoder with its top layers replaced by `tuned`; its id then
    /// hashes the new weights.
    fn with_layers(&self, tuned: Vec<Layer>) -> Result<Encoder, Error> {
        let total = self.config.num_hidden_layers;
        let frozen = total.saturating_sub(tuned.len());
        let mut model = (*self.candle()?).clone();
        model.layers.truncate(frozen);
        model.layers.extend(tuned);
        let packed = match &self.packed {
            Some(p) => super::packed::with_top_layers(p, &self.config, frozen, &model.layers[frozen..])?,
            None => None,
        };
        let held = super::Candle::held(model, Arc::clone(&self.model.weights), self.model.id.clone());
        let mut encoder = Self { model: held, packed, tuned: total - frozen, ..self.clone() };
        let mut hash = Sha256::new();
        hash.update(self.id.as_bytes());
        for (name, t) in encoder.tuned_tensors() {
            hash.update(name.as_bytes());
            for v in t.flatten_all()?.to_vec1::<f32>()? {
                hash.update(v.to_le_bytes());
            }
        }
        encoder.id = format!("{:x}", hash.finalize())[..16].to_string();
        Ok(encoder)
    }

    /// The fine-tuned layers' weights, named as in a BERT checkpoint.
    pub fn tuned_tensors(&self) -> Vec<(String, Tensor)> {
        if self.tuned == 0 {
            return Vec::new();
        }
        // A tuned encoder holds its candle model: this reads no file.
        let Ok(model) = self.candle() else { return Vec::new() };
        let total = self.config.num_hidden_layers;
        (total - self.tuned..total).flat_map(|i| model.layers[i].named_tensors(&format!("{PREFIX}.{i}"))).collect()
    }

    /// This encoder with the fine-tuned layers found in `tensors` (as written
    /// from [`Self::tuned_tensors`]); `None` when there are none.
    pub fn with_tuned_tensors(&self, tensors: &HashMap<String, Tensor>) -> Result<Option<Encoder>, Error> {
        let total = self.config.num_hidden_layers;
        let first = (0..total).find(|i| tensors.contains_key(&format!("{PREFIX}.{i}.output.dense.weight")));
        let Some(first) = first else { return Ok(None) };
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &self.device);
        let layers = (first..total)
            .map(|i| Layer::load(vb.pp(format!("{PREFIX}.{i}")), &self.config))
            .collect::<candle_core::Result<Vec<_>>>()?;
        self.with_layers(layers).map(Some)
    }
}
