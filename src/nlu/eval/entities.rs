//! Entity evaluation on a held-out split of the intent files: span-level
//! precision, recall and F1 (exact start, end and entity) for the rules
//! (regex + lookup), the learned BiLSTM tagger, and both combined.

use std::collections::HashSet;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::intents::{Domain, Example, Span};
use crate::nlu::encoder::Encoder;
use crate::nlu::tagger::{Design, Tagger};
use crate::nlu::EntityExtractor;
use crate::Error;

/// Span-level scores.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

/// The result of an entity evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct EntityReport {
    /// Regex and lookup rules alone.
    pub rules: Prf,
    /// The BiLSTM tagger alone.
    pub tagger: Prf,
    /// Rules first, tagger spans added where they overlap no rule span.
    pub combined: Prf,
    /// Training examples (all, annotated or not).
    pub n_train: usize,
    /// Annotated spans in the test split.
    pub n_test_spans: usize,
    /// Seconds to train the tagger (token states included).
    pub train_seconds: f64,
    /// Test spans whose value (case aside) no training example marks:
    /// show names the tagger never saw.
    pub n_new_values: usize,
    /// Recall of those by the rules, the tagger and both.
    pub new_values_recall: NewValues,
}

/// Recall of test spans with values unseen in training.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct NewValues {
    /// Regex and lookup rules alone.
    pub rules: f64,
    /// The BiLSTM tagger alone.
    pub tagger: f64,
    /// Both.
    pub combined: f64,
}

/// Spans `(start, end, entity)` of one text.
pub(crate) type SpanSet = HashSet<(usize, usize, String)>;

/// Span-level precision, recall and F1 (exact start, end and entity).
pub(crate) fn prf(gold: &[SpanSet], predicted: &[SpanSet]) -> Prf {
    let (mut tp, mut n_pred, mut n_gold) = (0, 0, 0);
    for (g, p) in gold.iter().zip(predicted) {
        tp += g.intersection(p).count();
        n_pred += p.len();
        n_gold += g.len();
    }
    let precision = if n_pred == 0 { 0.0 } else { tp as f64 / n_pred as f64 };
    let recall = if n_gold == 0 { 0.0 } else { tp as f64 / n_gold as f64 };
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    Prf { precision, recall, f1 }
}

/// The `gold` spans of each test text whose value (case aside) no
/// training span has.
pub(crate) fn new_values<'a>(
    train: impl IntoIterator<Item = (&'a str, &'a [Span])>,
    test: impl IntoIterator<Item = &'a str>,
    gold: &[SpanSet],
) -> Vec<SpanSet> {
    let known: HashSet<String> =
        train.into_iter().flat_map(|(text, spans)| spans.iter().map(|s| text[s.start..s.end].to_lowercase())).collect();
    test.into_iter()
        .zip(gold)
        .map(|(text, g)| g.iter().filter(|s| !known.contains(&text[s.0..s.1].to_lowercase())).cloned().collect())
        .collect()
}

/// The share of the `new` spans found in `predicted` (0 when there are none).
pub(crate) fn recall_of(new: &[SpanSet], predicted: &[SpanSet]) -> f64 {
    let found: usize = new.iter().zip(predicted).map(|(n, p)| n.intersection(p).count()).sum();
    let total: usize = new.iter().map(HashSet::len).sum();
    if total == 0 {
        0.0
    } else {
        found as f64 / total as f64
    }
}

/// Splits each intent's examples 80/20 (seeded).
pub fn split(domain: &Domain, seed: u64) -> (Vec<Example>, Vec<Example>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for intent in &domain.intents {
        let mut examples = intent.examples.clone();
        examples.shuffle(&mut rng);
        let n_test = (examples.len() / 5).max(1);
        test.extend(examples.drain(..n_test));
        train.extend(examples);
    }
    (train, test)
}

/// Evaluates rules, a tagger built as `design` says, and both on a held-out split of `domain`.
pub fn evaluate(domain: &Domain, encoder: &Encoder, design: Design, seed: u64) -> Result<EntityReport, Error> {
    let (train, test) = split(domain, seed);
    let started = Instant::now();
    let model = Tagger::train_for(domain, encoder, &train, design, seed)?;
    let train_seconds = started.elapsed().as_secs_f64();
    let rules = EntityExtractor::new(domain);
    let texts: Vec<&str> = test.iter().map(|e| e.text.as_str()).collect();
    let states = encoder.token_states(&texts)?;
    let predicted = model.predict(&texts, &states)?;
    let (mut gold, mut by_rules, mut by_tagger, mut combined) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((ex, s), tags) in test.iter().zip(&states).zip(&predicted) {
        gold.push(ex.entities.iter().map(|sp| (sp.start, sp.end, sp.entity.clone())).collect::<SpanSet>());
        let r: SpanSet = rules.extract(&ex.text).into_iter().map(|m| (m.start, m.end, m.entity)).collect();
        let t: SpanSet = model.spans(&ex.text, tags, &s.offsets).into_iter().collect();
        let mut c = r.clone();
        c.extend(t.iter().filter(|(a, b, _)| !r.iter().any(|(x, y, _)| a < y && x < b)).cloned());
        by_rules.push(r);
        by_tagger.push(t);
        combined.push(c);
    }
    let new = new_values(
        train.iter().map(|e| (e.text.as_str(), e.entities.as_slice())),
        test.iter().map(|e| e.text.as_str()),
        &gold,
    );
    let n_new_values = new.iter().map(HashSet::len).sum();
    let recall = |predicted: &[SpanSet]| recall_of(&new, predicted);
    let new_values_recall =
        NewValues { rules: recall(&by_rules), tagger: recall(&by_tagger), combined: recall(&combined) };
    Ok(EntityReport {
        n_new_values,
        new_values_recall,
        rules: prf(&gold, &by_rules),
        tagger: prf(&gold, &by_tagger),
        combined: prf(&gold, &combined),
        n_train: train.len(),
        n_test_spans: gold.iter().map(HashSet::len).sum(),
        train_seconds,
    })
}
