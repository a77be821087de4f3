//! The pretrained sentence encoder: all-MiniLM-L6-v2 (BERT, 6 layers, 384
//! wide) run by candle, with mean pooling and L2 normalisation. Batches are
//! sorted by token length so padding is minimal.
//!
//! Model code is synchronous and does no downloading: [`fetch`] gets the
//! files, the engine calls [`Encoder::encode`] on its blocking pool.
//!
//! On the CPU, inference runs on `usher-fastbert`'s packed forward pass
//! (every real token of a batch in one matrix, no padding); training and
//! GPU inference run on [`bert::Bert`] in candle.
//!
//! Layout: `bert` is the candle forward pass (trainable), `packed` builds
//! the CPU inference copy, `tune` fine-tunes the top layers on labelled
//! sentences (`batch` holds their frozen layers' output and leaves tokens
//! out of a step), `cache` keeps embeddings on disk, `fetch` downloads the files.

mod batch;
pub mod bert;
mod cache;
pub mod fetch;
mod packed;
mod tune;

pub use cache::EmbeddingCache;
pub use tune::{Cancel, FineTune, Head, Schedule, COSINE_SCALE};
pub use usher_fastbert::Precision;

use std::path::Path;
use std::sync::{Arc, Mutex};

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
    /// The candle model (training, GPUs, the reference pass).
    model: Candle,
    /// The packed CPU copy of `model` that serves inference (`None` on a GPU).
    packed: Option<usher_fastbert::Model>,
    /// How many top layers were fine-tuned (0: the pretrained weights).
    tuned: usize,
    config: Config,
    tokenizer: Tokenizer,
    dim: usize,
    id: String,
    device: Device,
    /// Forward passes run, shared by clones.
    passes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

fn model_error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Model(format!("{}: {what}", path.display()))
}

/// The candle model. Where the packed copy serves inference (the CPU) it
/// is read from the weights file again on first use (training, the
/// reference pass) instead of being held: an idle server keeps one copy of
/// the weights, not two. Fine-tuned layers, and GPUs, hold it.
#[derive(Clone)]
struct Candle {
    slot: Arc<Mutex<Option<Arc<Bert>>>>,
    /// The weights file and its hash, for reading it again.
    weights: Arc<Path>,
    id: String,
}

impl Candle {
    fn held(model: Bert, weights: Arc<Path>, id: String) -> Self {
        Self { slot: Arc::new(Mutex::new(Some(Arc::new(model)))), weights, id }
    }

    fn lazy(weights: Arc<Path>, id: String) -> Self {
        Self { slot: Arc::new(Mutex::new(None)), weights, id }
    }

    /// The model, read again if needed; an error if the file changed since.
    fn get(&self, config: &Config, device: &Device) -> Result<Arc<Bert>, Error> {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(model) = slot.as_ref() {
            return Ok(Arc::clone(model));
        }
        let (model, id) = read_bert(&self.weights, config, device)?;
        if id != self.id {
            return Err(model_error(&self.weights, "changed since the encoder was loaded: restart to use it"));
        }
        let model = Arc::new(model);
        *slot = Some(Arc::clone(&model));
        Ok(model)
    }
}

/// The candle model in `path` and the short hash of its bytes.
fn read_bert(path: &Path, config: &Config, device: &Device) -> Result<(Bert, String), Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let id = crate::util::sha256_hex(&bytes)[..16].to_string();
    let vb = VarBuilder::from_buffered_safetensors(bytes, DTYPE, device).map_err(|e| model_error(path, e))?;
    let model = Bert::load(vb, config).map_err(|e| model_error(path, e))?;
    Ok((model, id))
}

