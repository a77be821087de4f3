//! Sentiment and style analysis of a fan's text.
//!
//! # Layout
//! - [`style`]: words, sentences, lexical diversity, Flesch reading ease.
//! - [`rhyme`]: the rhyme scheme of verse (`ABAB`).
//! - [`emotion`]: the emotion lexicon learnt from GoEmotions, and the
//!   dominant emotion words of a text.

pub mod emotion;
pub mod rhyme;
pub mod style;

use serde::Serialize;

use crate::nlu::sentiment::Sentiment;
use crate::Error;
use emotion::{EmotionWord, Lexicon};
use style::Style;

/// Longest text analysed (bytes); longer input is refused.
pub const MAX_TEXT: usize = 20 * 1024;

/// Scores within this distance of 0 read as neutral.
const NEUTRAL_BAND: f32 = 0.2;

/// The sentiment of a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentimentReading {
    /// `positive`, `negative` or `neutral`.
    pub label: &'static str,
    /// In [-1, 1].
    pub score: f32,
}

/// Everything `usher analyze` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// `None` without a sentiment model.
    pub sentiment: Option<SentimentReading>,
    /// Length, diversity and readability.
    pub style: Style,
    /// The rhyme scheme, for texts of two or more lines.
    pub rhyme_scheme: Option<String>,
    /// Emotion words found, in text order.
    pub emotion_words: Vec<EmotionWord>,
    /// The emotion most of them carry.
    pub dominant_emotion: Option<String>,
    /// A short readable summary.
    pub summary: String,
}

/// Analyses `text`. Empty or oversized text is refused with a reason.
pub fn analyze(text: &str, sentiment: Option<&Sentiment>, lexicon: &Lexicon) -> Result<Analysis, Error> {
    if text.trim().is_empty() {
        return Err(Error::Model("there is no text to analyse".into()));
    }
    if text.len() > MAX_TEXT {
        return Err(Error::Model(format!("the text is {} bytes; the limit is {MAX_TEXT}", text.len())));
    }
    let sentiment = match sentiment {
        Some(model) => {
            let score = model.score(&[text])?.first().copied().unwrap_or(0.0);
            Some(SentimentReading { label: label(score), score })
        }
        None => None,
    };
    let style = style::measure(text);
    let rhyme_scheme = rhyme::scheme(text);
    let emotion_words = lexicon.find(text);
    let dominant_emotion = emotion::dominant(&emotion_words);
    let mut analysis =
        Analysis { sentiment, style, rhyme_scheme, emotion_words, dominant_emotion, summary: String::new() };
    analysis.summary = summary(&analysis);
    Ok(analysis)
}

fn label(score: f32) -> &'static str {
    if score > NEUTRAL_BAND {
        "positive"
    } else if score < -NEUTRAL_BAND {
        "negative"
    } else {
        "neutral"
    }
}

fn summary(a: &Analysis) -> String {
    let s = &a.style;
    let mut parts = Vec::new();
    if let Some(reading) = &a.sentiment {
        parts.push(format!("It reads {} ({:+.2}).", reading.label, reading.score));
    }
    let ease = match s.reading_ease {
        e if e >= 80.0 => "very easy to read",
        e if e >= 60.0 => "easy to read",
        e if e >= 40.0 => "fairly demanding",
        _ => "hard going",
    };
    let words = if s.words == 1 { "word" } else { "words" };
    parts.push(format!(
        "{} {words} in {} sentence{}, {ease} (Flesch {:.0}), lexical diversity {:.2}.",
        s.words,
        s.sentences,
        if s.sentences == 1 { "" } else { "s" },
        s.reading_ease,
        s.lexical_diversity
    ));
    if let Some(scheme) = &a.rhyme_scheme {
        parts.push(format!("Verse with rhyme scheme {scheme}."));
    }
    if let Some(emotion) = &a.dominant_emotion {
        let words: Vec<&str> =
            a.emotion_words.iter().filter(|w| &w.emotion == emotion).map(|w| w.word.as_str()).take(3).collect();
        parts.push(format!("Mostly {emotion} (\"{}\").", words.join("\", \"")));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> Lexicon {
        Lexicon::from_pairs([("furious", "anger"), ("angry", "anger"), ("love", "joy"), ("thanks", "joy")])
    }

    #[test]
    fn empty_and_huge_texts_are_refused() {
        assert!(analyze("  ", None, &lexicon()).unwrap_err().to_string().contains("no text"));
        let huge = "a".repeat(MAX_TEXT + 1);
        assert!(analyze(&huge, None, &lexicon()).unwrap_err().to_string().contains("limit"));
    }

    #[test]
    fn summary_names_the_figures() {
        let a = analyze("I am furious. So angry about the delay!", None, &lexicon()).unwrap();
        assert_eq!(a.dominant_emotion.as_deref(), Some("anger"));
        assert!(a.summary.contains("8 words in 2 sentences"), "{}", a.summary);
        assert!(a.summary.contains("Mostly anger (\"furious\", \"angry\")"), "{}", a.summary);
        assert_eq!(a.rhyme_scheme, None);
    }

    #[test]
    fn labels_follow_the_score() {
        assert_eq!(label(0.9), "positive");
        assert_eq!(label(-0.5), "negative");
        assert_eq!(label(0.1), "neutral");
    }
}
