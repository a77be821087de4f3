//! A linear-chain CRF over the entity tagger's token scores: learned
//! transition and start scores, trained by the tag sequence's negative
//! log-likelihood (the forward algorithm, batched over right-padded
//! sequences) and read off by Viterbi decoding. Without it the tagger
//! scores each token on its own and only a hard rule joins them.

use candle_core::Tensor;
use candle_nn::{Init, VarBuilder};

use crate::Error;

/// Transition (`from` × `to`) and start scores, one per tag.
pub struct Crf {
    trans: Tensor,
    start: Tensor,
}

/// `log Σ exp` over dimension `dim` (dropped), stable: the maximum comes
/// out first (detached: the sum does not depend on it).
fn log_sum_exp(x: &Tensor, dim: usize) -> Result<Tensor, Error> {
    let m = x.max_keepdim(dim)?.detach();
    Ok((x.broadcast_sub(&m)?.exp()?.sum_keepdim(dim)?.log()? + m)?.squeeze(dim)?)
}

impl Crf {
    /// Scores for `tags` tags, zero at first, as `crf.trans` and `crf.start` in `vb`.
    pub fn new(tags: usize, vb: VarBuilder) -> Result<Self, Error> {
        let trans = vb.get_with_hints((tags, tags), "crf.trans", Init::Const(0.0))?;
        let start = vb.get_with_hints(tags, "crf.start", Init::Const(0.0))?;
        Ok(Self { trans, start })
    }

    /// The summed negative log-likelihood of the gold tag sequences under
    /// `emissions` (batch × tokens × tags); `gold` holds batch × tokens tag
    /// indices (padding included), `lengths` each sequence's real length
    /// (at least 1).
    pub fn nll(&self, emissions: &Tensor, gold: &[u32], lengths: &[usize]) -> Result<Tensor, Error> {
        let (b, t, k) = emissions.dims3()?;
        let dev = emissions.device();
        // The gold path's score: its emissions, its start and its transitions.
        let mut picked = Vec::new();
        let mut firsts = Vec::with_capacity(b);
        let mut moves = Vec::new();
        for (i, &len) in lengths.iter().enumerate() {
            let row = &gold[i * t..i * t + len];
            picked.extend((0..len).map(|j| ((i * t + j) * k) as u32 + row[j]));
            firsts.push(row[0]);
            moves.extend(row.windows(2).map(|w| w[0] * k as u32 + w[1]));
        }
        let flat = emissions.flatten_all()?;
        let mut gold_score = flat.index_select(&Tensor::new(picked.as_slice(), dev)?, 0)?.sum_all()?;
        gold_score = (gold_score + self.start.index_select(&Tensor::new(firsts.as_slice(), dev)?, 0)?.sum_all()?)?;
        if !moves.is_empty() {
            let trans = self.trans.flatten_all()?.index_select(&Tensor::new(moves.as_slice(), dev)?, 0)?;
            gold_score = (gold_score + trans.sum_all()?)?;
        }
        // log Z by the forward algorithm; a finished sequence keeps its scores.
        let mut alpha = emissions.narrow(1, 0, 1)?.squeeze(1)?.broadcast_add(&self.start)?;
        let trans = self.trans.unsqueeze(0)?;
        for step in 1..t {
            let live: Vec<f32> = lengths.iter().map(|&l| f32::from(u8::from(step < l))).collect();
            let live = Tensor::from_vec(live, (b, 1), dev)?;
            let next = log_sum_exp(&alpha.unsqueeze(2)?.broadcast_add(&trans)?, 1)?;
            let next = (next + emissions.narrow(1, step, 1)?.squeeze(1)?)?;
            alpha = (next.broadcast_mul(&live)? + alpha.broadcast_mul(&(1.0 - &live)?)?)?;
        }
        Ok((log_sum_exp(&alpha, 1)?.sum_all()? - gold_score)?)
    }

