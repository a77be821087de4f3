//! `usher test thresholds`: where the policy's confidence thresholds
//! should sit for the configured classifier, on messages held out from the
//! intent files.
//!
//! - `policy.fallback_threshold` (`eval/fallbacks.yaml`): messages the demo
//!   serves, with their intents, and messages it does not (gibberish, other
//!   topics). Right: a served message gets its intent at or above the
//!   threshold; another falls below it or reads as `out_of_scope`.
//! - `policy.digression_threshold` (`eval/digressions.yaml`): messages sent
//!   while a flow waits for a slot, read in the context of the intent that
//!   starts the flow as the engine reads them, marked as a change of
//!   subject or a non-answer; [`usher::dialogue::digression_bar`] says
//!   whether each digresses.
//!
//! Each is swept over every hundredth; the report lists the thresholds with
//! the most cases right and how the domain's own value does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use usher::config::Config;
use usher::dialogue::{digression_bar, OUT_OF_SCOPE};
use usher::intents::{Action, Domain};
use usher::nlu::{Context, Nlu};

use super::progress::training_bar;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Messages in and out of the domain's scope.
    #[arg(long, default_value = "eval/fallbacks.yaml")]
    fallbacks: PathBuf,
    /// Messages sent mid-flow.
    #[arg(long, default_value = "eval/digressions.yaml")]
    digressions: PathBuf,
    /// Fine-tune this many top encoder layers (default: nlu.fine_tune_layers).
    #[arg(long)]
    fine_tune_layers: Option<usize>,
    /// Print one JSON object (with every case) on the last line.
    #[arg(long)]
    json: bool,
}

/// A message the domain serves (`expect`: its intent) or does not
/// (`expect: fallback`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FallbackCase {
    text: String,
    expect: String,
}

/// A message sent while `flow` (`form:INTENT` for an intent's form) waits
/// for a slot: a change of subject (`digress: true`) or a non-answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DigressionCase {
    flow: String,
    text: String,
    digress: bool,
}

/// The word in `eval/fallbacks.yaml` for "not served".
const FALLBACK: &str = "fallback";

/// Refuses the first case that `unknown` finds a name the domain lacks in
/// (`unknown` says which), with its place.
fn check<T>(path: &Path, cases: &[T], unknown: impl Fn(&T) -> Option<String>) -> anyhow::Result<()> {
    match cases.iter().enumerate().find_map(|(i, c)| unknown(c).map(|what| (i, what))) {
        Some((i, what)) => anyhow::bail!("{}: case {}{what}", path.display(), i + 1),
        None => Ok(()),
    }
}

fn unknown_intent(domain: &Domain, c: &FallbackCase) -> Option<String> {
    let known = c.expect == FALLBACK || domain.intent(&c.expect).is_some();
    (!known).then(|| format!(" ({:?}): unknown intent {:?}", c.text, c.expect))
}

fn unknown_flow(domain: &Domain, c: &DigressionCase) -> Option<String> {
    (!domain.flows.contains_key(&c.flow)).then(|| format!(" ({:?}): unknown flow {:?}", c.text, c.flow))
}

/// One case as the classifier read it.
#[derive(Debug, Serialize)]
struct Outcome {
    text: String,
    /// The flow under way (digressions only).
    flow: Option<String>,
    /// What should happen: the intent (fallbacks), or `digress`/`answer`.
    expect: String,
    /// A positive case: served (fallbacks) or a change of subject.
    positive: bool,
    intent: String,
    confidence: f32,
}

/// How many cases come out right under one threshold.
#[derive(Debug, Serialize, PartialEq)]
struct Tally {
    threshold: f32,
    /// Negative cases right: kept out (fallbacks) or kept in the flow.
    negatives: usize,
    /// Positive cases right: served with their intent, or digressing.
    positives: usize,
}

#[derive(Debug, Serialize)]
struct Sweep {
    name: &'static str,
    negatives: usize,
    positives: usize,
    /// The domain's own value.
    current: Tally,
    /// The thresholds with the most cases right (ties all listed).
    best: Vec<Tally>,
    outcomes: Vec<Outcome>,
}

/// Whether `o` comes out right under `policy`.
fn right(domain: &Domain, o: &Outcome) -> bool {
    let p = &domain.policy;
    match &o.flow {
        None if o.positive => o.intent == o.expect && o.confidence >= p.fallback_threshold,
        None => o.intent == OUT_OF_SCOPE || o.confidence < p.fallback_threshold,
        Some(flow) => digression_bar(domain, flow, &o.intent).is_some_and(|bar| o.confidence >= bar) == o.positive,
    }
}

