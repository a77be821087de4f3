//! The sequential recommender: SASRec (Kang & McAuley, 2018) in candle.
//!
//! An item is its learned id embedding plus a projection of its content
//! embedding (MiniLM over title, genres and tags); items never seen in
//! training have no id embedding, so the content alone places them (cold
//! start). A fan's last [`Settings::window`] items, left-padded, go through
//! causal self-attention blocks; the last position's state scores every
//! item by dot product with the same item table. Training predicts each
//! next item with a sampled softmax (the target against
//! [`Settings::negatives`] uniformly drawn items). Everything random draws
//! from one seeded generator, so a run is reproducible.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{AdamW, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Hyperparameters (chosen on the MovieLens validation split).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Width of item embeddings and hidden states.
    pub dim: usize,
    /// Self-attention blocks.
    pub blocks: usize,
    /// Attention heads per block.
    pub heads: usize,
    /// How many of a fan's most recent items the model reads.
    pub window: usize,
    /// Dropout on hidden states while training.
    pub dropout: f32,
    /// Passes over the training windows.
    pub epochs: usize,
    /// Windows per optimiser step.
    pub batch: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Uniformly drawn negatives per step for the sampled softmax.
    pub negatives: usize,
    /// Use the items' content embeddings (off: ids only, no cold start).
    pub content: bool,
    /// The seed of every random draw.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            dim: 64,
            blocks: 2,
            heads: 1,
            window: 200,
            dropout: 0.2,
            epochs: 50,
            batch: 64,
            lr: 1e-3,
            weight_decay: 0.0,
            negatives: 256,
            content: true,
            seed: 42,
        }
    }
}

/// A score of a model on held-out data, higher better (early stopping).
pub type Validate<'a> = dyn Fn(&SasRec) -> Result<f64, Error> + 'a;

struct Norm {
    w: Tensor,
    b: Tensor,
}

impl Norm {
    fn new(dim: usize, vb: VarBuilder) -> Result<Self, Error> {
        Ok(Self {
            w: vb.get_with_hints(dim, "w", candle_nn::Init::Const(1.0))?,
            b: vb.get_with_hints(dim, "b", candle_nn::Init::Const(0.0))?,
        })
    }

    /// Layer norm from differentiable parts (candle's fused one has no backward).
    fn forward(&self, x: &Tensor) -> Result<Tensor, Error> {
        Ok(candle_nn::ops::layer_norm_slow(x, &self.w, &self.b, 1e-8)?)
    }
}

struct Block {
    ln1: Norm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln2: Norm,
    ff1: Linear,
    ff2: Linear,
}

impl Block {
    fn new(dim: usize, vb: VarBuilder) -> Result<Self, Error> {
        let lin = |name: &str| candle_nn::linear(dim, dim, vb.pp(name));
        Ok(Self {
            ln1: Norm::new(dim, vb.pp("ln1"))?,
            q: lin("q")?,
            k: lin("k")?,
            v: lin("v")?,
            o: lin("o")?,
            ln2: Norm::new(dim, vb.pp("ln2"))?,
            ff1: lin("ff1")?,
            ff2: lin("ff2")?,
        })
    }
}

/// A trained (or loaded) recommender over a fixed item table.
pub struct SasRec {
    settings: Settings,
    varmap: VarMap,
    item: Tensor,
    content_proj: Option<Linear>,
    pos: Tensor,
    blocks: Vec<Block>,
    ln_f: Norm,
    /// Content embeddings, one row per item number (row 0 is padding).
    content: Tensor,
    /// 1 for items with training interactions, 0 for the rest (their id
    /// embedding is never used).
    warm: Tensor,
}

/// Dropout masks cut from one block of seeded uniform draws (candle's own
/// draws are unseeded): each call starts at a seeded random offset.
struct Dropout<'a> {
    rate: f32,
    pool: Option<(&'a Tensor, &'a mut StdRng)>,
}

/// Uniform draws in the dropout pool.
const POOL: usize = 1 << 24;

impl Dropout<'_> {
    fn apply(&mut self, x: &Tensor) -> Result<Tensor, Error> {
        let Some((pool, rng)) = self.pool.as_mut().filter(|_| self.rate > 0.0) else { return Ok(x.clone()) };
        let n = x.elem_count();
        let start = rng.random_range(0..POOL.saturating_sub(n).max(1));
        let keep = pool.narrow(0, start, n.min(POOL))?.ge(self.rate as f64)?.to_dtype(DType::F32)?;
        let keep = (keep / (1.0 - self.rate as f64))?.reshape(x.shape())?;
        Ok(x.mul(&keep)?)
    }
}

