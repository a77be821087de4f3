//! The `nlu:` section of `config.yaml`: classifier training, the sentence
//! encoder, the sentiment model, the device and the CPU precision.

use serde::Deserialize;
use std::path::PathBuf;

use crate::nlu::encoder::{FineTune, Schedule};
use crate::nlu::TrainConfig;

/// Intent classifier settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NluConfig {
    /// Seed for training (same seed, same model). Default 42.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Training epochs. Default 40.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Hidden layer width. Default 64.
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Top encoder layers to fine-tune on the intents before the head is
    /// trained (0 to 6; 0 keeps the encoder frozen). Default 5, with the
    /// defaults below the setting chosen on BANKING77's validation split
    /// (BENCHMARKS.md). In `usher serve` they are tuned in the background.
    #[serde(default = "default_fine_tune_layers")]
    pub fine_tune_layers: usize,
    /// Fine-tuning epochs. Default 2.
    #[serde(default = "default_fine_tune_epochs")]
    pub fine_tune_epochs: usize,
    /// Fine-tuning steps (batches of 32) at the least: a small domain gets
    /// more epochs (0: exactly `fine_tune_epochs`). Default 250.
    #[serde(default = "default_fine_tune_min_steps")]
    pub fine_tune_min_steps: usize,
    /// The tuned layers' (peak) AdamW learning rate. Default 1e-4.
    #[serde(default = "default_fine_tune_learning_rate")]
    pub fine_tune_learning_rate: f64,
    /// `null`: the same learning rate throughout; a fraction in [0, 1]: it
    /// rises linearly over that fraction of the steps, then falls linearly
    /// to zero (BERT's schedule). Default 0.1.
    #[serde(default = "default_fine_tune_warmup")]
    pub fine_tune_warmup: Option<f64>,
    /// Dropout in the tuned layers and on the classifier's input while
    /// fine-tuning (0: none). Default 0.1.
    #[serde(default = "default_fine_tune_dropout")]
    pub fine_tune_dropout: f32,
    /// With fine-tuned layers, the weight of the cosine classifier trained
    /// with them beside the intent head's probabilities, in [0, 1] (0: the
    /// head alone). Default 0.75.
    #[serde(default = "default_fine_tune_cosine_weight")]
    pub fine_tune_cosine_weight: f32,
    /// With fine-tuned layers, the weight of the vote of the ten training
    /// examples nearest a message (in the tuned encoder's space) beside
    /// the head and the cosine classifier, in [0, 1] (0: no vote). Not on
    /// a small domain (see `fine_tune_small_layers`), where it lost on
    /// BANKING77's validation split. Default 0.5.
    #[serde(default = "default_fine_tune_knn_weight")]
    pub fine_tune_knn_weight: f32,
    /// Top layers to tune instead of `fine_tune_layers` (when that is above
    /// 0) on a small domain, one whose `fine_tune_epochs` come to fewer
    /// than `fine_tune_min_steps` steps; `null`: `fine_tune_layers`
    /// whatever the size. Default 6 (all), chosen on BANKING77's
    /// validation split with ten examples per intent.
    #[serde(default = "default_fine_tune_small_layers")]
    pub fine_tune_small_layers: Option<usize>,
    /// Sentences per fine-tuning step on a small domain (see
    /// `fine_tune_small_layers`) instead of 32; it then takes as many more
    /// steps as it has fewer sentences per step (`fine_tune_min_steps`
    /// counts steps of 32). `null`: 32. Default 16, chosen on BANKING77's
    /// validation split with ten examples per intent.
    #[serde(default = "default_fine_tune_small_batch")]
    pub fine_tune_small_batch: Option<usize>,
    /// The chance at each fine-tuning step that a token of a training
    /// sentence (not its first or last) is left out, like a deleted word
    /// (0: none); small domains use `fine_tune_small_token_dropout`.
    #[serde(default = "default_fine_tune_token_dropout")]
    pub fine_tune_token_dropout: f32,
    /// On a small domain (see `fine_tune_small_layers`), the chance at each
    /// fine-tuning step that a token of a training sentence (not its first
    /// or last) is left out, like a deleted word (0: none). Default 0.1,
    /// chosen on BANKING77's validation split with ten examples per intent.
    #[serde(default = "default_fine_tune_small_token_dropout")]
    pub fine_tune_small_token_dropout: f32,
    /// With the sentence encoder, on a small domain (see `fine_tune_small_layers`), count each
    /// intent's name in words (`lost_ticket`: "lost ticket") as one more
    /// training example of it. Default true, chosen on BANKING77's
    /// validation split with ten examples per intent (on the full training
    /// set it lost, so larger domains never use it).
    #[serde(default = "default_true")]
    pub intent_names_as_examples: bool,
    /// In `usher serve`, with `fine_tune_layers` above 0: after an edit (and
    /// at a start with no tuned model cached) a head over the frozen encoder
    /// answers at once while the layers are fine-tuned on the blocking pool;
    /// the tuned model is swapped in when ready and cached, so a restart
    /// reuses it. `false` fine-tunes before answering. Default true.
    #[serde(default = "default_true")]
    pub fine_tune_in_background: bool,
    /// The sentence encoder's directory (`config.json`, `tokenizer.json`,
    /// `model.safetensors`); `usher models fetch` fills it. `null` means
    /// hashed n-grams only. Default `models/all-MiniLM-L6-v2`.
    #[serde(default = "default_encoder")]
    pub encoder: Option<PathBuf>,
    /// The sentiment model's directory (`usher train sentiment` writes it);
    /// `null` disables sentiment scores. Default `models/sentiment`.
    #[serde(default = "default_sentiment")]
    pub sentiment: Option<PathBuf>,
    /// Where the encoder runs: `auto` (the first CUDA GPU when built with
    /// `--features cuda` and one is present, else the CPU), `cpu` or `cuda:N`.
    #[serde(default)]
    pub device: DeviceChoice,
    /// How the encoder's linear-layer weights are held for CPU inference:
    /// `int8-compute` (int8 weights and per-token int8 activations,
    /// integer products: the fastest), `int8` (int8 weights, f32 products)
    /// or `f32` (the checkpoint's values exactly). Training and GPUs always
    /// use f32. Default `int8-compute` (BANKING77 and CLINC150 accuracy
    /// within 0.1 points of f32 or above it: BENCHMARKS.md).
    #[serde(default)]
    pub cpu_precision: CpuPrecision,
}

