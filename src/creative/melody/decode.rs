//! Reading a generated roll as a melody. The generator scores every
//! column of every step; taking each step's best column on its own can
//! leave one-sixteenth fragments the chorales almost never have. Decoding
//! that respects note lengths reads a sequence in which every run of a
//! column, a note or a rest, lasts at least `min_steps` steps: the
//! likeliest such sequence (Viterbi), or one drawn from the scores at a
//! temperature under the same rule (forward filtering, backward sampling),
//! seeded so a seed still gives one melody.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{pitch_of, Melody, COLUMNS};

/// How a roll is read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decoding {
    /// The shortest run allowed, in steps (1: any).
    pub min_steps: usize,
    /// 0: the likeliest sequence; above 0: a sequence drawn from the
    /// scores divided by it.
    #[serde(default)]
    pub temperature: f32,
    /// Only pitches of the key the melody was asked in (and rests).
    #[serde(default)]
    pub in_key: bool,
}

impl Default for Decoding {
    fn default() -> Self {
        Self { min_steps: 2, temperature: 0.0, in_key: false }
    }
}

impl Decoding {
    /// Each step's best column: what a plain argmax reads.
    pub const ARGMAX: Self = Self { min_steps: 1, temperature: 0.0, in_key: false };
}

/// `scores` with the pitches outside `key` ruled out, rests kept.
pub fn keep_to(scores: &mut [f32], key: &super::harmony::Key) {
    for row in scores.chunks_mut(COLUMNS) {
        for (column, score) in row.iter_mut().enumerate() {
            if pitch_of(column).is_some_and(|p| !key.contains(p % 12)) {
                *score = f32::NEG_INFINITY;
            }
        }
    }
}

/// States `(column, run length capped at m)`, numbered `column * m + l - 1`,
/// and the moves between them: a run goes on, or, once it has lasted `m`
/// steps, another column starts.
struct Lattice {
    m: usize,
}

impl Lattice {
    fn states(&self) -> usize {
        COLUMNS * self.m
    }

    fn column(&self, state: usize) -> usize {
        state / self.m
    }

    fn finished(&self, state: usize) -> bool {
        state % self.m == self.m - 1
    }

    /// Calls `to(next)` for every state `from` may move to.
    fn moves(&self, from: usize, mut to: impl FnMut(usize)) {
        let (c, l) = (from / self.m, from % self.m + 1);
        to(c * self.m + (l + 1).min(self.m) - 1);
        if l == self.m {
            for other in (0..COLUMNS).filter(|&o| o != c) {
                to(other * self.m);
            }
        }
    }

    /// The states that may move to `state`, in ascending order: the same
    /// run one step shorter (or, capped at `m`, as long), or, for a run's
    /// first step, every other column's finished run.
    fn predecessors(&self, state: usize) -> Vec<usize> {
        let (c, l) = (state / self.m, state % self.m + 1);
        let mut out = Vec::new();
        if l == 1 {
            out.extend((0..COLUMNS).filter(|&o| o != c).map(|o| o * self.m + self.m - 1));
        }
        if l > 1 {
            out.push(state - 1);
        }
        if l == self.m {
            out.push(state);
        }
        out.sort_unstable();
        out
    }
}

/// The melody `decoding` reads from `scores`, row-major `[step][column]`
/// log-probabilities; `seed` draws the sampled sequences.
pub fn decode(scores: &[f32], decoding: Decoding, seed: u64) -> Melody {
    let lattice = Lattice { m: decoding.min_steps.max(1) };
    let steps = scores.len() / COLUMNS;
    if steps == 0 {
        return Melody { steps: Vec::new() };
    }
    let columns = if decoding.temperature > 0.0 {
        sample(&lattice, scores, steps, decoding.temperature, seed)
    } else {
        viterbi(&lattice, scores, steps)
    };
    Melody { steps: columns.into_iter().map(pitch_of).collect() }
}

