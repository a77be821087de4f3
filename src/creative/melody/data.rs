//! The training corpus: the soprano voice of the J.S. Bach chorales
//! (`Jsb16thSeparated.json`: sixteenth-note steps `[soprano, alto, tenor,
//! bass]`, -1 a rest), cut into four-bar windows one bar apart and
//! transposed by -2..=+3 semitones (keys do not matter to a melody's shape).

use std::path::Path;

use super::{Melody, LOW_PITCH, PITCHES, STEPS, STEPS_PER_BAR};
use crate::Error;

/// The chorales of one split (`train`, `valid`, `test`) as soprano lines.
pub fn sopranos(dir: &Path, split: &str) -> Result<Vec<Vec<Option<u8>>>, Error> {
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
                    let soprano = step.get(0).and_then(|v| v.as_i64()).ok_or_else(|| bad(&path, split, i))?;
                    Ok(u8::try_from(soprano).ok())
                })
                .collect()
        })
        .collect()
}

fn bad(path: &Path, split: &str, i: usize) -> Error {
    Error::Invalid(format!("{}: {split} chorale {i} is not a list of [s, a, t, b] steps", path.display()))
}

/// Four-bar windows starting on every bar line, untransposed.
pub fn windows(lines: &[Vec<Option<u8>>]) -> Vec<Melody> {
    lines
        .iter()
        .flat_map(|line| {
            (0..line.len().saturating_sub(STEPS - 1))
                .step_by(STEPS_PER_BAR)
                .map(move |s| Melody { steps: line[s..s + STEPS].to_vec() })
        })
        .collect()
}

/// Every window in every transposition that keeps it inside the roll.
pub fn augmented(windows: &[Melody]) -> Vec<Melody> {
    let top = LOW_PITCH + PITCHES as u8 - 1;
    let mut out = Vec::new();
    for w in windows {
        for shift in -2i16..=3 {
            let moved: Option<Vec<Option<u8>>> = w
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
                out.push(Melody { steps });
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
        let line: Vec<Option<u8>> = (0..STEPS + 2 * STEPS_PER_BAR).map(|i| Some(60 + (i % 12) as u8)).collect();
        let w = windows(&[line]);
        assert_eq!(w.len(), 3);
        assert_eq!(w[1].steps[0], Some(60 + 4));
        let a = augmented(&w[..1]);
        assert_eq!(a.len(), 6);
        assert!(a.iter().all(|m| m.steps.iter().flatten().all(|p| super::super::row_of(*p).is_some())));
    }
}
