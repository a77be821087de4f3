//! Classification metrics: accuracy, macro-F1, per-label precision, recall
//! and F1, the confusion matrix, and CLINC's in-scope accuracy / OOS recall.

use serde::Serialize;

/// Scores of one label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabelScore {
    /// The label.
    pub label: String,
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Test examples with this label.
    pub support: usize,
}

/// All metrics of one evaluation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metrics {
    /// Share of test examples predicted right.
    pub accuracy: f64,
    /// Unweighted mean F1 over labels present in the test split.
    pub macro_f1: f64,
    /// Per-label scores.
    pub per_label: Vec<LabelScore>,
    /// `confusion[gold][predicted]`, indices into `labels`.
    pub confusion: Vec<Vec<u32>>,
    /// Label names, in matrix order.
    pub labels: Vec<String>,
}

/// Computes metrics from gold and predicted label indices over `labels`.
pub fn compute(labels: &[String], gold: &[usize], predicted: &[usize]) -> Metrics {
    let k = labels.len();
    let mut confusion = vec![vec![0u32; k]; k];
    for (&g, &p) in gold.iter().zip(predicted) {
        confusion[g][p] += 1;
    }
    let mut per_label = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let tp = f64::from(confusion[i][i]);
        let support: u32 = confusion[i].iter().sum();
        let predicted_i: u32 = confusion.iter().map(|row| row[i]).sum();
        if support == 0 {
            continue;
        }
        let precision = if predicted_i == 0 { 0.0 } else { tp / f64::from(predicted_i) };
        let recall = tp / f64::from(support);
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        per_label.push(LabelScore { label: label.clone(), precision, recall, f1, support: support as usize });
    }
    let correct = gold.iter().zip(predicted).filter(|(g, p)| g == p).count();
    let accuracy = if gold.is_empty() { 0.0 } else { correct as f64 / gold.len() as f64 };
    let macro_f1 = per_label.iter().map(|s| s.f1).sum::<f64>() / per_label.len().max(1) as f64;
    Metrics { accuracy, macro_f1, per_label, confusion, labels: labels.to_vec() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_hand() {
        let labels = vec!["a".to_string(), "b".to_string()];
        // gold a a b b ; predicted a b b b
        let m = compute(&labels, &[0, 0, 1, 1], &[0, 1, 1, 1]);
        assert_eq!(m.accuracy, 0.75);
        assert_eq!(m.confusion, vec![vec![1, 1], vec![0, 2]]);
        let a = &m.per_label[0];
        assert_eq!((a.precision, a.recall), (1.0, 0.5));
        let b = &m.per_label[1];
        assert!((b.precision - 2.0 / 3.0).abs() < 1e-12 && b.recall == 1.0);
        let f1_a = 2.0 / 3.0;
        let f1_b = 0.8;
        assert!((m.macro_f1 - (f1_a + f1_b) / 2.0).abs() < 1e-12);
    }
}
