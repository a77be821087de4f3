//! `usher test nlu`: train on a data set's train split, evaluate on its test
//! split, report accuracy, macro-F1, per-label scores, and for data sets
//! with out-of-scope examples the in-scope accuracy and OOS recall at a
//! threshold calibrated on the validation split (never the test split).

pub mod data;
pub mod entities;
pub mod followups;
pub mod metrics;
mod plot;
pub mod sgd;
pub mod slots;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::encoder::Encoder;
use super::{Classifier, Features, Parts, TrainConfig};
use crate::Error;
use data::Dataset;
use metrics::Metrics;

/// The result of one evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Test accuracy (for OOS data sets: over in-scope and OOS examples, OOS predicted by threshold).
    pub accuracy: f64,
    /// Macro-F1 over the test labels.
    pub macro_f1: f64,
    /// Seconds spent training (feature extraction included).
    pub train_seconds: f64,
    /// Training examples.
    pub n_train: usize,
    /// Test examples.
    pub n_test: usize,
    /// In-scope accuracy (OOS data sets).
    pub in_scope_accuracy: Option<f64>,
    /// Recall of OOS examples (OOS data sets).
    pub oos_recall: Option<f64>,
    /// The confidence threshold below which a message counts as OOS.
    pub oos_threshold: Option<f32>,
    /// With `--oos-recall`: test figures at the threshold reaching that
    /// OOS recall on val.
    pub oos_operating_point: Option<OperatingPoint>,
    /// With a fine-tuned encoder: the in-scope test accuracy (no OOS
    /// threshold) for each pair of weights of the tuning's cosine
    /// classifier (`nlu.fine_tune_cosine_weight`) and of the nearest
    /// examples' vote (`nlu.fine_tune_knn_weight`), as (cosine, vote,
    /// accuracy).
    pub weights: Vec<(f32, f32, f64)>,
    /// The features used (a fine-tuned encoder has its own id).
    pub features: String,
    /// Encoder layers fine-tuned before the head was trained.
    pub fine_tuned_layers: usize,
    /// Everything else.
    pub metrics: Metrics,
}

/// A file of held-out cases: `cases:`, a list of `T`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile<T> {
    cases: Vec<T>,
}

/// Reads the cases of a held-out case file (`eval/*.yaml`).
pub fn load_cases<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let file: CaseFile<T> =
        serde_yaml::from_str(&text).map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
    Ok(file.cases)
}

const CHUNK: usize = 512;

/// Every part of the confidences of `texts` (training data's embedding
/// cache), a chunk at a time.
fn parts(model: &Classifier, texts: &[&str]) -> Result<Vec<Parts>, Error> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(CHUNK) {
        out.extend(model.parts_of(chunk, true)?);
    }
    Ok(out)
}

fn best(p: &[f32]) -> (usize, f32) {
    p.iter().enumerate().fold((0, f32::MIN), |(bi, bp), (i, &x)| if x > bp { (i, x) } else { (bi, bp) })
}

/// The winning in-scope intent and its confidence; when the trained
/// out-of-scope class (`oos`) wins, minus infinity, below every threshold.
fn in_scope(p: &[f32], oos: Option<usize>) -> (usize, f32) {
    match best(p) {
        (i, _) if Some(i) == oos => (i, f32::NEG_INFINITY),
        winner => winner,
    }
}

/// Picks the threshold maximising the mean of in-scope accuracy and OOS
/// recall on `val`. Candidates are the validation confidences themselves
/// (softmax heads are confident: a fixed 0.01 grid is too coarse near 1).
fn calibrate(probs: &[Vec<f32>], gold: &[Option<usize>], oos: Option<usize>) -> f32 {
    let mut candidates: Vec<f32> = probs.iter().map(|p| in_scope(p, oos).1).filter(|c| c.is_finite()).collect();
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    let stride = (candidates.len() / 2000).max(1);
    let mut best_t = 0.5;
    let mut best_score = f64::MIN;
    for &t in candidates.iter().step_by(stride) {
        let (ins, recall) = rates(probs, gold, oos, t);
        if ins + recall > best_score {
            best_score = ins + recall;
            best_t = t;
        }
    }
    best_t
}

