//! The emotion lexicon: words strongly associated with one of Ekman's six
//! emotions in GoEmotions (Demszky et al. 2020, Apache-2.0), learnt by
//! `usher train emotions` and shipped under `models/emotions/`.
//!
//! A word enters the lexicon when it appears in at least
//! [`MIN_COUNT`] training comments, at least [`MIN_SHARE`] of them carry
//! the emotion, and that share is at least [`MIN_LIFT`] times the emotion's
//! base rate.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::style::words;
use crate::Error;

/// Minimum comments containing a word.
pub const MIN_COUNT: usize = 10;
/// Minimum share of those comments labelled with the emotion.
pub const MIN_SHARE: f64 = 0.5;
/// Minimum ratio of that share to the emotion's base rate.
pub const MIN_LIFT: f64 = 1.5;

/// An emotion word found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmotionWord {
    /// The word, lower-cased.
    pub word: String,
    /// `anger`, `disgust`, `fear`, `joy`, `sadness` or `surprise`.
    pub emotion: String,
}

/// Word → emotion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lexicon {
    words: BTreeMap<String, String>,
}

impl Lexicon {
    /// A lexicon from explicit pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self { words: pairs.into_iter().map(|(w, e)| (w.to_string(), e.to_string())).collect() }
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The emotion words of `text`, in order.
    pub fn find(&self, text: &str) -> Vec<EmotionWord> {
        words(text)
            .into_iter()
            .filter_map(|w| self.words.get(&w).map(|e| EmotionWord { emotion: e.clone(), word: w }))
            .collect()
    }

    /// Loads `lexicon.json` from `dir`; errors name the file.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let path = dir.join("lexicon.json");
        let raw = std::fs::read_to_string(&path).map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&raw).map_err(|e| Error::Model(format!("{}: corrupt lexicon: {e}", path.display())))
    }

    /// Writes `lexicon.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Model(format!("{}: {e}", dir.display())))?;
        let path = dir.join("lexicon.json");
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(&path, json).map_err(|e| Error::Model(format!("{}: {e}", path.display())))
    }

    /// Learns the lexicon from labelled comments.
    pub fn learn(comments: &[Comment]) -> Self {
        let mut with_word: HashMap<&str, usize> = HashMap::new();
        let mut with_word_emotion: HashMap<(&str, &str), usize> = HashMap::new();
        let mut with_emotion: HashMap<&str, usize> = HashMap::new();
        let tokens: Vec<HashSet<String>> = comments.iter().map(|c| words(&c.text).into_iter().collect()).collect();
        for (comment, words) in comments.iter().zip(&tokens) {
            for e in &comment.emotions {
                *with_emotion.entry(e).or_default() += 1;
            }
            for w in words {
                *with_word.entry(w).or_default() += 1;
                for e in &comment.emotions {
                    *with_word_emotion.entry((w, e)).or_default() += 1;
                }
            }
        }
        let total = comments.len().max(1) as f64;
        let mut lexicon = BTreeMap::new();
        for (&word, &n) in &with_word {
            if n < MIN_COUNT || word.chars().count() < 3 || word.chars().any(|c| c.is_ascii_digit()) {
                continue;
            }
            let best = with_emotion
                .iter()
                .map(|(&e, &base)| {
                    let share = with_word_emotion.get(&(word, e)).copied().unwrap_or(0) as f64 / n as f64;
                    (e, share, share / (base as f64 / total))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((e, share, lift)) = best {
                if share >= MIN_SHARE && lift >= MIN_LIFT {
                    lexicon.insert(word.to_string(), e.to_string());
                }
            }
        }
        Self { words: lexicon }
    }

    /// Predicts a comment's emotion: the one most of its words carry.
    pub fn predict(&self, text: &str) -> Option<String> {
        dominant(&self.find(text))
    }
}

/// The emotion most of `found` carry (ties: the first to appear).
pub fn dominant(found: &[EmotionWord]) -> Option<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for w in found {
        match counts.iter_mut().find(|(e, _)| *e == w.emotion) {
            Some((_, n)) => *n += 1,
            None => counts.push((&w.emotion, 1)),
        }
    }
    let max = counts.iter().map(|(_, n)| *n).max()?;
    counts.into_iter().find(|(_, n)| *n == max).map(|(e, _)| e.to_string())
}

/// One labelled GoEmotions comment, mapped to Ekman's emotions.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The text.
    pub text: String,
    /// Its Ekman emotions (empty for neutral).
    pub emotions: Vec<String>,
}

/// Reads a GoEmotions split (`train.tsv`, …) with the Ekman mapping from
/// `dir`; errors name file and line.
pub fn read_goemotions(dir: &Path, split: &str) -> Result<Vec<Comment>, Error> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| Error::Model(format!("{}: {e}", path.display())))
    };
    let names: Vec<String> = read("emotions.txt")?.lines().map(str::to_string).collect();
    let ekman: BTreeMap<String, Vec<String>> = serde_json::from_str(&read("ekman_mapping.json")?)?;
    let group: HashMap<&str, &str> =
        ekman.iter().flat_map(|(g, members)| members.iter().map(move |m| (m.as_str(), g.as_str()))).collect();
    let file = format!("{split}.tsv");
    let mut comments = Vec::new();
    for (i, line) in read(&file)?.lines().enumerate() {
        let mut cols = line.split('\t');
        let (Some(text), Some(ids)) = (cols.next(), cols.next()) else {
            return Err(Error::Model(format!("{}:{}: expected text<TAB>ids", dir.join(&file).display(), i + 1)));
        };
        let mut emotions: Vec<String> = Vec::new();
        for id in ids.split(',') {
            let name = id.trim().parse::<usize>().ok().and_then(|k| names.get(k));
            let Some(name) = name else {
                return Err(Error::Model(format!("{}:{}: bad emotion id {id:?}", dir.join(&file).display(), i + 1)));
            };
            if let Some(g) = group.get(name.as_str()) {
                if !emotions.iter().any(|e| e == g) {
                    emotions.push(g.to_string());
                }
            }
        }
        comments.push(Comment { text: text.to_string(), emotions });
    }
    Ok(comments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(text: &str, emotions: &[&str]) -> Comment {
        Comment { text: text.into(), emotions: emotions.iter().map(|e| e.to_string()).collect() }
    }

    #[test]
    fn learns_words_that_lean_to_one_emotion() {
        let mut comments = Vec::new();
        for _ in 0..30 {
            comments.push(comment("this is furious stuff", &["anger"]));
            comments.push(comment("this is lovely stuff", &["joy"]));
            comments.push(comment("this is plain stuff", &[]));
        }
        let lexicon = Lexicon::learn(&comments);
        assert_eq!(lexicon.predict("so furious"), Some("anger".into()));
        assert_eq!(lexicon.predict("lovely"), Some("joy".into()));
        // Words spread across emotions stay out.
        assert!(lexicon.find("this stuff is plain").is_empty());
    }

    #[test]
    fn dominant_breaks_ties_by_first_appearance() {
        let w = |word: &str, e: &str| EmotionWord { word: word.into(), emotion: e.into() };
        assert_eq!(dominant(&[w("sad", "sadness"), w("glad", "joy")]), Some("sadness".into()));
        assert_eq!(dominant(&[w("sad", "sadness"), w("glad", "joy"), w("happy", "joy")]), Some("joy".into()));
        assert_eq!(dominant(&[]), None);
    }

    #[test]
    fn a_corrupt_lexicon_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lexicon.json"), "{nope").unwrap();
        let e = Lexicon::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("lexicon.json") && e.contains("corrupt"), "{e}");
    }
}
