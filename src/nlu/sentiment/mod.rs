//! Sentiment: a GRU over word embeddings, trained on SST-2 (binary movie
//! review sentences), scoring every fan message in [-1, 1]
//! (−1 negative, +1 positive). Small enough to ship trained in `models/`.

mod model;
mod tokenize;

pub use model::{Sentiment, SentimentReport};
pub use tokenize::tokens;

use std::path::Path;

use crate::Error;

/// One labelled sentence (label 1 = positive).
pub type Labelled = (String, u32);

/// Reads an SST-2 file (`label sentence` per line).
pub fn read_sst2(path: &Path) -> Result<Vec<Labelled>, Error> {
    let raw = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    raw.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let (label, text) = line.split_once(' ').unwrap_or((line, ""));
            match label {
                "0" | "1" => Ok((text.to_string(), u32::from(label == "1"))),
                other => Err(Error::Model(format!("{} row {}: label {other:?} is not 0 or 1", path.display(), i + 1))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/sentiment")
    }

    #[test]
    fn the_shipped_model_scores_sentiment() {
        let model = Sentiment::load(&shipped()).unwrap();
        let s = model.score(&["a wonderful , moving and funny film", "dull , tedious and awful", "", "🎸🔥"]).unwrap();
        assert!(s[0] > 0.3 && s[1] < -0.3, "{s:?}");
        assert!(s.iter().all(|x| (-1.0..=1.0).contains(x)));
        assert!(model.report.is_some_and(|r| r.test_accuracy > 0.75));
        let known = model
            .score_known(&["A12345", "hi", "fan@example.com", "<img src=x onerror=alert(1)>", "this film is awful"])
            .unwrap();
        assert_eq!(&known[..4], &[None, None, None, None], "no mood in codes, greetings, emails or markup");
        assert!(known[4].is_some_and(|s| s < 0.0));
    }

    #[test]
    fn training_is_deterministic_under_a_seed() {
        let data: Vec<Labelled> = ["good fun", "great film", "bad film", "awful fun", "great great", "bad bad"]
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), u32::from(i % 3 != 2 && !t.starts_with("awful"))))
            .collect();
        let a = Sentiment::train(&data, 2, 7, &mut |_, _, _| {}).unwrap().score(&["great fun"]).unwrap();
        let b = Sentiment::train(&data, 2, 7, &mut |_, _, _| {}).unwrap().score(&["great fun"]).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(shipped().join("vocab.json"), dir.path().join("vocab.json")).unwrap();
        std::fs::write(dir.path().join("model.safetensors"), b"not safetensors").unwrap();
        let err = Sentiment::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("model.safetensors"), "{err}");
        std::fs::write(dir.path().join("bad.txt"), "2 what\n").unwrap();
        let err = read_sst2(&dir.path().join("bad.txt")).unwrap_err().to_string();
        assert!(err.contains("bad.txt row 1"), "{err}");
    }
}
