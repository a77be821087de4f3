//! The encoder reader: MiniLM with its top layers fine-tuned on SST-2 and
//! a GRU over every token's state (masked mean over time → linear, 2
//! classes). Only the tuned layers and the head are saved, in f16.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::rnn::GRUConfig;
use candle_nn::{Linear, Module, VarBuilder, VarMap, GRU};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::Labelled;
use crate::nlu::encoder::{Encoder, FineTune, Head};
use crate::Error;

/// Width of the GRU head.
pub const HEAD_HIDDEN: usize = 128;
/// Learning rate of the head (the encoder's is the fine-tuning rate).
const HEAD_LEARNING_RATE: f64 = 1e-3;

/// What the saved file holds, beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TunedMeta {
    /// Id of the pretrained encoder the layers were tuned from.
    pub base: String,
    /// Top layers tuned.
    pub layers: usize,
    /// Width of the GRU head.
    pub hidden: usize,
    /// Classes of the head: 2 (negative, positive) or 3 (and neutral).
    #[serde(default = "two")]
    pub classes: usize,
}

fn two() -> usize {
    2
}

/// The GRU head over token states: in candle to train, and as plain sums
/// (`usher_fastbert::GruHead`) to serve once loaded.
pub struct GruHead {
    gru: GRU,
    out: Linear,
    varmap: Option<VarMap>,
    served: Option<usher_fastbert::GruHead>,
}

impl GruHead {
    fn build(vb: &VarBuilder, dim: usize, hidden: usize, classes: usize) -> candle_core::Result<(GRU, Linear)> {
        let gru = candle_nn::rnn::gru(dim, hidden, GRUConfig::default(), vb.pp("gru"))?;
        Ok((gru, candle_nn::linear(hidden, classes, vb.pp("out"))?))
    }

    /// A trainable head, initialised from `rng`.
    fn seeded(dim: usize, hidden: usize, classes: usize, rng: &mut StdRng) -> Result<Self, Error> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let (gru, out) = Self::build(&vb, dim, hidden, classes)?;
        crate::nlu::seeded::reinit(&varmap, rng, hidden)?;
        Ok(Self { gru, out, varmap: Some(varmap), served: None })
    }
}

impl Head for GruHead {
    fn logits(&self, hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        self.out.forward(&super::masked_mean_of_gru(&self.gru, &hidden.to_dtype(DType::F32)?, &mask)?)
    }

    fn vars(&self) -> Vec<Var> {
        self.varmap
            .as_ref()
            .and_then(|v| crate::nlu::seeded::sorted(v).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    fn learning_rate(&self) -> f64 {
        HEAD_LEARNING_RATE
    }

    fn sentence_logits(&self, states: &[f32]) -> Option<Vec<f32>> {
        Some(self.served.as_ref()?.logits(states))
    }
}

/// A fine-tuned encoder and its head.
pub struct Tuned {
    pub(super) encoder: Encoder,
    pub(super) head: GruHead,
    pub(super) meta: TunedMeta,
}

impl Tuned {
    /// Fine-tunes `base`'s top `cfg.layers` layers and a new head on `train`.
    pub(super) fn train(
        base: &Encoder,
        train: &[Labelled],
        classes: usize,
        cfg: &FineTune,
        seed: u64,
        rng: &mut StdRng,
        progress: &mut dyn FnMut(usize, usize, f32),
    ) -> Result<Self, Error> {
        let texts: Vec<&str> = train.iter().map(|(t, _)| t.as_str()).collect();
        let labels: Vec<u32> = train.iter().map(|(_, y)| *y).collect();
        let head = GruHead::seeded(base.dim(), HEAD_HIDDEN, classes, rng)?;
        let (encoder, head) = base.fine_tuned_with(&texts, &labels, cfg, seed, |_, _| Ok(head), progress)?;
        let meta = TunedMeta {
            base: base.weights_id().to_string(),
            layers: encoder.tuned_layers(),
            hidden: HEAD_HIDDEN,
            classes,
        };
        Ok(Self { encoder, head, meta })
    }

    /// Logits (texts × classes), in input order.
    pub(super) fn logits(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        self.encoder.head_logits(texts, &self.head)
    }

    /// Writes the tuned layers and the head, in f16, to `path`.
    pub(super) fn save(&self, path: &Path) -> Result<(), Error> {
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for (name, t) in self.encoder.tuned_tensors() {
            tensors.insert(name, t.to_dtype(DType::F16)?);
        }
        let varmap =
            self.head.varmap.as_ref().ok_or_else(|| Error::Model("a loaded head cannot be saved again".into()))?;
        for (name, v) in crate::nlu::seeded::sorted(varmap)? {
            tensors.insert(format!("head.{name}"), v.as_tensor().to_dtype(DType::F16)?);
        }
        candle_core::safetensors::save(&tensors, path).map_err(|e| Error::Model(format!("{}: {e}", path.display())))
    }

    /// Loads what [`Self::save`] wrote, over `base` (the encoder it was tuned from).
    pub(super) fn load(path: &Path, base: &Encoder, meta: TunedMeta) -> Result<Self, Error> {
        let bad = |e: &dyn std::fmt::Display| Error::Model(format!("{}: {e}", path.display()));
        if base.weights_id() != meta.base {
            return Err(bad(&format!(
                "tuned from encoder {}, but the configured encoder is {}: retrain with `usher train sentiment`",
                meta.base,
                base.weights_id()
            )));
        }
        let raw = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| bad(&e))?;
        let mut layers = HashMap::new();
        let mut head = HashMap::new();
        for (name, t) in raw {
            let t = t.to_dtype(DType::F32)?;
            match name.strip_prefix("head.") {
                Some(rest) => head.insert(rest.to_string(), t),
                None => layers.insert(name, t),
            };
        }
        let encoder = match meta.layers {
            0 => base.clone(),
            _ => base.with_tuned_tensors(&layers).map_err(|e| bad(&e))?.ok_or_else(|| bad(&"no tuned layers"))?,
        };
        let served = served_head(&head, base.dim(), meta.hidden).map_err(|e| bad(&e))?;
        let vb = VarBuilder::from_tensors(head, DType::F32, &Device::Cpu);
        let (gru, out) = GruHead::build(&vb, base.dim(), meta.hidden, meta.classes).map_err(|e| bad(&e))?;
        Ok(Self { encoder, head: GruHead { gru, out, varmap: None, served: Some(served) }, meta })
    }
}

/// The head's weights as plain vectors for serving.
fn served_head(head: &HashMap<String, Tensor>, dim: usize, hidden: usize) -> Result<usher_fastbert::GruHead, Error> {
    let get = |name: &str| -> Result<Vec<f32>, Error> {
        let t = head.get(name).ok_or_else(|| Error::Model(format!("no {name} in the head")))?;
        Ok(t.flatten_all()?.to_vec1::<f32>()?)
    };
    usher_fastbert::GruHead::new(
        dim,
        hidden,
        (get("gru.weight_ih_l0")?, get("gru.bias_ih_l0")?),
        (get("gru.weight_hh_l0")?, get("gru.bias_hh_l0")?),
        (get("out.weight")?, get("out.bias")?),
    )
    .map_err(|e| Error::Model(e.to_string()))
}
