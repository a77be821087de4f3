//! A GRU read without a tensor library: the sentiment head over one
//! sentence's token states, step by step, in the gate order and maths of
//! candle-nn's (and PyTorch's) GRU: r and z from sigmoids, n = tanh(x·Wn +
//! bn + r ⊙ (h·Un + cn)), h' = z ⊙ h + (1 − z) ⊙ n.

use crate::kernels::dot;
use crate::Error;

/// A single-layer GRU and a linear read-out of its mean state.
#[derive(Debug, Clone)]
pub struct GruHead {
    input: usize,
    hidden: usize,
    /// 3·hidden rows of `input` weights (r, z, n), then their biases.
    w_ih: Vec<f32>,
    b_ih: Vec<f32>,
    /// 3·hidden rows of `hidden` weights, then their biases.
    w_hh: Vec<f32>,
    b_hh: Vec<f32>,
    /// `classes` rows of `hidden` weights, then their biases.
    out: Vec<f32>,
    out_bias: Vec<f32>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl GruHead {
    /// From PyTorch-layout weights: `w_ih` (3·hidden × input), `w_hh`
    /// (3·hidden × hidden), their biases (3·hidden), `out` (classes ×
    /// hidden) and its bias (classes).
    pub fn new(
        input: usize,
        hidden: usize,
        (w_ih, b_ih): (Vec<f32>, Vec<f32>),
        (w_hh, b_hh): (Vec<f32>, Vec<f32>),
        (out, out_bias): (Vec<f32>, Vec<f32>),
    ) -> Result<Self, Error> {
        let g = 3 * hidden;
        let classes = out_bias.len();
        let shapes = [
            (w_ih.len(), g * input),
            (b_ih.len(), g),
            (w_hh.len(), g * hidden),
            (b_hh.len(), g),
            (out.len(), classes * hidden),
        ];
        if let Some((got, want)) = shapes.iter().find(|(got, want)| got != want) {
            return Err(Error::Config(format!("GRU head: a weight of {got} values where {want} belong")));
        }
        Ok(Self { input, hidden, w_ih, b_ih, w_hh, b_hh, out, out_bias })
    }

    /// The logits of one sentence from its token states (tokens × input,
    /// row-major): the read-out of the GRU's mean state over the tokens.
    pub fn logits(&self, states: &[f32]) -> Vec<f32> {
        let (n, g) = (self.hidden, 3 * self.hidden);
        let mut h = vec![0f32; n];
        let mut mean = vec![0f32; n];
        let (mut xi, mut hh) = (vec![0f32; g], vec![0f32; g]);
        let steps = states.len() / self.input;
        for x in states.chunks_exact(self.input) {
            for (k, v) in xi.iter_mut().enumerate() {
                *v = dot(&self.w_ih[k * self.input..(k + 1) * self.input], x) + self.b_ih[k];
            }
            for (k, v) in hh.iter_mut().enumerate() {
                *v = dot(&self.w_hh[k * n..(k + 1) * n], &h) + self.b_hh[k];
            }
            for i in 0..n {
                let r = sigmoid(xi[i] + hh[i]);
                let z = sigmoid(xi[n + i] + hh[n + i]);
                let cand = (xi[2 * n + i] + r * hh[2 * n + i]).tanh();
                h[i] = z * h[i] + (1.0 - z) * cand;
                mean[i] += h[i];
            }
        }
        mean.iter_mut().for_each(|m| *m /= steps.max(1) as f32);
        self.out_bias.iter().enumerate().map(|(c, b)| dot(&self.out[c * n..(c + 1) * n], &mean) + b).collect()
    }
}
