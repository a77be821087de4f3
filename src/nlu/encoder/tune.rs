//! Fine-tuning the encoder's top layers on labelled sentences.
//!
//! The bottom layers stay frozen: their outputs for the training sentences
//! are computed once, in length-sorted batches, and kept, so an epoch runs
//! only the top layers forward and backward. Those layers and a cosine
//! classifier (started at the class means of the pretrained embeddings) are
//! trained with AdamW on cross-entropy, under a seed. The result is a new
//! [`Encoder`]: the intent head is then trained on its embeddings as usual.
//! Only the tuned layers are saved, beside the head.
//!
//! [`Encoder::fine_tuned_with`] trains the same layers under any [`Head`]
//! (the sentiment model's GRU reads every token's state), and
//! [`Encoder::head_logits`] runs a trained head over the tuned encoder.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use candle_core::{DType, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use sha2::{Digest, Sha256};

use super::batch::{drop_tokens, Batch};
use super::bert::{l2_rows, mean_pool, run, Bert, Layer, Mode};
use super::Encoder;
use crate::Error;

/// Fine-tuning settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FineTune {
    /// Top layers to train (0: none, the encoder stays frozen).
    pub layers: usize,
    /// Passes over the examples (at least: see `min_steps`).
    pub epochs: usize,
    /// Training steps (batches) at the least: small sets get more epochs,
    /// so ten examples per intent are not tuned for a few dozen steps only
    /// (0: exactly `epochs`).
    pub min_steps: usize,
    /// AdamW learning rate of the encoder layers.
    pub learning_rate: f64,
    /// Sentences per step.
    pub batch_size: usize,
    /// Sentences per step instead on a small training set (see
    /// `small_layers`), which then takes as many more steps as it has
    /// fewer sentences per step (`None`: `batch_size`).
    pub small_batch_size: Option<usize>,
    /// How the learning rates move over the steps.
    pub schedule: Schedule,
    /// Dropout while training, in the tuned layers and on the head's input
    /// (0: none).
    pub dropout: f32,
    /// Top layers to train instead on a small training set, one whose
    /// `epochs` come to fewer than `min_steps` steps (`None`: `layers`
    /// whatever the size; a frozen encoder stays frozen).
    pub small_layers: Option<usize>,
    /// The chance at each step that a sentence's token (all but the first
    /// and last, `[CLS]` and `[SEP]`) is left out of the tuned layers'
    /// attention and of the pooling, like a deleted word (0: none).
    pub token_dropout: f32,
    /// `token_dropout` instead on a small training set (see `small_layers`).
    pub small_token_dropout: f32,
    /// Stops the training between steps when cancelled from another thread.
    pub cancel: Cancel,
}

impl FineTune {
    /// Whether `examples` sentences make a small training set: one that
    /// `min_steps` gives more epochs than `epochs`.
    pub fn is_small(&self, examples: usize) -> bool {
        let batch = self.batch_size.max(1);
        self.epochs_over(examples.div_ceil(batch), batch) > self.epochs
    }

    /// Sentences per step on `examples` sentences: `small_batch_size` on
    /// a small set, `batch_size` otherwise.
    pub fn batch_for(&self, examples: usize) -> usize {
        match self.small_batch_size {
            Some(small) if self.is_small(examples) => small.max(1),
            _ => self.batch_size.max(1),
        }
    }

    /// The epochs run over `batches` batches of `batch` sentences: at least
    /// `epochs`, and at least `min_steps` steps of `batch_size` sentences'
    /// worth (smaller batches take more steps to see as many sentences).
    fn epochs_over(&self, batches: usize, batch: usize) -> usize {
        let min_steps = (self.min_steps * self.batch_size.max(1)).div_ceil(batch.max(1));
        self.epochs.max(min_steps.div_ceil(batches.max(1)))
    }

    /// The chance of leaving a token out at each step on `examples`
    /// sentences: `small_token_dropout` on a small set, `token_dropout`
    /// otherwise.
    pub fn token_dropout_for(&self, examples: usize) -> f32 {
        if self.is_small(examples) {
            self.small_token_dropout
        } else {
            self.token_dropout
        }
    }

