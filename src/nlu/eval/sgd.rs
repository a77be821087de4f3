//! The Schema-Guided Dialogue entertainment turns
//! (`../shared/data/sgd_entertainment`): `schema.json` and
//! `{train,dev,test}_turns.jsonl`, checked as they are read, and the
//! predictions a peer writes for the test split.
//!
//! Spans in the files count characters; here they become byte offsets, as
//! everywhere else in the NLU.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::intents::Span;
use crate::Error;

/// One frame of one user turn.
#[derive(Debug, Clone)]
pub struct Turn {
    /// The dialogue.
    pub dialogue_id: String,
    /// The turn's position in the dialogue (system turns counted).
    pub turn_index: u32,
    /// The service of this frame.
    pub service: String,
    /// The utterance.
    pub text: String,
    /// Gold slot spans (byte offsets; `entity` is the slot).
    pub spans: Vec<Span>,
}

impl Turn {
    /// The key a peer's prediction is matched by.
    fn key(&self) -> (String, u32, String) {
        (self.dialogue_id.clone(), self.turn_index, self.service.clone())
    }
}

/// A service's free-text (non-categorical) slots: name → description.
pub type Slots = BTreeMap<String, String>;

/// The whole data set.
#[derive(Debug, Clone)]
pub struct Sgd {
    /// Every service's free-text slots.
    pub services: BTreeMap<String, Slots>,
    /// The training split.
    pub train: Vec<Turn>,
    /// The validation split (for every choice of ours).
    pub dev: Vec<Turn>,
    /// The test split.
    pub test: Vec<Turn>,
}

impl Sgd {
    /// Services with at least one training turn.
    pub fn seen_services(&self) -> BTreeSet<&str> {
        self.train.iter().map(|t| t.service.as_str()).collect()
    }
}

#[derive(Deserialize)]
struct RawSchema {
    service_name: String,
    slots: Vec<RawSlot>,
}

#[derive(Deserialize)]
struct RawSlot {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    is_categorical: bool,
}

#[derive(Deserialize)]
struct RawSpan {
    slot: String,
    start: usize,
    exclusive_end: usize,
}

#[derive(Deserialize)]
struct RawTurn {
    dialogue_id: String,
    turn_index: u32,
    service: String,
    #[serde(default)]
    text: String,
    #[serde(default, alias = "spans")]
    slots: Vec<RawSpan>,
}

fn bad(file: &Path, line: usize, message: impl Into<String>) -> Error {
    Error::Data { file: file.to_path_buf(), line, message: message.into() }
}

fn read(file: &Path) -> Result<String, Error> {
    if !file.exists() {
        return Err(bad(
            file,
            0,
            "missing: the sgd format needs schema.json, train_turns.jsonl, dev_turns.jsonl and test_turns.jsonl",
        ));
    }
    std::fs::read_to_string(file).map_err(|source| Error::Io { path: file.to_path_buf(), source })
}

/// Reads `dir` (see the module docs).
pub fn load(dir: &Path) -> Result<Sgd, Error> {
    let file = dir.join("schema.json");
    let schemas: Vec<RawSchema> =
        serde_json::from_str(&read(&file)?).map_err(|e| bad(&file, e.line(), format!("column {}: {e}", e.column())))?;
    let services: BTreeMap<String, Slots> = schemas
        .into_iter()
        .map(|s| {
            let slots = s.slots.into_iter().filter(|x| !x.is_categorical).map(|x| (x.name, x.description));
            (s.service_name, slots.collect())
        })
        .collect();
    let split = |name: &str| turns(&dir.join(format!("{name}_turns.jsonl")), &services);
    Ok(Sgd { train: split("train")?, dev: split("dev")?, test: split("test")?, services })
}

/// Byte offsets of a character range of `text`, if it lies inside.
fn bytes(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let at = |c: usize| text.char_indices().map(|(b, _)| b).chain([text.len()]).nth(c);
    (start < end).then_some(())?;
    Some((at(start)?, at(end)?))
}

fn spans(file: &Path, line: usize, text: &str, raw: Vec<RawSpan>, slots: &Slots) -> Result<Vec<Span>, Error> {
    raw.into_iter()
        .map(|s| {
            if !slots.contains_key(&s.slot) {
                let known: Vec<&str> = slots.keys().map(String::as_str).collect();
                return Err(bad(
                    file,
                    line,
                    format!("unknown slot `{}` (the service's slots: {})", s.slot, known.join(", ")),
                ));
            }
            let (start, end) = bytes(text, s.start, s.exclusive_end).ok_or_else(|| {
                let n = text.chars().count();
                bad(
                    file,
                    line,
                    format!(
                        "span {}..{} of `{}` lies outside the text ({n} characters)",
                        s.start, s.exclusive_end, s.slot
                    ),
                )
            })?;
            Ok(Span { start, end, entity: s.slot })
        })
        .collect()
}

fn parse<T: for<'de> Deserialize<'de>>(file: &Path, line: usize, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| bad(file, line, format!("column {}: {e}", e.column())))
}

fn turns(file: &Path, services: &BTreeMap<String, Slots>) -> Result<Vec<Turn>, Error> {
    let mut out = Vec::new();
    for (i, text) in read(file)?.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let raw: RawTurn = parse(file, i + 1, text)?;
        let slots = services
            .get(&raw.service)
            .ok_or_else(|| bad(file, i + 1, format!("service `{}` is not in schema.json", raw.service)))?;
        let spans = spans(file, i + 1, &raw.text, raw.slots, slots)?;
        out.push(Turn {
            dialogue_id: raw.dialogue_id,
            turn_index: raw.turn_index,
            service: raw.service,
            text: raw.text,
            spans,
        });
    }
    if out.is_empty() {
        return Err(bad(file, 0, "no turns"));
    }
    Ok(out)
}