impl SasRec {
    fn build(settings: Settings, content: Tensor, warm: Vec<f32>) -> Result<Self, Error> {
        let dev = Device::Cpu;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let (rows, content_dim) = content.dims2()?;
        let d = settings.dim;
        let item = vb.get_with_hints((rows, d), "item", candle_nn::Init::Const(0.0))?;
        let content_proj =
            settings.content.then(|| candle_nn::linear_no_bias(content_dim, d, vb.pp("content"))).transpose()?;
        let pos = vb.get_with_hints((settings.window, d), "pos", candle_nn::Init::Const(0.0))?;
        let blocks =
            (0..settings.blocks).map(|i| Block::new(d, vb.pp(format!("block{i}")))).collect::<Result<_, _>>()?;
        let ln_f = Norm::new(d, vb.pp("ln_f"))?;
        let warm = Tensor::from_vec(warm, (rows, 1), &dev)?;
        Ok(Self { settings, varmap, item, content_proj, pos, blocks, ln_f, content, warm })
    }

    /// Seeded initialisation: embeddings N(0, 0.05)-ish uniform, linear
    /// weights uniform in ±1/√fan_in, biases 0, norms 1 and 0.
    fn init(&self, rng: &mut StdRng) -> Result<Vec<candle_core::Var>, Error> {
        let vars = crate::nlu::seeded::sorted(&self.varmap)?;
        for (name, var) in &vars {
            let shape = var.shape().clone();
            let values: Vec<f32> = if name.ends_with(".w") && shape.rank() == 1 {
                vec![1.0; shape.elem_count()]
            } else if name.ends_with(".b") || name.ends_with(".bias") {
                vec![0.0; shape.elem_count()]
            } else {
                let bound = if name == "item" || name == "pos" {
                    0.05
                } else {
                    (1.0 / shape.dims()[shape.rank() - 1] as f32).sqrt()
                };
                (0..shape.elem_count()).map(|_| rng.random_range(-bound..bound)).collect()
            };
            var.set(&Tensor::from_vec(values, shape, &Device::Cpu)?)?;
        }
        Ok(vars.into_iter().map(|(_, v)| v).collect())
    }

    /// The settings it was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Every item's vector (row per item number).
    fn table(&self) -> Result<Tensor, Error> {
        let ids = self.item.broadcast_mul(&self.warm)?;
        Ok(match &self.content_proj {
            Some(p) => (ids + p.forward(&self.content)?)?,
            None => ids,
        })
    }

    /// Hidden states `(B, window, dim)` of left-padded item windows.
    fn hidden(&self, table: &Tensor, windows: &Tensor, dropout: &mut Dropout) -> Result<Tensor, Error> {
        let (b, l) = windows.dims2()?;
        let d = self.settings.dim;
        let h = self.settings.heads;
        let dh = d / h;
        let dev = windows.device();
        let x = table.index_select(&windows.flatten_all()?, 0)?.reshape((b, l, d))?;
        let pos = self.pos.narrow(0, self.settings.window - l, l)?;
        let x = (x * (d as f64).sqrt())?.broadcast_add(&pos)?;
        let pad = windows.ne(0u32)?.to_dtype(DType::F32)?.unsqueeze(2)?;
        let mut x = dropout.apply(&x)?.broadcast_mul(&pad)?;
        let causal: Vec<f32> = (0..l).flat_map(|i| (0..l).map(move |j| if j > i { -1e9 } else { 0.0 })).collect();
        let causal = Tensor::from_vec(causal, (1, 1, l, l), dev)?;
        let keys = ((pad.squeeze(2)? - 1.0)? * 1e9)?.reshape((b, 1, 1, l))?;
        let mask = causal.broadcast_add(&keys)?;
        for blk in &self.blocks {
            let y = blk.ln1.forward(&x)?;
            let split =
                |t: Tensor| -> Result<Tensor, Error> { Ok(t.reshape((b, l, h, dh))?.transpose(1, 2)?.contiguous()?) };
            let q = split(blk.q.forward(&y)?)?;
            let k = split(blk.k.forward(&y)?)?;
            let v = split(blk.v.forward(&y)?)?;
            let scores = (q.matmul(&k.t()?)? / (dh as f64).sqrt())?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let out = att.matmul(&v)?.transpose(1, 2)?.reshape((b, l, d))?;
            x = (x + dropout.apply(&blk.o.forward(&out)?)?)?;
            let y = blk.ln2.forward(&x)?;
            let f = blk.ff2.forward(&blk.ff1.forward(&y)?.relu()?)?;
            x = (x + dropout.apply(&f)?)?.broadcast_mul(&pad)?;
        }
        self.ln_f.forward(&x)
    }