    /// The top layers trained on `examples` sentences: `small_layers` on a
    /// small set ([`Self::is_small`]), `layers` otherwise.
    pub fn layers_for(&self, examples: usize) -> usize {
        match self.small_layers {
            Some(small) if self.layers > 0 && self.is_small(examples) => small,
            _ => self.layers,
        }
    }
}

/// The intents' tuning settings, chosen on BANKING77's DialoGLUE
/// validation split (BENCHMARKS.md, "Fine-tuning chosen on the validation
/// split"); `layers: 0` leaves the encoder frozen. The `nlu:` config's
/// defaults are these.
impl Default for FineTune {
    fn default() -> Self {
        Self {
            layers: 0,
            epochs: 2,
            min_steps: 250,
            learning_rate: 1e-4,
            batch_size: 32,
            small_batch_size: Some(16),
            schedule: Schedule::Linear { warmup: 0.1 },
            dropout: 0.1,
            small_layers: Some(6),
            token_dropout: 0.1,
            small_token_dropout: 0.1,
            cancel: Cancel::default(),
        }
    }
}

/// A flag that stops a fine-tuning at its next step (serve's background
/// tuner cancels a run an edit has made stale). It is not a setting: every
/// two are equal and print alike, so it takes no part in cache keys.
#[derive(Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks the training holding a clone of this flag to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Self::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cancel")
    }
}

impl PartialEq for Cancel {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// How the learning rates move over training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The same rates throughout.
    Constant,
    /// Rising linearly from zero over the first `warmup` fraction of the
    /// steps, then falling linearly to zero at the last (BERT's schedule).
    Linear {
        /// Fraction of the steps spent warming up, in [0, 1].
        warmup: f64,
    },
}

impl Schedule {
    /// The factor on the learning rates at `step` (from 0) of `total`.
    pub fn factor(self, step: usize, total: usize) -> f64 {
        match self {
            Self::Constant => 1.0,
            Self::Linear { warmup } => {
                let total = total.max(1);
                let warm = (warmup.clamp(0.0, 1.0) * total as f64).ceil() as usize;
                if step < warm {
                    (step + 1) as f64 / warm as f64
                } else {
                    (total - step.min(total)) as f64 / (total - warm + 1) as f64
                }
            }
        }
    }
}

/// What turns the tuned layers' output into class logits.
pub trait Head {
    /// Logits (sentences × classes) from the top layer's states
    /// (sentences × tokens × dim) and the 0/1 token mask (sentences × tokens).
    fn logits(&self, hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor>;
    /// Its trainable variables.
    fn vars(&self) -> Vec<Var>;
    /// Their AdamW learning rate (no weight decay), under the same schedule.
    fn learning_rate(&self) -> f64;
    /// The logits of one sentence from all its token states (tokens × dim,
    /// row-major) without candle, for heads that can: the serving path,
    /// where candle's cost per small op would outweigh the sums.
    fn sentence_logits(&self, _states: &[f32]) -> Option<Vec<f32>> {
        None
    }
}

/// The intents' classifier while fine-tuning: cosine similarity to one
/// vector per class, scaled.
struct Cosine {
    classes: Var,
}

impl Head for Cosine {
    fn logits(&self, hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        mean_pool(hidden, mask)?.matmul(&l2_rows(self.classes.as_tensor())?.t()?)? * COSINE_SCALE
    }

    fn vars(&self) -> Vec<Var> {
        vec![self.classes.clone()]
    }

    fn learning_rate(&self) -> f64 {
        CLASS_LEARNING_RATE
    }
}

/// Logit scale of the intents' cosine classifier.
pub const COSINE_SCALE: f64 = 20.0;
/// Learning rate of the classifier's class vectors.
const CLASS_LEARNING_RATE: f64 = 1e-3;
/// Name prefix of the tuned layers in a saved file.
const PREFIX: &str = "encoder.layer";

impl Encoder {
    /// How many top layers are fine-tuned (0 for the pretrained encoder).
    pub fn tuned_layers(&self) -> usize {
        self.tuned
    }

