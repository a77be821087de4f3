//! The forward pass over packed sentences.
//!
//! A batch's tokens are stacked into one matrix, one row per token and no
//! padding, so every linear layer is a single matrix product over all of
//! them; attention then runs per sentence. Large batches are split by
//! token count across rayon's threads, each with single-threaded products;
//! a small one keeps one group and shares each product's columns out.

use std::ops::Range;
use std::sync::Arc;

use crate::kernels::{axpy, dot, gelu, layer_norm, softmax};
use crate::matmul::matmul_add;
use crate::weights::{Config, Embeddings, Layer, Linear, Norm};
use crate::Error;

/// Below this many tokens a batch is not split across threads.
const SPLIT_ROWS: usize = 64;

/// A BERT encoder ready for CPU inference.
#[derive(Debug, Clone)]
pub struct Model {
    config: Config,
    embeddings: Arc<Embeddings>,
    layers: Vec<Arc<Layer>>,
}

/// Hidden states of a batch: one row per token, sentences back to back.
#[derive(Debug, Clone)]
pub struct Hidden {
    data: Vec<f32>,
    starts: Vec<usize>,
    width: usize,
}

impl Hidden {
    /// Sentence `i`'s token states, tokens × width, row-major.
    pub fn sentence(&self, i: usize) -> &[f32] {
        &self.data[self.starts[i] * self.width..self.starts[i + 1] * self.width]
    }

    /// How many sentences.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sentence `i`'s mean token state, scaled to unit length.
    pub fn pooled(&self, i: usize) -> Vec<f32> {
        let rows = self.sentence(i);
        let mut mean = vec![0f32; self.width];
        for row in rows.chunks_exact(self.width) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        let count = (rows.len() / self.width).max(1) as f32;
        mean.iter_mut().for_each(|m| *m /= count);
        let norm = dot(&mean, &mean).sqrt().max(1e-12);
        mean.iter_mut().for_each(|m| *m /= norm);
        mean
    }
}

impl Model {
    /// A model from its embeddings and layers, bottom first.
    pub fn new(config: Config, embeddings: Embeddings, layers: Vec<Layer>) -> Result<Self, Error> {
        config.check()?;
        Ok(Self { config, embeddings: Arc::new(embeddings), layers: layers.into_iter().map(Arc::new).collect() })
    }

    /// This model with layers `from..` replaced by `layers` (the rest shared).
    pub fn with_top_layers(&self, from: usize, layers: Vec<Layer>) -> Self {
        let mut out = self.clone();
        out.layers.truncate(from);
        out.layers.extend(layers.into_iter().map(Arc::new));
        out
    }

    /// How the linear layers' weights are held.
    pub fn precision(&self) -> crate::Precision {
        self.config.precision
    }

    /// How many layers.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Token states of `sentences` (token ids) after the first `layers` layers.
    /// An id outside the vocabulary or a sentence longer than the position
    /// table is an error.
    pub fn hidden(&self, sentences: &[&[u32]], layers: usize) -> Result<Hidden, Error> {
        let c = &self.config;
        let mut starts = Vec::with_capacity(sentences.len() + 1);
        starts.push(0);
        for s in sentences {
            if s.len() > c.max_positions {
                return Err(Error::Config(format!("{} tokens, more than {} positions", s.len(), c.max_positions)));
            }
            if let Some(id) = s.iter().find(|&&id| id as usize >= c.vocab) {
                return Err(Error::Config(format!("token id {id} outside the vocabulary of {}", c.vocab)));
            }
            starts.push(starts.last().copied().unwrap_or(0) + s.len());
        }
        let rows = starts.last().copied().unwrap_or(0);
        let mut data = vec![0f32; rows * c.hidden];
        let layers = &self.layers[..layers.min(self.layers.len())];
        self.in_groups(&starts, &mut data, |g, out, threads| {
            let group = &sentences[g];
            self.embed_rows(group, out);
            let lens: Vec<usize> = group.iter().map(|s| s.len()).collect();
            self.run(&lens, layers, out, threads);
        });
        Ok(Hidden { data, starts, width: c.hidden })
    }

