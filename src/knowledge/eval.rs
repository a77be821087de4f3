//! Retrieval quality on a fan question set: recall@1, recall@5 and MRR at
//! document level for dense-only, BM25-only and hybrid retrieval, and the
//! similarity threshold that best separates questions the documents answer
//! from questions they do not.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::store::{Hit, Mode};
use super::KnowledgeBase;
use crate::Error;

/// Chunks fetched per question before collapsing to documents.
const DEPTH: usize = 30;

/// The question set (`eval/knowledge.yaml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionSet {
    /// Answerable questions and the document that answers each.
    pub questions: Vec<Question>,
    /// Questions the documents do not answer.
    #[serde(default)]
    pub unanswerable: Vec<String>,
}

/// One answerable question.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// What a fan would type.
    pub q: String,
    /// The answering document's path in `knowledge/`.
    pub doc: String,
}

impl QuestionSet {
    /// Reads a question set; errors name the file, line and column.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_yaml::from_str(&text).map_err(|e| Error::Knowledge(format!("{}: {e}", path.display())))
    }
}

/// Scores of one retrieval mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Scores {
    /// Share of questions whose document ranks first.
    #[serde(rename = "recall@1")]
    pub recall_at_1: f64,
    /// Share whose document is in the top five.
    #[serde(rename = "recall@5")]
    pub recall_at_5: f64,
    /// Mean reciprocal rank of the document.
    pub mrr: f64,
}

/// The threshold on the top hit's similarity, calibrated on the set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Calibration {
    /// Answer when the similarity is at least this.
    pub threshold: f32,
    /// Answerable questions answered from the right document at that threshold.
    pub answered_correctly: f64,
    /// Unanswerable questions refused at that threshold.
    pub unanswerable_refused: f64,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Answerable questions.
    pub questions: usize,
    /// Unanswerable questions.
    pub unanswerable: usize,
    /// Dense retrieval.
    pub dense: Scores,
    /// BM25 retrieval.
    pub bm25: Scores,
    /// Both, fused with RRF.
    pub hybrid: Scores,
    /// The calibrated answer threshold (hybrid retrieval).
    pub calibration: Calibration,
    /// Hybrid top-1 misses: question, expected, got.
    pub misses: Vec<(String, String, String)>,
}

/// Distinct documents in rank order.
fn documents(hits: &[Hit]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for h in hits {
        if !out.contains(&h.passage.path.as_str()) {
            out.push(&h.passage.path);
        }
    }
    out
}

/// Runs every question through every mode.
pub async fn evaluate(kb: &KnowledgeBase, set: &QuestionSet) -> Result<Report, Error> {
    let texts: Vec<String> = set.questions.iter().map(|q| q.q.clone()).collect();
    let queries = kb.queries(&texts).await?;
    let mut by_mode = Vec::new();
    let mut top: Vec<(f32, bool)> = Vec::new();
    let mut misses = Vec::new();
    for mode in Mode::ALL {
        let (mut r1, mut r5, mut rr) = (0.0, 0.0, 0.0);
        for (q, query) in set.questions.iter().zip(&queries) {
            let hits = kb.store().search(query, mode, DEPTH).await?;
            let docs = documents(&hits);
            let rank = docs.iter().position(|d| *d == q.doc).map(|i| i + 1);
            if let Some(rank) = rank {
                r1 += f64::from(u8::from(rank == 1));
                r5 += f64::from(u8::from(rank <= 5));
                rr += 1.0 / rank as f64;
            }
            if mode == Mode::Hybrid {
                top.push((hits.first().map_or(0.0, |h| h.similarity), rank == Some(1)));
                if rank != Some(1) {
                    misses.push((q.q.clone(), q.doc.clone(), docs.first().map_or_else(String::new, |d| d.to_string())));
                }
            }
        }
        let n = set.questions.len().max(1) as f64;
        by_mode.push(Scores { recall_at_1: r1 / n, recall_at_5: r5 / n, mrr: rr / n });
    }
    let unanswerable = kb.queries(&set.unanswerable).await?;
    let mut negatives = Vec::new();
    for query in &unanswerable {
        let hits = kb.store().search(query, Mode::Hybrid, 1).await?;
        negatives.push(hits.first().map_or(0.0, |h| h.similarity));
    }
    Ok(Report {
        questions: set.questions.len(),
        unanswerable: set.unanswerable.len(),
        dense: by_mode[0],
        bm25: by_mode[1],
        hybrid: by_mode[2],
        calibration: calibrate(&top, &negatives),
        misses,
    })
}

/// The threshold maximising balanced accuracy: answerable questions count
/// as handled when answered from the right document, unanswerable ones
/// when refused. Ties go to the lowest threshold (answer more).
pub fn calibrate(answerable: &[(f32, bool)], unanswerable: &[f32]) -> Calibration {
    let mut candidates: Vec<f32> = answerable.iter().map(|a| a.0).chain(unanswerable.iter().copied()).collect();
    candidates.push(0.0);
    candidates.sort_by(f32::total_cmp);
    let mut best = Calibration::default();
    let mut best_score = -1.0;
    for &t in &candidates {
        let answered = answerable.iter().filter(|(s, right)| *right && *s >= t).count() as f64;
        let refused = unanswerable.iter().filter(|&&s| s < t).count() as f64;
        let a = answered / answerable.len().max(1) as f64;
        let r = if unanswerable.is_empty() { 1.0 } else { refused / unanswerable.len() as f64 };
        let score = (a + r) / 2.0;
        if score > best_score + 1e-12 {
            best_score = score;
            best = Calibration { threshold: t, answered_correctly: a, unanswerable_refused: r };
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_separates_the_classes() {
        let answerable = [(0.8, true), (0.7, true), (0.6, false), (0.75, true)];
        let c = calibrate(&answerable, &[0.3, 0.4, 0.5]);
        assert!(c.threshold > 0.5 && c.threshold <= 0.7, "{c:?}");
        assert_eq!((c.answered_correctly, c.unanswerable_refused), (0.75, 1.0));
    }
}
