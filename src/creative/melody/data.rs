//! The training corpus: the J.S. Bach chorales (`Jsb16thSeparated.json`:
//! sixteenth-note steps `[soprano, alto, tenor, bass]`, -1 a rest), cut
//! into four-bar windows one bar apart. The soprano line is the melody;
//! the lower three voices give its key and a chord per beat
//! ([`super::harmony`]). Windows are transposed by -2..=+3 semitones, the
//! conditions with them.

use std::path::Path;

use super::harmony::Progression;
use super::{Melody, LOW_PITCH, PITCHES, STEPS, STEPS_PER_BAR};
use crate::Error;

/// One step of a chorale: soprano, alto, tenor, bass (`None` rests).
pub type Step = [Option<u8>; 4];

/// A melody and what it sounds over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The soprano's four bars.
    pub melody: Melody,
    /// The key and the lower voices' chord per beat.
    pub progression: Progression,
}

/// The chorales of one split (`train`, `valid`, `test`).
pub fn chorales(dir: &Path, split: &str) -> Result<Vec<Vec<Step>>, Error> {
    let path = dir.join("Jsb16thSeparated.json");
    let raw = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let all: serde_json::Value =
        serde_json::from_str(&raw).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let chorales = all
        .get(split)
        .and_then(|v| v.as_array())
        .ok_or_else(|| Error::Invalid(format!("{}: no {split:?} split", path.display())))?;
    chorales
        .iter()
        .enumerate()
        .map(|(i, chorale)| {
            let steps = chorale.as_array().ok_or_else(|| bad(&path, split, i))?;
            steps
                .iter()
                .map(|step| {
                    let voices = step.as_array().filter(|v| v.len() == 4).ok_or_else(|| bad(&path, split, i))?;
                    let mut out = [None; 4];
                    for (slot, v) in out.iter_mut().zip(voices) {
                        *slot = u8::try_from(v.as_i64().ok_or_else(|| bad(&path, split, i))?).ok();
                    }
                    Ok(out)
                })
                .collect()
        })
        .collect()
}

fn bad(path: &Path, split: &str, i: usize) -> Error {
    Error::Invalid(format!("{}: {split} chorale {i} is not a list of [s, a, t, b] steps", path.display()))
}

/// Four-bar windows starting on every bar line, untransposed.
pub fn windows(chorales: &[Vec<Step>]) -> Vec<Window> {
    chorales
        .iter()
        .flat_map(|chorale| {
            (0..chorale.len().saturating_sub(STEPS - 1)).step_by(STEPS_PER_BAR).map(move |s| {
                let steps = &chorale[s..s + STEPS];
                let soprano: Vec<Option<u8>> = steps.iter().map(|v| v[0]).collect();
                let lower: Vec<[Option<u8>; 3]> = steps.iter().map(|v| [v[1], v[2], v[3]]).collect();
                Window { progression: Progression::from_voices(&lower, &soprano), melody: Melody { steps: soprano } }
            })
        })
        .collect()
}

/// The melodies of `windows`.
pub fn melodies(windows: &[Window]) -> Vec<Melody> {
    windows.iter().map(|w| w.melody.clone()).collect()
}

/// Every window in every transposition that keeps its melody inside the
/// roll.
pub fn augmented(windows: &[Window]) -> Vec<Window> {
    let top = LOW_PITCH + PITCHES as u8 - 1;
    let mut out = Vec::new();
    for w in windows {
        for shift in -2i16..=3 {
            let moved: Option<Vec<Option<u8>>> = w
                .melody
                .steps
                .iter()
                .map(|p| match p {
                    None => Some(None),
                    Some(p) => {
                        let q = i16::from(*p) + shift;
                        (i16::from(LOW_PITCH)..=i16::from(top)).contains(&q).then_some(Some(q as u8))
                    }
                })
                .collect();
            if let Some(steps) = moved {
                out.push(Window { melody: Melody { steps }, progression: w.progression.transposed(shift) });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_on_bar_lines_and_transpose_within_range() {
        let chorale: Vec<Step> =
            (0..STEPS + 2 * STEPS_PER_BAR).map(|i| [Some(60 + (i % 12) as u8), Some(55), Some(52), Some(48)]).collect();
        let w = windows(&[chorale]);
        assert_eq!(w.len(), 3);
        assert_eq!(w[1].melody.steps[0], Some(60 + 4));
        assert_eq!(w[0].progression.beats[0], 1 | 1 << 4 | 1 << 7, "C, E and G below");
        let a = augmented(&w[..1]);
        assert_eq!(a.len(), 6);
        assert!(a.iter().all(|m| m.melody.steps.iter().flatten().all(|p| super::super::row_of(*p).is_some())));
        assert_eq!(a[0].progression, w[0].progression.transposed(-2), "conditions move with the melody");
    }
}
