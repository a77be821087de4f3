//! `usher train`: retrains the intent classifier, replacing the cached one.

use std::process::ExitCode;

use usher::config::Config;
use usher::nlu::{Nlu, Provenance};

use super::progress::training_bar;

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
