//! The bridge to `usher-fastbert`, the packed CPU forward pass that serves
//! inference on the CPU: it copies a [`Bert`]'s weights into that crate's
//! layout. Training keeps using [`Bert`].

use std::collections::HashMap;

use candle_core::Tensor;
use candle_transformers::models::bert::{Config, HiddenAct};
use tokenizers::Encoding;
use usher_fastbert::{Embeddings, Layer as PackedLayer, Model, Precision};

use super::bert::{Bert, Layer};
use crate::Error;

pub(super) fn packed_error(e: impl std::fmt::Display) -> Error {
    Error::Model(format!("packed encoder: {e}"))
}

/// The packed model's shape, or `None` when it cannot run this model
/// (it implements the exact GELU only).
fn shape(c: &Config, precision: Precision) -> Option<usher_fastbert::Config> {
    (c.hidden_act == HiddenAct::Gelu).then_some(usher_fastbert::Config {
        hidden: c.hidden_size,
        heads: c.num_attention_heads,
        intermediate: c.intermediate_size,
        vocab: c.vocab_size,
        max_positions: c.max_position_embeddings,
        eps: c.layer_norm_eps as f32,
        precision,
    })
}

/// Flat values of named tensors, keyed by the name after `prefix.`.
fn flatten(named: Vec<(String, Tensor)>, prefix: &str) -> Result<HashMap<String, Vec<f32>>, Error> {
    named
        .into_iter()
        .map(|(name, t)| {
            let key = name.strip_prefix(prefix).and_then(|n| n.strip_prefix('.')).unwrap_or(&name).to_string();
            Ok((key, t.flatten_all()?.to_vec1::<f32>()?))
        })
        .collect()
}

fn layer(shape: &usher_fastbert::Config, l: &Layer) -> Result<PackedLayer, Error> {
    let values = flatten(l.named_tensors("layer"), "layer")?;
    PackedLayer::load(shape, &|name| values.get(name).cloned()).map_err(packed_error)
}

/// The packed copy of `model`, or `None` for a model it cannot run.
pub fn build(model: &Bert, c: &Config, precision: Precision) -> Result<Option<Model>, Error> {
    let Some(shape) = shape(c, precision) else { return Ok(None) };
    let values = flatten(model.embedding_tensors(), "embeddings")?;
    let embeddings = Embeddings::load(&shape, &|name| values.get(name).cloned()).map_err(packed_error)?;
    let layers = model.layers.iter().map(|l| layer(&shape, l)).collect::<Result<Vec<_>, _>>()?;
    Model::new(shape, embeddings, layers).map(Some).map_err(packed_error)
}

/// `packed` with its layers from `from` on replaced by `layers`.
pub fn with_top_layers(packed: &Model, c: &Config, from: usize, layers: &[Layer]) -> Result<Option<Model>, Error> {
    let Some(shape) = shape(c, packed.precision()) else { return Ok(None) };
    let layers = layers.iter().map(|l| layer(&shape, l)).collect::<Result<Vec<_>, _>>()?;
    Ok(Some(packed.with_top_layers(from, layers)))
}

/// Runs the texts `chunk` picks out of `encodings` through the first `layers` layers.
pub fn hidden(
    packed: &Model,
    encodings: &[Encoding],
    chunk: &[usize],
    layers: usize,
) -> Result<usher_fastbert::Hidden, Error> {
    let sentences: Vec<&[u32]> = chunk.iter().map(|&i| encodings[i].get_ids()).collect();
    packed.hidden(&sentences, layers).map_err(packed_error)
}
