//! What a melody is conditioned on, in MidiNet's manner: a key (tonic and
//! mode) and a chord on every beat. Both come from the chorales' lower
//! voices (alto, tenor, bass) in training; at generation a fan's mood or
//! named key picks the mode and tonic, and the seed picks a progression
//! of that mode from the chorales, moved to the tonic.
//!
//! To the networks both are pictures the size of the roll, so the
//! convolutions see them lined up with the pitches they are about:
//! channel 0 marks the columns whose pitch class sounds in the current
//! beat's chord, channel 1 those in the key's scale (for minor keys the
//! natural minor plus the raised seventh).

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::{COLUMNS, STEPS};

/// Steps per beat (a quarter note is four sixteenths).
pub const STEPS_PER_BEAT: usize = 4;
/// Beats per melody.
pub const BEATS: usize = STEPS / STEPS_PER_BEAT;
/// Condition channels (chord, scale).
pub const CHANNELS: usize = 2;

/// Major or minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Major.
    Major,
    /// Minor.
    Minor,
}

/// A key: tonic pitch class (0 = C) and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Key {
    /// Pitch class of the tonic, 0..12.
    pub tonic: u8,
    /// Major or minor.
    pub mode: Mode,
}

const NAMES: [&str; 12] = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
const MAJOR_SCALE: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];
/// Natural minor with the raised seventh the chorales use at cadences.
const MINOR_SCALE: [u8; 8] = [0, 2, 3, 5, 7, 8, 10, 11];
// Krumhansl-Kessler key profiles.
const MAJOR_PROFILE: [f64; 12] = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
const MINOR_PROFILE: [f64; 12] = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];

impl Key {
    /// Whether pitch class `pc` is in the key's scale.
    pub fn contains(&self, pc: u8) -> bool {
        let degree = (pc % 12 + 12 - self.tonic) % 12;
        match self.mode {
            Mode::Major => MAJOR_SCALE.contains(&degree),
            Mode::Minor => MINOR_SCALE.contains(&degree),
        }
    }

    /// The key moved up by `shift` semitones.
    pub fn transposed(self, shift: i16) -> Self {
        Self { tonic: (i16::from(self.tonic) + shift).rem_euclid(12) as u8, ..self }
    }

    /// The best fit to a duration-weighted pitch-class histogram
    /// (Krumhansl-Schmuckler: the profile rotation with the highest
    /// correlation).
    pub fn estimate(histogram: &[f64; 12]) -> Self {
        let mut best = (f64::MIN, Key { tonic: 0, mode: Mode::Major });
        for (mode, profile) in [(Mode::Major, &MAJOR_PROFILE), (Mode::Minor, &MINOR_PROFILE)] {
            for tonic in 0..12u8 {
                let rotated: Vec<f64> = (0..12).map(|pc| profile[(pc + 12 - usize::from(tonic)) % 12]).collect();
                let r = correlation(histogram, &rotated);
                if r > best.0 {
                    best = (r, Key { tonic, mode });
                }
            }
        }
        best.1
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.mode {
            Mode::Major => "major",
            Mode::Minor => "minor",
        };
        write!(f, "{} {mode}", NAMES[usize::from(self.tonic)])
    }
}

fn correlation(a: &[f64; 12], b: &[f64]) -> f64 {
    let (ma, mb) = (a.iter().sum::<f64>() / 12.0, b.iter().sum::<f64>() / 12.0);
    let (mut num, mut da, mut db) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        num += (x - ma) * (y - mb);
        da += (x - ma) * (x - ma);
        db += (y - mb) * (y - mb);
    }
    if da == 0.0 || db == 0.0 {
        0.0
    } else {
        num / (da * db).sqrt()
    }
}

/// A key and the pitch classes sounding on each beat (bit `pc` of each
/// mask), what one melody is conditioned on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progression {
    /// The key.
    pub key: Key,
    /// One 12-bit chord mask per beat ([`BEATS`]).
    pub beats: Vec<u16>,
}