    /// Fine-tunes the top `cfg.layers_for(texts.len())` layers to tell
    /// `classes` classes apart; `labels[i]` is the class of `texts[i]`. `progress(epoch,
    /// epochs, loss)` follows each epoch. Returns the tuned encoder and the
    /// cosine classifier trained with it: unit class vectors (classes ×
    /// dim) whose cosines with a sentence embedding, scaled by
    /// [`COSINE_SCALE`], are the logits it was trained on (`None` when
    /// nothing was tuned).
    pub fn fine_tuned(
        &self,
        texts: &[&str],
        labels: &[u32],
        classes: usize,
        cfg: &FineTune,
        seed: u64,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<(Encoder, Option<Tensor>), Error> {
        if cfg.layers == 0 || texts.is_empty() || classes == 0 {
            return Ok((self.clone(), None));
        }
        let head = |batches: &[Batch], frozen: usize| -> Result<Cosine, Error> {
            Ok(Cosine { classes: Var::from_tensor(&self.class_means(batches, frozen, classes)?)? })
        };
        let (encoder, head) = self.fine_tuned_with(texts, labels, cfg, seed, head, progress)?;
        Ok((encoder, Some(l2_rows(head.classes.as_tensor())?.detach())))
    }

    /// Fine-tunes the top `cfg.layers_for(texts.len())` layers together
    /// with the head that `head(frozen batches, frozen layers)` builds, on
    /// cross-entropy; returns the tuned encoder and the trained head. With
    /// no layers to tune only the head learns, over the frozen encoder's
    /// states.
    pub(crate) fn fine_tuned_with<H: Head>(
        &self,
        texts: &[&str],
        labels: &[u32],
        cfg: &FineTune,
        seed: u64,
        head: impl FnOnce(&[Batch], usize) -> Result<H, Error>,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<(Encoder, H), Error> {
        let total = self.config.num_hidden_layers;
        let k = cfg.layers_for(texts.len()).min(total);
        if labels.len() != texts.len() {
            return Err(Error::Model(format!("{} texts but {} labels", texts.len(), labels.len())));
        }
        let frozen = total - k;
        let mut batches = Vec::new();
        let batch = cfg.batch_for(texts.len());
        self.forward_batches_to(texts, frozen, batch, |chunk, hidden, mask, _| {
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
        let head = head(&batches, frozen)?;
        let mut tuned = Vec::with_capacity(k);
        let mut vars = Vec::new();
        let model = self.candle()?;
        for layer in &model.layers[frozen..] {
            let (layer, v) = layer.to_vars()?;
            tuned.push(layer);
            vars.extend(v);
        }
        let mut encoder_opt =
            AdamW::new(vars, ParamsAdamW { lr: cfg.learning_rate, weight_decay: 0.01, ..Default::default() })?;
        let mut head_opt =
            AdamW::new(head.vars(), ParamsAdamW { lr: head.learning_rate(), weight_decay: 0.0, ..Default::default() })?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..batches.len()).collect();
        let token_dropout = cfg.token_dropout_for(texts.len());
        let mut token_rng = StdRng::seed_from_u64(seed ^ 0x70CE_D809);
        let epochs = cfg.epochs_over(batches.len(), batch);
        let steps = epochs * batches.len();
        let mut step = 0;
        for epoch in 0..epochs {
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0;
            for &i in &order {
                if cfg.cancel.is_cancelled() {
                    return Err(Error::Cancelled("fine-tuning"));
                }
                let factor = cfg.schedule.factor(step, steps);
                encoder_opt.set_learning_rate(cfg.learning_rate * factor);
                head_opt.set_learning_rate(head.learning_rate() * factor);
                let b = &batches[i];
                let mode = match cfg.dropout {
                    p if p > 0.0 => Mode::Dropout { p, key: seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ step as u64 },
                    _ => Mode::Train,
                };
                let dropped = match token_dropout {
                    p if p > 0.0 => Some(drop_tokens(&b.mask, p, &mut token_rng)?),
                    _ => None,
                };
                let (mask, bias) = dropped.as_ref().map_or((&b.mask, &b.bias), |(m, bias)| (m, bias));
                let top = mode.drop(&run(&tuned, &b.hidden, bias, mode)?, 0)?;
                let logits = head.logits(&top, mask)?;
                let loss = candle_nn::loss::cross_entropy(&logits, &b.labels)?;
                let grads = loss.backward()?;
                encoder_opt.step(&grads)?;
                head_opt.step(&grads)?;
                loss_sum += loss.to_scalar::<f32>()?;
                step += 1;
            }
            progress(epoch + 1, epochs, loss_sum / batches.len().max(1) as f32);
        }
        if k == 0 {
            return Ok((self.clone(), head));
        }
        let tuned = tuned.iter().map(Layer::detach).collect::<candle_core::Result<Vec<_>>>()?;
        Ok((self.with_layers(tuned)?, head))
    }

    /// `head`'s logits for each text, in input order, over this encoder's
    /// output (batched by length, as every pass): on the packed pass as a
    /// branch's are read, in candle otherwise.
    pub fn head_logits(&self, texts: &[&str], head: &dyn Head) -> Result<Vec<Vec<f32>>, Error> {
        let mut out = vec![Vec::new(); texts.len()];
        if let Some(packed) = &self.packed {
            let encodings = self.tokenize(texts)?;
            for chunk in super::by_length(&encodings).chunks(super::BATCH) {
                let states = super::packed::hidden(packed, &encodings, chunk, packed.depth())?;
                for (&i, row) in chunk.iter().zip(self.head_rows(head, &states, &encodings, chunk)?) {
                    out[i] = row;
                }
            }
            return Ok(out);
        }
        self.forward_batches(texts, |chunk, hidden, mask, _| {
            for (&i, row) in chunk.iter().zip(head.logits(hidden, mask)?.to_vec2::<f32>()?) {
                out[i] = row;
            }
            Ok(())
        })?;
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::Schedule;

    #[test]
    fn small_sets_tune_their_own_number_of_layers() {
        let cfg = super::FineTune { layers: 2, ..Default::default() };
        assert_eq!((cfg.epochs, cfg.min_steps, cfg.small_layers, cfg.small_batch_size), (2, 250, Some(6), Some(16)));
        assert_eq!(cfg.layers_for(770), 6, "ten per intent: 25 batches × 2 epochs < 250 steps");
        assert_eq!(cfg.layers_for(8622), 2, "270 batches × 2 epochs");
        assert_eq!(cfg.layers_for(125 * 32), 2, "exactly 250 steps");
        assert_eq!(cfg.layers_for(124 * 32), 6, "248 steps");
        assert!(cfg.is_small(770) && !cfg.is_small(125 * 32));
        assert_eq!(super::FineTune { small_layers: None, ..cfg.clone() }.layers_for(770), 2);
        assert_eq!(super::FineTune { layers: 0, ..cfg.clone() }.layers_for(770), 0, "a frozen encoder stays frozen");
        assert_eq!((cfg.batch_for(770), cfg.batch_for(8622)), (16, 32), "small sets take smaller steps");
        let large = super::FineTune { token_dropout: 0.05, ..cfg.clone() };
        assert_eq!(
            (large.token_dropout_for(770), large.token_dropout_for(8622)),
            (0.1, 0.05),
            "small sets drop their own"
        );
        assert_eq!(cfg.epochs_over(49, 16), 11, "500 steps of 16 see as many sentences as 250 of 32");
        let whole = super::FineTune { small_batch_size: None, ..cfg.clone() };
        assert_eq!((whole.batch_for(770), whole.epochs_over(25, 32), whole.epochs_over(270, 32)), (32, 10, 2));
    }

    #[test]
    fn the_linear_schedule_warms_up_then_decays_to_zero() {
        let s = Schedule::Linear { warmup: 0.1 };
        let f: Vec<f64> = (0..20).map(|i| s.factor(i, 20)).collect();
        assert_eq!((f[0], f[1]), (0.5, 1.0), "two warm-up steps");
        assert!(f[1..].windows(2).all(|w| w[1] < w[0]), "{f:?}");
        assert!((f[19] - 1.0 / 19.0).abs() < 1e-12, "the last step is small but not zero");
        assert_eq!(Schedule::Constant.factor(7, 20), 1.0);
        assert_eq!(Schedule::Linear { warmup: 0.0 }.factor(0, 4), 0.8, "no warm-up: decaying from the first step");
    }
}