    /// Runs layers `from..` over `states`, the token states after the
    /// first `from` layers (as [`Self::hidden`] gives them, possibly from a
    /// model that shares those layers): the rest of the pass, not the start.
    pub fn resume(&self, states: &Hidden, from: usize) -> Result<Hidden, Error> {
        if states.width != self.config.hidden {
            return Err(Error::Config(format!("states {} wide, the model {}", states.width, self.config.hidden)));
        }
        let mut data = states.data.clone();
        let layers = &self.layers[from.min(self.layers.len())..];
        let starts = &states.starts;
        self.in_groups(starts, &mut data, |g, out, threads| {
            let lens: Vec<usize> = g.map(|i| starts[i + 1] - starts[i]).collect();
            self.run(&lens, layers, out, threads);
        });
        Ok(Hidden { data, starts: states.starts.clone(), width: states.width })
    }

    /// Calls `work(sentences, their rows of data, threads)` on groups of
    /// sentences with about equal token counts, one per rayon thread when
    /// the batch is large; a small batch is one group whose products use
    /// every thread.
    fn in_groups(&self, starts: &[usize], data: &mut [f32], work: impl Fn(Range<usize>, &mut [f32], usize) + Sync) {
        let h = self.config.hidden;
        let rows = starts.last().copied().unwrap_or(0);
        let threads = rayon::current_num_threads().max(1);
        let groups = if threads > 1 && rows >= SPLIT_ROWS { split(starts, threads) } else { Vec::new() };
        if groups.len() > 1 {
            let mut rest = data;
            let mut jobs = Vec::with_capacity(groups.len());
            for g in groups {
                let (mine, tail) = rest.split_at_mut((starts[g.end] - starts[g.start]) * h);
                rest = tail;
                jobs.push((g, mine));
            }
            let work = &work;
            rayon::scope(|scope| {
                for (g, out) in jobs {
                    scope.spawn(move |_| work(g, out, 1));
                }
            });
        } else {
            work(0..starts.len() - 1, data, threads);
        }
    }

    /// Sentence embeddings: mean of the last layer's token states, unit length.
    pub fn embed(&self, sentences: &[&[u32]]) -> Result<Vec<Vec<f32>>, Error> {
        let hidden = self.hidden(sentences, self.layers.len())?;
        Ok((0..hidden.len()).map(|i| hidden.pooled(i)).collect())
    }

    /// Writes the embeddings of `sentences` into `x`, one row per token.
    fn embed_rows(&self, sentences: &[&[u32]], x: &mut [f32]) {
        let c = &self.config;
        let h = c.hidden;
        let e = &*self.embeddings;
        let mut row = 0;
        for s in sentences {
            for (pos, &id) in s.iter().enumerate() {
                let out = &mut x[row * h..(row + 1) * h];
                let word = &e.words[id as usize * h..(id as usize + 1) * h];
                let position = &e.positions[pos * h..(pos + 1) * h];
                for ((o, w), p) in out.iter_mut().zip(word).zip(position) {
                    *o = w + p;
                }
                norm_rows(out, &e.norm, c);
                row += 1;
            }
        }
    }