impl Progression {
    /// Reads a window of the lower voices (`[alto, tenor, bass]` per step)
    /// and of all four (for the key).
    pub fn from_voices(lower: &[[Option<u8>; 3]], soprano: &[Option<u8>]) -> Self {
        let mut histogram = [0.0; 12];
        for p in lower.iter().flatten().flatten().chain(soprano.iter().flatten()) {
            histogram[usize::from(p % 12)] += 1.0;
        }
        let beats = lower
            .chunks(STEPS_PER_BEAT)
            .map(|beat| beat.iter().flatten().flatten().fold(0u16, |mask, p| mask | 1 << (p % 12)))
            .collect();
        Self { key: Key::estimate(&histogram), beats }
    }

    /// The progression moved up by `shift` semitones.
    pub fn transposed(&self, shift: i16) -> Self {
        let rotate = |m: u16| -> u16 {
            (0..12).filter(|pc| m & (1 << pc) != 0).fold(0, |acc, pc: i16| acc | 1 << (pc + shift).rem_euclid(12))
        };
        Self { key: self.key.transposed(shift), beats: self.beats.iter().map(|&m| rotate(m)).collect() }
    }

    /// The condition maps, row-major `[channel][step][column]`.
    pub fn maps(&self) -> Vec<f32> {
        let mut maps = vec![0.0; CHANNELS * STEPS * COLUMNS];
        for t in 0..STEPS {
            let chord = self.beats.get(t / STEPS_PER_BEAT).copied().unwrap_or(0);
            for column in 1..COLUMNS {
                let Some(pc) = super::pitch_of(column).map(|p| p % 12) else { continue };
                if chord & (1 << pc) != 0 {
                    maps[t * COLUMNS + column] = 1.0;
                }
                if self.key.contains(pc) {
                    maps[(STEPS + t) * COLUMNS + column] = 1.0;
                }
            }
        }
        maps
    }
}

/// What a fan asked for: a mode and a tonic where they said one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mood {
    /// "happy" → major, "sad" → minor, or the named key's mode.
    pub mode: Option<Mode>,
    /// The named key's tonic.
    pub tonic: Option<u8>,
}

const MAJOR_WORDS: &[&str] = &[
    "happy",
    "cheerful",
    "joyful",
    "joyous",
    "bright",
    "upbeat",
    "uplifting",
    "sunny",
    "playful",
    "festive",
    "triumphant",
    "hopeful",
    "merry",
    "fun",
    "celebratory",
    "jolly",
];
const MINOR_WORDS: &[&str] = &[
    "sad",
    "melancholy",
    "melancholic",
    "gloomy",
    "dark",
    "mournful",
    "somber",
    "sombre",
    "wistful",
    "lonely",
    "tragic",
    "haunting",
    "sorrowful",
    "moody",
    "blue",
    "bittersweet",
    "eerie",
    "spooky",
];

/// "in D", "in E flat major", "F# minor", "c minor": a letter, an
/// accidental, a mode. Without a mode word the letter must be a capital
/// after "in", so "in a happy mood" names no key.
static KEY_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?: \b[Ii][Nn]\s+ (?P<letter>[A-G]) (?P<acc>\#|♯|b\b|♭|-?\s?(?i:sharp|flat))? (?:\s*(?P<mode>(?i:major|minor)))? (?:\b|$|[\s,.!?;:)])
          | \b (?P<letter2>[A-Ga-g]) (?P<acc2>\#|♯|b|♭|-?\s?(?i:sharp|flat))? \s+ (?P<mode2>(?i:major|minor)) \b )",
    )
    .expect("valid key regex")
});