impl Encoder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    /// A missing, corrupted or truncated file gives an error naming it.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        Self::load_on(dir, Device::Cpu, Precision::default())
    }

    /// Like [`Self::load`], on `device` (a CUDA GPU with the `cuda` feature);
    /// on the CPU, inference holds the linear layers in `precision`.
    pub fn load_on(dir: &Path, device: Device, precision: Precision) -> Result<Self, Error> {
        let config_path = dir.join("config.json");
        let raw = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let config: Config = serde_json::from_str(&raw).map_err(|e| model_error(&config_path, e))?;
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| model_error(&tok_path, e))?;
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| model_error(&tok_path, e))?;
        tokenizer.with_padding(None);
        let weights: Arc<Path> = dir.join("model.safetensors").into();
        let (model, id) = read_bert(&weights, &config, &device)?;
        let packed = if device.is_cpu() { packed::build(&model, &config, precision)? } else { None };
        let model = match packed {
            Some(_) => Candle::lazy(weights, id.clone()),
            None => Candle::held(model, weights, id.clone()),
        };
        Ok(Self {
            model,
            packed,
            tuned: 0,
            dim: config.hidden_size,
            config,
            tokenizer,
            id,
            device,
            passes: Default::default(),
        })
    }

    /// The candle model (read again from its file on the CPU).
    fn candle(&self) -> Result<Arc<Bert>, Error> {
        self.model.get(&self.config, &self.device)
    }

    /// Embedding width (384 for MiniLM).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// A short hash of the weights, tagged `-int8` when inference holds
    /// them in int8 (the embeddings differ a little): keys embedding and
    /// model caches.
    pub fn id(&self) -> String {
        match &self.packed {
            Some(p) if p.precision() == Precision::Int8 => format!("{}-int8", self.id),
            Some(p) if p.precision() == Precision::Int8Compute => format!("{}-int8c", self.id),
            _ => self.id.clone(),
        }
    }

    /// The hash of the pretrained weights file this encoder was loaded
    /// from (fine-tuned or not, whatever the precision).
    pub fn weights_id(&self) -> &str {
        &self.model.id
    }

    /// Runs the model over `texts` in length-sorted batches; `visit` gets
    /// each batch's text indices, hidden states (batch × tokens × dim), mask
    /// and all encodings.
    fn forward_batches(
        &self,
        texts: &[&str],
        visit: impl FnMut(&[usize], &Tensor, &Tensor, &[Encoding]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.forward_batches_to(texts, self.config.num_hidden_layers, BATCH, visit)
    }

    /// Like `forward_batches`, stopping after `layers` layers, `batch` sentences at a time.
    fn forward_batches_to(
        &self,
        texts: &[&str],
        layers: usize,
        batch: usize,
        mut visit: impl FnMut(&[usize], &Tensor, &Tensor, &[Encoding]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let encodings = self.tokenize(texts)?;
        for chunk in by_length(&encodings).chunks(batch.max(1)) {
            let longest = chunk.iter().map(|&i| encodings[i].get_ids().len()).max().unwrap_or(0).max(1);
            let mask: Vec<u32> = chunk
                .iter()
                .flat_map(|&i| {
                    let len = encodings[i].get_ids().len();
                    (0..longest).map(move |j| u32::from(j < len))
                })
                .collect();
            let shape = (chunk.len(), longest);
            let mask = Tensor::from_vec(mask, shape, &self.device)?;
            let hidden = match &self.packed {
                Some(packed) => self.padded(&packed::hidden(packed, &encodings, chunk, layers)?, &encodings, chunk)?.0,
                None => {
                    let ids: Vec<u32> = chunk
                        .iter()
                        .flat_map(|&i| {
                            let row = encodings[i].get_ids();
                            row.iter().copied().chain(std::iter::repeat_n(0, longest - row.len()))
                        })
                        .collect();
                    self.candle()?.forward_to(&Tensor::from_vec(ids, shape, &self.device)?, &mask, layers)?
                }
            };
            visit(chunk, &hidden, &mask, &encodings)?;
        }
        Ok(())
    }

    fn tokenize(&self, texts: &[&str]) -> Result<Vec<Encoding>, Error> {
        let inputs: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        self.tokenizer.encode_batch(inputs, true).map_err(|e| Error::Model(format!("tokenizer: {e}")))
    }

    /// Which forward pass serves inference: `"packed"` or `"candle"`.
    pub fn kernel(&self) -> &'static str {
        if self.packed.is_some() {
            "packed"
        } else {
            "candle"
        }
    }

    /// This encoder running inference in candle, as training and GPUs do,
    /// instead of the packed CPU pass: the reference for tests and benchmarks.
    pub fn on_candle(&self) -> Encoder {
        Self { packed: None, ..self.clone() }
    }

    /// Embeds texts: one L2-normalised vector per text, in input order.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        Ok(self.pass(texts, true, false, None)?.vectors)
    }

    /// Per-token hidden states with byte offsets into the text (special
    /// tokens dropped), in input order: the input of token taggers.
    pub fn token_states(&self, texts: &[&str]) -> Result<Vec<TokenStates>, Error> {
        Ok(self.pass(texts, false, true, None)?.states)
    }

    /// [`Self::encode`] and [`Self::token_states`] from one forward pass:
    /// what the NLU step needs for the classifier, the tagger and the
    /// knowledge query of a batch of messages.
    pub fn encode_with_tokens(&self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, Vec<TokenStates>), Error> {
        let Reading { vectors, states, .. } = self.pass(texts, true, true, None)?;
        Ok((vectors, states))
    }

    /// How many forward passes this encoder (and its clones) ran.
    pub fn passes(&self) -> u64 {
        self.passes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// [`Self::encode_with_tokens`] (token states only when `tokens`) and
    /// `branch`'s logits for each text from the same pass: where the
    /// branch's encoder shares this one's bottom layers (tuned from the
    /// same weights, run packed at the same precision, and tuned at least
    /// as high up), those run once and only the branch's own top layers
    /// run again; otherwise the branch makes its own pass.
    pub fn encode_with_branch(&self, texts: &[&str], tokens: bool, branch: &Branch<'_>) -> Result<Reading, Error> {
        match self.shared_bottom(branch.encoder) {
            Some(from) => self.pass(texts, true, tokens, Some((branch, from))),
            None => {
                let reading = self.pass(texts, true, tokens, None)?;
                Ok(Reading { logits: branch.encoder.head_logits(texts, branch.head)?, ..reading })
            }
        }
    }

    /// How many bottom layers `other` runs exactly as this encoder does
    /// and above which it has its own: `None` when it is not a packed copy
    /// of the same weights at the same precision tuned at least as high.
    pub fn shared_bottom(&self, other: &Encoder) -> Option<usize> {
        let (mine, theirs) = (self.packed.as_ref()?, other.packed.as_ref()?);
        let total = self.config.num_hidden_layers;
        let same = self.model.id == other.model.id && mine.precision() == theirs.precision();
        (same && other.tuned >= self.tuned && theirs.depth() == total).then_some(total - other.tuned)
    }

    /// One forward pass over `texts`: the pooled embeddings when `pooled`,
    /// the real tokens' states when `tokens` (empty vectors otherwise) and,
    /// with a branch sharing the bottom `from` layers, its head's logits.
    fn pass(
        &self,
        texts: &[&str],
        pooled: bool,
        tokens: bool,
        branch: Option<(&Branch<'_>, usize)>,
    ) -> Result<Reading, Error> {
        self.passes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = |wanted: bool| if wanted { texts.len() } else { 0 };
        let mut vectors = vec![Vec::new(); n(pooled)];
        let mut states: Vec<TokenStates> = (0..n(tokens)).map(|_| TokenStates::default()).collect();
        let mut logits = vec![Vec::new(); n(branch.is_some())];
        if let Some(packed) = &self.packed {
            let encodings = self.tokenize(texts)?;
            for chunk in by_length(&encodings).chunks(BATCH) {
                let hidden = match branch {
                    Some((b, from)) => {
                        let bottom = packed::hidden(packed, &encodings, chunk, from)?;
                        // `shared_bottom` found the branch packed.
                        let theirs = b.encoder.packed.as_ref().unwrap_or(packed);
                        let theirs = theirs.resume(&bottom, from).map_err(packed::packed_error)?;
                        for (&i, row) in chunk.iter().zip(self.head_rows(b.head, &theirs, &encodings, chunk)?) {
                            logits[i] = row;
                        }
                        packed.resume(&bottom, from).map_err(packed::packed_error)?
                    }
                    None => packed::hidden(packed, &encodings, chunk, packed.depth())?,
                };
                for (j, &i) in chunk.iter().enumerate() {
                    if pooled {
                        vectors[i] = hidden.pooled(j);
                    }
                    if tokens {
                        states[i] = TokenStates::real(&encodings[i], hidden.sentence(j).chunks_exact(self.dim));
                    }
                }
            }
            return Ok(Reading { vectors, states, logits });
        }
        self.forward_batches(texts, |chunk, hidden, mask, encodings| {
            if pooled {
                for (&i, row) in chunk.iter().zip(bert::mean_pool(hidden, mask)?.to_vec2::<f32>()?) {
                    vectors[i] = row;
                }
            }
            if tokens {
                for (&i, rows) in chunk.iter().zip(hidden.to_dtype(DTYPE)?.to_vec3::<f32>()?) {
                    states[i] = TokenStates::real(&encodings[i], rows.iter().map(Vec::as_slice));
                }
            }
            Ok(())
        })?;
        Ok(Reading { vectors, states, logits })
    }

    /// `head`'s logits for each text of a packed batch: its plain sums per
    /// sentence where it has them, else over the padded batch in candle.
    fn head_rows(
        &self,
        head: &dyn Head,
        states: &usher_fastbert::Hidden,
        encodings: &[Encoding],
        chunk: &[usize],
    ) -> Result<Vec<Vec<f32>>, Error> {
        let plain: Option<Vec<Vec<f32>>> = (0..chunk.len()).map(|j| head.sentence_logits(states.sentence(j))).collect();
        match plain {
            Some(rows) => Ok(rows),
            None => {
                let (padded, mask) = self.padded(states, encodings, chunk)?;
                Ok(head.logits(&padded, &mask)?.to_vec2::<f32>()?)
            }
        }
    }

    /// A packed batch's states as a padded tensor (texts × longest × dim)
    /// and its 0/1 mask (texts × longest).
    fn padded(
        &self,
        states: &usher_fastbert::Hidden,
        encodings: &[Encoding],
        chunk: &[usize],
    ) -> Result<(Tensor, Tensor), Error> {
        let longest = chunk.iter().map(|&i| encodings[i].get_ids().len()).max().unwrap_or(0).max(1);
        let mut padded = vec![0f32; chunk.len() * longest * self.dim];
        let mut mask = vec![0u32; chunk.len() * longest];
        for (j, out) in padded.chunks_exact_mut(longest * self.dim).enumerate() {
            let s = states.sentence(j);
            out[..s.len()].copy_from_slice(s);
            mask[j * longest..j * longest + s.len() / self.dim].fill(1);
        }
        let shape = (chunk.len(), longest);
        Ok((
            Tensor::from_vec(padded, (chunk.len(), longest, self.dim), &self.device)?,
            Tensor::from_vec(mask, shape, &self.device)?,
        ))
    }
}

/// What one pass reads: pooled embeddings, real tokens' states and a
/// branch's logits, one per text (each empty when not asked for).
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// L2-normalised sentence embeddings.
    pub vectors: Vec<Vec<f32>>,
    /// Token states.
    pub states: Vec<TokenStates>,
    /// The branch's head's logits.
    pub logits: Vec<Vec<f32>>,
}

/// A second reading of a pass: an encoder tuned from the same weights and
/// the head over its output (the sentiment model's).
pub struct Branch<'a> {
    /// The tuned encoder.
    pub encoder: &'a Encoder,
    /// Its head.
    pub head: &'a dyn Head,
}

/// Text indices ordered by token count, so batches hold similar lengths.
fn by_length(encodings: &[Encoding]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..encodings.len()).collect();
    order.sort_by_key(|&i| encodings[i].get_ids().len());
    order
}

/// Hidden states of a text's tokens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenStates {
    /// One vector per token.
    pub states: Vec<Vec<f32>>,
    /// Byte range of each token in the text.
    pub offsets: Vec<(usize, usize)>,
}

impl TokenStates {
    /// The states of `enc`'s real tokens (special tokens dropped), from
    /// one row per token (padding rows past the end are ignored).
    fn real<'a>(enc: &Encoding, rows: impl Iterator<Item = &'a [f32]>) -> Self {
        let mut out = Self::default();
        for ((row, special), offsets) in rows.zip(enc.get_special_tokens_mask()).zip(enc.get_offsets()) {
            if *special == 0 {
                out.states.push(row.to_vec());
                out.offsets.push(*offsets);
            }
        }
        out
    }
}
