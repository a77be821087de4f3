//! `usher validate [PATH] [--deep]`.

use std::path::Path;
use std::process::ExitCode;

use usher::config::Config;
use usher::intents;
use usher::nlu::audit::{self, Thresholds};

pub fn run(path: &Path) -> ExitCode {
    match intents::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            let d = &loaded.domain;
            let examples: usize = d.intents.iter().map(|i| i.examples.len()).sum();
            println!(
                "ok: {} intents, {examples} examples, {} responses, {} forms, {} flows, {} entities, {} warning(s)",
                d.intents.len(),
                d.responses.len(),
                d.forms.len(),
                d.flows.keys().filter(|f| !f.starts_with("form:")).count(),
                d.entities.len(),
                loaded.warnings.len()
            );
            ExitCode::SUCCESS
        }
        Err(report) => {
            eprint!("{report}");
            ExitCode::FAILURE
        }
    }
}

/// `--deep`: the checks above, then the quick head and the example audit
/// (warnings; exits 1 only when the files do not load).
pub fn deep(config: &Config, path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    if run(path) != ExitCode::SUCCESS {
        return Ok(ExitCode::FAILURE);
    }
    let domain = intents::load(path).map_err(|r| anyhow::anyhow!("{r}"))?.domain;
    let features = usher::bootstrap::features(config);
    let cfg = config.nlu.train_config();
    let found = audit::audit(&domain, &features, &config.model_cache(), &cfg, Thresholds::default())?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let mut value = serde_json::to_value(&found)?;
        value["seconds"] = serde_json::json!(seconds);
        println!("{value}");
    } else {
        for line in found.lines() {
            println!("{line}");
        }
        println!(
            "deep: {} examples ({}), trained head {:.1} % on its own examples; {} confusable pair(s), {} near-duplicate(s) across intents, {} thin intent(s) in {seconds:.1} s",
            found.examples,
            found.features,
            found.head_accuracy * 100.0,
            found.pairs.len(),
            found.duplicates.len(),
            found.thin.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