impl Mood {
    /// Reads a request such as "a happy tune" or "something sad in D minor".
    /// A named key's mode wins over a mood word; "in D" alone is major.
    pub fn parse(text: &str) -> Self {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let worded = if words.iter().any(|w| MINOR_WORDS.contains(w)) {
            Some(Mode::Minor)
        } else if words.iter().any(|w| MAJOR_WORDS.contains(w)) {
            Some(Mode::Major)
        } else {
            None
        };
        let Some(c) = KEY_NAME.captures(text) else {
            return Self { mode: worded, tonic: None };
        };
        let letter = c.name("letter").or(c.name("letter2")).map_or("C", |m| m.as_str());
        let accidental = c.name("acc").or(c.name("acc2")).map_or("", |m| m.as_str()).to_lowercase();
        let natural = match letter.to_ascii_uppercase().as_str() {
            "C" => 0,
            "D" => 2,
            "E" => 4,
            "F" => 5,
            "G" => 7,
            "A" => 9,
            _ => 11,
        };
        let shift = if accidental.contains('#') || accidental.contains('♯') || accidental.contains("sharp") {
            1
        } else if accidental.is_empty() {
            0
        } else {
            11
        };
        let named = c.name("mode").or(c.name("mode2")).map(|m| {
            if m.as_str().eq_ignore_ascii_case("minor") {
                Mode::Minor
            } else {
                Mode::Major
            }
        });
        Self { mode: named.or(worded).or(Some(Mode::Major)), tonic: Some((natural + shift) % 12) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(pitches: &[u8]) -> [f64; 12] {
        let mut h = [0.0; 12];
        for p in pitches {
            h[usize::from(p % 12)] += 1.0;
        }
        h
    }

    #[test]
    fn keys_are_estimated_from_what_sounds() {
        let c_major = Key::estimate(&histogram(&[60, 62, 64, 65, 67, 69, 71, 72, 60, 64, 67, 60]));
        assert_eq!(c_major, Key { tonic: 0, mode: Mode::Major });
        // A harmonic minor, leaning on A, C and E.
        let a_minor = Key::estimate(&histogram(&[57, 59, 60, 62, 64, 65, 68, 69, 57, 60, 64, 57, 64, 68]));
        assert_eq!(a_minor, Key { tonic: 9, mode: Mode::Minor });
        assert_eq!(a_minor.to_string(), "A minor");
        assert!(a_minor.contains(8) && !a_minor.contains(1), "G# is in A minor, C# is not");
        assert_eq!(a_minor.transposed(5).to_string(), "D minor");
    }

    #[test]
    fn progressions_transpose_and_become_maps_lined_up_with_pitches() {
        let lower = vec![[Some(64), Some(55), Some(48)]; STEPS];
        let soprano = vec![Some(72); STEPS];
        let p = Progression::from_voices(&lower, &soprano);
        assert_eq!(p.beats.len(), BEATS);
        assert_eq!(p.beats[0], 1 | 1 << 4 | 1 << 7, "C, E and G");
        assert_eq!(p.key, Key { tonic: 0, mode: Mode::Major });
        let d = p.transposed(2);
        assert_eq!(d.beats[3], 1 << 2 | 1 << 6 | 1 << 9, "D, F# and A");
        assert_eq!(d.key.tonic, 2);
        let maps = p.maps();
        let column = |pitch: u8| usize::from(pitch - super::super::LOW_PITCH) + 1;
        assert_eq!(maps[5 * COLUMNS + column(60)], 1.0, "C sounds in the chord");
        assert_eq!(maps[5 * COLUMNS + column(62)], 0.0, "D does not");
        assert_eq!(maps[(STEPS + 5) * COLUMNS + column(62)], 1.0, "D is in the scale");
        assert_eq!(maps[(STEPS + 5) * COLUMNS + column(61)], 0.0, "C# is not");
        assert_eq!(maps[5 * COLUMNS], 0.0, "the rest column carries nothing");
    }

    #[test]
    fn moods_and_named_keys_become_conditions() {
        let cases: &[(&str, Option<Mode>, Option<u8>)] = &[
            ("a happy tune", Some(Mode::Major), None),
            ("something sad in D minor", Some(Mode::Minor), Some(2)),
            ("play me a melody", None, None),
            ("a melody in E flat major", Some(Mode::Major), Some(3)),
            ("a gloomy one in F#", Some(Mode::Minor), Some(6)),
            ("in a happy mood, please", Some(Mode::Major), None),
            ("c minor please", Some(Mode::Minor), Some(0)),
            ("a cheerful tune in Bb", Some(Mode::Major), Some(10)),
            ("compose something in G", Some(Mode::Major), Some(7)),
        ];
        for (text, mode, tonic) in cases {
            let m = Mood::parse(text);
            assert_eq!((m.mode, m.tonic), (*mode, *tonic), "{text}");
        }
    }
}
