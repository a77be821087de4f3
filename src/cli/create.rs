//! `usher create poem --theme WORD [--seed N]`: creative output on the
//! command line.

use std::process::ExitCode;

use usher::config::Config;
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
}

pub fn run(config: &Config, command: Command) -> anyhow::Result<ExitCode> {
    match command {
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
