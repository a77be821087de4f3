//! Evaluation data sets: BANKING77-style CSV, CLINC150's `data_full.json`,
//! and a stratified split of our own intent files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Deserialize;

use crate::Error;

/// A labelled text.
pub type Example = (String, String);

/// Train, (optional) validation and test examples.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Training examples.
    pub train: Vec<Example>,
    /// Held-out examples for calibration (never the test split).
    pub val: Vec<Example>,
    /// Test examples.
    pub test: Vec<Example>,
    /// The out-of-scope label, for data sets that have one (`oos`).
    pub oos_label: Option<String>,
}

impl Dataset {
    /// For choosing settings: the validation split stands in for test
    /// (and stays the calibration split), so test is never read.
    pub fn dev_only(self) -> Self {
        Self { test: self.val.clone(), ..self }
    }
}

/// The supported formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `train.csv` and `test.csv` with columns `text,category`.
    Csv,
    /// CLINC150 `data_full.json` (OOS class and threshold).
    Clinc150,
    /// Our intent YAML, split 80/20 per intent.
    Yaml,
}

fn data_error(path: &Path, row: Option<usize>, what: impl std::fmt::Display) -> Error {
    let at = row.map(|r| format!(" row {r}")).unwrap_or_default();
    Error::Model(format!("{}{at}: {what}", path.display()))
}

/// Reads one CSV file with a header holding `text` and `category`.
pub fn read_csv(path: &Path) -> Result<Vec<Example>, Error> {
    let mut reader = csv::ReaderBuilder::new().from_path(path).map_err(|e| data_error(path, None, e))?;
    let headers = reader.headers().map_err(|e| data_error(path, Some(1), e))?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
            data_error(
                path,
                Some(1),
                format!("missing column `{name}` (header: {})", headers.iter().collect::<Vec<_>>().join(",")),
            )
        })
    };
    let (text, category) = (col("text")?, col("category")?);
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        let record = record.map_err(|e| data_error(path, Some(row), e))?;
        match (record.get(text), record.get(category)) {
            (Some(t), Some(c)) if !c.trim().is_empty() => out.push((t.to_string(), c.trim().to_string())),
            _ => return Err(data_error(path, Some(row), "missing text or category")),
        }
    }
    Ok(out)
}

/// `train.csv` + `test.csv` from a directory; or a training CSV file with
/// `test.csv` beside it or one level up (BANKING77's `splits/train_10.csv`).
pub fn load_csv(path: &Path) -> Result<Dataset, Error> {
    let dir = if path.is_dir() { path } else { path.parent().unwrap_or(Path::new(".")) };
    let train_path = if path.is_file() { path.to_path_buf() } else { dir.join("train.csv") };
    let mut test_path = dir.join("test.csv");
    if !test_path.exists() && path.is_file() {
        if let Some(up) = dir.parent() {
            test_path = up.join("test.csv");
        }
    }
    let train = read_csv(&train_path)?;
    let test = read_csv(&test_path)?;
    let known: BTreeSet<&str> = train.iter().map(|(_, c)| c.as_str()).collect();
    if let Some(i) = test.iter().position(|(_, c)| !known.contains(c.as_str())) {
        return Err(data_error(&test_path, Some(i + 2), format!("label {:?} is not in the training split", test[i].1)));
    }
    Ok(Dataset { train, val: Vec::new(), test, oos_label: None })
}

/// BANKING77 for choosing settings, test unread: trains on
/// `splits/dialoglue_train.csv` (or on the given training file, less any
/// sentence of the validation split) and tests on
/// `splits/dialoglue_val.csv`.
pub fn load_csv_dev(path: &Path) -> Result<Dataset, Error> {
    let dir = if path.is_dir() { path } else { path.parent().unwrap_or(Path::new(".")) };
    let root = if dir.ends_with("splits") { dir.parent().unwrap_or(dir) } else { dir };
    let val_path = root.join("splits").join("dialoglue_val.csv");
    if !val_path.exists() {
        return Err(data_error(&val_path, None, "missing: --dev-only needs the validation split"));
    }
    let test = read_csv(&val_path)?;
    let held: BTreeSet<&str> = test.iter().map(|(t, _)| t.as_str()).collect();
    let train_path = if path.is_file() { path.to_path_buf() } else { root.join("splits").join("dialoglue_train.csv") };
    let train = read_csv(&train_path)?.into_iter().filter(|(t, _)| !held.contains(t.as_str())).collect();
    Ok(Dataset { train, val: Vec::new(), test, oos_label: None })
}

#[derive(Deserialize)]
struct Clinc {
    train: Vec<(String, String)>,
    val: Vec<(String, String)>,
    test: Vec<(String, String)>,
    #[serde(default)]
    oos_train: Vec<(String, String)>,
    oos_val: Vec<(String, String)>,
    oos_test: Vec<(String, String)>,
}

