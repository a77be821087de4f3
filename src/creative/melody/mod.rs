//! Melodies from a conditional DCGAN, in the MidiNet tradition: a
//! generator of transposed convolutions turns noise, a key and a chord per
//! beat into a four-bar piano roll (64 sixteenth-note steps × 32 columns),
//! a convolutional discriminator judges roll and conditions together, and
//! the two train in alternation. The corpus is the J.S. Bach chorales
//! (public domain): the soprano line is the melody, the lower voices its
//! harmony.
//!
//! The path of one request: "something sad in D minor" → [`harmony::Mood`]
//! (minor, tonic D) → the seed picks one of the chorales' minor
//! progressions, moved to D → [`gan::Generator`] scores the roll →
//! [`decode`] reads the likeliest melody whose notes last at least an
//! eighth → [`render`] writes the files.
//!
//! # Layout
//! - [`data`]: the JSB chorales as four-bar windows: melody and progression.
//! - [`harmony`]: keys, chords per beat, the condition maps, and moods.
//! - [`gan`]: generator, discriminator and adversarial training.
//! - [`decode`]: a roll's scores to notes that respect note lengths.
//! - [`metrics`]: MuseGAN/MidiNet-style objective metrics.
//! - [`render`]: MIDI (midly), WAV (hound, a small additive synthesiser)
//!   and piano-roll PNG (plotters).

pub mod data;
pub mod decode;
pub mod gan;
pub mod harmony;
pub mod metrics;
pub mod render;

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::Error;
use decode::Decoding;
use harmony::{Key, Mood, Progression};

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
    /// How rolls are read, chosen on the validation chorales.
    #[serde(default)]
    pub decoding: Decoding,
    /// Each decoding tried on the validation chorales, with its metrics.
    #[serde(default)]
    pub validation: Vec<Tried>,
}

/// One decoding tried on the validation chorales.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tried {
    /// The decoding.
    pub decoding: Decoding,
    /// Metrics of melodies made with it.
    pub metrics: metrics::MelodyMetrics,
    /// Their largest relative gap to the validation chorales
    /// ([`metrics::MelodyMetrics::largest_gap`]).
    pub gap: f64,
}

/// The decodings tried on the validation chorales: each step's best
/// column, then notes of at least an eighth read as the likeliest
/// sequence or drawn at temperatures from 0.5 to 1, each from all pitches
/// or only those of the key asked for.
pub fn decodings() -> Vec<Decoding> {
    let mut all = vec![Decoding::ARGMAX];
    for in_key in [false, true] {
        for temperature in [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] {
            all.push(Decoding { min_steps: 2, temperature, in_key });
        }
    }
    all
}

/// What an evaluation against held-out chorales found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Every decoding tried on the validation chorales.
    pub validation: Vec<Tried>,
    /// The one with the smallest gap there.
    pub decoding: Decoding,
    /// Metrics of melodies made with it (seeds 0..N, as served).
    pub generated: metrics::MelodyMetrics,
    /// Metrics of the test chorales' windows.
    pub corpus: metrics::MelodyMetrics,
}

/// The generator's name in provenance metadata.
pub const GENERATOR: &str = "usher melody-dcgan";

/// A melody and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composition {
    /// The notes.
    pub melody: Melody,
    /// The key its notes are in (the one asked for, when one was).
    pub key: Key,
}

/// A trained melody model.
pub struct Composer {
    /// The generator.
    pub generator: gan::Generator,
    /// The training chorales' progressions, in their own keys; a request
    /// picks one (`progressions.json`).
    pub progressions: Vec<Progression>,
    /// How its rolls are read (the report's choice).
    pub decoding: Decoding,
    /// What its training measured.
    pub report: Option<MelodyReport>,
    /// The first 16 hex digits of the SHA-256 of `generator.safetensors`
    /// (empty before it is saved).
    pub model: String,
}

