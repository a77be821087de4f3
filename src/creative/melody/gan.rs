//! The conditional DCGAN. Rolls are images `(batch, 1, STEPS, COLUMNS)`;
//! conditions are images `(batch, 2, STEPS, COLUMNS)` (chord and scale,
//! [`super::harmony`]).
//!
//! Generator: noise (64) → linear → 64×8×4 → three `ConvTranspose2d`
//! (kernel 4, stride 2, padding 1, output padding 0) up to 8×64×32, the
//! conditions (average-pooled to each size) joined to the input of every
//! one, then a 3×3 `Conv2d` over the last maps and the full-size
//! conditions → 1×64×32 logits → softmax over each step's 32 columns
//! (rest + 31 pitches). The last layer sees the conditions column by
//! column, so the chord it is told about lines up with the pitches it
//! scores. (candle 0.11's `ConvTranspose1d` has no backward pass; the 2-D
//! one has.)
//! Discriminator: the roll and its conditions → three stride-2 `Conv2d` →
//! 64×8×4 → linear → one logit.
//! Leaky ReLU (0.2) throughout, Adam (2e-4, β1 0.5), one-sided label
//! smoothing (real = 0.9), D and G stepped in alternation; the generator's
//! loss adds MidiNet's feature matching (batch means of the
//! discriminator's first maps and of the rolls, real against generated).

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor, Var, D};
use candle_nn::{
    conv2d, conv_transpose2d, linear, AdamW, Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, Linear,
    Optimizer, ParamsAdamW, VarBuilder, VarMap,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::data::Window;
use super::harmony::{Progression, CHANNELS};
use super::{decode, Melody, COLUMNS, STEPS};
use crate::Error;

/// Noise dimensions.
pub const Z: usize = 64;
const BASE: usize = 64;
const BATCH: usize = 64;
/// Weights of the generator's feature-matching terms (MidiNet's λ1, λ2),
/// on the discriminator's first maps and on the rolls.
const FEATURE_MATCHING: f64 = 0.1;
const ROLL_MATCHING: f64 = 1.0;
/// Maps out of the last transposed convolution.
const LAST: usize = 8;

/// Mean losses of one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochLoss {
    /// Discriminator loss (real + fake).
    pub d: f32,
    /// Generator loss.
    pub g: f32,
    /// Mean discriminator probability that real rolls are real.
    pub d_real: f32,
    /// Mean discriminator probability that generated rolls are real.
    pub d_fake: f32,
}

/// The generator: noise to a piano roll.
pub struct Generator {
    varmap: VarMap,
    fc: Linear,
    up: [ConvTranspose2d; 3],
    out: Conv2d,
}

struct Discriminator {
    varmap: VarMap,
    down: [Conv2d; 3],
    fc: Linear,
}

fn up_config() -> ConvTranspose2dConfig {
    ConvTranspose2dConfig { padding: 1, output_padding: 0, stride: 2, dilation: 1 }
}

impl Generator {
    fn new() -> Result<Self, Error> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let fc = linear(Z, BASE * 8 * 4, vb.pp("fc"))?;
        let c = CHANNELS;
        let up = [
            conv_transpose2d(BASE + c, BASE / 2, 4, up_config(), vb.pp("up0"))?,
            conv_transpose2d(BASE / 2 + c, BASE / 4, 4, up_config(), vb.pp("up1"))?,
            conv_transpose2d(BASE / 4 + c, LAST, 4, up_config(), vb.pp("up2"))?,
        ];
        let same = Conv2dConfig { padding: 1, ..Default::default() };
        let out = conv2d(LAST + c, 1, 3, same, vb.pp("out"))?;
        Ok(Self { varmap, fc, up, out })
    }

    /// Logits `(batch, 1, STEPS, COLUMNS)` for noise `(batch, Z)` and
    /// conditions `(batch, CHANNELS, STEPS, COLUMNS)`.
    fn forward(&self, z: &Tensor, conditions: &Tensor) -> Result<Tensor, Error> {
        let b = z.dim(0)?;
        let mut x = self.fc.forward(z)?.reshape((b, BASE, 8, 4))?;
        for layer in &self.up {
            let (h, w) = (x.dim(2)?, x.dim(3)?);
            let c = conditions.avg_pool2d((STEPS / h, COLUMNS / w))?;
            x = layer.forward(&Tensor::cat(&[&candle_nn::ops::leaky_relu(&x, 0.2)?, &c], 1)?)?;
        }
        let x = Tensor::cat(&[&candle_nn::ops::leaky_relu(&x, 0.2)?, conditions], 1)?;
        Ok(self.out.forward(&x)?)
    }

    /// Each step's column probabilities (what the discriminator judges).
    fn probabilities(&self, z: &Tensor, conditions: &Tensor) -> Result<Tensor, Error> {
        Ok(candle_nn::ops::softmax(&self.forward(z, conditions)?, D::Minus1)?)
    }

    /// A melody from `seed` over `progression`, read by `decoding`: the
    /// same three give the same melody.
    pub fn compose(&self, seed: u64, progression: &Progression, decoding: decode::Decoding) -> Result<Melody, Error> {
        let mut rng = StdRng::seed_from_u64(seed);
        let z = noise(&mut rng, 1)?;
        let conditions = conditions(std::slice::from_ref(progression))?;
        let scores = candle_nn::ops::log_softmax(&self.forward(&z, &conditions)?, D::Minus1)?;
        let mut scores: Vec<f32> = scores.flatten_all()?.to_vec1()?;
        if decoding.in_key {
            decode::keep_to(&mut scores, &progression.key);
        }
        Ok(decode::decode(&scores, decoding, seed))
    }

    /// Writes `generator.safetensors` (f16) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::util::save_vars_f16(&self.varmap, &dir.join("generator.safetensors"))
    }

    /// Loads a generator saved by [`Self::save`]; errors name the file.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let g = Self::new()?;
        crate::util::load_vars(&g.varmap, &dir.join("generator.safetensors"))?;
        Ok(g)
    }
}