    /// Left-pads (or cuts to) the last items of each history: as many as
    /// the longest, at most `window`.
    fn windows(&self, histories: &[&[u32]]) -> Result<Tensor, Error> {
        let l = histories.iter().map(|h| h.len()).max().unwrap_or(1).clamp(1, self.settings.window);
        let mut data = Vec::with_capacity(histories.len() * l);
        for h in histories {
            let h = &h[h.len().saturating_sub(l)..];
            data.extend(std::iter::repeat_n(0u32, l - h.len()));
            data.extend_from_slice(h);
        }
        Ok(Tensor::from_vec(data, (histories.len(), l), &Device::Cpu)?)
    }

    /// Trains on users' chronological histories. `content` holds one row per
    /// item number (row 0 padding); items absent from `histories` stay cold.
    /// `progress` is called after each epoch with the epoch and mean loss.
    /// With `validate` (a score on held-out data, higher better), the
    /// model is scored every 5 epochs and the best weights are kept (early
    /// stopping on the validation split).
    pub fn train(
        histories: &[Vec<u32>],
        content: Tensor,
        settings: Settings,
        mut progress: impl FnMut(usize, f32),
        validate: Option<&Validate<'_>>,
    ) -> Result<Self, Error> {
        let rows = content.dim(0)?;
        let mut warm = vec![0f32; rows];
        for &i in histories.iter().flatten() {
            warm[i as usize] = 1.0;
        }
        let model = Self::build(settings.clone(), content, warm)?;
        let mut rng = StdRng::seed_from_u64(settings.seed);
        let vars = model.init(&mut rng)?;
        let mut opt = AdamW::new(
            vars,
            ParamsAdamW { lr: settings.lr, weight_decay: settings.weight_decay, ..Default::default() },
        )?;
        // Every history cut into windows of window + 1 items from its end.
        let l = settings.window;
        let mut samples: Vec<&[u32]> = Vec::new();
        for h in histories.iter().filter(|h| h.len() >= 2) {
            let mut end = h.len();
            while end >= 2 {
                samples.push(&h[end.saturating_sub(l + 1)..end]);
                if end <= l + 1 {
                    break;
                }
                end -= l;
            }
        }
        // Negatives are drawn in proportion to popularity (any training
        // interaction, uniformly), and every logit is corrected by the log
        // of its item's draw probability (sampled softmax), so the model
        // learns to rank among the items fans actually pick.
        let all: Vec<u32> = histories.iter().flatten().copied().collect();
        let mut log_q = vec![0f32; rows];
        for &i in &all {
            log_q[i as usize] += 1.0;
        }
        for q in &mut log_q {
            *q = if *q > 0.0 { (*q / all.len() as f32).ln() } else { 0.0 };
        }
        let negatives = settings.negatives.min(all.len());
        let mut best: Option<(f64, Vec<(String, Tensor)>)> = None;
        let pool: Vec<f32> = (0..POOL).map(|_| rng.random::<f32>()).collect();
        let pool = Tensor::from_vec(pool, POOL, &Device::Cpu)?;
        for epoch in 0..settings.epochs {
            // Shuffled, then sorted by length within runs of 8 batches:
            // similar lengths share a batch and pad little.
            samples.shuffle(&mut rng);
            for run in samples.chunks_mut(settings.batch * 8) {
                run.sort_by_key(|s| s.len());
            }
            let mut batches: Vec<&[&[u32]]> = samples.chunks(settings.batch).collect();
            batches.shuffle(&mut rng);
            let (mut total, mut steps) = (0f32, 0usize);
            for chunk in batches {
                let inputs: Vec<&[u32]> = chunk.iter().map(|s| &s[..s.len() - 1]).collect();
                let targets: Vec<&[u32]> = chunk.iter().map(|s| &s[1..]).collect();
                let x = model.windows(&inputs)?;
                let y = model.windows(&targets)?.flatten_all()?.to_vec1::<u32>()?;
                let rows_at: Vec<u32> = (0..y.len() as u32).filter(|&r| y[r as usize] > 0).collect();
                let gold: Vec<u32> = rows_at.iter().map(|&r| y[r as usize]).collect();
                let negs: Vec<u32> = (0..negatives).map(|_| all[rng.random_range(0..all.len())]).collect();
                let at: HashMap<u32, Vec<usize>> = negs.iter().enumerate().fold(HashMap::new(), |mut m, (k, &i)| {
                    m.entry(i).or_default().push(k);
                    m
                });
                let mut hits = vec![0f32; gold.len() * negs.len()];
                for (n, g) in gold.iter().enumerate() {
                    let row = &mut hits[n * negs.len()..(n + 1) * negs.len()];
                    for (k, &i) in negs.iter().enumerate() {
                        row[k] = -log_q[i as usize];
                    }
                    for &k in at.get(g).into_iter().flatten() {
                        row[k] = -1e9;
                    }
                }
                let pos_correction: Vec<f32> = gold.iter().map(|&g| -log_q[g as usize]).collect();
                let table = model.table()?;
                let mut dropout = Dropout { rate: settings.dropout, pool: Some((&pool, &mut rng)) };
                let hidden = model.hidden(&table, &x, &mut dropout)?.reshape(((), settings.dim))?;
                let n = rows_at.len();
                let hidden = hidden.index_select(&Tensor::from_vec(rows_at, n, &Device::Cpu)?, 0)?;
                let pos_emb = table.index_select(&Tensor::from_vec(gold, n, &Device::Cpu)?, 0)?;
                let pos = (&hidden * &pos_emb)?.sum_keepdim(1)?.add(&Tensor::from_vec(
                    pos_correction,
                    (n, 1),
                    &Device::Cpu,
                )?)?;
                let neg_emb = table.index_select(&Tensor::from_vec(negs.clone(), negs.len(), &Device::Cpu)?, 0)?;
                let neg = hidden.matmul(&neg_emb.t()?)?.add(&Tensor::from_vec(hits, (n, negs.len()), &Device::Cpu)?)?;
                let logp = candle_nn::ops::log_softmax(&Tensor::cat(&[pos, neg], 1)?, D::Minus1)?;
                let loss = logp.narrow(1, 0, 1)?.mean_all()?.neg()?;
                opt.backward_step(&loss)?;
                total += loss.to_scalar::<f32>()?;
                steps += 1;
            }
            progress(epoch + 1, total / steps.max(1) as f32);
            if let Some(validate) = validate.filter(|_| (epoch + 1) % 5 == 0 || epoch + 1 == settings.epochs) {
                let score = validate(&model)?;
                if best.as_ref().is_none_or(|(b, _)| score > *b) {
                    best = Some((score, model.snapshot()?));
                }
            }
        }
        if let Some((_, weights)) = best {
            model.restore(&weights)?;
        }
        Ok(model)
    }

