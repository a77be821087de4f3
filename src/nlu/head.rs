//! The trainable intent head: features → ReLU hidden layer → softmax over
//! intents, trained with candle-nn (AdamW, cross-entropy, mini-batches).
//! Initialisation and shuffling use a seeded RNG, so training is
//! deterministic under a seed.

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

use super::encoder::FineTune;
use crate::Error;

/// Training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Fine-tuning of the encoder's top layers before the head is trained.
    pub fine_tune: FineTune,
    /// Seed for initialisation and shuffling.
    pub seed: u64,
    /// Passes over the examples.
    pub epochs: usize,
    /// Hidden layer width.
    pub hidden: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// With a fine-tuned encoder, the weight of the tuning's cosine
    /// classifier beside the head's probabilities (0: the head alone).
    pub cosine_weight: f32,
    /// With a fine-tuned encoder, the weight of the nearest training
    /// examples' vote beside the other probabilities (0: no vote).
    pub knn_weight: f32,
    /// With a sentence encoder, on a small training set
    /// ([`FineTune::is_small`]), each intent's name in words (`lost_ticket`:
    /// "lost ticket") is one more training example of it.
    pub name_examples: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            fine_tune: FineTune::default(),
            seed: 42,
            epochs: 40,
            hidden: 64,
            learning_rate: 3e-3,
            batch_size: 64,
            cosine_weight: 0.0,
            knn_weight: 0.0,
            name_examples: false,
        }
    }
}

/// What training achieved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainReport {
    /// Accuracy on the training examples after the last epoch.
    pub accuracy: f32,
    /// Mean cross-entropy of the last epoch.
    pub loss: f32,
}

/// The MLP head.
#[derive(Debug)]
pub struct Head {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

fn uniform(rng: &mut StdRng, shape: (usize, usize), fan_in: usize) -> Result<Var, Error> {
    let bound = (1.0 / fan_in as f32).sqrt();
    let data: Vec<f32> = (0..shape.0 * shape.1).map(|_| rng.random_range(-bound..bound)).collect();
    Ok(Var::from_tensor(&Tensor::from_vec(data, shape, &Device::Cpu)?)?)
}

fn forward(x: &Tensor, w1: &Tensor, b1: &Tensor, w2: &Tensor, b2: &Tensor) -> Result<Tensor, Error> {
    let h = x.matmul(w1)?.broadcast_add(b1)?.relu()?;
    Ok(h.matmul(w2)?.broadcast_add(b2)?)
}

impl Head {
    /// Trains on features `x` (n × dim) and label indices `y` (< `n_out`).
    /// `progress(epoch, epochs, loss)` is called after every epoch.
    pub fn train(
        x: &Tensor,
        y: &[u32],
        n_out: usize,
        cfg: &TrainConfig,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<(Self, TrainReport), Error> {
        let (n, dim) = x.dims2()?;
        if n == 0 || n_out == 0 || y.len() != n {
            return Err(Error::Model("nothing to train on: no intents or examples".into()));
        }
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let w1 = uniform(&mut rng, (dim, cfg.hidden), dim)?;
        let b1 = Var::from_tensor(&Tensor::zeros((1, cfg.hidden), DType::F32, &Device::Cpu)?)?;
        let w2 = uniform(&mut rng, (cfg.hidden, n_out), cfg.hidden)?;
        let b2 = Var::from_tensor(&Tensor::zeros((1, n_out), DType::F32, &Device::Cpu)?)?;
        let params = ParamsAdamW { lr: cfg.learning_rate, weight_decay: 1e-4, ..Default::default() };
        let mut opt = AdamW::new(vec![w1.clone(), b1.clone(), w2.clone(), b2.clone()], params)?;
        let targets = Tensor::new(y, &Device::Cpu)?;
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut loss_sum = 0.0;
        for epoch in 0..cfg.epochs {
            order.shuffle(&mut rng);
            loss_sum = 0.0;
            let mut batches = 0;
            for chunk in order.chunks(cfg.batch_size.max(1)) {
                let idx = Tensor::new(chunk, &Device::Cpu)?;
                let logits = forward(&x.index_select(&idx, 0)?, &w1, &b1, &w2, &b2)?;
                let loss = candle_nn::loss::cross_entropy(&logits, &targets.index_select(&idx, 0)?)?;
                opt.backward_step(&loss)?;
                loss_sum += loss.to_scalar::<f32>()?;
                batches += 1;
            }
            loss_sum /= batches as f32;
            progress(epoch + 1, cfg.epochs, loss_sum);
        }
        let head = Self {
            w1: w1.as_tensor().clone(),
            b1: b1.as_tensor().clone(),
            w2: w2.as_tensor().clone(),
            b2: b2.as_tensor().clone(),
        };
        let predicted = head.logits(x)?.argmax(D::Minus1)?;
        let correct = predicted.eq(&targets)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
        Ok((head, TrainReport { accuracy: correct / n as f32, loss: loss_sum }))
    }

    fn logits(&self, x: &Tensor) -> Result<Tensor, Error> {
        forward(x, &self.w1, &self.b1, &self.w2, &self.b2)
    }

    /// Class probabilities for each row of `x`.
    pub fn probabilities(&self, x: &Tensor) -> Result<Vec<Vec<f32>>, Error> {
        Ok(candle_nn::ops::softmax_last_dim(&self.logits(x)?)?.to_vec2::<f32>()?)
    }

    /// The weights by name, for saving.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        [("w1", &self.w1), ("b1", &self.b1), ("w2", &self.w2), ("b2", &self.b2)]
            .into_iter()
            .map(|(k, t)| (k.to_string(), t.clone()))
            .collect()
    }

    /// Takes the weights [`Self::tensors`] named out of `t`, checking they
    /// map `dim` inputs to `n_out` classes; the error says what is wrong.
    pub fn from_tensors(t: &mut HashMap<String, Tensor>, dim: usize, n_out: usize) -> Result<Self, String> {
        let mut take = |k: &str| t.remove(k).ok_or_else(|| format!("no tensor {k}"));
        let head = Self { w1: take("w1")?, b1: take("b1")?, w2: take("w2")?, b2: take("b2")? };
        let fits = |h: &Self| -> candle_core::Result<bool> {
            Ok(h.w1.dim(0)? == dim && h.w2.dim(1)? == n_out && h.w1.dim(1)? == h.w2.dim(0)?)
        };
        match fits(&head) {
            Ok(true) => Ok(head),
            _ => Err("weights do not fit the intents".into()),
        }
    }
}
