//! Melodies from a DCGAN, in the MidiNet tradition: a generator of
//! transposed convolutions turns noise into a four-bar piano roll (64
//! sixteenth-note steps × 32 pitches), a convolutional discriminator with a
//! fully connected head judges it, and the two train in alternation. The
//! corpus is the soprano line of the J.S. Bach chorales (public domain).
//!
//! # Layout
//! - [`data`]: the JSB chorales' soprano voice as four-bar piano-roll windows.
//! - [`gan`]: generator, discriminator and adversarial training.
//! - [`metrics`]: MuseGAN/MidiNet-style objective metrics.
//! - [`render`]: MIDI (midly), WAV (hound, a small additive synthesiser)
//!   and piano-roll PNG (plotters).

pub mod data;
pub mod gan;
pub mod metrics;
pub mod render;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Sixteenth-note steps per bar (4/4).
pub const STEPS_PER_BAR: usize = 16;
/// Bars per melody.
pub const BARS: usize = 4;
/// Steps per melody.
pub const STEPS: usize = STEPS_PER_BAR * BARS;
/// Sounding pitches in the roll.
pub const PITCHES: usize = 31;
/// The lowest of them (G3); the highest is C#6.
pub const LOW_PITCH: u8 = 55;
/// Roll columns per step: column 0 is a rest, column `1 + i` pitch
/// `LOW_PITCH + i`. Every step holds exactly one of them, so the generator
/// ends in a softmax per step (as MidiNet does) rather than independent
/// per-pitch sigmoids and a threshold.
pub const COLUMNS: usize = PITCHES + 1;

/// One note, in sixteenth-note steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// MIDI pitch.
    pub pitch: u8,
    /// First step.
    pub start: usize,
    /// Length in steps (at least 1).
    pub steps: usize,
}

/// A monophonic melody: what sounds at each step (`None` is a rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Melody {
    /// One entry per sixteenth-note step.
    pub steps: Vec<Option<u8>>,
}

impl Melody {
    /// Notes: runs of one pitch (the corpus does not tell a held note from
    /// a repeated one; a run is one note).
    pub fn notes(&self) -> Vec<Note> {
        let mut notes: Vec<Note> = Vec::new();
        for (t, step) in self.steps.iter().enumerate() {
            match (step, notes.last_mut()) {
                (Some(p), Some(last)) if last.pitch == *p && last.start + last.steps == t => last.steps += 1,
                (Some(p), _) => notes.push(Note { pitch: *p, start: t, steps: 1 }),
                (None, _) => {}
            }
        }
        notes
    }

    /// The roll as row-major `[step][column]` one-hot values (column 0: rest).
    pub fn roll(&self) -> Vec<f32> {
        let mut roll = vec![0.0; STEPS * COLUMNS];
        for (t, p) in self.steps.iter().enumerate().take(STEPS) {
            let column = p.and_then(row_of).map_or(0, |row| row + 1);
            roll[t * COLUMNS + column] = 1.0;
        }
        roll
    }

    /// Reads a generated roll (`[step][column]` scores): the likeliest column
    /// of each step, a rest when that is column 0.
    pub fn from_roll(roll: &[f32]) -> Self {
        let steps = roll
            .chunks(COLUMNS)
            .map(|row| {
                let (best, _) =
                    row.iter().enumerate().fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a });
                best.checked_sub(1).map(|row| LOW_PITCH + row as u8)
            })
            .collect();
        Self { steps }
    }
}

/// What training measured, kept beside the weights (`meta.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MelodyReport {
    /// Epochs trained.
    pub epochs: usize,
    /// Training windows (after transposition).
    pub windows: usize,
    /// Wall-clock training time.
    pub train_seconds: f64,
    /// Generator parameters.
    pub parameters: usize,
    /// Losses per epoch.
    pub losses: Vec<gan::EpochLoss>,
    /// Metrics of generated melodies (seeds 0..N).
    pub generated: metrics::MelodyMetrics,
    /// Metrics of the held-out chorales' windows.
    pub corpus: metrics::MelodyMetrics,
}

