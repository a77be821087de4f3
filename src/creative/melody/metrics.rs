//! Objective melody metrics in the MuseGAN / MidiNet tradition, computed
//! the same way for generated melodies and for the corpus:
//! - empty-bar rate: bars in which nothing sounds;
//! - used pitch classes per (non-empty) bar;
//! - in-key ratio: notes inside the melody's best-fitting major scale
//!   (which also covers its relative minor);
//! - qualified-note rate: notes lasting at least an eighth (two steps);
//!   MuseGAN's 32nd-note rule is below our sixteenth-note grid, so a lone
//!   sixteenth counts as the fragment here;
//! - pitch range: highest minus lowest pitch, in semitones.

use serde::{Deserialize, Serialize};

use super::{Melody, STEPS_PER_BAR};

/// Mean metrics over a set of melodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MelodyMetrics {
    /// Melodies measured.
    pub melodies: usize,
    /// Share of bars with no sounding note.
    pub empty_bar_rate: f64,
    /// Distinct pitch classes per non-empty bar.
    pub pitch_classes_per_bar: f64,
    /// Share of notes in the best-fitting major scale.
    pub in_key_ratio: f64,
    /// Share of notes at least two steps long.
    pub qualified_note_rate: f64,
    /// Highest minus lowest pitch (semitones), per melody with notes.
    pub pitch_range: f64,
}

impl MelodyMetrics {
    /// The largest relative gap to `target` over the three metrics the
    /// model is held to: pitch classes per bar, in-key ratio and
    /// qualified-note rate.
    pub fn largest_gap(&self, target: &Self) -> f64 {
        let gap = |a: f64, b: f64| if b == 0.0 { a.abs() } else { ((a - b) / b).abs() };
        [
            gap(self.pitch_classes_per_bar, target.pitch_classes_per_bar),
            gap(self.in_key_ratio, target.in_key_ratio),
            gap(self.qualified_note_rate, target.qualified_note_rate),
        ]
        .into_iter()
        .fold(0.0, f64::max)
    }
}

const MAJOR: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];

/// The metrics of `melodies`.
pub fn measure(melodies: &[Melody]) -> MelodyMetrics {
    let (mut bars, mut empty, mut pcs, mut full_bars) = (0usize, 0usize, 0usize, 0usize);
    let (mut notes_total, mut in_key, mut qualified) = (0usize, 0usize, 0usize);
    let (mut range_sum, mut ranged) = (0usize, 0usize);
    for m in melodies {
        for bar in m.steps.chunks(STEPS_PER_BAR) {
            bars += 1;
            let mut classes = [false; 12];
            for p in bar.iter().flatten() {
                classes[usize::from(p % 12)] = true;
            }
            let used = classes.iter().filter(|c| **c).count();
            if used == 0 {
                empty += 1;
            } else {
                pcs += used;
                full_bars += 1;
            }
        }
        let notes = m.notes();
        if notes.is_empty() {
            continue;
        }
        notes_total += notes.len();
        qualified += notes.iter().filter(|n| n.steps >= 2).count();
        in_key += (0..12u8)
            .map(|tonic| notes.iter().filter(|n| MAJOR.contains(&((n.pitch + 12 - tonic) % 12))).count())
            .max()
            .unwrap_or(0);
        let (lo, hi) = notes.iter().fold((u8::MAX, 0), |(lo, hi), n| (lo.min(n.pitch), hi.max(n.pitch)));
        range_sum += usize::from(hi - lo);
        ranged += 1;
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    MelodyMetrics {
        melodies: melodies.len(),
        empty_bar_rate: ratio(empty, bars),
        pitch_classes_per_bar: ratio(pcs, full_bars),
        in_key_ratio: ratio(in_key, notes_total),
        qualified_note_rate: ratio(qualified, notes_total),
        pitch_range: ratio(range_sum, ranged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creative::melody::STEPS;

    #[test]
    fn metrics_of_a_known_melody() {
        // Bar 1: C C D D (eighths); bar 2: F# (a lone sixteenth); bars 3-4 empty.
        let mut steps = vec![None; STEPS];
        for (t, p) in [(0, 60), (1, 60), (2, 62), (3, 62), (16, 66)] {
            steps[t] = Some(p);
        }
        let m = measure(&[Melody { steps }]);
        assert_eq!(m.empty_bar_rate, 0.5);
        assert_eq!(m.pitch_classes_per_bar, 1.5);
        assert_eq!(m.in_key_ratio, 1.0, "C, D and F# all fit G major");
        assert!((m.qualified_note_rate - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(m.pitch_range, 6.0);
    }
}
