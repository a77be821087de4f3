//! The BERT forward pass (MiniLM is a 6-layer BERT), owned here so that it
//! can be trained.
//!
//! candle-transformers' `BertModel` normalises with the fused
//! `ops::layer_norm`, which has no backward pass: gradients stop there and
//! fine-tuning silently trains nothing. This model runs in one of two
//! [`Mode`]s. [`Mode::Infer`] uses the fused kernels (layer norm and a
//! last-dimension softmax) for speed; [`Mode::Train`] uses the same maths
//! built from differentiable ops, so gradients reach every weight.
//!
//! Weights are plain tensors: [`Bert::load`] reads them from a
//! `VarBuilder`, and [`Layer::to_vars`] turns one layer's weights into
//! trainable [`Var`]s.

use candle_core::{DType, Module, Result, Tensor, Var, D};
use candle_nn::{Embedding, Linear, VarBuilder};
use candle_transformers::models::bert::{Config, HiddenAct};

/// Which kernels to use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Fused kernels, no gradients.
    Infer,
    /// Differentiable ops throughout.
    Train,
    /// Differentiable ops, and dropout as BERT was trained with it (on the
    /// attention weights and on each block's output before the residual
    /// sum), its masks drawn from `key`: the same key, the same masks.
    Dropout {
        /// Probability of dropping a value.
        p: f32,
        /// Seeds this step's masks.
        key: u64,
    },
}

impl Mode {
    fn fused(self) -> bool {
        self == Mode::Infer
    }

    /// `x` with values dropped (and the rest scaled up) under
    /// [`Mode::Dropout`], the mask drawn from `key` and `site`; `x` itself
    /// in the other modes.
    pub fn drop(self, x: &Tensor, site: u64) -> Result<Tensor> {
        use rand::{Rng, SeedableRng};
        let Mode::Dropout { p, key } = self else { return Ok(x.clone()) };
        if p <= 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - p;
        let mut rng = rand::rngs::StdRng::seed_from_u64(key ^ site.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mask: Vec<f32> =
            (0..x.elem_count()).map(|_| if rng.random::<f32>() < keep { 1.0 / keep } else { 0.0 }).collect();
        x * Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?
    }

    /// This mode for layer `i` of a stack (its own masks).
    fn layer(self, i: usize) -> Mode {
        match self {
            Mode::Dropout { p, key } => Mode::Dropout { p, key: key.wrapping_add((i as u64 + 1) << 32) },
            other => other,
        }
    }
}

/// A layer norm over the last dimension.
#[derive(Debug, Clone)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        Ok(Self { weight: vb.get(size, "weight")?, bias: vb.get(size, "bias")?, eps: eps as f32 })
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        if mode.fused() {
            candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
        } else {
            candle_nn::ops::layer_norm_slow(x, &self.weight, &self.bias, self.eps)
        }
    }
}

fn linear(vb: VarBuilder, inputs: usize, outputs: usize) -> Result<Linear> {
    Ok(Linear::new(vb.get((outputs, inputs), "weight")?, Some(vb.get(outputs, "bias")?)))
}

/// One transformer layer: self-attention then the feed-forward block.
#[derive(Debug, Clone)]
pub struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
    act: HiddenAct,
}

impl Layer {
    /// Loads layer weights under `vb` (e.g. `encoder.layer.5`).
    pub fn load(vb: VarBuilder, c: &Config) -> Result<Self> {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let attention = vb.pp("attention");
        Ok(Self {
            query: linear(attention.pp("self.query"), h, h)?,
            key: linear(attention.pp("self.key"), h, h)?,
            value: linear(attention.pp("self.value"), h, h)?,
            attention_out: linear(attention.pp("output.dense"), h, h)?,
            attention_norm: LayerNorm::load(attention.pp("output.LayerNorm"), h, c.layer_norm_eps)?,
            intermediate: linear(vb.pp("intermediate.dense"), h, i)?,
            output: linear(vb.pp("output.dense"), i, h)?,
            output_norm: LayerNorm::load(vb.pp("output.LayerNorm"), h, c.layer_norm_eps)?,
            heads: c.num_attention_heads,
            act: c.hidden_act,
        })
    }

