//! `usher train [intents|sentiment]`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use usher::nlu::sentiment::{read_sst2, Sentiment, SentimentReport};

use usher::config::Config;
use usher::nlu::{Nlu, Provenance};

use super::progress::training_bar;

/// What `usher train` trains.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Target {
    /// The intent classifier (retrains, replacing the cached one).
    Intents,
    /// The GRU sentiment model on SST-2, written to `nlu.sentiment`.
    Sentiment,
}

/// Trains the sentiment model on SST-2 and reports dev and test accuracy.
pub fn sentiment(config: &Config, data: &Path, epochs: usize) -> anyhow::Result<ExitCode> {
    let out = config.nlu.sentiment.clone().ok_or_else(|| anyhow::anyhow!("nlu.sentiment is null in the config"))?;
    let train = read_sst2(&data.join("stsa.binary.train"))?;
    let dev = read_sst2(&data.join("stsa.binary.dev"))?;
    let test = read_sst2(&data.join("stsa.binary.test"))?;
    println!("training the sentiment GRU on {} SST-2 sentences", train.len());
    let started = Instant::now();
    let mut model = Sentiment::train(&train, epochs, config.nlu.seed, &mut training_bar("sentiment GRU"))?;
    let train_seconds = started.elapsed().as_secs_f64();
    let report = SentimentReport {
        dev_accuracy: model.accuracy(&dev)?,
        test_accuracy: model.accuracy(&test)?,
        n_train: train.len(),
        train_seconds,
    };
    model.report = Some(report);
    model.save(&out)?;
    println!("dev accuracy:  {:.2}%", report.dev_accuracy * 100.0);
    println!("test accuracy: {:.2}% ({} sentences)", report.test_accuracy * 100.0, test.len());
    println!("trained in {train_seconds:.1} s; saved to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let loaded = usher::intents::load(&config.intents).map_err(usher::Error::Intents)?;
    let cache = config.model_cache();
    // Remove the cached head so this run really trains.
    if let Ok(entries) = std::fs::read_dir(&cache) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("intent-head-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let examples: usize = loaded.domain.intents.iter().map(|i| i.examples.len()).sum();
    println!("training on {} intents, {examples} examples", loaded.domain.intents.len());
    let mut bar = training_bar("intent classifier");
    let features = usher::bootstrap::features(config);
    println!("features: {}", features.id());
    let (_, provenance) = Nlu::train_or_load(&loaded.domain, features, &cache, &config.nlu.train_config(), &mut bar)?;
    if let Provenance::Trained(report) = provenance {
        println!("training accuracy: {:.1}% (final loss {:.4})", report.accuracy * 100.0, report.loss);
    }
    println!("model cached in {}", cache.display());
    Ok(ExitCode::SUCCESS)
}