fn viterbi(lattice: &Lattice, scores: &[f32], steps: usize) -> Vec<usize> {
    let m = lattice.m;
    let start = |s: usize| if s.is_multiple_of(m) { scores[lattice.column(s)] } else { f32::NEG_INFINITY };
    let moves = |from: usize, to: &mut dyn FnMut(usize, f32)| lattice.moves(from, &mut |s| to(s, 0.0));
    let emit = |t: usize, s: usize| scores[t * COLUMNS + lattice.column(s)];
    let states = crate::util::best_path(lattice.states(), steps, start, moves, emit, |best| last_state(lattice, best));
    states.into_iter().map(|s| lattice.column(s)).collect()
}

/// The best finished state (any state when none can finish: a roll shorter
/// than the minimum).
fn last_state(lattice: &Lattice, scores: &[f32]) -> usize {
    let pick = |states: &mut dyn Iterator<Item = usize>| states.max_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let finished = pick(&mut (0..lattice.states()).filter(|&s| lattice.finished(s)));
    match finished {
        Some(s) if scores[s] > f32::NEG_INFINITY => s,
        _ => pick(&mut (0..lattice.states())).unwrap_or(0),
    }
}

fn sample(lattice: &Lattice, scores: &[f32], steps: usize, temperature: f32, seed: u64) -> Vec<usize> {
    let n = lattice.states();
    // Forward filtering: log of the summed weight of every allowed path
    // ending in each state.
    let mut alpha = vec![vec![f32::NEG_INFINITY; n]; steps];
    for c in 0..COLUMNS {
        alpha[0][c * lattice.m] = scores[c] / temperature;
    }
    for t in 1..steps {
        let row = &scores[t * COLUMNS..(t + 1) * COLUMNS];
        let (before, after) = alpha.split_at_mut(t);
        let (prev, next) = (&before[t - 1], &mut after[0]);
        for from in (0..n).filter(|&f| prev[f] > f32::NEG_INFINITY) {
            lattice.moves(from, |to| next[to] = log_add(next[to], prev[from] + row[lattice.column(to)] / temperature));
        }
    }
    // Backward sampling: the last state, then each one's predecessor, in
    // proportion to the forward weights.
    let mut rng = StdRng::seed_from_u64(seed);
    let last = &alpha[steps - 1];
    let finished: Vec<usize> = (0..n).filter(|&s| lattice.finished(s) && last[s] > f32::NEG_INFINITY).collect();
    let mut at = if finished.is_empty() { last_state(lattice, last) } else { draw(&mut rng, &finished, last) };
    let mut columns = vec![0; steps];
    for t in (0..steps).rev() {
        columns[t] = lattice.column(at);
        if t > 0 {
            let prev = &alpha[t - 1];
            let froms: Vec<usize> =
                lattice.predecessors(at).into_iter().filter(|&f| prev[f] > f32::NEG_INFINITY).collect();
            at = draw(&mut rng, &froms, prev);
        }
    }
    columns
}

fn log_add(a: f32, b: f32) -> f32 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f32::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

