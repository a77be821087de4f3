//! Offline evaluation: hit rate and NDCG at 10 of a held-out item ranked
//! against the whole catalogue (items the fan already has excluded), and
//! the peers measured in the same run: most popular, item-kNN over
//! co-occurrence, and item-kNN over content embeddings (the cold-start
//! peer).

use std::collections::HashSet;

use serde::Serialize;

/// HR@10 and NDCG@10 over some cases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Share of cases whose target ranks in the top 10.
    pub hr10: f64,
    /// Mean 1/log2(rank + 2) over cases whose target ranks in the top 10.
    pub ndcg10: f64,
    /// Cases.
    pub cases: usize,
}

impl Metrics {
    /// Metrics from 0-based ranks.
    pub fn from_ranks(ranks: &[usize]) -> Self {
        let n = ranks.len().max(1) as f64;
        let hits = ranks.iter().filter(|&&r| r < 10);
        Self {
            hr10: hits.clone().count() as f64 / n,
            ndcg10: hits.map(|&r| 1.0 / ((r + 2) as f64).log2()).sum::<f64>() / n,
            cases: ranks.len(),
        }
    }
}

/// The 0-based rank of `target` among `candidates` by `scores` (index =
/// item number), ignoring `seen`: items scoring higher, plus ties with a
/// smaller number (so a constant scorer gets no credit for ties).
pub fn rank(scores: &[f32], target: u32, candidates: impl Iterator<Item = u32>, seen: &HashSet<u32>) -> usize {
    let t = scores[target as usize];
    candidates
        .filter(|&i| i != target && !seen.contains(&i))
        .filter(|&i| {
            let s = scores[i as usize];
            s > t || (s == t && i < target)
        })
        .count()
}

/// How often each item occurs in `histories` (index = item number).
pub fn popularity(histories: &[&[u32]], rows: usize) -> Vec<f32> {
    let mut counts = vec![0f32; rows];
    for &i in histories.iter().copied().flatten() {
        counts[i as usize] += 1.0;
    }
    counts
}

/// Item-kNN: cosine similarity between items (by who interacted with both,
/// or by content), each item keeping its `k` most similar neighbours; a
/// fan's score for an item is the sum of its similarities to the fan's
/// items.
pub struct ItemKnn {
    rows: usize,
    /// Per item, its neighbours and similarities.
    neighbours: Vec<Vec<(u32, f32)>>,
}

impl ItemKnn {
    /// From co-occurrence in `histories`.
    pub fn collaborative(histories: &[&[u32]], rows: usize, k: usize) -> Self {
        let mut sets: Vec<Vec<u32>> = histories.iter().map(|h| h.to_vec()).collect();
        for s in &mut sets {
            s.sort_unstable();
            s.dedup();
        }
        let counts = popularity(&sets.iter().map(Vec::as_slice).collect::<Vec<_>>(), rows);
        // Users per item, then co-occurrence row by row (dense scratch row).
        let mut users: Vec<Vec<u32>> = vec![Vec::new(); rows];
        for (u, s) in sets.iter().enumerate() {
            for &i in s {
                users[i as usize].push(u as u32);
            }
        }
        let mut scratch = vec![0f32; rows];
        let neighbours = (0..rows)
            .map(|i| {
                if users[i].is_empty() {
                    return Vec::new();
                }
                let mut touched = Vec::new();
                for &u in &users[i] {
                    for &j in &sets[u as usize] {
                        if j as usize != i {
                            if scratch[j as usize] == 0.0 {
                                touched.push(j);
                            }
                            scratch[j as usize] += 1.0;
                        }
                    }
                }
                let mut row: Vec<(u32, f32)> = touched
                    .iter()
                    .map(|&j| (j, scratch[j as usize] / (counts[i] * counts[j as usize]).sqrt()))
                    .collect();
                for &j in &touched {
                    scratch[j as usize] = 0.0;
                }
                top_k(&mut row, k);
                row
            })
            .collect();
        Self { rows, neighbours }
    }

