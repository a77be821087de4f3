//! From search hits to what the fan reads: the best passage, trimmed to
//! whole sentences of readable length, with its source.

use serde::{Deserialize, Serialize};

use super::chunk::sentences;
use super::store::Hit;

/// Characters of passage shown before trimming at a sentence boundary.
pub const READABLE: usize = 420;

/// A cited answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The passage, trimmed to whole sentences.
    pub text: String,
    /// The source document's title.
    pub title: String,
    /// The section heading.
    pub heading: String,
    /// The source's URL, if it has one.
    pub url: Option<String>,
    /// The source's path in `knowledge/`.
    pub path: String,
    /// Cosine similarity between the question and the passage.
    pub similarity: f32,
    /// Whether the similarity clears `knowledge.answer_threshold`.
    pub confident: bool,
    /// The next best hits' sources and similarities, for explanations.
    pub runners_up: Vec<(String, f32)>,
}

impl Answer {
    /// "Source: Title (url)" for the reply.
    pub fn citation(&self) -> String {
        match &self.url {
            Some(url) => format!("Source: {} – {url}", self.title),
            None => format!("Source: {}", self.title),
        }
    }
}

/// The answer from the top hit, if any.
pub fn best(hits: &[Hit], threshold: f32) -> Option<Answer> {
    let top = hits.first()?;
    let p = &top.passage;
    Some(Answer {
        text: trim(&p.text, READABLE),
        title: p.title.clone(),
        heading: p.heading.clone(),
        url: p.url.clone(),
        path: p.path.clone(),
        similarity: top.similarity,
        confident: top.similarity >= threshold,
        runners_up: hits[1..].iter().take(2).map(|h| (source(h), h.similarity)).collect(),
    })
}

/// "path#heading" of a hit.
fn source(hit: &Hit) -> String {
    match hit.passage.heading.is_empty() {
        true => hit.passage.path.clone(),
        false => format!("{}#{}", hit.passage.path, hit.passage.heading),
    }
}

/// Whole sentences up to `max` characters (at least one; a single longer
/// sentence is cut at a word boundary with an ellipsis). List markers are
/// dropped so the answer reads as prose.
pub fn trim(text: &str, max: usize) -> String {
    let mut out = String::new();
    for s in sentences(text) {
        let s = s.trim_start_matches("- ").trim();
        let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let s = if digits > 0 && s[digits..].starts_with(". ") { s[digits + 2..].trim() } else { s };
        let extra = if out.is_empty() { s.len() } else { s.len() + 1 };
        if !out.is_empty() && out.len() + extra > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(s);
    }
    if out.len() > max {
        let mut cut = max.saturating_sub(1);
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        let end = out[..cut].rfind(' ').unwrap_or(cut);
        out.truncate(end);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_at_sentence_boundaries() {
        let text = "First sentence here. Second one follows. Third is long enough to overflow the limit.";
        assert_eq!(trim(text, 45), "First sentence here. Second one follows.");
        assert_eq!(trim(text, 1000), text);
        let long = "word ".repeat(100);
        let t = trim(&long, 30);
        assert!(t.ends_with('…') && t.chars().count() <= 30, "{t}");
        assert_eq!(trim("- Basic: cheap.\n- Premium: 4K.", 100), "Basic: cheap. Premium: 4K.");
        assert_eq!(trim("1. Restart it.\n5 Mbps for HD.", 100), "Restart it. 5 Mbps for HD.");
    }
}
