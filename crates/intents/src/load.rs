//! Loading intent files: parse every file, check every item, cross-link,
//! and report all errors at once with file, line, column and intent.

use regex::Regex;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, Report, Severity};
use super::domain::*;
use super::locate::{self, Seg};
use super::raw::*;

/// Response names the engine itself uses; staff may override them.
pub const SYSTEM_RESPONSES: &[&str] = &[
    "clarify",
    "offer_human",
    "handoff",
    "handoff_waiting",
    "form_cancelled",
    "continue",
    "not_available",
    "kb_answer",
    "kb_unsure",
    "action_not_found",
    "action_refused",
    "action_failed",
];

/// A successfully loaded intent set and its warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated domain.
    pub domain: Domain,
    /// Problems that do not stop the bot.
    pub warnings: Vec<Diagnostic>,
}

/// Loads `path`: a directory of `*.yaml`/`*.yml` files or one file.
pub fn load(path: &Path) -> Result<Loaded, Report> {
    let files = read_files(path)?;
    load_sources(&files)
}

/// The intent files [`load`] reads under `path` (a directory's `*.yaml`
/// and `*.yml`, or one file) as (path, contents), sorted by path: edit
/// them and check the result with [`load_sources`].
pub fn read_files(path: &Path) -> Result<Vec<(PathBuf, String)>, Report> {
    let whole = |message: String| Report {
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            intent: None,
            message,
        }],
    };
    let mut paths = if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| whole(format!("cannot read directory: {e}")))?;
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect::<Vec<_>>()
    } else {
        vec![path.to_path_buf()]
    };
    paths.sort();
    if paths.is_empty() {
        return Err(whole("no intent files (*.yaml) found".into()));
    }
    let mut files = Vec::new();
    let mut report = Report { diagnostics: Vec::new() };
    for p in paths {
        if let Some(size) = std::fs::metadata(&p).ok().map(|m| m.len()).filter(|n| *n > MAX_FILE_BYTES) {
            let message = format!(
                "the file is {size} bytes: intent files are limited to {} MB (split it into several files)",
                MAX_FILE_BYTES / 1_000_000
            );
            let mut refused = whole(message);
            refused.diagnostics.iter_mut().for_each(|d| d.file = p.clone());
            report.diagnostics.extend(refused.diagnostics);
            continue;
        }
        match std::fs::read_to_string(&p) {
            Ok(src) => files.push((p, src)),
            Err(e) => report.diagnostics.extend(whole(format!("cannot read {}: {e}", p.display())).diagnostics),
        }
    }
    if report.diagnostics.is_empty() {
        Ok(files)
    } else {
        Err(report)
    }
}

/// Larger intent files are refused before they are read.
pub const MAX_FILE_BYTES: u64 = 2_000_000;

/// Loads intent files given as (path, contents); the path is only used in messages.
pub fn load_sources(files: &[(PathBuf, String)]) -> Result<Loaded, Report> {
    let mut cx = Checker { files, diagnostics: Vec::new(), suppressed: 0, suppressed_error: false };
    let parsed: Vec<Parsed> = (0..files.len()).map(|i| cx.parse_file(i)).collect();
    let domain = cx.build(parsed);
    if cx.suppressed > 0 {
        let severity = if cx.suppressed_error { Severity::Error } else { Severity::Warning };
        cx.diagnostics.push(Diagnostic {
            severity,
            file: files.first().map(|f| f.0.clone()).unwrap_or_default(),
            line: 0,
            column: 0,
            intent: None,
            message: format!("{} more problems not shown: fix the ones above first", cx.suppressed),
        });
    }
    let (errors, warnings): (Vec<_>, Vec<_>) = cx.diagnostics.into_iter().partition(|d| d.severity == Severity::Error);
    match domain {
        Some(domain) if errors.is_empty() => Ok(Loaded { domain, warnings }),
        _ => Err(Report { diagnostics: errors.into_iter().chain(warnings).collect() }),
    }
}

/// The items of one file that deserialized, by their path.
#[derive(Default)]
pub(super) struct Parsed {
    pub(super) intents: Vec<(usize, RawIntent)>,
    pub(super) entities: Vec<(String, RawEntity)>,
    pub(super) forms: Vec<(String, RawForm)>,
    pub(super) responses: Vec<(String, Vec<RawResponse>)>,
    pub(super) policy: Option<RawPolicy>,
    pub(super) canned: Vec<(String, String)>,
    pub(super) actions: Vec<(String, RawAction)>,
    pub(super) flows: Vec<(String, RawFlow)>,
    pub(super) recommendations: Option<crate::domain::Recommendations>,
    /// Names of items that failed to parse: references to them are not reported again.
    pub(super) broken: HashSet<String>,
}

