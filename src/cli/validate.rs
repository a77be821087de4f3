//! `usher validate [PATH]`.

use std::path::Path;
use std::process::ExitCode;

use usher::intents;

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
