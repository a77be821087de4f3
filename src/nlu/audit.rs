//! Deep validation of a domain's examples (`usher validate --deep`): what
//! Rasa users learn only after training. Trains the quick head (frozen
//! encoder) and, from the examples' sentence embeddings, finds
//!
//! - **confusable examples**: an example nearer another intent's centroid
//!   than its own intent's (its own left out), or that the head trained on
//!   it still puts in another intent, grouped into confusable intent pairs;
//! - **near-duplicates across intents**: two intents' examples that say
//!   the same thing (cosine ≥ [`Thresholds::duplicate`]);
//! - **thin intents**: fewer than [`Thresholds::min_distinct`] examples
//!   that are not near-duplicates of each other.
//!
//! Each finding names the examples' file:line:column.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::Serialize;

use super::features::featurize;
use super::{Features, Nlu, TrainConfig};
use crate::intents::Domain;
use crate::Error;

/// When examples count as the same and how many distinct ones an intent needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Cosine at or above which two examples say the same thing.
    pub duplicate: f32,
    /// How much nearer another intent's centroid an example must be than
    /// its own intent's (without it) to count as confusable.
    pub margin: f32,
    /// Distinct examples an intent should have at least.
    pub min_distinct: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { duplicate: 0.95, margin: 0.1, min_distinct: 5 }
    }
}

/// An example and where it is written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExampleAt {
    /// Its intent.
    pub intent: String,
    /// Its text.
    pub text: String,
    /// file:line:column.
    pub at: String,
}

/// An example closer to another intent than to its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    /// The example.
    pub example: ExampleAt,
    /// Cosine to its own intent's centroid (the example left out).
    pub own: f32,
    /// The other intent's example nearest to it.
    pub nearest: ExampleAt,
    /// Cosine to the other intent's centroid.
    pub similarity: f32,
    /// The intent the trained head gives the example, when not its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_says: Option<String>,
}

/// Two intents and how many of their examples lean towards each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pair {
    /// The two intents, in name order.
    pub intents: (String, String),
    /// Examples of either that are nearer the other.
    pub examples: usize,
    /// Of those, examples the trained head puts in the other.
    pub head_errors: usize,
}

/// Two intents' examples that say the same thing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duplicate {
    /// The first.
    pub first: ExampleAt,
    /// The second, of another intent.
    pub second: ExampleAt,
    /// Their cosine similarity.
    pub similarity: f32,
}

/// An intent with too few distinct examples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thin {
    /// The intent.
    pub intent: String,
    /// Where it is written.
    pub at: String,
    /// Its examples.
    pub examples: usize,
    /// Of those, distinct ones.
    pub distinct: usize,
}

/// Everything deep validation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Audit {
    /// The features the examples were compared with.
    pub features: String,
    /// Examples checked.
    pub examples: usize,
    /// The trained head's accuracy on its own training examples.
    pub head_accuracy: f32,
    /// Confusable intent pairs, most examples first.
    pub pairs: Vec<Pair>,
    /// The examples behind them.
    pub confusions: Vec<Confusion>,
    /// Near-duplicates across intents, most similar first.
    pub duplicates: Vec<Duplicate>,
    /// Intents with too few distinct examples.
    pub thin: Vec<Thin>,
}

impl Audit {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.pairs.is_empty() && self.duplicates.is_empty() && self.thin.is_empty()
    }

    /// One warning line per finding, compiler style (`file:line:col: warning: …`).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.confusions {
            let head = c.head_says.as_ref().map(|h| format!("; the trained head says {h}")).unwrap_or_default();
            out.push(format!(
                "{}: warning: intent {}: example {:?} is closer to intent {} ({:.2}; its nearest there: {:?} at {}) than to its own ({:.2}){head}",
                c.example.at,
                c.example.intent,
                c.example.text,
                c.nearest.intent,
                c.similarity,
                c.nearest.text,
                c.nearest.at,
                c.own
            ));
        }
        for d in &self.duplicates {
            out.push(format!(
                "{}: warning: intent {}: example {:?} nearly repeats {:?} of intent {} at {} ({:.2})",
                d.first.at, d.first.intent, d.first.text, d.second.text, d.second.intent, d.second.at, d.similarity
            ));
        }
        for t in &self.thin {
            out.push(format!(
                "{}: warning: intent {}: only {} distinct example(s) of {}: give at least {} that say it differently",
                t.at,
                t.intent,
                t.distinct,
                t.examples,
                Thresholds::default().min_distinct
            ));
        }
        for p in &self.pairs {
            out.push(format!(
                "confusable: {} / {}: {} example(s) nearer the other intent, {} misread by the trained head",
                p.intents.0, p.intents.1, p.examples, p.head_errors
            ));
        }
        out
    }
}

