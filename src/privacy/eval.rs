//! Redaction recall and precision on a labelled set of support messages
//! (`usher test redaction`, `eval/privacy/redaction.jsonl`): each line is
//! `{"text": …, "pii": [[KIND, VALUE], …]}`, every VALUE a substring of the
//! text. A value counts as found when one replaced span covers it whole;
//! a replaced span counts as right when it overlaps a labelled value.
//! A value stands where it occurs as a whole token, not yet taken by an
//! earlier value of the line ("zoe@mail.co" after "zoe@mail.com").

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Redactor;
use crate::Error;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    text: String,
    pii: Vec<(String, String)>,
}

/// What the redactor did on the set.
#[derive(Debug, Default, Serialize)]
pub struct Scores {
    /// Messages.
    pub messages: usize,
    /// Labelled values found and in all, by kind.
    pub by_kind: BTreeMap<String, (usize, usize)>,
    /// Replaced spans, and those that overlap a labelled value.
    pub predicted: (usize, usize),
    /// Labelled values found / all.
    pub recall: f64,
    /// Replaced spans that overlap a labelled value / all replaced spans.
    pub precision: f64,
    /// Found values whose placeholder names another kind.
    pub wrong_kind: usize,
    /// Values missed: (message, kind, value).
    pub missed: Vec<(String, String, String)>,
    /// Spans replaced that hold no labelled value: (message, span).
    pub spurious: Vec<(String, String)>,
}

/// Runs `redactor` over the set at `path`.
pub fn evaluate(path: &Path, redactor: &Redactor) -> Result<Scores, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut s = Scores::default();
    let (mut found_all, mut total_all) = (0, 0);
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let case: Case =
            serde_json::from_str(line).map_err(|e| Error::Invalid(format!("{}:{}: {e}", path.display(), n + 1)))?;
        s.messages += 1;
        let found = redactor.find(&case.text, &[], &|_| false);
        let mut gold = Vec::new();
        for (kind, value) in &case.pii {
            let Some(start) = occurrence(&case.text, value, &gold) else {
                let message = format!("{}:{}: {value:?} is not in the text", path.display(), n + 1);
                return Err(Error::Invalid(message));
            };
            let end = start + value.len();
            gold.push((start, end));
            let entry = s.by_kind.entry(kind.clone()).or_default();
            entry.1 += 1;
            total_all += 1;
            match found.iter().find(|f| f.start <= start && f.end >= end) {
                Some(f) => {
                    entry.0 += 1;
                    found_all += 1;
                    if f.kind != *kind {
                        s.wrong_kind += 1;
                    }
                }
                None => s.missed.push((case.text.clone(), kind.clone(), value.clone())),
            }
        }
        for f in &found {
            s.predicted.0 += 1;
            if gold.iter().any(|(a, b)| f.start < *b && *a < f.end) {
                s.predicted.1 += 1;
            } else {
                s.spurious.push((case.text.clone(), case.text[f.start..f.end].to_string()));
            }
        }
    }
    s.recall = found_all as f64 / total_all.max(1) as f64;
    s.precision = s.predicted.1 as f64 / s.predicted.0.max(1) as f64;
    Ok(s)
}

/// Where `value` stands in `text`: the first occurrence not inside one of
/// the `taken` spans and not running on into a letter or digit, else the
/// first occurrence at all.
fn occurrence(text: &str, value: &str, taken: &[(usize, usize)]) -> Option<usize> {
    let whole = |start: usize| {
        let end = start + value.len();
        let free = taken.iter().all(|&(s, e)| end <= s || e <= start);
        free && !text[end..].starts_with(char::is_alphanumeric)
    };
    let mut starts = text.match_indices(value).map(|(i, _)| i);
    starts.clone().find(|&i| whole(i)).or_else(|| starts.next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_stands_where_it_occurs_whole() {
        let text = "should be zoe.h@mail.com not zoe.h@mail.co";
        let first = occurrence(text, "zoe.h@mail.com", &[]).unwrap();
        assert_eq!(first, 10);
        assert_eq!(occurrence(text, "zoe.h@mail.co", &[(first, first + 14)]), Some(29));
        assert_eq!(occurrence("12 Elm Rd and 12 Elm Rd", "12 Elm Rd", &[(0, 9)]), Some(14));
        assert_eq!(occurrence("abc", "x", &[]), None);
    }
}
