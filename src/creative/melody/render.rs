//! A melody as files fans can use: Standard MIDI (midly), a WAV rendered by
//! a small additive synthesiser (hound), and a piano-roll PNG (plotters),
//! each saying what made it ([`crate::creative::provenance`]); the WAV
//! carries the watermark ([`crate::creative::watermark`]).

use std::path::{Path, PathBuf};

use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, Track, TrackEvent, TrackEventKind};
use plotters::prelude::*;

use super::{Melody, LOW_PITCH, PITCHES, STEPS};
use crate::creative::provenance::{self, Provenance};
use crate::creative::watermark;
use crate::Error;

/// Beats per minute of the rendered melody.
pub const TEMPO_BPM: u32 = 96;
/// WAV sample rate (CD audio).
pub const SAMPLE_RATE: u32 = 44_100;
const TICKS_PER_QUARTER: u16 = 480;
const TICKS_PER_STEP: u32 = TICKS_PER_QUARTER as u32 / 4;

/// The three files written for one melody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// `melody.mid`.
    pub midi: PathBuf,
    /// `melody.wav`.
    pub wav: PathBuf,
    /// `melody.png`.
    pub png: PathBuf,
}

/// Writes `melody.mid`, `melody.wav` (marked with `key`) and `melody.png`
/// into `dir` (created if needed), each with `made` in its metadata; an
/// unwritable directory is an error naming it.
pub fn write_all(melody: &Melody, dir: &Path, made: &Provenance, key: &str) -> Result<Files, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let files = Files { midi: dir.join("melody.mid"), wav: dir.join("melody.wav"), png: dir.join("melody.png") };
    std::fs::write(&files.midi, midi(melody, made)?).map_err(|e| Error::io(&files.midi, e))?;
    std::fs::write(&files.wav, wav(melody, made, key)?).map_err(|e| Error::io(&files.wav, e))?;
    piano_roll(melody, &files.png)?;
    let png = std::fs::read(&files.png).map_err(|e| Error::io(&files.png, e))?;
    std::fs::write(&files.png, provenance::png_with_text(&png, made)?).map_err(|e| Error::io(&files.png, e))?;
    Ok(files)
}

/// A one-track Standard MIDI File (format 0) at [`TEMPO_BPM`], flute, with
/// `made` as its first text event.
pub fn midi(melody: &Melody, made: &Provenance) -> Result<Vec<u8>, Error> {
    let channel = u4::new(0);
    let text = made.text();
    let mut events: Vec<(u32, TrackEventKind)> = vec![
        (0, TrackEventKind::Meta(MetaMessage::Text(text.as_bytes()))),
        (0, TrackEventKind::Meta(MetaMessage::Tempo(u24::new(60_000_000 / TEMPO_BPM)))),
        (0, TrackEventKind::Midi { channel, message: MidiMessage::ProgramChange { program: u7::new(73) } }),
    ];
    for n in melody.notes() {
        let key = u7::new(n.pitch.min(127));
        let on = n.start as u32 * TICKS_PER_STEP;
        let off = (n.start + n.steps) as u32 * TICKS_PER_STEP;
        events.push((on, TrackEventKind::Midi { channel, message: MidiMessage::NoteOn { key, vel: u7::new(88) } }));
        events.push((off, TrackEventKind::Midi { channel, message: MidiMessage::NoteOff { key, vel: u7::new(0) } }));
    }
    // Offs before ons at the same tick, so repeated pitches re-strike.
    events.sort_by_key(|(t, e)| (*t, !matches!(e, TrackEventKind::Midi { message: MidiMessage::NoteOff { .. }, .. })));
    let end = STEPS as u32 * TICKS_PER_STEP;
    let mut track: Track = Vec::with_capacity(events.len() + 1);
    let mut last = 0;
    for (t, kind) in events {
        track.push(TrackEvent { delta: u28::new(t - last), kind });
        last = t;
    }
    track.push(TrackEvent {
        delta: u28::new(end.saturating_sub(last)),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    let smf = Smf {
        header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(TICKS_PER_QUARTER))),
        tracks: vec![track],
    };
    let mut out = Vec::new();
    smf.write_std(&mut out).map_err(|e| Error::Invalid(format!("MIDI encoding: {e}")))?;
    Ok(out)
}