    fn snapshot(&self) -> Result<Vec<(String, Tensor)>, Error> {
        let vars = crate::nlu::seeded::sorted(&self.varmap)?;
        Ok(vars.into_iter().map(|(k, v)| Ok((k, v.as_tensor().copy()?))).collect::<Result<_, candle_core::Error>>()?)
    }

    fn restore(&self, weights: &[(String, Tensor)]) -> Result<(), Error> {
        let vars = crate::nlu::seeded::sorted(&self.varmap)?;
        for ((_, var), (_, w)) in vars.iter().zip(weights) {
            var.set(w)?;
        }
        Ok(())
    }

    /// Scores every item (index = item number; 0 is padding) for each
    /// history, in batches of 64. Histories longer than the window are cut
    /// to their last `window` items first.
    pub fn score(&self, histories: &[&[u32]]) -> Result<Vec<Vec<f32>>, Error> {
        let table = self.table()?;
        let mut out = Vec::with_capacity(histories.len());
        for chunk in histories.chunks(64) {
            let x = self.windows(chunk)?;
            let hidden = self.hidden(&table, &x, &mut Dropout { rate: 0.0, pool: None })?;
            let last = hidden.narrow(1, x.dim(1)? - 1, 1)?.squeeze(1)?;
            out.extend(last.matmul(&table.t()?)?.to_vec2::<f32>()?);
        }
        Ok(out)
    }