impl Discriminator {
    fn new() -> Result<Self, Error> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let cfg = Conv2dConfig { padding: 1, stride: 2, ..Default::default() };
        let down = [
            conv2d(1 + CHANNELS, BASE / 4, 4, cfg, vb.pp("down0"))?,
            conv2d(BASE / 4, BASE / 2, 4, cfg, vb.pp("down1"))?,
            conv2d(BASE / 2, BASE, 4, cfg, vb.pp("down2"))?,
        ];
        let fc = linear(BASE * 8 * 4, 1, vb.pp("fc"))?;
        Ok(Self { varmap, down, fc })
    }

    /// One logit per roll (probabilities in, `(batch, 1, STEPS, COLUMNS)`,
    /// with their conditions).
    fn forward(&self, x: &Tensor, conditions: &Tensor) -> Result<Tensor, Error> {
        Ok(self.judge(x, conditions)?.0)
    }

    /// The logits and the first layer's maps (for feature matching).
    fn judge(&self, x: &Tensor, conditions: &Tensor) -> Result<(Tensor, Tensor), Error> {
        let mut x = Tensor::cat(&[x, conditions], 1)?;
        let mut first = None;
        for layer in &self.down {
            x = candle_nn::ops::leaky_relu(&layer.forward(&x)?, 0.2)?;
            first.get_or_insert_with(|| x.clone());
        }
        let logits = self.fc.forward(&x.flatten_from(1)?)?.squeeze(D::Minus1)?;
        Ok((logits, first.unwrap_or(x)))
    }
}

/// The condition maps of `progressions`, `(n, CHANNELS, STEPS, COLUMNS)`.
pub fn conditions(progressions: &[Progression]) -> Result<Tensor, Error> {
    let maps: Vec<f32> = progressions.iter().flat_map(Progression::maps).collect();
    Ok(Tensor::from_vec(maps, (progressions.len(), CHANNELS, STEPS, COLUMNS), &Device::Cpu)?)
}

/// Standard normal noise `(n, Z)` from `rng` (Box-Muller).
fn noise(rng: &mut StdRng, n: usize) -> Result<Tensor, Error> {
    let values: Vec<f32> = (0..n * Z).map(|_| normal(rng)).collect();
    Ok(Tensor::from_vec(values, (n, Z), &Device::Cpu)?)
}