impl Composer {
    /// Writes `generator.safetensors`, `progressions.json`, `meta.json` and
    /// `loss.png` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        self.generator.save(dir)?;
        crate::util::write_json(&dir.join("progressions.json"), &self.progressions)?;
        if let Some(report) = &self.report {
            render::loss_curves(&report.losses, &dir.join("loss.png"))?;
        }
        crate::util::write_json(&dir.join("meta.json"), &self.report)
    }

    /// Loads a model saved by [`Self::save`]; errors name the bad file.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let report: Option<MelodyReport> = crate::util::read_json(&dir.join("meta.json"))?;
        let weights = dir.join("generator.safetensors");
        let bytes = std::fs::read(&weights).map_err(|e| Error::io(&weights, e))?;
        let model = crate::util::sha256_hex(&bytes)[..16].to_string();
        let progressions: Vec<Progression> = crate::util::read_json(&dir.join("progressions.json"))?;
        let path = dir.join("progressions.json");
        if progressions.is_empty() || progressions.iter().any(|p| p.beats.len() != harmony::BEATS) {
            return Err(Error::Invalid(format!(
                "{}: expected progressions of {} beats each",
                path.display(),
                harmony::BEATS
            )));
        }
        let decoding = report.as_ref().map(|r| r.decoding).unwrap_or_default();
        Ok(Self { generator: gan::Generator::load(dir)?, progressions, decoding, report, model })
    }

    /// The melodies of seeds `0..n` with no mood, as `usher serve` makes them.
    pub fn served(&self, n: u64) -> Result<Vec<Melody>, Error> {
        (0..n).map(|seed| self.compose(seed, Mood::default()).map(|c| c.melody)).collect()
    }

    /// Tries each of [`decodings`] on `n` melodies against the `valid`
    /// windows, keeps the closest (it stays this composer's decoding), and
    /// measures its melodies against the `test` windows.
    pub fn evaluate(&mut self, valid: &[Melody], test: &[Melody], n: u64) -> Result<Evaluation, Error> {
        let target = metrics::measure(valid);
        let mut validation = Vec::new();
        for decoding in decodings() {
            self.decoding = decoding;
            let m = metrics::measure(&self.served(n)?);
            validation.push(Tried { decoding, metrics: m, gap: m.largest_gap(&target) });
        }
        let chosen = validation.iter().min_by(|a, b| a.gap.total_cmp(&b.gap)).map(|t| t.decoding);
        self.decoding = chosen.unwrap_or_default();
        Ok(Evaluation {
            validation,
            decoding: self.decoding,
            generated: metrics::measure(&self.served(n)?),
            corpus: metrics::measure(test),
        })
    }

    /// What a melody made now from `seed` says made it.
    pub fn provenance(&self, seed: u64) -> crate::creative::provenance::Provenance {
        crate::creative::provenance::Provenance::now(GENERATOR, &self.model, seed)
    }

    /// The melody for `seed` in `mood` (the same two, the same melody).
    /// The seed picks a progression of the mood's mode (any mode when it
    /// names none), moved to the mood's tonic when it names one, and the
    /// generator writes over it. The generator does not always keep to the
    /// key it is given, so the melody's own key is read from its notes
    /// (Krumhansl-Schmuckler): a mood that names a mode takes the first of
    /// up to [`TRIES`] melodies in that mode, and one that names a tonic
    /// has it moved there. When no try has the mode, the last is decoded
    /// from the progression's key alone.
    pub fn compose(&self, seed: u64, mood: Mood) -> Result<Composition, Error> {
        let mut last = None;
        for attempt in 0..TRIES {
            let seed = seed.wrapping_add(attempt.wrapping_mul(0x9e37_79b9));
            let progression = pick(&self.progressions, seed, mood);
            let melody = self.generator.compose(seed, &progression, self.decoding)?;
            let key = key_of(&melody).unwrap_or(progression.key);
            if mood.mode.is_none_or(|m| m == key.mode) {
                return Ok(match mood.tonic {
                    Some(tonic) => {
                        let moved = transpose(&melody, nearest_shift(key.tonic, tonic));
                        Composition { melody: moved, key: Key { tonic, ..key } }
                    }
                    None => Composition { melody, key },
                });
            }
            last = Some((seed, progression));
        }
        let (seed, progression) = last.expect("TRIES > 0");
        let kept = Decoding { in_key: true, ..self.decoding };
        let melody = self.generator.compose(seed, &progression, kept)?;
        Ok(Composition { melody, key: progression.key })
    }
}

/// Melodies a mood that names a mode may take before the key is imposed.
pub const TRIES: u64 = 8;

/// The key a melody's notes fit best, weighted by length; `None` without
/// notes.
pub fn key_of(melody: &Melody) -> Option<Key> {
    let mut histogram = [0.0; 12];
    for n in melody.notes() {
        histogram[usize::from(n.pitch % 12)] += n.steps as f64;
    }
    (histogram.iter().sum::<f64>() > 0.0).then(|| Key::estimate(&histogram))
}

/// The shift in -5..=6 semitones that moves pitch class `from` to `to`.
fn nearest_shift(from: u8, to: u8) -> i16 {
    let up = (i16::from(to) - i16::from(from)).rem_euclid(12);
    if up > 6 {
        up - 12
    } else {
        up
    }
}

/// `melody` moved by `shift` semitones, an octave further where that keeps
/// it inside the roll; notes still outside are folded in by octaves.
fn transpose(melody: &Melody, shift: i16) -> Melody {
    let (lo, hi) = (i16::from(LOW_PITCH), i16::from(LOW_PITCH) + PITCHES as i16 - 1);
    let pitches: Vec<i16> = melody.steps.iter().flatten().map(|&p| i16::from(p)).collect();
    let fits = |s: i16| pitches.iter().all(|p| (lo..=hi).contains(&(p + s)));
    let shift = [shift, shift - 12, shift + 12].into_iter().find(|&s| fits(s)).unwrap_or(shift);
    let fold = |mut p: i16| {
        while p < lo {
            p += 12;
        }
        while p > hi {
            p -= 12;
        }
        p as u8
    };
    Melody { steps: melody.steps.iter().map(|p| p.map(|p| fold(i16::from(p) + shift))).collect() }
}

