//! `usher create poem --theme WORD [--seed N]` and `usher create melody
//! [--seed N] --out DIR`: creative output on the command line.

use std::process::ExitCode;

use std::path::PathBuf;
use usher::config::Config;

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
        /// The directory to write into (created if needed).
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(config: &Config, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Melody { seed, out } => {
            let composer = Composer::load(&config.creative.melody)?;
            let melody = composer.compose(seed)?;
            match render::write_all(&melody, &out) {
                Ok(files) => {
                    let notes = melody.notes();
                    println!("{} notes over 4 bars (seed {seed})", notes.len());
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
