//! `usher create poem --theme WORD [--seed N]`, `usher create melody
//! [--seed N] --out DIR` and `usher create verify FILE`: creative output on
//! the command line, and what made a file.

use std::process::ExitCode;

use std::path::PathBuf;
use usher::config::Config;

use usher::creative::melody::harmony::Mood;
use usher::creative::melody::{render, Composer};
use usher::creative::poem::{Poet, Request};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Prints a short poem seeded by a theme word.
    Poem {
        #[arg(long, default_value = "")]
        theme: String,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value_t = 0.8)]
        temperature: f32,
        #[arg(long, default_value_t = 4)]
        lines: usize,
    },
    /// Writes a four-bar melody as melody.mid, melody.wav and melody.png.
    Melody {
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// What the fan asked for: a mood ("a happy tune"), a key ("in D
        /// minor"), both, or nothing.
        #[arg(long, default_value = "")]
        mood: String,
        /// The directory to write into (created if needed).
        #[arg(long)]
        out: PathBuf,
    },
    /// Says whether a WAV carries Usher's watermark (with
    /// `creative.watermark_key`) and what its metadata says made it. Exit
    /// status 0 when the mark is found, 1 when not, 2 for a file that is
    /// not a readable WAV.
    Verify {
        /// The WAV file.
        file: PathBuf,
    },
}

pub fn run(config: &Config, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Verify { file } => verify(config, &file),
        Command::Melody { seed, mood, out } => {
            let composer = Composer::load(&config.creative.melody)?;
            let made = composer.compose(seed, Mood::parse(&mood))?;
            let provenance = composer.provenance(seed);
            match render::write_all(&made.melody, &out, &provenance, &config.creative.watermark_key) {
                Ok(files) => {
                    println!("{} notes over 4 bars in {} (seed {seed})", made.melody.notes().len(), made.key);
                    for f in [files.midi, files.wav, files.png] {
                        println!("wrote {}", f.display());
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: cannot write the melody: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Poem { theme, seed, temperature, lines } => {
            let poet = Poet::load(&config.creative.poem)?;
            let request = Request { theme, seed, temperature, lines, blocked: config.creative.blocked_words.clone() };
            match poet.compose(&request) {
                Ok(poem) => {
                    println!("{poem}");
                    eprintln!("{}", usher::creative::poem::signature(&poet.provenance(seed)));
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn verify(config: &Config, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    use usher::creative::{provenance, watermark};
    let checked = (|| {
        let bytes = std::fs::read(file).map_err(|e| format!("cannot read it: {e}"))?;
        if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
            return Err("it is not a WAV file (no RIFF/WAVE header)".to_string());
        }
        let reader = hound::WavReader::new(std::io::Cursor::new(&bytes)).map_err(|e| format!("damaged WAV: {e}"))?;
        let spec = reader.spec();
        let expected = reader.len() as usize;
        let samples = read_mono(reader).map_err(|e| format!("truncated or damaged WAV: {e}"))?;
        if samples.len() * spec.channels as usize != expected {
            return Err(format!("truncated WAV: {} of {expected} samples", samples.len() * spec.channels as usize));
        }
        let found =
            watermark::detect(&samples, spec.sample_rate, &config.creative.watermark_key).map_err(|e| e.to_string())?;
        Ok((found, provenance::wav_comment(&bytes)))
    })();
    match checked {
        Err(why) => {
            eprintln!("error: {}: {why}", file.display());
            Ok(ExitCode::from(2))
        }
        Ok((found, said)) => {
            match said.as_deref().and_then(provenance::Provenance::parse) {
                Some(p) => println!("made by: {}", p.text()),
                None => println!("made by: not stated (no Usher INFO chunk)"),
            }
            let verdict = if found.marked { "found" } else { "not found" };
            println!("watermark: {verdict} (z = {:.1}, threshold {})", found.z, watermark::THRESHOLD);
            Ok(if found.marked { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

/// The WAV's samples as mono floats in [-1, 1] (channels averaged).
fn read_mono<R: std::io::Read>(reader: hound::WavReader<R>) -> Result<Vec<f32>, hound::Error> {
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let raw: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 2f32.powi(i32::from(spec.bits_per_sample) - 1);
            reader.into_samples::<i32>().map(|s| s.map(|v| v as f32 / scale)).collect::<Result<_, _>>()?
        }
    };
    Ok(raw.chunks(channels).map(|c| c.iter().sum::<f32>() / channels as f32).collect())
}

/// `usher test watermark`: the melody model's seeds 0..`files`, marked and
/// not, through the degradations of [`watermark::evaluate`].
pub fn watermark(config: &Config, files: usize, json: bool) -> anyhow::Result<ExitCode> {
    use usher::creative::watermark;
    let composer = Composer::load(&config.creative.melody)?;
    let started = std::time::Instant::now();
    let signals =
        (0..files as u64).map(|seed| composer.compose(seed, Mood::default()).map(|c| render::signal(&c.melody)));
    let signals: Vec<Vec<f32>> = signals.collect::<Result<_, _>>()?;
    let e = watermark::evaluate(signals.into_iter(), render::SAMPLE_RATE, &config.creative.watermark_key)?;
    let rate = |k: usize| 100.0 * k as f64 / e.files.max(1) as f64;
    println!(
        "{} melodies, resampled to 22.05 kHz with noise at 30 dB SNR: detected {:.1} % (z ≥ {}; min {:.1}, mean {:.1}), \
         false positives {:.1} % (max z {:.1}); loudness {:+.4} dB, mark {:.1} dB below the music; {:.0} s",
        e.files,
        rate(e.detected),
        watermark::THRESHOLD,
        e.min_z_marked,
        e.mean_z_marked,
        rate(e.false_positives),
        e.max_z_unmarked,
        e.loudness_change_db,
        -e.mark_to_music_db,
        started.elapsed().as_secs_f64()
    );
    if json {
        println!("{}", serde_json::to_string(&e)?);
    }
    Ok(ExitCode::SUCCESS)
}