/// The lowest threshold at which OOS recall on `val` reaches `recall`: the
/// one that keeps the most in-scope messages at that recall.
fn threshold_for_recall(probs: &[Vec<f32>], gold: &[Option<usize>], oos: Option<usize>, recall: f64) -> f32 {
    let mut out: Vec<f32> =
        probs.iter().zip(gold).filter(|(_, g)| g.is_none()).map(|(p, _)| in_scope(p, oos).1).collect();
    out.sort_by(f32::total_cmp);
    let k = ((recall.clamp(0.0, 1.0) * out.len() as f64).ceil() as usize).min(out.len());
    // A message counts as OOS below the threshold: just above the k-th
    // lowest (those the OOS class caught need none).
    out.get(k.wrapping_sub(1)).map_or(0.0, |c| c.next_up().max(0.0))
}

/// In-scope accuracy and OOS recall of `probs` against `gold` (`None`:
/// out of scope) with messages below `threshold`, or won by the trained
/// OOS class `oos`, called OOS.
fn rates(probs: &[Vec<f32>], gold: &[Option<usize>], oos: Option<usize>, threshold: f32) -> (f64, f64) {
    let (mut ins, mut ins_ok, mut out, mut out_ok) = (0usize, 0usize, 0usize, 0usize);
    for (p, g) in probs.iter().zip(gold) {
        let (i, conf) = in_scope(p, oos);
        match g {
            Some(g) => (ins, ins_ok) = (ins + 1, ins_ok + usize::from(conf >= threshold && i == *g)),
            None => (out, out_ok) = (out + 1, out_ok + usize::from(conf < threshold)),
        }
    }
    (ins_ok as f64 / ins.max(1) as f64, out_ok as f64 / out.max(1) as f64)
}

/// In-scope accuracy and OOS recall on test at the threshold that reaches
/// a required OOS recall on val (`usher test nlu --oos-recall`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OperatingPoint {
    /// The OOS recall required on val.
    pub target_oos_recall: f64,
    /// The threshold that reaches it there.
    pub threshold: f32,
    /// Test in-scope accuracy at that threshold.
    pub in_scope_accuracy: f64,
    /// Test OOS recall at that threshold.
    pub oos_recall: f64,
}

/// Weights of a fine-tuned classifier's cosine classifier and of the
/// nearest examples' vote that `usher test nlu` reports, every pair.
const COSINE_WEIGHTS: [f32; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];
const KNN_WEIGHTS: [f32; 4] = [0.0, 0.25, 0.5, 0.75];

/// The accuracy on `data.test`'s in-scope examples (no OOS threshold) under
/// each pair of [`COSINE_WEIGHTS`] and [`KNN_WEIGHTS`], from the test
/// examples' `parts` (in `data.test`'s order): (cosine weight, vote weight,
/// accuracy).
fn weights(parts: &[Parts], data: &Dataset, index: &dyn Fn(&str) -> Option<usize>) -> Vec<(f32, f32, f64)> {
    let scored: Vec<(&Parts, usize)> =
        parts.iter().zip(&data.test).filter_map(|(p, (_, l))| index(l).map(|g| (p, g))).collect();
    let mut out = Vec::new();
    for c in COSINE_WEIGHTS {
        for k in KNN_WEIGHTS {
            let right = scored.iter().filter(|(p, g)| best(&p.mix(c, k)).0 == *g).count();
            out.push((c, k, right as f64 / scored.len().max(1) as f64));
        }
    }
    out
}

/// What [`evaluate`] reports beyond its defaults, and where it writes.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// CLINC150: also report test figures at the lowest threshold whose OOS
    /// recall on val reaches this ([`OperatingPoint`]).
    pub oos_recall: Option<f64>,
    /// Where `report.json`, `confusion.png` (and `probabilities.json`) go.
    pub out_dir: PathBuf,
    /// Also write each test message's confidences (`probabilities.json`:
    /// the labels, the gold label indices, one row per message) and what
    /// they are mixed from on test and val (`parts.json`; with an encoder
    /// also each sentence's embedding, `embeddings.f32`), for
    /// comparing or combining runs offline.
    pub save_probabilities: bool,
}