fn normal(rng: &mut StdRng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// DCGAN initialisation from a seeded RNG: weights N(0, 0.02), biases 0.
fn init(varmap: &VarMap, rng: &mut StdRng) -> Result<Vec<Var>, Error> {
    let vars = crate::nlu::seeded::sorted(varmap)?;
    for (name, var) in &vars {
        let shape = var.shape().clone();
        let values: Vec<f32> = if name.ends_with("bias") {
            vec![0.0; shape.elem_count()]
        } else {
            (0..shape.elem_count()).map(|_| 0.02 * normal(rng)).collect()
        };
        var.set(&Tensor::from_vec(values, shape, &Device::Cpu)?)?;
    }
    Ok(vars.into_iter().map(|(_, v)| v).collect())
}

fn adam(vars: Vec<Var>) -> Result<AdamW, Error> {
    let params = ParamsAdamW { lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
    Ok(AdamW::new(vars, params)?)
}

/// Trains a generator on `corpus` (melodies with their conditions) for `epochs`; `progress(epoch, epochs,
/// generator loss)` after each. Returns it with the per-epoch losses.
pub fn train(
    corpus: &[Window],
    epochs: usize,
    seed: u64,
    progress: &mut dyn FnMut(usize, usize, f32),
) -> Result<(Generator, Vec<EpochLoss>), Error> {
    if corpus.len() < BATCH {
        return Err(Error::Invalid(format!(
            "the melody corpus has {} windows; at least {BATCH} are needed",
            corpus.len()
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let g = Generator::new()?;
    let d = Discriminator::new()?;
    let mut opt_g = adam(init(&g.varmap, &mut rng)?)?;
    let mut opt_d = adam(init(&d.varmap, &mut rng)?)?;
    let rolls: Vec<Vec<f32>> = corpus.iter().map(|w| w.melody.roll()).collect();
    let mut order: Vec<usize> = (0..rolls.len()).collect();
    let mut history = Vec::with_capacity(epochs);
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let mut sums = [0.0f32; 4];
        let mut batches = 0;
        for chunk in order.chunks_exact(BATCH) {
            let real: Vec<f32> = chunk.iter().flat_map(|&i| rolls[i].iter().copied()).collect();
            let real = Tensor::from_vec(real, (BATCH, 1, STEPS, COLUMNS), &Device::Cpu)?;
            let progressions: Vec<Progression> = chunk.iter().map(|&i| corpus[i].progression.clone()).collect();
            let cond = conditions(&progressions)?;
            let smooth = Tensor::full(0.9f32, BATCH, &Device::Cpu)?;
            let zeros = Tensor::zeros(BATCH, DType::F32, &Device::Cpu)?;
            let ones = Tensor::ones(BATCH, DType::F32, &Device::Cpu)?;

            // Discriminator step: real rolls towards 0.9, generated towards 0.
            let fake = g.probabilities(&noise(&mut rng, BATCH)?, &cond)?.detach();
            let real_logits = d.forward(&real, &cond)?;
            let fake_logits = d.forward(&fake, &cond)?;
            let loss_d = (candle_nn::loss::binary_cross_entropy_with_logit(&real_logits, &smooth)?
                + candle_nn::loss::binary_cross_entropy_with_logit(&fake_logits, &zeros)?)?;
            opt_d.backward_step(&loss_d)?;

            // Generator step: make the discriminator call its rolls real, and
            // (MidiNet's feature matching) match the batch means of the
            // discriminator's first maps and of the rolls themselves.
            let fake = g.probabilities(&noise(&mut rng, BATCH)?, &cond)?;
            let (fake_logits_g, fake_maps) = d.judge(&fake, &cond)?;
            let (_, real_maps) = d.judge(&real, &cond)?;
            let matched = |a: &Tensor, b: &Tensor| -> Result<Tensor, Error> {
                Ok((a.mean(0)? - b.mean(0)?.detach())?.sqr()?.mean_all()?)
            };
            let loss_g = ((candle_nn::loss::binary_cross_entropy_with_logit(&fake_logits_g, &ones)?
                + (matched(&fake_maps, &real_maps)? * FEATURE_MATCHING)?)?
                + (matched(&fake, &real)? * ROLL_MATCHING)?)?;
            let grads = loss_g.backward()?;
            opt_g.step(&grads)?;

            let mean_prob =
                |l: &Tensor| -> Result<f32, Error> { Ok(candle_nn::ops::sigmoid(l)?.mean_all()?.to_scalar::<f32>()?) };
            sums[0] += loss_d.to_scalar::<f32>()?;
            sums[1] += loss_g.to_scalar::<f32>()?;
            sums[2] += mean_prob(&real_logits)?;
            sums[3] += mean_prob(&fake_logits)?;
            batches += 1;
        }
        let n = batches.max(1) as f32;
        let loss = EpochLoss { d: sums[0] / n, g: sums[1] / n, d_real: sums[2] / n, d_fake: sums[3] / n };
        history.push(loss);
        progress(epoch + 1, epochs, loss.g);
    }
    Ok((g, history))
}

/// Parameter counts of the generator, for the model card.
pub fn generator_parameters(g: &Generator) -> Result<usize, Error> {
    let data = g.varmap.data().lock().map_err(|_| Error::Model("variable map lock poisoned".into()))?;
    Ok(data.values().map(|v| v.elem_count()).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_makes_full_rolls_and_gradients_reach_every_layer() {
        let g = Generator::new().unwrap();
        let d = Discriminator::new().unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        init(&g.varmap, &mut rng).unwrap();
        init(&d.varmap, &mut rng).unwrap();
        let z = noise(&mut rng, 2).unwrap();
        let c = conditions(&[progression(), progression().transposed(3)]).unwrap();
        let logits = g.forward(&z, &c).unwrap();
        assert_eq!(logits.dims(), [2, 1, STEPS, COLUMNS]);
        let out = d.forward(&g.probabilities(&z, &c).unwrap(), &c).unwrap();
        assert_eq!(out.dims(), [2]);
        let grads = out.sum_all().unwrap().backward().unwrap();
        let data = g.varmap.data().lock().unwrap();
        for (name, var) in data.iter() {
            let grad = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
            let norm = grad.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0, "zero gradient for generator variable {name}");
        }
    }

    #[test]
    fn composing_is_deterministic_under_a_seed() {
        let g = Generator::new().unwrap();
        init(&g.varmap, &mut StdRng::seed_from_u64(3)).unwrap();
        let p = progression();
        let compose = |seed| g.compose(seed, &p, decode::Decoding::default()).unwrap();
        assert_eq!(compose(7), compose(7));
        assert_eq!(compose(7).steps.len(), STEPS);
    }

    fn progression() -> Progression {
        let lower = vec![[Some(64), Some(55), Some(48)]; STEPS];
        Progression::from_voices(&lower, &[Some(72); STEPS])
    }
}
