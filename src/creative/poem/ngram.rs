//! The baseline: an interpolated Kneser-Ney bigram model (discount 0.75)
//! over the same vocabulary as the GRU.

use std::collections::HashMap;

/// Counts for Kneser-Ney bigram probabilities.
pub struct KneserNey {
    bigrams: HashMap<(u32, u32), f64>,
    /// Count of each history.
    history: HashMap<u32, f64>,
    /// Distinct followers of each history.
    followers: HashMap<u32, f64>,
    /// Distinct histories of each word (continuation counts).
    continuation: HashMap<u32, f64>,
    distinct_bigrams: f64,
    vocab: usize,
}

const DISCOUNT: f64 = 0.75;

impl KneserNey {
    /// Fits on a token id stream.
    pub fn fit(ids: &[u32], vocab: usize) -> Self {
        let mut bigrams: HashMap<(u32, u32), f64> = HashMap::new();
        for w in ids.windows(2) {
            *bigrams.entry((w[0], w[1])).or_default() += 1.0;
        }
        let (mut history, mut followers, mut continuation) = (HashMap::new(), HashMap::new(), HashMap::new());
        for (&(a, b), &n) in &bigrams {
            *history.entry(a).or_default() += n;
            *followers.entry(a).or_default() += 1.0;
            *continuation.entry(b).or_default() += 1.0;
        }
        let distinct_bigrams = bigrams.len() as f64;
        Self { bigrams, history, followers, continuation, distinct_bigrams, vocab }
    }

    /// P(word | previous).
    pub fn prob(&self, previous: u32, word: u32) -> f64 {
        // Continuation probability, smoothed so unseen words keep some mass.
        let cont = (self.continuation.get(&word).copied().unwrap_or(0.0) + 0.5)
            / (self.distinct_bigrams + 0.5 * self.vocab as f64);
        let Some(&total) = self.history.get(&previous) else {
            return cont;
        };
        let seen = self.bigrams.get(&(previous, word)).copied().unwrap_or(0.0);
        let lambda = DISCOUNT * self.followers.get(&previous).copied().unwrap_or(0.0) / total;
        (seen - DISCOUNT).max(0.0) / total + lambda * cont
    }

    /// Perplexity on a token id stream.
    pub fn perplexity(&self, ids: &[u32]) -> f64 {
        let n = ids.len().saturating_sub(1).max(1) as f64;
        let nll: f64 = ids.windows(2).map(|w| -self.prob(w[0], w[1]).ln()).sum();
        (nll / n).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_sum_to_one_and_seen_pairs_win() {
        let ids = [0, 1, 2, 0, 1, 2, 0, 1, 3];
        let kn = KneserNey::fit(&ids, 4);
        let total: f64 = (0..4).map(|w| kn.prob(0, w)).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(kn.prob(0, 1) > kn.prob(0, 2));
        assert!(kn.perplexity(&[0, 1, 2]) < kn.perplexity(&[0, 3, 0]));
    }
}
