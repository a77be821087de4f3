//! Sentiment: every fan message scored in [-1, 1] (−1 negative, +1
//! positive) by a model trained on SST-2 (binary movie review sentences).
//!
//! # Layout
//! - `model`: [`Sentiment`], the vocabulary that decides which messages are
//!   readable, the temperature, saving and loading;
//! - `tuned`: the shipped reader, the sentence encoder with its top layers
//!   fine-tuned and a GRU over every token's state;
//! - `words`: the small reader, a GRU over word embeddings from scratch;
//! - `tokenize`: the word splitter of the vocabulary and the word GRU.
//!
//! Path of one message: [`Sentiment::score_known`] drops codes, links and
//! emails, gives no score to a message with too few known words, runs the
//! reader over the rest in one length-sorted batch and maps P(positive) to
//! [-1, 1].

mod model;
mod tokenize;
mod tuned;
mod words;

pub use model::{Sentiment, SentimentReport};
pub use tokenize::tokens;

use std::path::Path;

use candle_core::Tensor;
use candle_nn::rnn::RNN;

use crate::Error;

/// A GRU run over `x` (batch × time × dim), its states averaged over the
/// time steps `mask` (batch × time × 1, 0/1) keeps.
fn masked_mean_of_gru(gru: &candle_nn::GRU, x: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let states = gru.seq(x)?;
    let hs: Vec<Tensor> = states.iter().map(|s| s.h.clone()).collect();
    let h = Tensor::stack(&hs, 1)?;
    h.broadcast_mul(mask)?.sum(1)?.broadcast_div(&mask.sum(1)?)
}

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

    /// The shipped word GRU (the encoder reader is tested in tests/it/fine_tune.rs).
    fn shipped() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/sentiment-words")
    }

    #[test]
    fn the_shipped_word_model_scores_sentiment() {
        let model = Sentiment::load(&shipped(), None).unwrap();
        let s = model.score(&["a wonderful , moving and funny film", "dull , tedious and awful", "", "🎸🔥"]).unwrap();
        assert!(s[0] > 0.3 && s[1] < -0.3, "{s:?}");
        assert!(s.iter().all(|x| (-1.0..=1.0).contains(x)));
        assert!(model.report.is_some_and(|r| r.test_accuracy.is_some_and(|a| a > 0.75)));
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
        let err = Sentiment::load(dir.path(), None).err().unwrap().to_string();
        assert!(err.contains("model.safetensors"), "{err}");
        std::fs::write(dir.path().join("bad.txt"), "2 what\n").unwrap();
        let err = read_sst2(&dir.path().join("bad.txt")).unwrap_err().to_string();
        assert!(err.contains("bad.txt row 1"), "{err}");
    }
}