    /// Writes the weights (`path`, safetensors) and the settings, item
    /// table size and warm items (`path.json`).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        self.varmap.save(path)?;
        let warm = self.warm.flatten_all()?.to_vec1::<f32>()?;
        let meta = Meta { settings: self.settings.clone(), warm: warm.iter().map(|&w| w > 0.0).collect() };
        crate::util::write_json(&path.with_extension("json"), &meta)
    }

    /// Loads what [`Self::save`] wrote, over `content` (which must have the
    /// same rows); a missing, corrupted or mismatched file names itself.
    pub fn load(path: &Path, content: Tensor) -> Result<Self, Error> {
        let meta_path = path.with_extension("json");
        let text =
            std::fs::read_to_string(&meta_path).map_err(|source| Error::Io { path: meta_path.clone(), source })?;
        let meta: Meta =
            serde_json::from_str(&text).map_err(|e| Error::Model(format!("{}: {e}", meta_path.display())))?;
        if meta.warm.len() != content.dim(0)? {
            return Err(Error::Model(format!(
                "{}: trained on {} items, the catalogue has {}",
                meta_path.display(),
                meta.warm.len().saturating_sub(1),
                content.dim(0)?.saturating_sub(1)
            )));
        }
        let warm = meta.warm.iter().map(|&w| if w { 1.0 } else { 0.0 }).collect();
        let model = Self::build(meta.settings, content, warm)?;
        crate::util::load_vars(&model.varmap, path)?;
        Ok(model)
    }
}

#[derive(Serialize, Deserialize)]
struct Meta {
    settings: Settings,
    warm: Vec<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten items on a cycle, each user walking part of it; content: one-hot
    /// per item, and item 10 (never interacted with) shares item 5's content.
    fn setup() -> (Vec<Vec<u32>>, Tensor, Settings) {
        let histories: Vec<Vec<u32>> = (0..40u32).map(|u| (0..12u32).map(|k| (u + k) % 9 + 1).collect()).collect();
        let mut content = vec![0f32; 11 * 10];
        for i in 1..=9usize {
            content[i * 10 + i] = 1.0;
        }
        content[10 * 10 + 5] = 1.0;
        let content = Tensor::from_vec(content, (11, 10), &Device::Cpu).unwrap();
        let settings = Settings {
            dim: 16,
            window: 8,
            epochs: 60,
            batch: 8,
            lr: 1e-2,
            negatives: 8,
            dropout: 0.1,
            ..Default::default()
        };
        (histories, content, settings)
    }

    #[test]
    fn learns_the_next_item_is_seeded_and_saves() {
        let (histories, content, settings) = setup();
        let model = SasRec::train(&histories, content.clone(), settings.clone(), |_, _| {}, None).unwrap();
        let scores = model.score(&[&[3, 4, 5], &[7, 8]]).unwrap();
        let best = |s: &[f32]| (1..10).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!((best(&scores[0]), best(&scores[1])), (6, 9));
        let again = SasRec::train(&histories, content.clone(), settings, |_, _| {}, None).unwrap();
        assert_eq!(again.score(&[&[3, 4, 5]]).unwrap()[0], scores[0], "same seed, same model");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recs.safetensors");
        model.save(&path).unwrap();
        let loaded = SasRec::load(&path, content.clone()).unwrap();
        assert_eq!(loaded.score(&[&[3, 4, 5]]).unwrap()[0], scores[0]);
        std::fs::write(&path, b"not safetensors").unwrap();
        let err = SasRec::load(&path, content).err().unwrap().to_string();
        assert!(err.contains("recs.safetensors"), "{err}");
    }

    #[test]
    fn a_cold_item_is_placed_by_its_content() {
        let (histories, content, settings) = setup();
        let model = SasRec::train(&histories, content, settings, |_, _| {}, None).unwrap();
        let s = &model.score(&[&[2, 3, 4]]).unwrap()[0];
        // Item 10 looks like item 5 (the true next item), so it outranks the rest.
        let mut order: Vec<usize> = (1..=10).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
        assert_eq!(order[0], 5);
        assert!(order[..3].contains(&10), "{order:?}");
    }
}