/// CLINC150: train on `train` (with `oos_train`, the out-of-scope class
/// learned beside the threshold, unless `threshold_only`: the paper's
/// oos-threshold protocol), calibrate on `val` + `oos_val`, test on `test`
/// + `oos_test`.
pub fn load_clinc(path: &Path, threshold_only: bool) -> Result<Dataset, Error> {
    let file = if path.is_dir() { path.join("data_full.json") } else { path.to_path_buf() };
    let raw = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    let c: Clinc = serde_json::from_str(&raw).map_err(|e| data_error(&file, None, e))?;
    let oos_train = if threshold_only { Vec::new() } else { c.oos_train };
    Ok(Dataset {
        train: c.train.into_iter().chain(oos_train).collect(),
        val: c.val.into_iter().chain(c.oos_val).collect(),
        test: c.test.into_iter().chain(c.oos_test).collect(),
        oos_label: Some("oos".into()),
    })
}

/// Our intent files, split per intent: 80 % train, 20 % test (seeded).
pub fn load_yaml(path: &Path, seed: u64) -> Result<Dataset, Error> {
    let domain = crate::intents::load(path).map_err(Error::Intents)?.domain;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = Dataset::default();
    for intent in &domain.intents {
        let mut texts: Vec<String> = intent.examples.iter().map(|e| e.text.clone()).collect();
        texts.shuffle(&mut rng);
        let n_test = (texts.len() / 5).max(1);
        for (i, t) in texts.into_iter().enumerate() {
            let ex = (t, intent.name.clone());
            if i < n_test {
                data.test.push(ex);
            } else {
                data.train.push(ex);
            }
        }
    }
    Ok(data)
}

/// At most `n` training examples per label, chosen with `seed`.
pub fn limit_per_label(train: &[Example], n: usize, seed: u64) -> Vec<Example> {
    let mut by_label: BTreeMap<&str, Vec<&Example>> = BTreeMap::new();
    for ex in train {
        by_label.entry(ex.1.as_str()).or_default().push(ex);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for (_, mut list) in by_label {
        list.shuffle(&mut rng);
        out.extend(list.into_iter().take(n).cloned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) {
        std::fs::write(dir.join(name), body).unwrap();
    }

    #[test]
    fn csv_errors_name_file_and_row() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "train.csv", "text,category\n\"hi, there\",greet\nbye,goodbye\n");
        write(dir.path(), "test.csv", "text,category\nhello,greet\nrefund me,refund\n");
        let err = load_csv(dir.path()).unwrap_err().to_string();
        assert!(err.contains("test.csv row 3") && err.contains("\"refund\" is not in the training split"), "{err}");

        write(dir.path(), "test.csv", "text,label\nhello,greet\n");
        let err = load_csv(dir.path()).unwrap_err().to_string();
        assert!(err.contains("test.csv row 1: missing column `category`"), "{err}");

        write(dir.path(), "test.csv", "text,category\nhello,greet\n");
        let data = load_csv(dir.path()).unwrap();
        assert_eq!(data.train[0], ("hi, there".to_string(), "greet".to_string()));
    }

    #[test]
    fn dev_only_reads_the_validation_split_and_never_test() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("splits")).unwrap();
        let splits = dir.path().join("splits");
        write(&splits, "dialoglue_train.csv", "text,category\nhi,greet\nbye,goodbye\n");
        write(&splits, "dialoglue_val.csv", "text,category\nhello,greet\n");
        write(&splits, "train_10.csv", "text,category\nhi,greet\nhello,greet\n");
        write(dir.path(), "test.csv", "text,category\nnever read,greet\n");
        let data = load_csv_dev(dir.path()).unwrap();
        assert_eq!((data.train.len(), data.test[0].0.as_str()), (2, "hello"));
        let few = load_csv_dev(&splits.join("train_10.csv")).unwrap();
        assert_eq!(few.train, vec![("hi".to_string(), "greet".to_string())], "val sentences leave the training file");
        std::fs::remove_file(splits.join("dialoglue_val.csv")).unwrap();
        let err = load_csv_dev(dir.path()).unwrap_err().to_string();
        assert!(err.contains("dialoglue_val.csv") && err.contains("missing"), "{err}");
    }

    #[test]
    fn clinc_learns_its_oos_examples_unless_threshold_only() {
        let dir = tempfile::tempdir().unwrap();
        let pair = |t: &str, l: &str| format!("[\"{t}\", \"{l}\"]");
        let body = format!(
            "{{\"train\": [{}], \"val\": [{}], \"test\": [{}], \"oos_train\": [{}], \"oos_val\": [{}], \"oos_test\": [{}]}}",
            pair("hi", "greet"),
            pair("hello", "greet"),
            pair("hey", "greet"),
            pair("moon?", "oos"),
            pair("sun?", "oos"),
            pair("mars?", "oos"),
        );
        write(dir.path(), "data_full.json", &body);
        let both = load_clinc(dir.path(), false).unwrap();
        let labels: Vec<&str> = both.train.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(labels, ["greet", "oos"]);
        assert_eq!((both.val.len(), both.test.len(), both.oos_label.as_deref()), (2, 2, Some("oos")));
        assert_eq!(load_clinc(dir.path(), true).unwrap().train.len(), 1, "the oos-threshold protocol");
    }

    #[test]
    fn few_shot_limits_each_label() {
        let train: Vec<Example> = (0..30).map(|i| (format!("t{i}"), format!("l{}", i % 3))).collect();
        let few = limit_per_label(&train, 4, 1);
        assert_eq!(few.len(), 12);
        assert_eq!(few, limit_per_label(&train, 4, 1), "seeded");
    }
}
