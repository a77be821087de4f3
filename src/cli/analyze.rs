//! `usher analyze "TEXT" [--json]`: sentiment and style of a fan's text.

use std::process::ExitCode;

use usher::config::Config;
use usher::creative::analysis::{analyze, emotion::Lexicon};
use usher::nlu::sentiment::Sentiment;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The text (quote it; verse may span lines).
    text: String,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let sentiment = match &config.nlu.sentiment {
        Some(dir) => Some(Sentiment::load(dir, usher::bootstrap::encoder(config).as_ref())?),
        None => None,
    };
    let lexicon = Lexicon::load(&config.creative.emotions)?;
    let analysis = match analyze(&args.text, sentiment.as_ref(), &lexicon) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string(&analysis)?);
    } else {
        println!("{}", analysis.summary);
    }
    Ok(ExitCode::SUCCESS)
}