pub(super) struct Checker<'a> {
    pub(super) files: &'a [(PathBuf, String)],
    pub(super) diagnostics: Vec<Diagnostic>,
    /// Problems past [`MAX_DIAGNOSTICS`], counted but not located.
    suppressed: usize,
    suppressed_error: bool,
}

/// Problems reported with a position; locating one re-reads its file, so a
/// file with thousands of broken items would otherwise take minutes.
pub const MAX_DIAGNOSTICS: usize = 100;

pub(super) fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// The message of a serde_yaml error without the position (reported apart).
fn bare_message(err: &serde_yaml::Error) -> String {
    static POSITION: std::sync::LazyLock<Option<Regex>> =
        std::sync::LazyLock::new(|| Regex::new(r" at line \d+ column \d+").ok());
    let text = err.to_string();
    match &*POSITION {
        Some(re) => re.replace_all(&text, "").into_owned(),
        None => text,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TopKeys {
    intents: Option<serde::de::IgnoredAny>,
    entities: Option<serde::de::IgnoredAny>,
    forms: Option<serde::de::IgnoredAny>,
    responses: Option<serde::de::IgnoredAny>,
    policy: Option<serde::de::IgnoredAny>,
    canned_replies: Option<serde::de::IgnoredAny>,
    actions: Option<serde::de::IgnoredAny>,
    flows: Option<serde::de::IgnoredAny>,
    recommendations: Option<serde::de::IgnoredAny>,
}

impl Checker<'_> {
    pub(super) fn push(
        &mut self,
        severity: Severity,
        file: usize,
        path: &[Seg],
        intent: Option<&str>,
        message: String,
    ) {
        if self.full(severity) {
            return;
        }
        let pos = locate::locate(&self.files[file].1, path).unwrap_or_default();
        self.diagnostics.push(Diagnostic {
            severity,
            file: self.files[file].0.clone(),
            line: pos.line,
            column: pos.column,
            intent: intent.map(str::to_string),
            message,
        });
    }

    pub(super) fn error(&mut self, file: usize, path: &[Seg], intent: Option<&str>, message: String) {
        self.push(Severity::Error, file, path, intent, message);
    }

    pub(super) fn warn(&mut self, file: usize, path: &[Seg], intent: Option<&str>, message: String) {
        self.push(Severity::Warning, file, path, intent, message);
    }

    fn yaml_error(&mut self, file: usize, err: &serde_yaml::Error, intent: Option<&str>) {
        self.yaml_error_at(file, err, intent, &[]);
    }

    /// Reports a serde_yaml error on the item at `item`, with the item's own
    /// path dropped from the message (the diagnostic already locates it).
    /// Whether the report is full; counts the problem if so.
    fn full(&mut self, severity: Severity) -> bool {
        if self.diagnostics.len() < MAX_DIAGNOSTICS {
            return false;
        }
        self.suppressed += 1;
        self.suppressed_error |= severity == Severity::Error;
        true
    }

    fn yaml_error_at(&mut self, file: usize, err: &serde_yaml::Error, intent: Option<&str>, item: &[Seg]) {
        if self.full(Severity::Error) {
            return;
        }
        let mut message = bare_message(err);
        let prefix = yaml_path(item);
        if !prefix.is_empty() {
            if let Some(rest) = message.strip_prefix(&prefix) {
                message = rest.trim_start_matches(": ").trim_start_matches('.').to_string();
            }
        }
        let loc = err.location();
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            file: self.files[file].0.clone(),
            line: loc.as_ref().map_or(0, |l| l.line()),
            column: loc.as_ref().map_or(0, |l| l.column()),
            intent: intent.map(str::to_string),
            message,
        });
    }

    fn parse_file(&mut self, file: usize) -> Parsed {
        let src = &self.files[file].1;
        if src.trim().is_empty() {
            return Parsed::default();
        }
        if let Some((line, column)) = super::nesting::too_deep(src) {
            self.diagnostics.push(Diagnostic {
                severity: Severity::Error,
                file: self.files[file].0.clone(),
                line,
                column,
                intent: None,
                message: format!(
                    "brackets nested more than {} deep: the file is refused before parsing",
                    super::nesting::MAX_DEPTH
                ),
            });
            return Parsed::default();
        }
        let whole = match serde_yaml::from_str::<RawFile>(src) {
            Ok(raw) => raw,
            Err(whole_err) => return self.parse_items(file, whole_err),
        };
        Parsed {
            intents: whole.intents.into_iter().enumerate().collect(),
            entities: whole.entities.into_iter().collect(),
            forms: whole.forms.into_iter().collect(),
            responses: whole.responses.into_iter().collect(),
            policy: whole.policy,
            canned: whole.canned_replies.into_iter().collect(),
            actions: whole.actions.into_iter().collect(),
            flows: whole.flows.into_iter().collect(),
            recommendations: whole.recommendations,
            broken: HashSet::new(),
        }
    }

    /// The slow path for a file that did not deserialize: check item by item.
    fn parse_items(&mut self, file: usize, whole_err: serde_yaml::Error) -> Parsed {
        let src = &self.files[file].1;
        let mut parsed = Parsed::default();
        let value: serde_yaml::Value = match serde_yaml::from_str(src) {
            Ok(v) => v,
            Err(syntax) => {
                self.yaml_error(file, &syntax, None);
                return parsed;
            }
        };
        let before = self.diagnostics.len();
        if let Err(e) = locate::check::<TopKeys>(src, &[]) {
            self.yaml_error(file, &e, None);
        }
        if let Some(items) = value.get("intents").and_then(|v| v.as_sequence()) {
            for (i, item) in items.iter().enumerate() {
                let name = item.get("name").and_then(|n| n.as_str());
                match self.item::<RawIntent>(file, &[key("intents"), Seg::Index(i)], item, name) {
                    Some(raw) => parsed.intents.push((i, raw)),
                    None => parsed.broken.extend(name.map(str::to_string)),
                }
            }
        } else {
            self.section_shape::<Vec<serde::de::IgnoredAny>>(file, "intents");
        }
        self.map_section(file, &value, "entities", &mut parsed.entities, &mut parsed.broken);
        self.map_section(file, &value, "forms", &mut parsed.forms, &mut parsed.broken);
        self.map_section(file, &value, "responses", &mut parsed.responses, &mut parsed.broken);
        self.map_section(file, &value, "canned_replies", &mut parsed.canned, &mut parsed.broken);
        self.map_section(file, &value, "actions", &mut parsed.actions, &mut parsed.broken);
        self.map_section(file, &value, "flows", &mut parsed.flows, &mut parsed.broken);
        if let Some(policy) = value.get("policy") {
            parsed.policy = self.item::<RawPolicy>(file, &[key("policy")], policy, None);
        }
        if let Some(rules) = value.get("recommendations") {
            parsed.recommendations =
                self.item::<crate::domain::Recommendations>(file, &[key("recommendations")], rules, None);
        }
        if self.diagnostics.len() == before {
            // Nothing item-level explains the failure: report serde_yaml's own error.
            self.yaml_error(file, &whole_err, None);
        }
        parsed
    }

    fn section_shape<T: DeserializeOwned>(&mut self, file: usize, section: &str) {
        if let Err(e) = locate::check::<Option<T>>(&self.files[file].1, &[key(section)]) {
            self.yaml_error(file, &e, None);
        }
    }

    fn map_section<T: DeserializeOwned>(
        &mut self,
        file: usize,
        value: &serde_yaml::Value,
        section: &str,
        out: &mut Vec<(String, T)>,
        broken: &mut HashSet<String>,
    ) {
        let Some(map) = value.get(section).and_then(|v| v.as_mapping()) else {
            self.section_shape::<BTreeMap<String, serde::de::IgnoredAny>>(file, section);
            return;
        };
        for (k, item) in map {
            let Some(name) = k.as_str() else {
                self.section_shape::<BTreeMap<String, serde::de::IgnoredAny>>(file, section);
                continue;
            };
            match self.item::<T>(file, &[key(section), key(name)], item, None) {
                Some(raw) => out.push((name.to_string(), raw)),
                None => {
                    broken.insert(name.to_string());
                }
            }
        }
    }

    fn item<T: DeserializeOwned>(
        &mut self,
        file: usize,
        path: &[Seg],
        value: &serde_yaml::Value,
        intent: Option<&str>,
    ) -> Option<T> {
        // Deserializing the parsed value is cheap; only a failing item pays
        // for re-reading the file to locate its error.
        let error = match serde_yaml::from_value(value.clone()) {
            Ok(item) => return Some(item),
            Err(e) => e,
        };
        if self.full(Severity::Error) {
            return None;
        }
        match locate::check::<T>(&self.files[file].1, path) {
            Err(located) => self.yaml_error_at(file, &located, intent, path),
            Ok(()) => self.error(file, path, intent, bare_message(&error)),
        }
        None
    }
}

/// A path as serde_yaml prints it: `intents[4]`, `entities.order_id`.
fn yaml_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => out.push_str(&format!(".{k}")),
        }
    }
    out
}

/// `refund_request` → "Refund request".
pub(super) fn humanize(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