/// 16-bit mono PCM at [`SAMPLE_RATE`] with the watermark for `key` and
/// `made` in its `INFO` chunk.
pub fn wav(melody: &Melody, made: &Provenance, key: &str) -> Result<Vec<u8>, Error> {
    let mut samples = signal(melody);
    watermark::embed(&mut samples, SAMPLE_RATE, key);
    provenance::wav_with_info(pcm16(&samples)?, made)
}

/// The melody as samples at [`SAMPLE_RATE`]: each note a decaying sum of
/// three harmonics.
pub fn signal(melody: &Melody) -> Vec<f32> {
    let step_seconds = 60.0 / TEMPO_BPM as f32 / 4.0;
    let samples_per_step = (step_seconds * SAMPLE_RATE as f32) as usize;
    let tail = SAMPLE_RATE as usize / 4;
    let mut signal = vec![0.0f32; STEPS * samples_per_step + tail];
    for n in melody.notes() {
        let freq = 440.0 * 2f32.powf((f32::from(n.pitch) - 69.0) / 12.0);
        let start = n.start * samples_per_step;
        let held = n.steps * samples_per_step;
        let release = SAMPLE_RATE as usize / 20;
        for i in 0..held + release {
            let t = i as f32 / SAMPLE_RATE as f32;
            let attack = (t / 0.01).min(1.0);
            let decay = 0.6 + 0.4 * (-t * 3.0).exp();
            let fade = if i < held { 1.0 } else { 1.0 - (i - held) as f32 / release as f32 };
            let phase = std::f32::consts::TAU * freq * t;
            let tone = phase.sin() + 0.3 * (2.0 * phase).sin() + 0.12 * (3.0 * phase).sin();
            if let Some(s) = signal.get_mut(start + i) {
                *s += 0.3 * attack * decay * fade * tone;
            }
        }
    }
    signal
}

/// A 16-bit mono WAV of `samples` at [`SAMPLE_RATE`].
pub fn pcm16(samples: &[f32]) -> Result<Vec<u8>, Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    let encode = |e: hound::Error| Error::Invalid(format!("WAV encoding: {e}"));
    let mut writer = hound::WavWriter::new(&mut cursor, spec).map_err(encode)?;
    for s in samples {
        writer.write_sample((s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16).map_err(encode)?;
    }
    writer.finalize().map_err(encode)?;
    Ok(cursor.into_inner())
}

/// A piano-roll image: time across, pitch up, bar lines, one box per note.
pub fn piano_roll(melody: &Melody, path: &Path) -> Result<(), Error> {
    let draw = |e: String| Error::Invalid(format!("{}: {e}", path.display()));
    let root = BitMapBackend::new(path, (640, 280)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw(e.to_string()))?;
    // No text (the bitmap backend is built without fonts): bar lines every
    // 16 steps and octave lines at each C, in grey.
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .build_cartesian_2d(0f64..STEPS as f64, f64::from(LOW_PITCH)..f64::from(LOW_PITCH) + PITCHES as f64)
        .map_err(|e| draw(e.to_string()))?;
    let (lo, hi) = (f64::from(LOW_PITCH), f64::from(LOW_PITCH) + PITCHES as f64);
    let bars = (0..=super::BARS).map(|b| (b * super::STEPS_PER_BAR) as f64).map(|x| vec![(x, lo), (x, hi)]);
    let octaves = (LOW_PITCH..LOW_PITCH + PITCHES as u8).filter(|p| p % 12 == 0).map(f64::from);
    let lines = bars.chain(octaves.map(|y| vec![(0.0, y), (STEPS as f64, y)]));
    chart
        .draw_series(lines.map(|points| PathElement::new(points, RGBColor(200, 200, 200))))
        .map_err(|e| draw(e.to_string()))?;
    let boxes = melody.notes().into_iter().map(|n| {
        let (x0, x1) = (n.start as f64, (n.start + n.steps) as f64);
        let y = f64::from(n.pitch);
        Rectangle::new([(x0 + 0.05, y + 0.1), (x1 - 0.05, y + 0.9)], RGBColor(45, 42, 74).filled())
    });
    chart.draw_series(boxes).map_err(|e| draw(e.to_string()))?;
    root.present().map_err(|e| draw(e.to_string()))?;
    Ok(())
}

