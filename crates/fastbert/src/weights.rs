//! Weights in the layout the kernels want: linear layers stored inputs ×
//! outputs (row-major), query, key and value fused into one matrix.

use crate::matmul::{Packed, Precision};
use crate::Error;

/// The shape of a BERT model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Hidden width (384 for MiniLM).
    pub hidden: usize,
    /// Attention heads; must divide `hidden`.
    pub heads: usize,
    /// Feed-forward width.
    pub intermediate: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Longest input in tokens (position embeddings).
    pub max_positions: usize,
    /// Layer-norm epsilon.
    pub eps: f32,
    /// How the linear layers' weights are stored.
    pub precision: Precision,
}

impl Config {
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.hidden == 0 || self.heads == 0 || !self.hidden.is_multiple_of(self.heads) {
            return Err(Error::Config(format!("{} heads cannot split width {}", self.heads, self.hidden)));
        }
        if self.intermediate == 0 || self.vocab == 0 || self.max_positions == 0 {
            return Err(Error::Config("zero intermediate width, vocabulary or positions".into()));
        }
        Ok(())
    }
}

/// Looks up a weight by its checkpoint name (relative to a layer or the
/// embeddings), as a flat row-major slice.
pub type Lookup<'a> = dyn Fn(&str) -> Option<Vec<f32>> + 'a;

fn get(lookup: &Lookup, name: &str, expected: usize) -> Result<Vec<f32>, Error> {
    let values = lookup(name).unwrap_or_default();
    if values.len() != expected {
        return Err(Error::Shape { name: name.to_string(), expected, got: values.len() });
    }
    Ok(values)
}

/// `y = x · w + b` with `w` stored inputs × outputs, then packed.
#[derive(Debug, Clone)]
pub struct Linear {
    pub(crate) w: Packed,
    pub(crate) b: Vec<f32>,
}

/// A linear layer before packing.
struct Dense {
    w: Vec<f32>,
    b: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Linear {
    fn load(lookup: &Lookup, name: &str, inputs: usize, outputs: usize, p: Precision) -> Result<Self, Error> {
        Ok(Dense::load(lookup, name, inputs, outputs)?.pack(p))
    }
}

impl Dense {
    fn pack(self, precision: Precision) -> Linear {
        Linear { w: Packed::new(&self.w, self.inputs, self.outputs, precision), b: self.b }
    }

    /// Reads `{name}.weight` (outputs × inputs, as PyTorch stores it) and `{name}.bias`.
    fn load(lookup: &Lookup, name: &str, inputs: usize, outputs: usize) -> Result<Self, Error> {
        let torch = get(lookup, &format!("{name}.weight"), inputs * outputs)?;
        let b = get(lookup, &format!("{name}.bias"), outputs)?;
        let mut w = vec![0f32; inputs * outputs];
        for (o, row) in torch.chunks_exact(inputs).enumerate() {
            for (i, v) in row.iter().enumerate() {
                w[i * outputs + o] = *v;
            }
        }
        Ok(Self { w, b, inputs, outputs })
    }

    /// One layer computing all of `parts`' outputs side by side.
    fn concat(parts: &[Dense]) -> Self {
        let inputs = parts.first().map_or(0, |p| p.inputs);
        let outputs = parts.iter().map(|p| p.outputs).sum();
        let mut w = Vec::with_capacity(inputs * outputs);
        for i in 0..inputs {
            for p in parts {
                w.extend_from_slice(&p.w[i * p.outputs..(i + 1) * p.outputs]);
            }
        }
        Self { w, b: parts.iter().flat_map(|p| p.b.iter().copied()).collect(), inputs, outputs }
    }
}

/// Layer-norm weight and bias.
#[derive(Debug, Clone)]
pub struct Norm {
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
}

impl Norm {
    fn load(lookup: &Lookup, name: &str, width: usize) -> Result<Self, Error> {
        Ok(Self {
            weight: get(lookup, &format!("{name}.weight"), width)?,
            bias: get(lookup, &format!("{name}.bias"), width)?,
        })
    }
}

/// One transformer layer.
#[derive(Debug, Clone)]
pub struct Layer {
    pub(crate) qkv: Linear,
    pub(crate) attention_out: Linear,
    pub(crate) attention_norm: Norm,
    pub(crate) intermediate: Linear,
    pub(crate) output: Linear,
    pub(crate) output_norm: Norm,
}

impl Layer {
    /// Reads a layer by the names under `encoder.layer.N` of a BERT checkpoint
    /// (`attention.self.query.weight`, …, `output.LayerNorm.bias`).
    pub fn load(c: &Config, lookup: &Lookup) -> Result<Self, Error> {
        c.check()?;
        let (h, i) = (c.hidden, c.intermediate);
        let q = Dense::load(lookup, "attention.self.query", h, h)?;
        let k = Dense::load(lookup, "attention.self.key", h, h)?;
        let v = Dense::load(lookup, "attention.self.value", h, h)?;
        Ok(Self {
            qkv: Dense::concat(&[q, k, v]).pack(c.precision),
            attention_out: Linear::load(lookup, "attention.output.dense", h, h, c.precision)?,
            attention_norm: Norm::load(lookup, "attention.output.LayerNorm", h)?,
            intermediate: Linear::load(lookup, "intermediate.dense", h, i, c.precision)?,
            output: Linear::load(lookup, "output.dense", i, h, c.precision)?,
            output_norm: Norm::load(lookup, "output.LayerNorm", h)?,
        })
    }
}

/// Word and position embeddings (segment 0 folded into the positions), normalised.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub(crate) words: Vec<f32>,
    pub(crate) positions: Vec<f32>,
    pub(crate) norm: Norm,
}

impl Embeddings {
    /// Reads the names under `embeddings.` of a BERT checkpoint.
    pub fn load(c: &Config, lookup: &Lookup) -> Result<Self, Error> {
        c.check()?;
        let h = c.hidden;
        let words = get(lookup, "word_embeddings.weight", c.vocab * h)?;
        let mut positions = get(lookup, "position_embeddings.weight", c.max_positions * h)?;
        let segments = lookup("token_type_embeddings.weight").unwrap_or_default();
        if segments.len() < h || !segments.len().is_multiple_of(h) {
            return Err(Error::Shape { name: "token_type_embeddings.weight".into(), expected: h, got: segments.len() });
        }
        // Every input is one segment (type 0).
        for row in positions.chunks_exact_mut(h) {
            row.iter_mut().zip(&segments[..h]).for_each(|(p, s)| *p += s);
        }
        Ok(Self { words, positions, norm: Norm::load(lookup, "LayerNorm", h)? })
    }
}