/// Trains the quick head on `domain` (or loads the one `usher serve`
/// cached in `cache_dir` for these very files) and audits its examples.
#[tracing::instrument(skip_all, fields(intents = domain.intents.len()))]
pub fn audit(
    domain: &Domain,
    features: &Features,
    cache_dir: &Path,
    cfg: &TrainConfig,
    limits: Thresholds,
) -> Result<Audit, Error> {
    let labels: Vec<String> = domain.intents.iter().map(|i| i.name.clone()).collect();
    let data: Vec<(String, usize)> = super::training_examples(domain).map(|(t, i)| (t.to_string(), i)).collect();
    let texts: Vec<&str> = data.iter().map(|(t, _)| t.as_str()).collect();
    let owner: Vec<usize> = data.iter().map(|(_, i)| *i).collect();
    // Where each example sits: (intent, index within the intent).
    let place: Vec<(usize, usize)> = domain
        .intents
        .iter()
        .enumerate()
        .flat_map(|(i, intent)| (0..intent.examples.len()).map(move |e| (i, e)))
        .collect();
    let mut quick = cfg.clone();
    quick.fine_tune.layers = 0;
    let (classifier, _) = Nlu::classifier(domain, features, cache_dir, &quick, &mut |_, _, _| {})?;
    let probs = classifier.probabilities(&texts, true)?;
    let head: Vec<usize> =
        probs.iter().map(|p| p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)).collect();
    let correct = head.iter().zip(&owner).filter(|(h, o)| h == o).count();
    let vectors = match features {
        Features::EncoderAndNgrams { encoder, cache } => cache.embed(encoder, &texts)?,
        Features::Ngrams => texts.iter().map(|t| featurize(t)).collect(),
    };
    let sims = cosines(&vectors)?;
    let at = |k: usize| {
        let (i, e) = place[k];
        let intent = &domain.intents[i];
        ExampleAt { intent: intent.name.clone(), text: texts[k].to_string(), at: intent.example_origin(e).to_string() }
    };

    let n = texts.len();
    let dim = vectors.first().map_or(0, Vec::len);
    let unit: Vec<Vec<f32>> = vectors.iter().map(|v| normalised(v)).collect();
    // Each intent's sum of unit vectors: its centroid, and (less one
    // example) the centroid that example is compared with.
    let mut sums = vec![vec![0f32; dim]; labels.len()];
    let mut counts = vec![0usize; labels.len()];
    for (v, &o) in unit.iter().zip(&owner) {
        sums[o].iter_mut().zip(v).for_each(|(s, x)| *s += x);
        counts[o] += 1;
    }
    let centroids: Vec<Vec<f32>> = sums.iter().map(|s| normalised(s)).collect();
    let mut confusions = Vec::new();
    let mut pairs: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for k in 0..n {
        let o = owner[k];
        if counts[o] < 2 {
            continue;
        }
        let rest: Vec<f32> = sums[o].iter().zip(&unit[k]).map(|(s, x)| s - x).collect();
        let own = dot(&unit[k], &normalised(&rest));
        let closest = (0..labels.len())
            .filter(|&b| b != o && counts[b] > 0)
            .map(|b| (b, dot(&unit[k], &centroids[b])))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let misread = head[k] != o;
        let Some((other, similarity)) = closest.filter(|&(_, s)| s > own + limits.margin || misread) else {
            continue;
        };
        let other = if misread { head[k] } else { other };
        // The other intent's example nearest to this one, for context.
        let row = &sims[k * n..(k + 1) * n];
        let Some(near) = (0..n).filter(|&j| owner[j] == other).max_by(|&a, &b| row[a].total_cmp(&row[b])) else {
            continue;
        };
        let example = at(k);
        let nearest = at(near);
        let key = match labels[o] < labels[other] {
            true => (labels[o].clone(), labels[other].clone()),
            false => (labels[other].clone(), labels[o].clone()),
        };
        let entry = pairs.entry(key).or_default();
        entry.0 += 1;
        entry.1 += usize::from(misread);
        let head_says = misread.then(|| labels[head[k]].clone());
        confusions.push(Confusion { example, own, nearest, similarity, head_says });
    }
    let mut pairs: Vec<Pair> =
        pairs.into_iter().map(|(intents, (examples, head_errors))| Pair { intents, examples, head_errors }).collect();
    pairs.sort_by(|a, b| b.examples.cmp(&a.examples).then(b.head_errors.cmp(&a.head_errors)));

    let mut duplicates = Vec::new();
    for k in 0..n {
        for j in k + 1..n {
            let s = sims[k * n + j];
            if owner[j] != owner[k] && s >= limits.duplicate {
                duplicates.push(Duplicate { first: at(j), second: at(k), similarity: s });
            }
        }
    }
    duplicates.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));

    let mut thin = Vec::new();
    for (i, intent) in domain.intents.iter().enumerate() {
        let members: Vec<usize> = (0..n).filter(|&k| owner[k] == i).collect();
        // Greedy: an example is distinct unless it nearly repeats one kept before it.
        let mut kept: Vec<usize> = Vec::new();
        for &k in &members {
            if kept.iter().all(|&j| sims[k * n + j] < limits.duplicate) {
                kept.push(k);
            }
        }
        if kept.len() < limits.min_distinct {
            let at = intent.origin.to_string();
            thin.push(Thin { intent: intent.name.clone(), at, examples: members.len(), distinct: kept.len() });
        }
    }
    Ok(Audit {
        features: features.id(),
        examples: n,
        head_accuracy: if n == 0 { 0.0 } else { correct as f32 / n as f32 },
        pairs,
        confusions,
        duplicates,
        thin,
    })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn normalised(v: &[f32]) -> Vec<f32> {
    let norm = dot(v, v).sqrt().max(1e-12);
    v.iter().map(|x| x / norm).collect()
}

/// All pairwise cosines of `vectors` (row-major n × n).
fn cosines(vectors: &[Vec<f32>]) -> Result<Vec<f32>, Error> {
    let (n, dim) = (vectors.len(), vectors.first().map_or(0, Vec::len));
    if n == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<f32> = vectors.iter().flatten().copied().collect();
    let x = super::encoder::bert::l2_rows(&Tensor::from_vec(rows, (n, dim), &Device::Cpu)?)?;
    Ok(x.matmul(&x.t()?)?.flatten_all()?.to_vec1::<f32>()?)
}