/// Discriminator and generator loss per epoch, as a line chart.
pub fn loss_curves(losses: &[super::gan::EpochLoss], path: &Path) -> Result<(), Error> {
    let draw = |e: String| Error::Invalid(format!("{}: {e}", path.display()));
    let root = BitMapBackend::new(path, (640, 360)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw(e.to_string()))?;
    let top = losses.iter().flat_map(|l| [l.d, l.g]).fold(1.0f32, f32::max) * 1.1;
    // No text (no fonts in the bitmap backend): red is the discriminator,
    // blue the generator; the y axis runs from 0 to the largest loss.
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .build_cartesian_2d(1f32..losses.len().max(2) as f32, 0f32..top)
        .map_err(|e| draw(e.to_string()))?;
    let d: Vec<f32> = losses.iter().map(|l| l.d).collect();
    let g: Vec<f32> = losses.iter().map(|l| l.g).collect();
    for (color, values) in [(RED, d), (BLUE, g)] {
        let points = values.into_iter().enumerate().map(|(i, v)| ((i + 1) as f32, v));
        chart.draw_series(LineSeries::new(points, color.stroke_width(2))).map_err(|e| draw(e.to_string()))?;
    }
    root.present().map_err(|e| draw(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale() -> Melody {
        let mut steps = vec![None; STEPS];
        for (i, p) in [60u8, 62, 64, 65, 67, 69, 71, 72].iter().enumerate() {
            steps[i * 4] = Some(*p);
            steps[i * 4 + 1] = Some(*p);
        }
        Melody { steps }
    }

    fn made() -> Provenance {
        Provenance { created_ms: 1_796_310_245_000, ..Provenance::now("usher melody-dcgan", "0123456789abcdef", 7) }
    }

    #[test]
    fn midi_round_trips_through_midly() {
        let bytes = midi(&scale(), &made()).unwrap();
        let smf = Smf::parse(&bytes).unwrap();
        let ons: Vec<u8> = smf.tracks[0]
            .iter()
            .filter_map(|e| match e.kind {
                TrackEventKind::Midi { message: MidiMessage::NoteOn { key, .. }, .. } => Some(key.as_int()),
                _ => None,
            })
            .collect();
        assert_eq!(ons, [60, 62, 64, 65, 67, 69, 71, 72]);
        let TrackEventKind::Meta(MetaMessage::Text(text)) = smf.tracks[0][0].kind else {
            panic!("no text event first")
        };
        assert_eq!(Provenance::parse(std::str::from_utf8(text).unwrap()).unwrap().seed, 7);
    }

    #[test]
    fn wav_is_playable_pcm_of_the_right_length() {
        let bytes = wav(&scale(), &made(), "k").unwrap();
        let said = crate::creative::provenance::wav_comment(&bytes).expect("an INFO comment");
        assert_eq!(
            Provenance::parse(&said),
            Some(made()).map(|m| Provenance { created_ms: m.created_ms / 1000 * 1000, ..m })
        );
        let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).unwrap();
        let spec = reader.spec();
        assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (1, SAMPLE_RATE, 16));
        let seconds = reader.duration() as f32 / SAMPLE_RATE as f32;
        assert!((10.0..10.5).contains(&seconds), "{seconds} s");
        let samples: Vec<f32> = reader.into_samples::<i16>().map(|s| f32::from(s.unwrap()) / 32767.0).collect();
        let loud = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(loud > 0.1, "audible: peak {loud}");
        assert!(watermark::detect(&samples, SAMPLE_RATE, "k").unwrap().marked);
        assert!(!watermark::detect(&samples, SAMPLE_RATE, "not k").unwrap().marked);
    }

    #[test]
    fn files_land_in_the_directory_or_the_error_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_all(&scale(), &dir.path().join("out"), &made(), "k").unwrap();
        for f in [&files.midi, &files.wav, &files.png] {
            assert!(std::fs::metadata(f).unwrap().len() > 100, "{}", f.display());
        }
        let png = std::fs::read(&files.png).unwrap();
        let texts = crate::creative::provenance::png_texts(&png);
        assert_eq!(texts[0], ("Software".to_string(), "usher melody-dcgan".to_string()));
        assert!(texts[1].1.contains("model=0123456789abcdef; seed=7"), "{texts:?}");
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, b"x").unwrap();
        let e = write_all(&scale(), &blocker.join("sub"), &made(), "k").unwrap_err().to_string();
        assert!(e.contains("a-file/sub"), "{e}");
    }
}
