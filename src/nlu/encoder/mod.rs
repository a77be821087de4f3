//! The pretrained sentence encoder: all-MiniLM-L6-v2 (BERT, 6 layers, 384
//! wide) run by candle, with mean pooling and L2 normalisation. Batches are
//! sorted by token length so padding is minimal.
//!
//! Model code is synchronous and does no downloading: [`fetch`] gets the
//! files, the engine calls [`Encoder::encode`] on its blocking pool.
//!
//! Layout: `bert` is the forward pass (trainable), `tune` fine-tunes the
//! top layers on labelled sentences, `cache` keeps embeddings on disk,
//! `fetch` downloads the files.

pub mod bert;
mod cache;
pub mod fetch;
mod tune;

pub use cache::EmbeddingCache;
pub use tune::FineTune;

use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, DTYPE};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

use bert::Bert;

use crate::Error;

/// Longest input in tokens; longer messages are truncated.
pub const MAX_TOKENS: usize = 128;
/// Sentences per forward pass.
pub const BATCH: usize = 64;

/// A loaded sentence encoder.
#[derive(Clone)]
pub struct Encoder {
    model: Bert,
    /// How many top layers were fine-tuned (0: the pretrained weights).
    tuned: usize,
    config: Config,
    tokenizer: Tokenizer,
    dim: usize,
    id: String,
    device: Device,
}

fn model_error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Model(format!("{}: {what}", path.display()))
}

impl Encoder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    /// A missing, corrupted or truncated file gives an error naming it.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        Self::load_on(dir, Device::Cpu)
    }

    /// Like [`Self::load`], on `device` (a CUDA GPU with the `cuda` feature).
    pub fn load_on(dir: &Path, device: Device) -> Result<Self, Error> {
        let config_path = dir.join("config.json");
        let raw = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let config: Config = serde_json::from_str(&raw).map_err(|e| model_error(&config_path, e))?;
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| model_error(&tok_path, e))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| model_error(&tok_path, e))?;
        tokenizer.with_padding(None);
        let weights_path = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
        let id = crate::util::sha256_hex(&bytes)[..16].to_string();
        let vb =
            VarBuilder::from_buffered_safetensors(bytes, DTYPE, &device).map_err(|e| model_error(&weights_path, e))?;
        let model = Bert::load(vb, &config).map_err(|e| model_error(&weights_path, e))?;
        Ok(Self { model, tuned: 0, dim: config.hidden_size, config, tokenizer, id, device })
    }

    /// Embedding width (384 for MiniLM).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// A short hash of the weights: keys embedding and model caches.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs the model over `texts` in length-sorted batches; `visit` gets
    /// each batch's text indices, hidden states (batch × tokens × dim), mask
    /// and all encodings.
    fn forward_batches(
        &self,
        texts: &[&str],
        visit: impl FnMut(&[usize], &Tensor, &Tensor, &[Encoding]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.forward_batches_to(texts, self.model.layers.len(), BATCH, visit)
    }

    /// Like `forward_batches`, stopping after `layers` layers, `batch` sentences at a time.
    fn forward_batches_to(
        &self,
        texts: &[&str],
        layers: usize,
        batch: usize,
        mut visit: impl FnMut(&[usize], &Tensor, &Tensor, &[Encoding]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let inputs: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        let encodings =
            self.tokenizer.encode_batch(inputs, true).map_err(|e| Error::Model(format!("tokenizer: {e}")))?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        for chunk in order.chunks(batch.max(1)) {
            let longest = chunk.iter().map(|&i| encodings[i].get_ids().len()).max().unwrap_or(0).max(1);
            let mut ids = Vec::with_capacity(chunk.len() * longest);
            let mut mask = Vec::with_capacity(chunk.len() * longest);
            for &i in chunk {
                let row = encodings[i].get_ids();
                ids.extend(row.iter().copied().chain(std::iter::repeat_n(0, longest - row.len())));
                mask.extend((0..longest).map(|j| u32::from(j < row.len())));
            }
            let shape = (chunk.len(), longest);
            let ids = Tensor::from_vec(ids, shape, &self.device)?;
            let mask = Tensor::from_vec(mask, shape, &self.device)?;
            let hidden = self.model.forward_to(&ids, &mask, layers)?;
            visit(chunk, &hidden, &mask, &encodings)?;
        }
        Ok(())
    }

    /// Embeds texts: one L2-normalised vector per text, in input order.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        let mut out = vec![Vec::new(); texts.len()];
        self.forward_batches(texts, |chunk, hidden, mask, _| {
            for (&i, row) in chunk.iter().zip(bert::mean_pool(hidden, mask)?.to_vec2::<f32>()?) {
                out[i] = row;
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Per-token hidden states with byte offsets into the text (special
    /// tokens dropped), in input order: the input of token taggers.
    pub fn token_states(&self, texts: &[&str]) -> Result<Vec<TokenStates>, Error> {
        let mut out: Vec<TokenStates> = (0..texts.len()).map(|_| TokenStates::default()).collect();
        self.forward_batches(texts, |chunk, hidden, _, encodings| {
            for (&i, rows) in chunk.iter().zip(hidden.to_dtype(DTYPE)?.to_vec3::<f32>()?) {
                let enc = &encodings[i];
                for (j, special) in enc.get_special_tokens_mask().iter().enumerate() {
                    if *special == 0 {
                        out[i].states.push(rows[j].clone());
                        out[i].offsets.push(enc.get_offsets()[j]);
                    }
                }
            }
            Ok(())
        })?;
        Ok(out)
    }
}

/// Hidden states of a text's tokens.
#[derive(Debug, Clone, Default)]
pub struct TokenStates {
    /// One vector per token.
    pub states: Vec<Vec<f32>>,
    /// Byte range of each token in the text.
    pub offsets: Vec<(usize, usize)>,
}