    /// From cosine similarity of L2-normalised `content` rows (`rows × dim`,
    /// row-major): each item of `targets` keeps its `k` nearest items of
    /// `pool`, for each `k` of `ks` (one similarity pass).
    pub fn content(
        content: &[f32],
        dim: usize,
        targets: &[u32],
        pool: &[u32],
        ks: &[usize],
    ) -> Result<Vec<Self>, crate::Error> {
        use candle_core::{Device, Tensor};
        let rows = content.len() / dim;
        let all = Tensor::from_vec(content.to_vec(), (rows, dim), &Device::Cpu)?;
        let pick = |ids: &[u32]| -> Result<Tensor, crate::Error> {
            Ok(all.index_select(&Tensor::from_vec(ids.to_vec(), ids.len(), &Device::Cpu)?, 0)?)
        };
        let sims = pick(targets)?.matmul(&pick(pool)?.t()?)?.to_vec2::<f32>()?;
        let kmax = ks.iter().copied().max().unwrap_or(0);
        let lists: Vec<Vec<(u32, f32)>> = targets
            .iter()
            .zip(sims)
            .map(|(&t, row)| {
                let mut row: Vec<(u32, f32)> = pool.iter().copied().zip(row).filter(|&(j, _)| j != t).collect();
                top_k(&mut row, kmax);
                row
            })
            .collect();
        // Stored per target; scoring looks up history items, so invert.
        Ok(ks
            .iter()
            .map(|&k| {
                let mut inverted = vec![Vec::new(); rows];
                for (&t, list) in targets.iter().zip(&lists) {
                    for &(j, s) in &list[..list.len().min(k)] {
                        inverted[j as usize].push((t, s));
                    }
                }
                Self { rows, neighbours: inverted }
            })
            .collect())
    }

    /// The same neighbourhoods cut to their `k` most similar (rows are kept sorted).
    pub fn truncated(&self, k: usize) -> Self {
        Self { rows: self.rows, neighbours: self.neighbours.iter().map(|n| n[..n.len().min(k)].to_vec()).collect() }
    }

    /// Scores every item for a history.
    pub fn score(&self, history: &[u32]) -> Vec<f32> {
        let mut scores = vec![0f32; self.rows];
        for &h in history {
            for &(j, s) in &self.neighbours[h as usize] {
                scores[j as usize] += s;
            }
        }
        scores
    }
}

/// Keeps the `k` largest by similarity (ties by item number), descending.
fn top_k(row: &mut Vec<(u32, f32)>, k: usize) {
    row.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    row.truncate(k);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_skip_seen_items_and_break_ties_against_the_target() {
        let scores = [0.0, 0.9, 0.5, 0.7, 0.5];
        let seen: HashSet<u32> = [1].into();
        assert_eq!(rank(&scores, 2, 1..5, &seen), 1); // only item 3 is above
        assert_eq!(rank(&scores, 4, 1..5, &seen), 2); // item 3 and the tie with item 2
        let m = Metrics::from_ranks(&[0, 1, 10]);
        assert!((m.hr10 - 2.0 / 3.0).abs() < 1e-9);
        assert!((m.ndcg10 - (1.0 + 1.0 / 3f64.log2()) / 3.0).abs() < 1e-9);
    }

    #[test]
    fn item_knn_recommends_what_co_occurs() {
        let a: &[u32] = &[1, 2];
        let b: &[u32] = &[1, 2, 3];
        let c: &[u32] = &[3, 4];
        let knn = ItemKnn::collaborative(&[a, b, c], 5, 10);
        let s = knn.score(&[1]);
        assert!(s[2] > s[3] && s[3] > s[4], "{s:?}");
        assert_eq!(s[4], 0.0);
        let pop = popularity(&[a, b, c], 5);
        assert_eq!(pop, vec![0.0, 2.0, 2.0, 2.0, 1.0]);
    }

    #[test]
    fn content_knn_scores_targets_by_their_nearest_pool_items() {
        // Items 1 and 2 point the same way, 3 elsewhere; 4 is the cold target near 1.
        let content = [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.8, 0.6];
        let knn = ItemKnn::content(&content, 2, &[4], &[1, 2, 3], &[1]).unwrap().remove(0);
        assert!(knn.score(&[1])[4] > 0.7);
        assert_eq!(knn.score(&[3])[4], 0.0); // 3 is not among 4's 1 nearest
    }
}