/// `nlu.cpu_precision`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuPrecision {
    /// 8-bit weights with per-column scales; products in f32.
    Int8,
    /// 8-bit weights and 8-bit activations (one scale per token); products
    /// in integers (AVX-512 VNNI or AVX2 when the CPU has them).
    #[default]
    #[serde(rename = "int8-compute")]
    Int8Compute,
    /// 32-bit weights.
    F32,
}

impl CpuPrecision {
    /// The packed encoder's setting.
    pub fn get(self) -> crate::nlu::encoder::Precision {
        match self {
            Self::Int8 => crate::nlu::encoder::Precision::Int8,
            Self::Int8Compute => crate::nlu::encoder::Precision::Int8Compute,
            Self::F32 => crate::nlu::encoder::Precision::F32,
        }
    }
}

/// Where to run the encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum DeviceChoice {
    /// A GPU if the build and the machine have one, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA GPU number N.
    Cuda(usize),
}

impl TryFrom<String> for DeviceChoice {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("device {other:?}: use auto, cpu or cuda:N")),
        }
    }
}

impl DeviceChoice {
    /// The candle device; `auto` falls back to the CPU (logged) when no GPU works.
    pub fn device(self) -> Result<candle_core::Device, crate::Error> {
        match self {
            Self::Cpu => Ok(candle_core::Device::Cpu),
            Self::Cuda(n) => Ok(candle_core::Device::new_cuda(n)?),
            Self::Auto if candle_core::utils::cuda_is_available() => match candle_core::Device::new_cuda(0) {
                Ok(d) => Ok(d),
                Err(e) => {
                    tracing::warn!(error = %e, "no usable CUDA GPU: running the encoder on the CPU");
                    Ok(candle_core::Device::Cpu)
                }
            },
            Self::Auto => Ok(candle_core::Device::Cpu),
        }
    }
}

// The fine-tuning defaults are `FineTune::default()`'s, chosen on
// BANKING77's DialoGLUE validation split (BENCHMARKS.md), except the
// layers: `FineTune::default()` tunes none, a config five.
fn default_fine_tune_layers() -> usize {
    5
}

fn default_fine_tune_epochs() -> usize {
    FineTune::default().epochs
}

fn default_fine_tune_min_steps() -> usize {
    FineTune::default().min_steps
}

fn default_fine_tune_learning_rate() -> f64 {
    FineTune::default().learning_rate
}

fn default_fine_tune_warmup() -> Option<f64> {
    match FineTune::default().schedule {
        Schedule::Linear { warmup } => Some(warmup),
        Schedule::Constant => None,
    }
}

fn default_fine_tune_dropout() -> f32 {
    FineTune::default().dropout
}

fn default_fine_tune_small_layers() -> Option<usize> {
    FineTune::default().small_layers
}

fn default_fine_tune_small_batch() -> Option<usize> {
    FineTune::default().small_batch_size
}