    /// Runs `layers` over one group of sentences of `lens` tokens, whose
    /// packed token states `x` holds (in and out).
    fn run(&self, lens: &[usize], layers: &[Arc<Layer>], x: &mut [f32], threads: usize) {
        #[cfg(target_arch = "x86_64")]
        if crate::matmul::has_avx2() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { self.run_avx2(lens, layers, x, threads) };
        }
        self.run_portable(lens, layers, x, threads)
    }

    /// [`Self::run`] compiled for AVX2, so the inlined row kernels use it.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, lens: &[usize], layers: &[Arc<Layer>], x: &mut [f32], threads: usize) {
        self.run_portable(lens, layers, x, threads)
    }

    #[inline(always)]
    fn run_portable(&self, lens: &[usize], layers: &[Arc<Layer>], x: &mut [f32], threads: usize) {
        let c = &self.config;
        let h = c.hidden;
        let rows = x.len() / h;
        let longest = lens.iter().copied().max().unwrap_or(0);
        let mut qkv = vec![0f32; rows * 3 * h];
        let mut context = vec![0f32; rows * h];
        let mut inner = vec![0f32; rows * c.intermediate];
        let mut scores = vec![0f32; longest];
        for layer in layers {
            affine(&layer.qkv, x, &mut qkv, false, threads);
            attention(&qkv, lens, c, &mut context, &mut scores);
            affine(&layer.attention_out, &context, x, true, threads);
            norm_rows(x, &layer.attention_norm, c);
            affine(&layer.intermediate, x, &mut inner, false, threads);
            gelu(&mut inner);
            affine(&layer.output, &inner, x, true, threads);
            norm_rows(x, &layer.output_norm, c);
        }
    }
}

/// Splits sentences into at most `parts` contiguous groups with about equal token counts.
fn split(starts: &[usize], parts: usize) -> Vec<Range<usize>> {
    let n = starts.len() - 1;
    let total = starts[n];
    let mut groups = Vec::with_capacity(parts);
    let mut from = 0;
    for p in 1..parts {
        let target = total * p / parts;
        let mut to = from;
        while to < n && starts[to + 1] <= target {
            to += 1;
        }
        if to > from {
            groups.push(from..to);
            from = to;
        }
    }
    if from < n {
        groups.push(from..n);
    }
    groups
}

/// `out = x · w + b`, or `out += x · w + b` when `accumulate` (the residual).
#[inline(always)]
fn affine(l: &Linear, x: &[f32], out: &mut [f32], accumulate: bool, threads: usize) {
    for row in out.chunks_exact_mut(l.w.outputs()) {
        if accumulate {
            row.iter_mut().zip(&l.b).for_each(|(o, b)| *o += b);
        } else {
            row.copy_from_slice(&l.b);
        }
    }
    matmul_add(x, &l.w, out, threads);
}

#[inline(always)]
fn norm_rows(x: &mut [f32], n: &Norm, c: &Config) {
    for row in x.chunks_exact_mut(c.hidden) {
        layer_norm(row, &n.weight, &n.bias, c.eps);
    }
}

/// Multi-head self-attention of each sentence over its own tokens.
/// `qkv` rows are `[query | key | value]`; `context` gets the heads side by side.
#[inline(always)]
fn attention(qkv: &[f32], lens: &[usize], c: &Config, context: &mut [f32], scores: &mut [f32]) {
    let h = c.hidden;
    let d = h / c.heads;
    let scale = 1.0 / (d as f32).sqrt();
    let stride = 3 * h;
    let mut start = 0;
    for &t in lens {
        for head in 0..c.heads {
            let (q_at, k_at, v_at) = (head * d, h + head * d, 2 * h + head * d);
            for i in 0..t {
                let q = &qkv[(start + i) * stride + q_at..][..d];
                let row = &mut scores[..t];
                for (j, s) in row.iter_mut().enumerate() {
                    *s = dot(q, &qkv[(start + j) * stride + k_at..][..d]) * scale;
                }
                softmax(row);
                let out = &mut context[(start + i) * h + head * d..][..d];
                out.fill(0.0);
                for (j, &p) in row.iter().enumerate() {
                    axpy(p, &qkv[(start + j) * stride + v_at..][..d], out);
                }
            }
        }
        start += t;
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_balances_tokens_and_covers_every_sentence() {
        let starts = [0, 2, 4, 6, 8, 30, 40];
        let groups = split(&starts, 2);
        assert_eq!(groups, vec![0..4, 4..6]);
        assert_eq!(split(&[0, 5], 2), vec![0..1]);
        assert_eq!(split(&[0, 5, 10, 15, 20], 4), vec![0..1, 1..2, 2..3, 3..4]);
    }
}