/// A peer's predicted spans for each of `test`'s frames, in its order,
/// from lines shaped like the turns (`dialogue_id`, `turn_index`,
/// `service`, `spans`); slot names are the peer's own labels.
pub fn predictions(file: &Path, test: &[Turn]) -> Result<Vec<Vec<Span>>, Error> {
    let index: HashMap<(String, u32, String), usize> = test.iter().enumerate().map(|(i, t)| (t.key(), i)).collect();
    let mut out: Vec<Option<Vec<Span>>> = vec![None; test.len()];
    for (i, text) in read(file)?.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let raw: RawTurn = parse(file, i + 1, text)?;
        let key = (raw.dialogue_id, raw.turn_index, raw.service);
        let &k = index
            .get(&key)
            .ok_or_else(|| bad(file, i + 1, format!("no test frame {} turn {} {}", key.0, key.1, key.2)))?;
        let any: Slots = raw.slots.iter().map(|s| (s.slot.clone(), String::new())).collect();
        out[k] = Some(spans(file, i + 1, &test[k].text, raw.slots, &any)?);
    }
    let missing = out.iter().filter(|p| p.is_none()).count();
    if missing > 0 {
        return Err(bad(file, 0, format!("{missing} of {} test frames have no prediction", test.len())));
    }
    Ok(out.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"[{"service_name": "Shows_1", "slots": [
        {"name": "title", "description": "Name of the show", "is_categorical": false},
        {"name": "seats", "description": "Number of seats", "is_categorical": true}]}]"#;

    fn line(text: &str, spans: &str) -> String {
        format!(
            r#"{{"dialogue_id": "1_0", "turn_index": 0, "service": "Shows_1", "text": "{text}", "slots": [{spans}]}}"#
        )
    }

    fn write(dir: &Path, test: &str) {
        std::fs::write(dir.join("schema.json"), SCHEMA).unwrap();
        let good = line("book Café Müller", r#"{"slot": "title", "start": 5, "exclusive_end": 16}"#);
        std::fs::write(dir.join("train_turns.jsonl"), format!("{good}\n")).unwrap();
        std::fs::write(dir.join("dev_turns.jsonl"), format!("{good}\n")).unwrap();
        std::fs::write(dir.join("test_turns.jsonl"), test).unwrap();
    }

    fn error_of(test: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), test);
        load(dir.path()).unwrap_err().to_string()
    }

    #[test]
    fn character_spans_become_byte_spans() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &line("hi", ""));
        let sgd = load(dir.path()).unwrap();
        let t = &sgd.train[0];
        assert_eq!(&t.text[t.spans[0].start..t.spans[0].end], "Café Müller");
        assert_eq!(sgd.services["Shows_1"].keys().collect::<Vec<_>>(), ["title"], "categorical slots are left out");
    }

    #[test]
    fn a_missing_split_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "");
        std::fs::remove_file(dir.path().join("dev_turns.jsonl")).unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("dev_turns.jsonl") && e.contains("missing"), "{e}");
    }

    #[test]
    fn a_span_outside_its_text_names_file_and_line() {
        let e = error_of(&format!(
            "{}\n{}\n",
            line("hi", ""),
            line("hi", r#"{"slot": "title", "start": 1, "exclusive_end": 9}"#)
        ));
        assert!(e.contains("test_turns.jsonl line 2") && e.contains("outside the text (2 characters)"), "{e}");
    }

    #[test]
    fn an_unknown_or_categorical_slot_names_file_and_line() {
        for slot in ["venue", "seats"] {
            let span = format!(r#"{{"slot": "{slot}", "start": 0, "exclusive_end": 2}}"#);
            let e = error_of(&line("hi", &span));
            assert!(e.contains("test_turns.jsonl line 1") && e.contains(&format!("unknown slot `{slot}`")), "{e}");
            assert!(e.contains("the service's slots: title"), "{e}");
        }
    }

    #[test]
    fn an_unknown_service_and_bad_json_name_the_line() {
        let e = error_of(&line("hi", "").replace("Shows_1", "Trains_1"));
        assert!(e.contains("line 1") && e.contains("`Trains_1` is not in schema.json"), "{e}");
        let e = error_of("{\"dialogue_id\": 3}\n");
        assert!(e.contains("test_turns.jsonl line 1") && e.contains("column"), "{e}");
    }

    #[test]
    fn peer_predictions_must_cover_every_test_frame() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &line("book Café Müller", ""));
        let sgd = load(dir.path()).unwrap();
        let file = dir.path().join("peer.jsonl");
        std::fs::write(&file, line("book Café Müller", r#"{"slot": "show", "start": 5, "exclusive_end": 9}"#)).unwrap();
        let p = predictions(&file, &sgd.test).unwrap();
        assert_eq!((p[0][0].entity.as_str(), &sgd.test[0].text[p[0][0].start..p[0][0].end]), ("show", "Café"));
        std::fs::write(&file, "").unwrap();
        let e = predictions(&file, &sgd.test).unwrap_err().to_string();
        assert!(e.contains("1 of 1 test frames have no prediction"), "{e}");
    }
}
