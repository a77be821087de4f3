//! The first intent classifier: hashed n-gram features (see [`super::features`])
//! into a small MLP head trained with candle-nn (AdamW, cross-entropy).
//! Needs no download; deterministic under a seed.

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::Path;

use super::features::{featurize, DIM};
use super::IntentClassifier;
use crate::Error;

/// Training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
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
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { seed: 42, epochs: 40, hidden: 64, learning_rate: 3e-3, batch_size: 64 }
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

/// Hashed n-grams → ReLU hidden layer → softmax over intents.
#[derive(Debug)]
pub struct HashingClassifier {
    labels: Vec<String>,
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

fn features(texts: &[&str]) -> Result<Tensor, Error> {
    let rows: Vec<f32> = texts.iter().flat_map(|t| featurize(t)).collect();
    Ok(Tensor::from_vec(rows, (texts.len(), DIM), &Device::Cpu)?)
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

impl HashingClassifier {
    /// Trains on `(text, label index)` pairs. `progress(epoch, epochs, loss)`
    /// is called after every epoch.
    pub fn train(
        labels: Vec<String>,
        data: &[(String, usize)],
        cfg: &TrainConfig,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<(Self, TrainReport), Error> {
        if data.is_empty() || labels.is_empty() {
            return Err(Error::Model("nothing to train on: no intents or examples".into()));
        }
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let n_out = labels.len();
        let w1 = uniform(&mut rng, (DIM, cfg.hidden), DIM)?;
        let b1 = Var::from_tensor(&Tensor::zeros((1, cfg.hidden), DType::F32, &Device::Cpu)?)?;
        let w2 = uniform(&mut rng, (cfg.hidden, n_out), cfg.hidden)?;
        let b2 = Var::from_tensor(&Tensor::zeros((1, n_out), DType::F32, &Device::Cpu)?)?;
        let params = ParamsAdamW { lr: cfg.learning_rate, weight_decay: 1e-4, ..Default::default() };
        let mut opt = AdamW::new(vec![w1.clone(), b1.clone(), w2.clone(), b2.clone()], params)?;

        let texts: Vec<&str> = data.iter().map(|(t, _)| t.as_str()).collect();
        let x = features(&texts)?;
        let targets: Vec<u32> = data.iter().map(|(_, l)| *l as u32).collect();
        let y = Tensor::new(targets.as_slice(), &Device::Cpu)?;
        let mut order: Vec<u32> = (0..data.len() as u32).collect();
        let mut loss_sum = 0.0;
        for epoch in 0..cfg.epochs {
            order.shuffle(&mut rng);
            loss_sum = 0.0;
            let mut batches = 0;
            for chunk in order.chunks(cfg.batch_size.max(1)) {
                let idx = Tensor::new(chunk, &Device::Cpu)?;
                let logits = forward(&x.index_select(&idx, 0)?, &w1, &b1, &w2, &b2)?;
                let loss = candle_nn::loss::cross_entropy(&logits, &y.index_select(&idx, 0)?)?;
                opt.backward_step(&loss)?;
                loss_sum += loss.to_scalar::<f32>()?;
                batches += 1;
            }
            loss_sum /= batches as f32;
            progress(epoch + 1, cfg.epochs, loss_sum);
        }
        let model = Self {
            labels,
            w1: w1.as_tensor().clone(),
            b1: b1.as_tensor().clone(),
            w2: w2.as_tensor().clone(),
            b2: b2.as_tensor().clone(),
        };
        let predicted = forward(&x, &model.w1, &model.b1, &model.w2, &model.b2)?.argmax(D::Minus1)?;
        let correct = predicted.eq(&y)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
        let accuracy = correct / data.len() as f32;
        Ok((model, TrainReport { accuracy, loss: loss_sum }))
    }

    /// Writes the weights as safetensors.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let tensors: HashMap<String, Tensor> = [("w1", &self.w1), ("b1", &self.b1), ("w2", &self.w2), ("b2", &self.b2)]
            .into_iter()
            .map(|(k, t)| (k.to_string(), t.clone()))
            .collect();
        candle_core::safetensors::save(&tensors, path)?;
        Ok(())
    }

    /// Reads weights written by [`Self::save`] for these `labels`.
    pub fn load(path: &Path, labels: Vec<String>) -> Result<Self, Error> {
        let mut t = candle_core::safetensors::load(path, &Device::Cpu)?;
        let mut take = |k: &str| t.remove(k).ok_or_else(|| Error::Model(format!("{}: no tensor {k}", path.display())));
        let model = Self { w1: take("w1")?, b1: take("b1")?, w2: take("w2")?, b2: take("b2")?, labels };
        if model.w2.dims() != [model.w1.dim(1)?, model.labels.len()] || model.w1.dim(0)? != DIM {
            return Err(Error::Model(format!("{}: weights do not fit the intents", path.display())));
        }
        Ok(model)
    }
}

impl IntentClassifier for HashingClassifier {
    fn name(&self) -> &str {
        "hashing n-gram MLP"
    }

    fn labels(&self) -> &[String] {
        &self.labels
    }

    fn predict(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let logits = forward(&features(texts)?, &self.w1, &self.b1, &self.w2, &self.b2)?;
        Ok(candle_nn::ops::softmax_last_dim(&logits)?.to_vec2::<f32>()?)
    }
}
