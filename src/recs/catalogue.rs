//! A service's own catalogue of what fans can watch or see: titles on the
//! streaming service and events at the venues, each with genres, a
//! description, an age rating and whether it can be had now.
//!
//! ```yaml
//! items:
//!   - id: arrival
//!     title: Arrival
//!     kind: title            # or event
//!     genres: [sci-fi, drama]
//!     description: A linguist is asked to talk to visitors from space.
//!     age_rating: 12
//!     available: true        # false: sold out, expired, withdrawn
//!     popularity: 80         # for fans with no history (any scale)
//! ```
//!
//! Errors name the file, line and column: a YAML error, a duplicate id, a
//! missing title.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use usher_intents::{locate, Seg};

use super::data::Item;
use crate::Error;

/// Titles on the service or events at a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Something to watch on the streaming service.
    #[default]
    Title,
    /// Something to see at a venue.
    Event,
}

/// One entry of the catalogue file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Stable id (what the backend's histories and orders name).
    #[serde(default)]
    pub id: String,
    /// Shown to fans.
    #[serde(default)]
    pub title: String,
    /// Title or event.
    #[serde(default)]
    pub kind: Kind,
    /// Genres.
    #[serde(default)]
    pub genres: Vec<String>,
    /// One or two sentences.
    #[serde(default)]
    pub description: String,
    /// The minimum age, when rated.
    #[serde(default)]
    pub age_rating: Option<u8>,
    /// Whether fans can have it now (false: sold out, withdrawn).
    #[serde(default = "yes")]
    pub available: bool,
    /// What fans with no history are shown first (higher first).
    #[serde(default)]
    pub popularity: f32,
    /// Where (events).
    #[serde(default)]
    pub venue: Option<String>,
    /// When (events), as written.
    #[serde(default)]
    pub date: Option<String>,
}

fn yes() -> bool {
    true
}

impl Entry {
    /// As an [`Item`] whose content text the encoder embeds.
    pub fn item(&self) -> Item {
        let mut tags = Vec::new();
        if !self.description.is_empty() {
            tags.push(self.description.clone());
        }
        Item { id: self.id.clone(), title: self.title.clone(), genres: self.genres.clone(), tags }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    items: Vec<Entry>,
}

/// A loaded catalogue: entries in file order, item number = index + 1.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// The entries.
    pub entries: Vec<Entry>,
    by_id: HashMap<String, u32>,
}

impl Catalogue {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(path, &src)
    }

    /// Parses `src` (read from `path`, which errors name).
    pub fn parse(path: &Path, src: &str) -> Result<Self, Error> {
        let at = |segs: &[Seg]| locate(src, segs).map(|p| (p.line, p.column)).unwrap_or((0, 0));
        let file: File = serde_yaml::from_str(src).map_err(|e| {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            Error::Data { file: path.to_path_buf(), line, message: format!("column {column}: {e}") }
        })?;
        let mut by_id = HashMap::new();
        for (i, entry) in file.items.iter().enumerate() {
            let item = |key: &str| [Seg::Key("items".into()), Seg::Index(i), Seg::Key(key.into())];
            let whole = [Seg::Key("items".into()), Seg::Index(i)];
            let fail = |(line, column): (usize, usize), what: String| Error::Data {
                file: path.to_path_buf(),
                line,
                message: format!("column {column}: item {}: {what}", i + 1),
            };
            if entry.id.trim().is_empty() {
                return Err(fail(at(&whole), "missing `id`".into()));
            }
            if entry.title.trim().is_empty() {
                return Err(fail(at(&whole), format!("`{}` has no `title`", entry.id)));
            }
            if let Some(first) = by_id.insert(entry.id.clone(), i as u32 + 1) {
                let (line, _) = at(&[Seg::Key("items".into()), Seg::Index(first as usize - 1), Seg::Key("id".into())]);
                return Err(fail(at(&item("id")), format!("duplicate id `{}` (first at line {line})", entry.id)));
            }
        }
        Ok(Self { entries: file.items, by_id })
    }

    /// The item number of `id`.
    pub fn number(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// The entry with item number `n`.
    pub fn entry(&self, n: u32) -> Option<&Entry> {
        self.entries.get((n as usize).checked_sub(1)?)
    }

    /// Items, for content embeddings.
    pub fn items(&self) -> Vec<Item> {
        self.entries.iter().map(Entry::item).collect()
    }

    /// The entry whose title the fan names in `text` ("something like
    /// arrival"): the longest title contained in it, ignoring case and
    /// punctuation, or one whose words all appear.
    pub fn find_title(&self, text: &str) -> Option<u32> {
        let norm = |s: &str| {
            s.to_lowercase()
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { ' ' })
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let text = format!(" {} ", norm(text));
        let mut best: Option<(usize, u32)> = None;
        for (i, e) in self.entries.iter().enumerate() {
            let title = norm(&e.title);
            let bare = title.strip_prefix("the ").unwrap_or(&title);
            if [title.as_str(), bare].iter().any(|t| !t.is_empty() && text.contains(&format!(" {t} "))) {
                let len = title.len();
                if best.is_none_or(|(l, _)| len > l) {
                    best = Some((len, i as u32 + 1));
                }
            }
        }
        best.map(|(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "items:\n  - id: arrival\n    title: Arrival\n    genres: [sci-fi]\n  - id: ev-hamlet\n    title: Hamlet\n    kind: event\n    available: false\n";

    #[test]
    fn parses_and_finds_titles_in_a_message() {
        let c = Catalogue::parse(Path::new("c.yaml"), GOOD).unwrap();
        assert_eq!(c.entries.len(), 2);
        assert_eq!(c.number("ev-hamlet"), Some(2));
        assert!(!c.entry(2).unwrap().available);
        assert_eq!(c.entry(2).unwrap().kind, Kind::Event);
        assert_eq!(c.find_title("anything like ARRIVAL?"), Some(1));
        assert_eq!(c.find_title("something like Xyzzy"), None);
        assert_eq!(c.find_title("arrivals board"), None);
    }

    #[test]
    fn duplicate_ids_and_missing_titles_name_file_and_line() {
        let dup = format!("{GOOD}  - id: arrival\n    title: Arrival again\n");
        let err = Catalogue::parse(Path::new("c.yaml"), &dup).unwrap_err().to_string();
        assert!(err.starts_with("c.yaml line 9:") && err.contains("duplicate id `arrival` (first at line 2)"), "{err}");
        let missing = "items:\n  - id: a\n    title: A\n  - id: b\n    genres: [x]\n";
        let err = Catalogue::parse(Path::new("c.yaml"), missing).unwrap_err().to_string();
        assert!(err.starts_with("c.yaml line 4:") && err.contains("`b` has no `title`"), "{err}");
        let bad = "items:\n  - id: a\n    title: A\n    rating: 5\n";
        let err = Catalogue::parse(Path::new("c.yaml"), bad).unwrap_err().to_string();
        assert!(err.starts_with("c.yaml line 4:") && err.contains("rating"), "{err}");
    }
}
