//! Chunking: one chunk per section, long sections split into windows of
//! whole sentences that overlap by one sentence, so an answer that spans a
//! window edge is still found whole in one of them.

use serde::{Deserialize, Serialize};

use super::source::Document;

/// Words per chunk before a section is split.
const MAX_WORDS: usize = 110;

/// What is stored with each vector: enough to cite and show the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// The document's path relative to the knowledge directory.
    pub path: String,
    /// The document's title.
    pub title: String,
    /// The section heading.
    pub heading: String,
    /// The document's public URL.
    #[serde(default)]
    pub url: Option<String>,
    /// The chunk's text.
    pub text: String,
    /// The document's content hash (incremental indexing).
    pub hash: String,
}

/// A passage with its point id.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Stable point id: a hash of path and position.
    pub id: u64,
    /// What gets stored.
    pub passage: Passage,
}

impl Chunk {
    /// The text that is embedded and BM25-indexed: title and heading give
    /// the passage its context.
    pub fn indexed_text(&self) -> String {
        let p = &self.passage;
        if p.heading == p.title {
            format!("{}. {}", p.title, p.text)
        } else {
            format!("{}. {}. {}", p.title, p.heading, p.text)
        }
    }
}

/// Splits a document into chunks.
pub fn chunks(doc: &Document) -> Vec<Chunk> {
    let mut out = Vec::new();
    for section in &doc.sections {
        for text in windows(&section.text) {
            let n = out.len();
            let digest = crate::util::sha256_hex(format!("{}#{n}", doc.path).as_bytes());
            let id = u64::from_str_radix(&digest[..15], 16).unwrap_or(n as u64);
            out.push(Chunk {
                id,
                passage: Passage {
                    path: doc.path.clone(),
                    title: doc.title.clone(),
                    heading: section.heading.clone(),
                    url: doc.url.clone(),
                    text,
                    hash: doc.hash.clone(),
                },
            });
        }
    }
    out
}

/// Sentences (or lines, for lists), split after `.`, `!` or `?` followed by
/// whitespace, and at line ends.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut start = 0;
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let at_end = matches!(b, b'.' | b'!' | b'?') && bytes.get(i + 1).is_some_and(u8::is_ascii_whitespace);
            // "1. Restart" is a list number, not a sentence.
            if at_end && !line[start..i].trim().chars().all(|c| c.is_ascii_digit()) {
                out.push(line[start..=i].trim());
                start = i + 1;
            }
        }
        let rest = line[start..].trim();
        if !rest.is_empty() {
            out.push(rest);
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn windows(text: &str) -> Vec<String> {
    let words = |s: &str| s.split_whitespace().count();
    let sents = sentences(text);
    if words(text) <= MAX_WORDS || sents.len() < 2 {
        return vec![text.trim().to_string()];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < sents.len() {
        let mut end = start;
        let mut count = 0;
        while end < sents.len() && (end == start || count + words(sents[end]) <= MAX_WORDS) {
            count += words(sents[end]);
            end += 1;
        }
        out.push(sents[start..end].join(" "));
        if end >= sents.len() {
            break;
        }
        // Overlap by one sentence, but always move forward.
        start = if end - 1 > start { end - 1 } else { end };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::source::Section;

    fn doc(sections: Vec<(&str, String)>) -> Document {
        Document {
            path: "a.md".into(),
            title: "T".into(),
            url: None,
            tags: vec![],
            sections: sections.into_iter().map(|(h, t)| Section { heading: h.into(), text: t }).collect(),
            hash: "h".into(),
        }
    }

    #[test]
    fn short_sections_are_one_chunk_each_with_stable_ids() {
        let d = doc(vec![("T", "Intro.".into()), ("Two", "Second part.".into())]);
        let c = chunks(&d);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].indexed_text(), "T. Two. Second part.");
        assert_eq!(c[0].indexed_text(), "T. Intro.");
        assert_eq!(chunks(&d)[1].id, c[1].id);
        assert_ne!(c[0].id, c[1].id);
    }

    #[test]
    fn long_sections_split_at_sentences_with_overlap() {
        let sentence = |i: usize| format!("Sentence {i} has exactly eight words in it.");
        let text: Vec<String> = (0..40).map(sentence).collect();
        let c = chunks(&doc(vec![("Long", text.join(" "))]));
        assert!(c.len() >= 3, "{}", c.len());
        for w in c.windows(2) {
            let last = sentences(&w[0].passage.text).last().unwrap().to_string();
            assert!(w[1].passage.text.starts_with(&last), "windows overlap by a sentence");
        }
        assert!(c.iter().all(|x| x.passage.text.split_whitespace().count() <= MAX_WORDS));
        assert!(c.last().unwrap().passage.text.ends_with(&sentence(39)));
    }

    #[test]
    fn sentence_splitting() {
        assert_eq!(
            sentences("A b. C d? E 5.5 f\n- item\n2. Next one."),
            vec!["A b.", "C d?", "E 5.5 f", "- item", "2. Next one."]
        );
    }
}