/// The progression `seed` picks for `mood` from `table`, in the mood's
/// tonic (moved by at most a tritone) or its own key.
pub fn pick(table: &[Progression], seed: u64, mood: Mood) -> Progression {
    let fitting: Vec<&Progression> = table.iter().filter(|p| mood.mode.is_none_or(|m| p.key.mode == m)).collect();
    let pool = if fitting.is_empty() { table.iter().collect() } else { fitting };
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6d65_6c6f_6479);
    let Some(chosen) = pool.get(rng.random_range(0..pool.len().max(1))) else {
        return Progression { key: Key { tonic: 0, mode: harmony::Mode::Major }, beats: vec![0; harmony::BEATS] };
    };
    match mood.tonic {
        Some(tonic) => chosen.transposed(nearest_shift(chosen.key.tonic, tonic)),
        None => (*chosen).clone(),
    }
}

/// The MIDI pitch of a roll column (`None` for column 0, the rest).
pub fn pitch_of(column: usize) -> Option<u8> {
    column.checked_sub(1).map(|row| LOW_PITCH + row as u8)
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
        assert_eq!(decode::decode(&m.roll(), Decoding::ARGMAX, 0), m);
        assert_eq!(m.roll().iter().sum::<f32>(), STEPS as f32, "one column per step");
        assert_eq!(row_of(54), None);
        assert_eq!(row_of(LOW_PITCH + 30), Some(30));
        assert_eq!(row_of(LOW_PITCH + 31), None);
    }

    #[test]
    fn moods_and_keys_reach_the_shipped_model() {
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/melody");
        let composer = Composer::load(&shipped).unwrap();
        let (mut inside, mut all) = (0, 0);
        for seed in 0..20 {
            let sad = composer.compose(seed, Mood::parse("something sad in D minor")).unwrap();
            assert_eq!(sad.key.to_string(), "D minor");
            let notes = sad.melody.notes();
            assert!(notes.len() >= 4, "seed {seed}: {notes:?}");
            inside += notes.iter().filter(|n| sad.key.contains(n.pitch % 12)).count();
            all += notes.len();
            let happy = composer.compose(seed, Mood::parse("a happy tune")).unwrap();
            assert_eq!(happy.key.mode, harmony::Mode::Major, "seed {seed}");
            assert_ne!(happy.melody, sad.melody);
        }
        let share = inside as f64 / all as f64;
        assert!(share >= 0.85, "{:.1} % of the notes asked in D minor are in it", 100.0 * share);
        // The seed alone: the key reported is the one the notes fit.
        let any = composer.compose(3, Mood::default()).unwrap();
        assert_eq!(key_of(&any.melody), Some(any.key));
    }

    #[test]
    fn melodies_move_to_a_key_inside_the_roll() {
        let melody = Melody { steps: vec![Some(LOW_PITCH + 28), None, Some(LOW_PITCH + 30), Some(LOW_PITCH)] };
        let up = transpose(&melody, 4);
        assert!(up.steps.iter().flatten().all(|&p| row_of(p).is_some()), "{up:?}");
        assert_eq!(up.steps[0], Some(LOW_PITCH + 28 + 4 - 12), "an octave lower fits all but the lowest");
        assert_eq!(nearest_shift(9, 2), 5);
        assert_eq!(nearest_shift(2, 9), -5);
        assert_eq!(nearest_shift(0, 6), 6);
    }

    #[test]
    fn shipped_weights_load_and_corrupt_ones_name_the_file() {
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/melody");
        let composer = Composer::load(&shipped).unwrap();
        assert_eq!(composer.compose(5, Mood::default()).unwrap(), composer.compose(5, Mood::default()).unwrap());
        assert!(composer.report.as_ref().is_some_and(|r| r.epochs > 0));

        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(shipped.join("meta.json"), dir.path().join("meta.json")).unwrap();
        std::fs::copy(shipped.join("progressions.json"), dir.path().join("progressions.json")).unwrap();
        std::fs::write(dir.path().join("generator.safetensors"), b"not a safetensors file").unwrap();
        let err = Composer::load(dir.path()).err().expect("corrupt weights are refused").to_string();
        assert!(err.contains("generator.safetensors"), "{err}");
        let full = std::fs::read(shipped.join("generator.safetensors")).unwrap();
        std::fs::write(dir.path().join("generator.safetensors"), &full[..full.len() / 2]).unwrap();
        let err = Composer::load(dir.path()).err().expect("truncated weights are refused").to_string();
        assert!(err.contains("generator.safetensors"), "{err}");
    }
}