fn default_fine_tune_token_dropout() -> f32 {
    FineTune::default().token_dropout
}

fn default_fine_tune_small_token_dropout() -> f32 {
    FineTune::default().small_token_dropout
}

// Chosen on the same split; `TrainConfig::default()` (no tuned layers) has 0.
fn default_fine_tune_cosine_weight() -> f32 {
    0.75
}

// Chosen on the same split, beside the cosine weight.
fn default_fine_tune_knn_weight() -> f32 {
    0.5
}

fn default_true() -> bool {
    true
}

fn default_seed() -> u64 {
    TrainConfig::default().seed
}

fn default_epochs() -> usize {
    TrainConfig::default().epochs
}

fn default_hidden() -> usize {
    TrainConfig::default().hidden
}

fn default_sentiment() -> Option<PathBuf> {
    Some(PathBuf::from("models/sentiment"))
}

fn default_encoder() -> Option<PathBuf> {
    Some(PathBuf::from("models/all-MiniLM-L6-v2"))
}

impl Default for NluConfig {
    fn default() -> Self {
        Self {
            seed: default_seed(),
            epochs: default_epochs(),
            hidden: default_hidden(),
            fine_tune_layers: default_fine_tune_layers(),
            fine_tune_epochs: default_fine_tune_epochs(),
            fine_tune_min_steps: default_fine_tune_min_steps(),
            fine_tune_learning_rate: default_fine_tune_learning_rate(),
            fine_tune_warmup: default_fine_tune_warmup(),
            fine_tune_dropout: default_fine_tune_dropout(),
            fine_tune_cosine_weight: default_fine_tune_cosine_weight(),
            fine_tune_knn_weight: default_fine_tune_knn_weight(),
            fine_tune_small_layers: default_fine_tune_small_layers(),
            fine_tune_small_batch: default_fine_tune_small_batch(),
            fine_tune_token_dropout: default_fine_tune_token_dropout(),
            fine_tune_small_token_dropout: default_fine_tune_small_token_dropout(),
            intent_names_as_examples: true,
            fine_tune_in_background: true,
            encoder: default_encoder(),
            sentiment: default_sentiment(),
            device: DeviceChoice::Auto,
            cpu_precision: CpuPrecision::Int8Compute,
        }
    }
}

impl NluConfig {
    /// Refuses settings training could not use, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(w) = self.fine_tune_warmup.filter(|w| !(0.0..=1.0).contains(w)) {
            return Err(format!("fine_tune_warmup is {w}: use a fraction in [0, 1], or null for a constant rate"));
        }
        for (name, w) in [
            ("fine_tune_cosine_weight", self.fine_tune_cosine_weight),
            ("fine_tune_knn_weight", self.fine_tune_knn_weight),
        ] {
            if !(0.0..=1.0).contains(&w) {
                return Err(format!("{name} is {w}: use a weight in [0, 1]"));
            }
        }
        for (name, p) in [
            ("fine_tune_dropout", self.fine_tune_dropout),
            ("fine_tune_token_dropout", self.fine_tune_token_dropout),
            ("fine_tune_small_token_dropout", self.fine_tune_small_token_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{name} is {p}: use a value in [0, 1)"));
            }
        }
        if !(self.fine_tune_learning_rate > 0.0 && self.fine_tune_learning_rate.is_finite()) {
            return Err(format!("fine_tune_learning_rate is {}: use a positive number", self.fine_tune_learning_rate));
        }
        if self.fine_tune_small_batch == Some(0) {
            return Err("fine_tune_small_batch is 0: use a batch of at least 1, or null for 32".to_string());
        }
        Ok(())
    }

    /// The training settings these stand for.
    pub fn train_config(&self) -> TrainConfig {
        let fine_tune = FineTune {
            layers: self.fine_tune_layers,
            epochs: self.fine_tune_epochs,
            min_steps: self.fine_tune_min_steps,
            learning_rate: self.fine_tune_learning_rate,
            schedule: match self.fine_tune_warmup {
                Some(warmup) => Schedule::Linear { warmup },
                None => Schedule::Constant,
            },
            dropout: self.fine_tune_dropout,
            small_layers: self.fine_tune_small_layers,
            small_batch_size: self.fine_tune_small_batch,
            token_dropout: self.fine_tune_token_dropout,
            small_token_dropout: self.fine_tune_small_token_dropout,
            ..FineTune::default()
        };
        TrainConfig {
            fine_tune,
            seed: self.seed,
            epochs: self.epochs,
            hidden: self.hidden,
            cosine_weight: self.fine_tune_cosine_weight,
            knn_weight: self.fine_tune_knn_weight,
            name_examples: self.intent_names_as_examples,
            ..TrainConfig::default()
        }
    }
}
