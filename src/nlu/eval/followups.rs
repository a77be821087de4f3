//! `usher test followups`: two-turn follow-ups (`eval/followups.yaml`).
//! The first message is read alone; the second is read in the context of
//! the first's intent, as the engine reads it, and also alone, to show what
//! the context is worth.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::nlu::{Context, Nlu};
use crate::Error;

/// One two-turn case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the fan says first.
    pub first: String,
    /// The follow-up.
    pub second: String,
    /// The follow-up's intent.
    pub expect: String,
    /// A control: the second message changes the subject, and must keep
    /// its own intent in the first's context.
    #[serde(default)]
    pub control: bool,
}

/// Reads a case file.
pub fn load(path: &Path) -> Result<Vec<Case>, Error> {
    super::load_cases(path)
}

/// What one case came to.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The follow-up.
    pub second: String,
    /// Its expected intent.
    pub expect: String,
    /// Whether it is a control.
    pub control: bool,
    /// The intent the first message got (the context).
    pub first_intent: String,
    /// The follow-up's intent in context.
    pub in_context: String,
    /// The follow-up's intent read alone.
    pub alone: String,
    /// Its intent from the classifier alone, no context rule at all (as a
    /// model without follow-up scoping would read it).
    pub unscoped: String,
}

/// Accuracy over the cases.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Follow-up cases.
    pub n: usize,
    /// Follow-ups right in context.
    pub in_context: f64,
    /// Follow-ups right read alone.
    pub alone: f64,
    /// Follow-ups right from the classifier alone, no context rule.
    pub unscoped: f64,
    /// Control cases.
    pub controls: usize,
    /// Controls right in context.
    pub controls_in_context: f64,
    /// Controls right from the classifier alone, no context rule.
    pub controls_unscoped: f64,
    /// Every case.
    pub outcomes: Vec<Outcome>,
}

/// Runs every case through `nlu`.
pub fn evaluate(nlu: &Nlu, cases: &[Case]) -> Result<Report, Error> {
    let firsts: Vec<&str> = cases.iter().map(|c| c.first.as_str()).collect();
    let seconds: Vec<&str> = cases.iter().map(|c| c.second.as_str()).collect();
    let first = nlu.parse_batch(&firsts)?;
    let contexts: Vec<Context> = first.iter().map(|p| Context { recent: vec![p.intent.name.clone()] }).collect();
    let in_context = nlu.parse_batch_in(&seconds, &contexts)?;
    let alone = nlu.parse_batch(&seconds)?;
    // Every intent counts as recent: no follow-up is scoped out.
    let everything = Context { recent: nlu.classifier.labels().to_vec() };
    let unscoped = nlu.parse_batch_in(&seconds, &vec![everything; seconds.len()])?;
    let outcomes: Vec<Outcome> = cases
        .iter()
        .zip(first)
        .zip(in_context.into_iter().zip(alone).zip(unscoped))
        .map(|((c, f), ((ctx, a), u))| Outcome {
            second: c.second.clone(),
            expect: c.expect.clone(),
            control: c.control,
            first_intent: f.intent.name,
            in_context: ctx.intent.name,
            alone: a.intent.name,
            unscoped: u.intent.name,
        })
        .collect();
    let share = |control: bool, hit: &dyn Fn(&Outcome) -> bool| {
        let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.control == control).collect();
        of.iter().filter(|o| hit(o)).count() as f64 / of.len().max(1) as f64
    };
    Ok(Report {
        n: outcomes.iter().filter(|o| !o.control).count(),
        in_context: share(false, &|o| o.in_context == o.expect),
        alone: share(false, &|o| o.alone == o.expect),
        unscoped: share(false, &|o| o.unscoped == o.expect),
        controls: outcomes.iter().filter(|o| o.control).count(),
        controls_in_context: share(true, &|o| o.in_context == o.expect),
        controls_unscoped: share(true, &|o| o.unscoped == o.expect),
        outcomes,
    })
}