/// `set` puts a threshold into a domain's policy; `current` is the domain's own.
fn sweep(
    name: &'static str,
    domain: &Domain,
    outcomes: Vec<Outcome>,
    current: f32,
    set: fn(&mut Domain, f32),
) -> Sweep {
    let tally = |domain: &Domain, threshold: f32| Tally {
        threshold,
        negatives: outcomes.iter().filter(|o| !o.positive && right(domain, o)).count(),
        positives: outcomes.iter().filter(|o| o.positive && right(domain, o)).count(),
    };
    let current = tally(domain, current);
    let mut trial = domain.clone();
    let all: Vec<Tally> = (1..=100)
        .map(|t| t as f32 / 100.0)
        .map(|t| {
            set(&mut trial, t);
            tally(&trial, t)
        })
        .collect();
    let most = all.iter().map(|t| t.negatives + t.positives).max().unwrap_or(0);
    let best = all.into_iter().filter(|t| t.negatives + t.positives == most).collect();
    Sweep {
        name,
        negatives: outcomes.iter().filter(|o| !o.positive).count(),
        positives: outcomes.iter().filter(|o| o.positive).count(),
        current,
        best,
        outcomes,
    }
}

fn read(nlu: &Nlu, texts: &[&str], contexts: &[Context]) -> anyhow::Result<Vec<(String, f32)>> {
    Ok(nlu.parse_batch_in(texts, contexts)?.into_iter().map(|p| (p.intent.name, p.intent.confidence)).collect())
}

fn fallbacks(nlu: &Nlu, domain: &Domain, cases: Vec<FallbackCase>) -> anyhow::Result<Sweep> {
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let read = read(nlu, &texts, &vec![Context::default(); texts.len()])?;
    let outcomes = cases
        .into_iter()
        .zip(read)
        .map(|(c, (intent, confidence))| Outcome {
            positive: c.expect != FALLBACK,
            text: c.text,
            flow: None,
            expect: c.expect,
            intent,
            confidence,
        })
        .collect();
    let current = domain.policy.fallback_threshold;
    Ok(sweep("fallback", domain, outcomes, current, |d, t| d.policy.fallback_threshold = t))
}

fn digressions(nlu: &Nlu, domain: &Domain, cases: Vec<DigressionCase>) -> anyhow::Result<Sweep> {
    // Read in the context of the intent that starts the flow, as the engine reads it.
    let context = |flow: &str| Context {
        recent: domain
            .intents
            .iter()
            .filter(|i| matches!(&i.action, Action::Flow(f) if f == flow))
            .map(|i| i.name.clone())
            .collect(),
    };
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let contexts: Vec<Context> = cases.iter().map(|c| context(&c.flow)).collect();
    let read = read(nlu, &texts, &contexts)?;
    let outcomes = cases
        .into_iter()
        .zip(read)
        .map(|(c, (intent, confidence))| Outcome {
            expect: if c.digress { "digress" } else { "answer" }.into(),
            positive: c.digress,
            text: c.text,
            flow: Some(c.flow),
            intent,
            confidence,
        })
        .collect();
    let current = domain.policy.digression_threshold;
    Ok(sweep("digression", domain, outcomes, current, |d, t| d.policy.set_digression_threshold(t)))
}