    /// The transition scores, `from` × `to`.
    pub fn transitions(&self) -> Result<Vec<Vec<f32>>, Error> {
        Ok(self.trans.to_vec2::<f32>()?)
    }

    /// The best tag sequence for one sequence's `emissions` (tokens × tags)
    /// among those `allowed` permits (`allowed(from, to)`, `None`: the start).
    pub fn decode(
        &self,
        emissions: &[Vec<f32>],
        allowed: &dyn Fn(Option<usize>, usize) -> bool,
    ) -> Result<Vec<usize>, Error> {
        let (trans, start) = (self.transitions()?, self.start.to_vec1::<f32>()?);
        let k = start.len();
        let start_score = |s: usize| if allowed(None, s) { start[s] + emissions[0][s] } else { f32::NEG_INFINITY };
        let moves = |from: usize, to: &mut dyn FnMut(usize, f32)| {
            (0..k).filter(|&s| allowed(Some(from), s)).for_each(|s| to(s, trans[from][s]));
        };
        let last =
            |scores: &[f32]| scores.iter().enumerate().fold(0, |best, (i, v)| if *v > scores[best] { i } else { best });
        Ok(crate::util::best_path(k, emissions.len(), start_score, moves, |t, s| emissions[t][s], last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    fn crf(trans: &[[f32; 2]; 2], start: [f32; 2]) -> Crf {
        let varmap = VarMap::new();
        let c = Crf::new(2, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        for (name, value) in [
            ("crf.trans", Tensor::new(trans, &Device::Cpu).unwrap()),
            ("crf.start", Tensor::new(&start, &Device::Cpu).unwrap()),
        ] {
            varmap.data().lock().unwrap()[name].set(&value).unwrap();
        }
        c
    }

    #[test]
    fn the_likelihood_sums_over_every_path() {
        let c = crf(&[[0.5, -1.0], [0.0, 2.0]], [0.3, -0.2]);
        let e = [[1.0f32, 0.0], [0.0, 1.5], [0.7, 0.1]];
        // One sequence of 3, one of 2 padded to 3 (its padding must not count).
        let emissions = Tensor::new(&[e, [e[0], e[1], [9.0, 9.0]]], &Device::Cpu).unwrap();
        let gold = [0u32, 1, 1, 1, 0, 0];
        let score = |path: &[usize], n: usize| {
            let start = [0.3f32, -0.2][path[0]];
            let trans = [[0.5f32, -1.0], [0.0, 2.0]];
            start
                + (0..n).map(|t| e[t][path[t]]).sum::<f32>()
                + (1..n).map(|t| trans[path[t - 1]][path[t]]).sum::<f32>()
        };
        let log_z = |n: usize| {
            let paths = (0..1usize << n).map(|bits| (0..n).map(|t| (bits >> t) & 1).collect::<Vec<_>>());
            paths.map(|p| score(&p, n).exp()).sum::<f32>().ln()
        };
        let want = (log_z(3) - score(&[0, 1, 1], 3)) + (log_z(2) - score(&[1, 0], 2));
        let got = c.nll(&emissions, &gold, &[3, 2]).unwrap().to_scalar::<f32>().unwrap();
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn decoding_weighs_transitions_and_keeps_to_the_allowed_ones() {
        // Emissions prefer 0, 1, 0, but 1 → 0 costs 3: staying on 1 wins.
        let c = crf(&[[0.0, 0.0], [-3.0, 0.0]], [0.0, 0.0]);
        let e = vec![vec![1.0, 0.0], vec![0.0, 1.5], vec![1.0, 0.0]];
        assert_eq!(c.decode(&e, &|_, _| true).unwrap(), [0, 1, 1]);
        // With 1 barred at the start and after 0, only 0s are left.
        assert_eq!(c.decode(&e, &|from, to| to == 0 || from == Some(1)).unwrap(), [0, 0, 0]);
    }
}
