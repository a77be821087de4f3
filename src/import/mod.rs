//! `usher import rasa PATH --out DIR`: a Rasa 3.x project as an Usher bot.
//!
//! The NLU data (examples with both annotation forms, synonyms, regexes,
//! lookup tables), the domain (intents, responses with variations and
//! buttons, forms with their required slots, slot mappings), the rules
//! and stories (what follows each intent) and custom actions (as
//! `call: rasa.NAME` on the team's action server) become intent files;
//! test stories and test cases become conversation tests. Everything that
//! does not map is listed with its file, line and column: nothing is
//! dropped silently.
//!
//! # Layout
//! - `project`: finding and reading the project's files; Rasa 1.x and 2.x
//!   formats are refused with the version found and what to do.
//! - `convert`: NLU data, domain, rules and stories to intent files.
//! - `stories`: test stories and test cases to conversation tests.
//! - [`rasa`]: the whole import, writing `DIR/config.yaml`,
//!   `DIR/intents/`, `DIR/tests/conversations/` and `DIR/IMPORT.md`.

mod convert;
mod project;
mod stories;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::Error;

/// What an import converted and what it could not.
#[derive(Debug, Default, Clone)]
pub struct Notes {
    /// Conversions worth knowing about (a renamed intent, an image sent
    /// as a link).
    pub converted: Vec<String>,
    /// What was not converted: where (`file:line:column`) and what.
    pub skipped: Vec<(String, String)>,
}

impl Notes {
    fn done(&mut self, what: String) {
        if !self.converted.contains(&what) {
            self.converted.push(what);
        }
    }

    fn skip(&mut self, at: String, what: String) {
        if !self.skipped.iter().any(|(a, w)| *a == at && *w == what) {
            self.skipped.push((at, what));
        }
    }
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Import {
    /// Counts of what was written: intents, examples, entities, responses,
    /// flows, test conversations and their turns.
    pub counts: Vec<(&'static str, usize)>,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// The details.
    pub notes: Notes,
}

impl Import {
    /// The report printed and written to `IMPORT.md`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let counts: Vec<String> = self.counts.iter().map(|(what, n)| format!("{n} {what}")).collect();
        let _ = writeln!(out, "Converted: {}.", counts.join(", "));
        for c in &self.notes.converted {
            let _ = writeln!(out, "  - {c}");
        }
        let _ = writeln!(out, "\nNot converted ({}):", self.notes.skipped.len());
        for (at, what) in &self.notes.skipped {
            let _ = writeln!(out, "  - {at}: {what}");
        }
        let _ = writeln!(out, "\nWritten:");
        for f in &self.files {
            let _ = writeln!(out, "  - {}", f.display());
        }
        out
    }
}

/// Imports the Rasa 3.x project at `project` into `out` (which must not
/// hold intent files yet). `encoder` is the sentence encoder the new
/// `config.yaml` names.
pub fn rasa(project: &Path, out: &Path, encoder: Option<&Path>) -> Result<Import, Error> {
    let source = project::read(project)?;
    let intents_dir = out.join("intents");
    if std::fs::read_dir(&intents_dir).is_ok_and(|mut d| d.next().is_some()) {
        let message = "already holds intent files: import into an empty directory".to_string();
        return Err(Error::Import { file: intents_dir, message });
    }
    let mut notes = Notes::default();
    let converted = convert::convert(&source, &mut notes);
    let tests = stories::convert(&source, &converted, &mut notes);
    config_notes(&source, &mut notes);

    let file = &converted.file;
    let turns: usize = tests.iter().flat_map(|(_, t)| &t.conversations).map(|c| c.turns.len()).sum();
    let counts = vec![
        ("intents", file.intents.len()),
        ("examples", file.intents.iter().map(|i| i.examples.len()).sum()),
        ("entities", file.entities.len()),
        ("responses", file.responses.len()),
        ("flows", file.flows.len()),
        ("test conversations", tests.iter().map(|(_, t)| t.conversations.len()).sum()),
        ("test turns", turns),
    ];

    let header = format!("# Imported from the Rasa project {} by `usher import rasa`.\n", project.display());
    let mut files = Vec::new();
    let mut write = |path: PathBuf, text: String| -> Result<(), Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        files.push(path);
        Ok(())
    };
    let mut file = converted.file;
    let intents = convert::OutFile {
        intents: std::mem::take(&mut file.intents),
        entities: std::mem::take(&mut file.entities),
        ..Default::default()
    };
    write(intents_dir.join("intents.yaml"), format!("{header}{}", yaml(&intents)?))?;
    let responses = convert::OutFile { responses: std::mem::take(&mut file.responses), ..Default::default() };
    write(intents_dir.join("responses.yaml"), format!("{header}{}", yaml(&responses)?))?;
    if !file.flows.is_empty() {
        write(intents_dir.join("flows.yaml"), format!("{header}{}", yaml(&file)?))?;
    }
    for (stem, t) in &tests {
        write(out.join("tests/conversations").join(format!("{stem}.yaml")), format!("{header}{}", yaml(t)?))?;
    }
    write(out.join("config.yaml"), config(&source, project, encoder))?;
    let mut import = Import { counts, files, notes };
    let report = format!("# Import report\n\n```text\n{}```\n", import.text());
    let report_path = out.join("IMPORT.md");
    std::fs::write(&report_path, report).map_err(|e| Error::io(&report_path, e))?;
    import.files.push(report_path);
    Ok(import)
}