/// Trains and evaluates; writes `report.json` and `confusion.png` (and on
/// request `probabilities.json`) into `options.out_dir`.
pub fn evaluate(
    data: &Dataset,
    features: Features,
    cfg: &TrainConfig,
    options: &Options,
    progress: &mut dyn FnMut(usize, usize, f32),
) -> Result<Report, Error> {
    let Options { oos_recall: recall_on_val, ref out_dir, save_probabilities } = *options;
    let labels: Vec<String> = data.train.iter().map(|(_, l)| l.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let index = |l: &str| labels.binary_search_by(|x| x.as_str().cmp(l)).ok();
    let train: Vec<(String, usize)> = data.train.iter().filter_map(|(t, l)| index(l).map(|i| (t.clone(), i))).collect();
    let started = Instant::now();
    let (model, _) = Classifier::train(labels.clone(), &train, features, cfg, progress)?;
    let train_seconds = started.elapsed().as_secs_f64();
    // After training: a fine-tuned encoder has its own id.
    let feature_id = model.features().id();

    let oos = data.oos_label.as_deref();
    // The OOS label is a class of its own when the training split has it.
    let oos_class = oos.and_then(index);
    let scope = |l: &str| if Some(l) == oos { None } else { index(l) };
    let mut val_parts = Vec::new();
    let (threshold, at_recall) = match oos {
        Some(_) if !data.val.is_empty() => {
            let texts: Vec<&str> = data.val.iter().map(|(t, _)| t.as_str()).collect();
            let gold: Vec<Option<usize>> = data.val.iter().map(|(_, l)| scope(l)).collect();
            val_parts = parts(&model, &texts)?;
            let probs: Vec<Vec<f32>> = val_parts.iter().map(|p| model.mix(p)).collect();
            let at_recall = recall_on_val.map(|r| (r, threshold_for_recall(&probs, &gold, oos_class, r)));
            (Some(calibrate(&probs, &gold, oos_class)), at_recall)
        }
        _ => (None, None),
    };
    // Matrix labels: the training labels plus, for OOS data sets, the OOS label last.
    let mut all_labels = labels.clone();
    if let (Some(o), None) = (oos, oos_class) {
        all_labels.push(o.to_string());
    }
    let oos_index = oos_class.unwrap_or(labels.len());
    let texts: Vec<&str> = data.test.iter().map(|(t, _)| t.as_str()).collect();
    let test_parts = parts(&model, &texts)?;
    let probs: Vec<Vec<f32>> = test_parts.iter().map(|p| model.mix(p)).collect();
    let mut gold = Vec::with_capacity(texts.len());
    let mut predicted = Vec::with_capacity(texts.len());
    for ((_, label), p) in data.test.iter().zip(&probs) {
        let g = match index(label) {
            Some(i) => i,
            None if oos == Some(label.as_str()) => oos_index,
            None => return Err(Error::Model(format!("test label {label:?} is not in the training split"))),
        };
        let (i, conf) = in_scope(p, oos_class);
        let pred = match threshold {
            Some(t) if conf < t => oos_index,
            _ => i,
        };
        gold.push(g);
        predicted.push(pred);
    }
    let metrics = metrics::compute(&all_labels, &gold, &predicted);
    let (in_scope_accuracy, oos_recall) = match oos {
        Some(_) => {
            let rate = |want_oos: bool| {
                let pairs: Vec<_> =
                    gold.iter().zip(&predicted).filter(|(g, _)| (**g == oos_index) == want_oos).collect();
                pairs.iter().filter(|(g, p)| g == p).count() as f64 / pairs.len().max(1) as f64
            };
            (Some(rate(false)), Some(rate(true)))
        }
        None => (None, None),
    };
    let oos_operating_point = at_recall.map(|(target, t)| {
        let gold: Vec<Option<usize>> = data.test.iter().map(|(_, l)| scope(l)).collect();
        let (in_scope_accuracy, oos_recall) = rates(&probs, &gold, oos_class, t);
        OperatingPoint { target_oos_recall: target, threshold: t, in_scope_accuracy, oos_recall }
    });
    let weights = if model.has_cosine() { weights(&test_parts, data, &scope) } else { Vec::new() };
    let report = Report {
        oos_operating_point,
        weights,
        accuracy: metrics.accuracy,
        macro_f1: metrics.macro_f1,
        train_seconds,
        n_train: train.len(),
        n_test: data.test.len(),
        in_scope_accuracy,
        oos_recall,
        oos_threshold: threshold,
        features: feature_id,
        fine_tuned_layers: model.features().encoder().map_or(0, Encoder::tuned_layers),
        metrics,
    };
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let json_path = out_dir.join("report.json");
    std::fs::write(&json_path, serde_json::to_vec_pretty(&report)?).map_err(|e| Error::io(&json_path, e))?;
    plot::confusion(&report.metrics.confusion, &out_dir.join("confusion.png"))?;
    if save_probabilities {
        let path = out_dir.join("probabilities.json");
        let saved = serde_json::json!({ "labels": all_labels, "gold": gold, "probabilities": probs });
        std::fs::write(&path, serde_json::to_vec(&saved)?).map_err(|e| Error::io(&path, e))?;
        // What the confidences are mixed from, on test and (OOS data sets) val,
        // with the gold labels, for trying other scores offline.
        let val_gold: Vec<&str> = data.val.iter().map(|(_, l)| l.as_str()).collect();
        let test_gold: Vec<&str> = data.test.iter().map(|(_, l)| l.as_str()).collect();
        let path = out_dir.join("parts.json");
        let saved = serde_json::json!({
            "labels": labels,
            "cosine_weight": model.cosine_weight(),
            "knn_weight": model.knn_weight(),
            "threshold": threshold,
            "val": { "gold": if val_parts.is_empty() { Vec::new() } else { val_gold }, "parts": val_parts },
            "test": { "gold": test_gold, "parts": test_parts },
        });
        std::fs::write(&path, serde_json::to_vec(&saved)?).map_err(|e| Error::io(&path, e))?;
        if let Some(encoder) = model.features().encoder() {
            save_embeddings(model.features(), encoder.dim(), data, out_dir)?;
        }
    }
    Ok(report)
}

/// The encoder's sentence embeddings of the training, val and test
/// sentences, in that order (`embeddings.f32`: little-endian rows of
/// `dim` floats; `embeddings.json`: the dimension and each split's labels),
/// for OOS scores that need the vectors (bench/oos_scores.py). They come
/// through the embedding cache, which training and scoring filled already.
fn save_embeddings(features: &Features, dim: usize, data: &Dataset, out_dir: &Path) -> Result<(), Error> {
    let mut raw = Vec::new();
    let mut labels = serde_json::Map::new();
    for (name, split) in [("train", &data.train), ("val", &data.val), ("test", &data.test)] {
        let texts: Vec<&str> = split.iter().map(|(t, _)| t.as_str()).collect();
        for chunk in texts.chunks(CHUNK) {
            for row in features.embeddings(chunk, true)?.unwrap_or_default() {
                raw.extend(row.iter().flat_map(|v| v.to_le_bytes()));
            }
        }
        labels.insert(name.to_string(), split.iter().map(|(_, l)| l.as_str()).collect());
    }
    let path = out_dir.join("embeddings.f32");
    std::fs::write(&path, raw).map_err(|e| Error::io(&path, e))?;
    let path = out_dir.join("embeddings.json");
    let saved = serde_json::json!({ "dim": dim, "labels": labels });
    std::fs::write(&path, serde_json::to_vec(&saved)?).map_err(|e| Error::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recall_threshold_is_the_lowest_that_reaches_it_on_val() {
        // Four OOS messages at 0.1..0.4 and two in-scope ones at 0.35 and 0.9.
        let p = |c: f32, i: usize| {
            let mut v = vec![0.0; 2];
            v[i] = c;
            v
        };
        let probs = [p(0.1, 0), p(0.2, 0), p(0.3, 1), p(0.4, 1), p(0.35, 0), p(0.9, 1)];
        let gold = [None, None, None, None, Some(0), Some(1)];
        let t = threshold_for_recall(&probs, &gold, None, 0.5);
        assert!(t > 0.2 && t < 0.3, "{t}");
        assert_eq!(rates(&probs, &gold, None, t), (1.0, 0.5), "both in-scope kept, half the OOS caught");
        let all = threshold_for_recall(&probs, &gold, None, 1.0);
        assert_eq!(rates(&probs, &gold, None, all), (0.5, 1.0), "0.35 falls below the last OOS message");
        assert_eq!(threshold_for_recall(&probs, &gold, None, 0.0), 0.0, "no recall asked: nothing rejected");
    }

    #[test]
    fn a_trained_oos_class_catches_messages_at_any_threshold() {
        // Classes: 0, 1 in scope; 2 the trained OOS class.
        let probs = [vec![0.1, 0.2, 0.7], vec![0.6, 0.3, 0.1], vec![0.2, 0.5, 0.3], vec![0.1, 0.1, 0.8]];
        let gold = [None, Some(0), None, Some(1)];
        assert_eq!(rates(&probs, &gold, Some(2), 0.0), (0.5, 0.5), "the OOS class alone catches the first");
        assert_eq!(rates(&probs, &gold, None, 0.0), (0.5, 0.0), "as a plain class it catches nothing");
        assert_eq!(rates(&probs, &gold, Some(2), 0.55), (0.5, 1.0), "the threshold catches the third");
        let t = threshold_for_recall(&probs, &gold, Some(2), 0.5);
        assert_eq!(rates(&probs, &gold, Some(2), t), (0.5, 0.5), "the class reaches half: nothing above 0 rejected");
        assert!(t <= 0.0, "{t}");
        let t = calibrate(&probs, &gold, Some(2));
        assert!(t > 0.5 && t <= 0.6, "{t}");
    }

    #[test]
    fn saved_parts_hold_val_and_test_in_order_with_their_gold_labels() {
        let ex = |t: &str, l: &str| (t.to_string(), l.to_string());
        let mut train = Vec::new();
        for i in 0..6 {
            train.push(ex(&format!("refund my ticket please {i}"), "refund"));
            train.push(ex(&format!("my stream keeps buffering {i}"), "playback"));
            train.push(ex(&format!("what is the weather on mars {i}"), "oos"));
        }
        let data = Dataset {
            train,
            val: vec![ex("refund my ticket", "refund"), ex("weather on mars", "oos")],
            test: vec![ex("the stream is buffering", "playback"), ex("mars weather", "oos"), ex("refund it", "refund")],
            oos_label: Some("oos".into()),
        };
        let dir = tempfile::tempdir().unwrap();
        let options = Options { oos_recall: None, out_dir: dir.path().to_path_buf(), save_probabilities: true };
        evaluate(&data, Features::Ngrams, &TrainConfig::default(), &options, &mut |_, _, _| {}).unwrap();
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("parts.json")).unwrap()).unwrap();
        assert_eq!(saved["labels"], serde_json::json!(["oos", "playback", "refund"]));
        assert_eq!(saved["val"]["gold"], serde_json::json!(["refund", "oos"]));
        assert_eq!(saved["test"]["gold"], serde_json::json!(["playback", "oos", "refund"]));
        let test = saved["test"]["parts"].as_array().unwrap();
        assert_eq!((saved["val"]["parts"].as_array().unwrap().len(), test.len()), (2, 3));
        assert_eq!(test[0]["head"].as_array().unwrap().len(), 3, "one probability per class");
        assert!(saved["threshold"].is_number(), "calibrated on val");
        assert!(!dir.path().join("embeddings.f32").exists(), "n-grams have no sentence vectors");
    }
}