fn print(s: &Sweep, domain: &Domain) {
    for o in &s.outcomes {
        let mark = if right(domain, o) { "   " } else { "XX " };
        let place = o.flow.as_deref().map(|f| format!(" in {f}")).unwrap_or_default();
        println!("{mark}{:<20} {:<20} {:.3}  {:?}{place}", o.expect, o.intent, o.confidence, o.text);
    }
    let line = |t: &Tally| {
        format!(
            "{:.2}: {} of {} negatives and {} of {} positives right",
            t.threshold, t.negatives, s.negatives, t.positives, s.positives
        )
    };
    println!("policy.{}_threshold {}", s.name, line(&s.current));
    if let (Some(lo), Some(hi)) = (s.best.first(), s.best.last()) {
        println!("best from {}\n       to {}", line(lo), line(hi));
    }
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let mut config = config.clone();
    config.nlu.fine_tune_layers = args.fine_tune_layers.unwrap_or(config.nlu.fine_tune_layers);
    let loaded = usher::intents::load(&config.intents).map_err(|e| anyhow::anyhow!("{e}"))?;
    let domain = &loaded.domain;
    let fallback_cases: Vec<FallbackCase> = usher::nlu::eval::load_cases(&args.fallbacks)?;
    check(&args.fallbacks, &fallback_cases, |c| unknown_intent(domain, c))?;
    let digression_cases: Vec<DigressionCase> = usher::nlu::eval::load_cases(&args.digressions)?;
    check(&args.digressions, &digression_cases, |c| unknown_flow(domain, c))?;
    let features = usher::bootstrap::features(&config);
    eprintln!("features {}, {} tuned layers", features.id(), config.nlu.fine_tune_layers);
    let brain = usher::bootstrap::brain_of(&config, loaded, features, &mut training_bar("intent classifier"))?;
    let sweeps = [
        fallbacks(&brain.nlu, &brain.domain, fallback_cases)?,
        digressions(&brain.nlu, &brain.domain, digression_cases)?,
    ];
    for s in &sweeps {
        print(s, &brain.domain);
    }
    if args.json {
        println!("{}", serde_json::to_string(&sweeps)?);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> Domain {
        let yaml = "intents:\n  - name: refund\n    examples: [refund please, money back, refund my ticket, I want a refund, refund]\n    flow: refund\n\
                    \x20 - name: bye\n    examples: [bye, see you, goodbye, cheers bye, later]\n    respond: bye\n\
                    responses:\n  bye:\n    - text: bye\n\
                    entities:\n  order_id:\n    pattern: '\\b[A-Z]\\d{5}\\b'\n\
                    flows:\n  refund:\n    steps:\n      - collect: order_id\n        ask: number?\n        entity: order_id\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("d.yaml"), yaml).unwrap();
        usher::intents::load(dir.path()).unwrap().domain
    }

    fn outcome(flow: Option<&str>, expect: &str, positive: bool, intent: &str, confidence: f32) -> Outcome {
        let (text, flow) = (String::new(), flow.map(String::from));
        Outcome { text, flow, expect: expect.into(), positive, intent: intent.into(), confidence }
    }

    fn thresholds(s: &Sweep) -> Vec<u32> {
        s.best.iter().map(|t| (t.threshold * 100.0).round() as u32).collect()
    }

    #[test]
    fn the_digression_sweep_finds_the_thresholds_that_separate_the_two_kinds() {
        let domain = domain();
        // A non-answer read as `bye` at 0.81, a real goodbye at 0.90, and a
        // refund message, which never digresses from the refund flow.
        let outcomes = vec![
            outcome(Some("refund"), "answer", false, "bye", 0.81),
            outcome(Some("refund"), "digress", true, "bye", 0.90),
            outcome(Some("refund"), "digress", true, "refund", 0.99),
        ];
        let s = sweep("digression", &domain, outcomes, 0.8, |d, t| d.policy.digression_threshold = t);
        assert_eq!(s.current, Tally { threshold: 0.8, negatives: 0, positives: 1 });
        assert_eq!(thresholds(&s), (82..=90).collect::<Vec<_>>());
        assert!(s.best.iter().all(|t| (t.negatives, t.positives) == (1, 1)));
    }

    #[test]
    fn the_fallback_sweep_wants_the_right_intent_above_and_the_rest_below() {
        let domain = domain();
        let outcomes = vec![
            outcome(None, "bye", true, "bye", 0.70),
            outcome(None, "bye", true, "refund", 0.95), // wrong whatever the threshold
            outcome(None, FALLBACK, false, "refund", 0.40),
        ];
        let s = sweep("fallback", &domain, outcomes, 0.45, |d, t| d.policy.fallback_threshold = t);
        assert_eq!(s.current, Tally { threshold: 0.45, negatives: 1, positives: 1 });
        assert_eq!(thresholds(&s), (41..=70).collect::<Vec<_>>());
    }

    #[test]
    fn an_unknown_flow_is_refused_with_its_case() {
        let cases = [DigressionCase { flow: "refnud".into(), text: "nope".into(), digress: false }];
        let domain = domain();
        let err = check(Path::new("cases.yaml"), &cases, |c| unknown_flow(&domain, c)).unwrap_err().to_string();
        assert!(err.contains("case 1 (\"nope\"): unknown flow \"refnud\""), "{err}");
    }
}