/// `value` as YAML.
fn yaml<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_yaml::to_string(value).map_err(|e| Error::Invalid(format!("cannot write YAML: {e}")))
}

/// The new bot's `config.yaml`: its intents and tests, the action server
/// from `endpoints.yml`, no knowledge base.
fn config(source: &project::Project, project: &Path, encoder: Option<&Path>) -> String {
    let url = source
        .endpoints
        .as_ref()
        .and_then(|e| e.section("action_endpoint"))
        .and_then(|a| a.get("url"))
        .map(project::scalar)
        .unwrap_or_else(|| "http://localhost:5055/webhook".into());
    let encoder = encoder
        .map(|e| format!("  encoder: {}\n", serde_json::Value::String(e.display().to_string())))
        .unwrap_or_default();
    format!(
        "# Made by `usher import rasa` from {}.\n\
         intents: intents\n\
         data_dir: data\n\
         nlu:\n{encoder}\
         knowledge:\n  enabled: false\n\
         actions:\n  # The team's Rasa action server (`python -m rasa_sdk --actions actions`).\n  rasa:\n    url: {}\n\
         reload:\n  conversation_tests: tests/conversations\n",
        project.display(),
        serde_json::Value::String(url)
    )
}

/// Notes the pipeline and policies of `config.yml` (Usher has its own)
/// and the domain's session settings.
fn config_notes(source: &project::Project, notes: &mut Notes) {
    for d in &source.domain {
        if d.section("session_config").is_some() {
            let why = "session_config: Usher keeps a conversation's state until it ends (web chat: channels.webchat.idle_timeout_secs)";
            notes.skip(d.at(&[project::key("session_config")]), why.into());
        }
    }
    let Some(config) = &source.config else { return };
    for section in ["pipeline", "policies"] {
        for (i, c) in config.section(section).and_then(|s| s.as_sequence()).into_iter().flatten().enumerate() {
            let name = c.get("name").map(project::scalar).unwrap_or_default();
            let why = match name.as_str() {
                "FallbackClassifier" => {
                    let threshold = c.get("threshold").map(project::scalar).unwrap_or_default();
                    format!("FallbackClassifier (threshold {threshold}): Usher's own policy.fallback_threshold (0.45 by default) applies to its classifier's confidences")
                }
                "DucklingEntityExtractor" => "DucklingEntityExtractor: its email, phone-number, url and number dimensions become regular expressions; others are not converted".to_string(),
                "RulePolicy" | "MemoizationPolicy" | "AugmentedMemoizationPolicy" | "TEDPolicy" => {
                    format!("{name}: Usher answers each intent by what the rules and stories have follow it, without learning from dialogue history")
                }
                _ => format!("{name}: Usher uses its own NLU (MiniLM sentence encoder, classifier head, entity rules and tagger)"),
            };
            notes.skip(config.at(&[project::key(section), crate::intents::Seg::Index(i)]), why);
        }
    }
    if let Some(language) = config.section("language").map(project::scalar).filter(|l| l != "en") {
        notes.skip(
            config.name.display().to_string(),
            format!("language {language}: Usher's default encoder is English"),
        );
    }
}