/// The generator's name in provenance metadata.
pub const GENERATOR: &str = "usher melody-dcgan";

/// A trained melody model.
pub struct Composer {
    /// The generator.
    pub generator: gan::Generator,
    /// What its training measured.
    pub report: Option<MelodyReport>,
    /// The first 16 hex digits of the SHA-256 of `generator.safetensors`
    /// (empty before it is saved).
    pub model: String,
}

impl Composer {
    /// Writes `generator.safetensors`, `meta.json` and `loss.png` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        self.generator.save(dir)?;
        if let Some(report) = &self.report {
            render::loss_curves(&report.losses, &dir.join("loss.png"))?;
        }
        crate::util::write_json(&dir.join("meta.json"), &self.report)
    }

    /// Loads a model saved by [`Self::save`]; errors name the bad file.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let report = crate::util::read_json(&dir.join("meta.json"))?;
        let weights = dir.join("generator.safetensors");
        let bytes = std::fs::read(&weights).map_err(|e| Error::io(&weights, e))?;
        let model = crate::util::sha256_hex(&bytes)[..16].to_string();
        Ok(Self { generator: gan::Generator::load(dir)?, report, model })
    }

    /// What a melody made now from `seed` says made it.
    pub fn provenance(&self, seed: u64) -> crate::creative::provenance::Provenance {
        crate::creative::provenance::Provenance::now(GENERATOR, &self.model, seed)
    }

    /// The melody for `seed` (the same seed, the same melody).
    pub fn compose(&self, seed: u64) -> Result<Melody, Error> {
        self.generator.compose(seed)
    }
}

/// The roll row of a MIDI pitch, if in range.
pub fn row_of(pitch: u8) -> Option<usize> {
    let row = usize::from(pitch.checked_sub(LOW_PITCH)?);
    (row < PITCHES).then_some(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_become_notes_and_rolls_round_trip() {
        let mut steps = vec![None; STEPS];
        steps[0] = Some(60);
        steps[1] = Some(60);
        steps[2] = Some(62);
        steps[5] = Some(62);
        let m = Melody { steps };
        let notes = m.notes();
        assert_eq!(
            notes,
            [
                Note { pitch: 60, start: 0, steps: 2 },
                Note { pitch: 62, start: 2, steps: 1 },
                Note { pitch: 62, start: 5, steps: 1 }
            ]
        );
        assert_eq!(Melody::from_roll(&m.roll()), m);
        assert_eq!(m.roll().iter().sum::<f32>(), STEPS as f32, "one column per step");
        assert_eq!(row_of(54), None);
        assert_eq!(row_of(LOW_PITCH + 30), Some(30));
        assert_eq!(row_of(LOW_PITCH + 31), None);
    }

    #[test]
    fn shipped_weights_load_and_corrupt_ones_name_the_file() {
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/melody");
        let composer = Composer::load(&shipped).unwrap();
        assert_eq!(composer.compose(5).unwrap(), composer.compose(5).unwrap());
        assert!(composer.report.as_ref().is_some_and(|r| r.epochs > 0));

        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(shipped.join("meta.json"), dir.path().join("meta.json")).unwrap();
        std::fs::write(dir.path().join("generator.safetensors"), b"not a safetensors file").unwrap();
        let err = Composer::load(dir.path()).err().expect("corrupt weights are refused").to_string();
        assert!(err.contains("generator.safetensors"), "{err}");
        let full = std::fs::read(shipped.join("generator.safetensors")).unwrap();
        std::fs::write(dir.path().join("generator.safetensors"), &full[..full.len() / 2]).unwrap();
        let err = Composer::load(dir.path()).err().expect("truncated weights are refused").to_string();
        assert!(err.contains("generator.safetensors"), "{err}");
    }
}