    /// `x`: batch × tokens × hidden; `bias`: batch × 1 × 1 × tokens, 0 for
    /// real tokens and a large negative number for padding.
    pub fn forward(&self, x: &Tensor, bias: &Tensor, mode: Mode) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let d = h / self.heads;
        let split = |y: Tensor| y.reshape((b, t, self.heads, d))?.transpose(1, 2)?.contiguous();
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?.broadcast_add(bias)?;
        let probs = match mode.fused() {
            true => candle_nn::ops::softmax_last_dim(&scores)?,
            false => mode.drop(&candle_nn::ops::softmax(&scores, D::Minus1)?, 1)?,
        };
        let context = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, t, h))?;
        let attended = mode.drop(&self.attention_out.forward(&context)?, 2)?;
        let x = self.attention_norm.forward(&(attended + x)?, mode)?;
        let inner = self.intermediate.forward(&x)?;
        let inner = match self.act {
            HiddenAct::Gelu => inner.gelu_erf()?,
            HiddenAct::GeluApproximate => inner.gelu()?,
            HiddenAct::Relu => inner.relu()?,
        };
        self.output_norm.forward(&(mode.drop(&self.output.forward(&inner)?, 3)? + x)?, mode)
    }

    /// The same layer with every weight passed through `f`.
    fn map(&self, mut f: impl FnMut(&Tensor) -> Result<Tensor>) -> Result<Self> {
        let mut lin = |l: &Linear| -> Result<Linear> {
            let bias = l.bias().map(&mut f).transpose()?;
            Ok(Linear::new(f(l.weight())?, bias))
        };
        let (query, key, value) = (lin(&self.query)?, lin(&self.key)?, lin(&self.value)?);
        let (attention_out, intermediate, output) =
            (lin(&self.attention_out)?, lin(&self.intermediate)?, lin(&self.output)?);
        let mut norm = |n: &LayerNorm| -> Result<LayerNorm> {
            Ok(LayerNorm { weight: f(&n.weight)?, bias: f(&n.bias)?, eps: n.eps })
        };
        Ok(Self {
            query,
            key,
            value,
            attention_out,
            attention_norm: norm(&self.attention_norm)?,
            intermediate,
            output,
            output_norm: norm(&self.output_norm)?,
            heads: self.heads,
            act: self.act,
        })
    }

    /// A copy of this layer whose weights are trainable variables, and the variables.
    pub fn to_vars(&self) -> Result<(Self, Vec<Var>)> {
        let mut vars = Vec::new();
        let layer = self.map(|t| {
            let v = Var::from_tensor(t)?;
            let tensor = v.as_tensor().clone();
            vars.push(v);
            Ok(tensor)
        })?;
        Ok((layer, vars))
    }

    /// A copy of this layer that records no gradients (after training).
    pub fn detach(&self) -> Result<Self> {
        self.map(|t| Ok(t.detach()))
    }

    /// The layer's weights by their names in a BERT checkpoint (under `prefix`).
    pub fn named_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        let mut lin = |name: &str, l: &Linear| {
            out.push((format!("{prefix}.{name}.weight"), l.weight().clone()));
            if let Some(b) = l.bias() {
                out.push((format!("{prefix}.{name}.bias"), b.clone()));
            }
        };
        lin("attention.self.query", &self.query);
        lin("attention.self.key", &self.key);
        lin("attention.self.value", &self.value);
        lin("attention.output.dense", &self.attention_out);
        lin("intermediate.dense", &self.intermediate);
        lin("output.dense", &self.output);
        for (name, n) in [("attention.output.LayerNorm", &self.attention_norm), ("output.LayerNorm", &self.output_norm)]
        {
            out.push((format!("{prefix}.{name}.weight"), n.weight.clone()));
            out.push((format!("{prefix}.{name}.bias"), n.bias.clone()));
        }
        out
    }
}