/// One of `states`, drawn in proportion to `exp(weights[state])`.
fn draw(rng: &mut StdRng, states: &[usize], weights: &[f32]) -> usize {
    let top = states.iter().map(|&s| weights[s]).fold(f32::NEG_INFINITY, f32::max);
    let w: Vec<f32> = states.iter().map(|&s| (weights[s] - top).exp()).collect();
    let mut x = rng.random::<f32>() * w.iter().sum::<f32>();
    for (&s, wi) in states.iter().zip(&w) {
        if x < *wi {
            return s;
        }
        x -= wi;
    }
    states.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predecessors_are_the_states_whose_moves_reach_a_state() {
        for m in 1..=3 {
            let lattice = Lattice { m };
            for state in 0..lattice.states() {
                let mut scanned = Vec::new();
                for from in 0..lattice.states() {
                    lattice.moves(from, |to| {
                        if to == state {
                            scanned.push(from);
                        }
                    });
                }
                assert_eq!(lattice.predecessors(state), scanned, "m {m}, state {state}");
            }
        }
    }
    use crate::creative::melody::LOW_PITCH;

    /// Scores where each step's `best` column is likely, `runner_up` (if
    /// any) less so everywhere, and the rest unlikely.
    fn scores(best: &[usize], runner_up: Option<usize>) -> Vec<f32> {
        best.iter()
            .flat_map(|&b| {
                (0..COLUMNS).map(move |c| {
                    if c == b {
                        -0.1
                    } else if Some(c) == runner_up {
                        -1.0
                    } else {
                        -5.0
                    }
                })
            })
            .collect()
    }

    fn p(column: u8) -> Option<u8> {
        Some(LOW_PITCH + column - 1)
    }

    #[test]
    fn without_a_minimum_each_step_takes_its_best_column() {
        let m = decode(&scores(&[1, 1, 2, 1, 1, 0], None), Decoding::ARGMAX, 0);
        assert_eq!(m.steps, [p(1), p(1), p(2), p(1), p(1), None]);
    }

    #[test]
    fn every_run_lasts_at_least_the_minimum_and_the_best_such_path_wins() {
        let two = Decoding::default();
        // A lone step of column 2 cannot stand: the run of 1 goes on.
        let m = decode(&scores(&[1, 1, 2, 1, 1, 0, 0], None), two, 0);
        assert_eq!(m.steps, [p(1), p(1), p(1), p(1), p(1), None, None]);
        // Runs that are long enough are read as they are.
        let m = decode(&scores(&[1, 1, 2, 2, 0, 0, 4, 4, 4], None), two, 0);
        assert_eq!(m.steps, [p(1), p(1), p(2), p(2), None, None, p(4), p(4), p(4)]);
        // Four steps each preferring a different column: one run of the
        // column every step likes second beats any broken path.
        let m = decode(&scores(&[1, 2, 5, 6], Some(3)), two, 0);
        assert_eq!(m.steps, [p(3); 4]);
        let m = decode(&scores(&[1, 2, 5, 6], Some(3)), Decoding::ARGMAX, 0);
        assert_eq!(m.notes().len(), 4);
    }

    #[test]
    fn sampled_sequences_keep_the_rule_follow_the_seed_and_cool_to_the_likeliest() {
        let best = [1, 1, 2, 5, 5, 6, 7, 7, 3, 0, 0, 9];
        let hot = Decoding { min_steps: 2, temperature: 3.0, in_key: false };
        let draws: Vec<Melody> = (0..20).map(|seed| decode(&scores(&best, Some(4)), hot, seed)).collect();
        for m in &draws {
            assert_eq!(m.steps.len(), best.len());
            let mut runs = m.steps.chunk_by(|a, b| a == b).map(<[_]>::len);
            assert!(runs.all(|len| len >= 2), "{:?}", m.steps);
        }
        assert_eq!(draws[3], decode(&scores(&best, Some(4)), hot, 3), "the same seed, the same melody");
        assert!(draws.iter().any(|m| *m != draws[0]), "a hot sample varies with the seed");
        let cold = Decoding { min_steps: 2, temperature: 0.01, in_key: false };
        let likeliest = decode(&scores(&best, Some(4)), Decoding::default(), 0);
        for seed in 0..5 {
            assert_eq!(decode(&scores(&best, Some(4)), cold, seed), likeliest);
        }
    }

    #[test]
    fn keeping_to_a_key_rules_out_the_other_pitches() {
        let c_major = super::super::harmony::Key { tonic: 0, mode: super::super::harmony::Mode::Major };
        let mut s = vec![0.0; 3 * COLUMNS];
        keep_to(&mut s, &c_major);
        let allowed: Vec<usize> = (0..COLUMNS).filter(|&c| s[c] == 0.0).collect();
        // The rest, then G A B C D E F G A B C D E F G A B C (G3 to C6).
        assert_eq!(allowed.len(), 1 + 18, "{allowed:?}");
        assert_eq!(s[1 + usize::from(61 - LOW_PITCH)], f32::NEG_INFINITY, "C#4 is out");
        let m = decode(&s, Decoding { min_steps: 2, temperature: 1.0, in_key: true }, 9);
        assert!(m.notes().iter().all(|n| c_major.contains(n.pitch % 12)), "{:?}", m.notes());
    }
}