/// Token, position and segment embeddings, normalised.
#[derive(Debug, Clone)]
struct Embeddings {
    words: Embedding,
    positions: Tensor,
    segment: Tensor,
    norm: LayerNorm,
}

/// A BERT encoder: embeddings and a stack of [`Layer`]s.
#[derive(Debug, Clone)]
pub struct Bert {
    embeddings: Embeddings,
    /// The transformer layers, bottom first.
    pub layers: Vec<Layer>,
}

impl Bert {
    /// Loads a BERT checkpoint (with or without the `bert.` prefix).
    pub fn load(vb: VarBuilder, c: &Config) -> Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let e = vb.pp("embeddings");
        let words = e.get((c.vocab_size, c.hidden_size), "word_embeddings.weight")?;
        let segments = e.get((c.type_vocab_size, c.hidden_size), "token_type_embeddings.weight")?;
        let embeddings = Embeddings {
            words: Embedding::new(words, c.hidden_size),
            positions: e.get((c.max_position_embeddings, c.hidden_size), "position_embeddings.weight")?,
            // Every input is one segment (type 0).
            segment: segments.get(0)?,
            norm: LayerNorm::load(e.pp("LayerNorm"), c.hidden_size, c.layer_norm_eps)?,
        };
        let layers = (0..c.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), c))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { embeddings, layers })
    }

    /// The embedding weights by their names under `embeddings` in a BERT
    /// checkpoint (the segment table holds segment 0 only).
    pub fn embedding_tensors(&self) -> Vec<(String, Tensor)> {
        let e = &self.embeddings;
        vec![
            ("embeddings.word_embeddings.weight".into(), e.words.embeddings().clone()),
            ("embeddings.position_embeddings.weight".into(), e.positions.clone()),
            ("embeddings.token_type_embeddings.weight".into(), e.segment.clone()),
            ("embeddings.LayerNorm.weight".into(), e.norm.weight.clone()),
            ("embeddings.LayerNorm.bias".into(), e.norm.bias.clone()),
        ]
    }

    /// The additive attention bias of a batch × tokens 0/1 `mask`.
    pub fn attention_bias(mask: &Tensor) -> Result<Tensor> {
        let (b, t) = mask.dims2()?;
        let padding = (1.0 - mask.to_dtype(DType::F32)?)?;
        (padding * -1e4)?.reshape((b, 1, 1, t))
    }

    /// The normalised input embeddings of batch × tokens `ids`.
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let e = &self.embeddings;
        let x = e.words.forward(ids)?.broadcast_add(&e.positions.narrow(0, 0, t)?)?.broadcast_add(&e.segment)?;
        e.norm.forward(&x, Mode::Infer)
    }

    /// Hidden states after `layers` layers (all of them for `self.layers.len()`).
    pub fn forward_to(&self, ids: &Tensor, mask: &Tensor, layers: usize) -> Result<Tensor> {
        let bias = Self::attention_bias(mask)?;
        run(&self.layers[..layers.min(self.layers.len())], &self.embed(ids)?, &bias, Mode::Infer)
    }

    /// Last hidden states of batch × tokens `ids` with 0/1 `mask`.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        self.forward_to(ids, mask, self.layers.len())
    }
}

/// Runs `x` through `layers` in order.
pub fn run(layers: &[Layer], x: &Tensor, bias: &Tensor, mode: Mode) -> Result<Tensor> {
    let mut x = x.clone();
    for (i, layer) in layers.iter().enumerate() {
        x = layer.forward(&x, bias, mode.layer(i))?;
    }
    Ok(x)
}

/// Mean of the hidden states over real tokens, L2-normalised: the sentence embedding.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    l2_rows(&summed.broadcast_div(&counts)?)
}

/// Each row of a matrix scaled to unit length.
pub fn l2_rows(x: &Tensor) -> Result<Tensor> {
    x.broadcast_div(&x.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?)
}
