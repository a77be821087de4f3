//! Loading intent files: parse every file, check every item, cross-link,
//! and report all errors at once with file, line, column and intent.

use indexmap::IndexMap;
use regex::Regex;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::annotation;
use super::diagnostic::{Diagnostic, Report, Severity};
use super::domain::*;
use super::locate::{self, Seg};
use super::raw::*;

/// Response names the engine itself uses; staff may override them.
pub const SYSTEM_RESPONSES: &[&str] =
    &["clarify", "offer_human", "handoff", "handoff_waiting", "form_cancelled", "continue", "not_available"];

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

fn read_files(path: &Path) -> Result<Vec<(PathBuf, String)>, Report> {
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

/// Loads intent files given as (path, contents); the path is only used in messages.
pub fn load_sources(files: &[(PathBuf, String)]) -> Result<Loaded, Report> {
    let mut cx = Checker { files, diagnostics: Vec::new() };
    let parsed: Vec<Parsed> = (0..files.len()).map(|i| cx.parse_file(i)).collect();
    let domain = cx.build(parsed);
    let (errors, warnings): (Vec<_>, Vec<_>) = cx.diagnostics.into_iter().partition(|d| d.severity == Severity::Error);
    match domain {
        Some(domain) if errors.is_empty() => Ok(Loaded { domain, warnings }),
        _ => Err(Report { diagnostics: errors.into_iter().chain(warnings).collect() }),
    }
}

/// The items of one file that deserialized, by their path.
#[derive(Default)]
struct Parsed {
    intents: Vec<(usize, RawIntent)>,
    entities: Vec<(String, RawEntity)>,
    forms: Vec<(String, RawForm)>,
    responses: Vec<(String, Vec<RawResponse>)>,
    policy: Option<RawPolicy>,
    /// Names of items that failed to parse: references to them are not reported again.
    broken: HashSet<String>,
}

struct Checker<'a> {
    files: &'a [(PathBuf, String)],
    diagnostics: Vec<Diagnostic>,
}

fn key(k: &str) -> Seg {
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
}

impl Checker<'_> {
    fn push(&mut self, severity: Severity, file: usize, path: &[Seg], intent: Option<&str>, message: String) {
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

    fn error(&mut self, file: usize, path: &[Seg], intent: Option<&str>, message: String) {
        self.push(Severity::Error, file, path, intent, message);
    }

    fn warn(&mut self, file: usize, path: &[Seg], intent: Option<&str>, message: String) {
        self.push(Severity::Warning, file, path, intent, message);
    }

    fn yaml_error(&mut self, file: usize, err: &serde_yaml::Error, intent: Option<&str>) {
        self.yaml_error_at(file, err, intent, &[]);
    }

    /// Reports a serde_yaml error on the item at `item`, with the item's own
    /// path dropped from the message (the diagnostic already locates it).
    fn yaml_error_at(&mut self, file: usize, err: &serde_yaml::Error, intent: Option<&str>, item: &[Seg]) {
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
        if let Some(policy) = value.get("policy") {
            parsed.policy = self.item::<RawPolicy>(file, &[key("policy")], policy, None);
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
        if let Err(e) = locate::check::<T>(&self.files[file].1, path) {
            self.yaml_error_at(file, &e, intent, path);
            return None;
        }
        serde_yaml::from_value(value.clone()).ok()
    }

    /// Cross-links the parsed files into a domain, reporting what does not fit.
    fn build(&mut self, parsed: Vec<Parsed>) -> Option<Domain> {
        let broken: HashSet<String> = parsed.iter().flat_map(|p| p.broken.iter().cloned()).collect();
        let mut entities = BTreeMap::new();
        let mut forms = BTreeMap::new();
        let mut responses = BTreeMap::new();
        let mut policy: Option<(usize, Policy)> = None;
        let mut raw_intents = Vec::new();
        for (file, p) in parsed.into_iter().enumerate() {
            for (name, raw) in p.entities {
                if let Some(e) = self.entity(file, &name, raw) {
                    if entities.insert(name.clone(), e).is_some() {
                        let msg = format!("entity {name:?} is defined twice");
                        self.error(file, &[key("entities"), key(&name)], None, msg);
                    }
                }
            }
            for (name, raw) in p.responses {
                if let Some(r) = self.response(file, &name, raw) {
                    if responses.insert(name.clone(), r).is_some() {
                        let msg = format!("response {name:?} is defined twice");
                        self.error(file, &[key("responses"), key(&name)], None, msg);
                    }
                }
            }
            for (name, raw) in p.forms {
                forms.insert(name.clone(), (file, raw));
            }
            if let Some(raw) = p.policy {
                if let Some((first, _)) = &policy {
                    let first = self.files[*first].0.display().to_string();
                    self.error(file, &[key("policy")], None, format!("policy is already set in {first}"));
                } else if let Some(settled) = self.policy(file, raw) {
                    policy = Some((file, settled));
                }
            }
            raw_intents.extend(p.intents.into_iter().map(|(i, raw)| (file, i, raw)));
        }
        let forms = self.forms(forms, &entities);
        let intents = self.intents(raw_intents, &entities, &forms, &responses, &broken);
        self.unused_responses(&intents, &responses);
        let failed_files = self.diagnostics.iter().any(|d| d.severity == Severity::Error);
        if intents.is_empty() && broken.is_empty() && !failed_files && !self.files.is_empty() {
            self.error(0, &[], None, "no intents defined: add an `intents:` list".into());
        }
        Some(Domain {
            intents,
            entities,
            forms,
            responses,
            policy: policy.map(|(_, p)| p).unwrap_or_default(),
            fingerprint: self.fingerprint(),
        })
    }

    fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        for (path, src) in self.files {
            hash.update(path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
            hash.update([0]);
            hash.update(src.as_bytes());
            hash.update([0]);
        }
        format!("{:x}", hash.finalize())
    }

    fn regex(&mut self, file: usize, path: &[Seg], pattern: &str) -> Option<Regex> {
        match Regex::new(pattern) {
            Ok(r) => Some(r),
            Err(e) => {
                let text = e.to_string();
                let why = text.lines().last().unwrap_or_default().trim_start_matches("error: ");
                self.error(file, path, None, format!("invalid regular expression {pattern:?}: {why}"));
                None
            }
        }
    }

    fn entity(&mut self, file: usize, name: &str, raw: RawEntity) -> Option<Entity> {
        let path = [key("entities"), key(name)];
        if raw.pattern.is_none() && raw.values.is_empty() && raw.synonyms.is_empty() {
            self.error(file, &path, None, format!("entity {name:?} needs a pattern, values or synonyms"));
            return None;
        }
        let pattern = match &raw.pattern {
            Some(p) => Some(self.regex(file, &[key("entities"), key(name), key("pattern")], p)?),
            None => None,
        };
        let mut lookup = BTreeMap::new();
        for v in &raw.values {
            lookup.insert(v.to_lowercase(), v.clone());
        }
        for (alias, canonical) in &raw.synonyms {
            lookup.insert(alias.to_lowercase(), canonical.clone());
            lookup.entry(canonical.to_lowercase()).or_insert_with(|| canonical.clone());
        }
        Some(Entity { name: name.to_string(), pattern, lookup })
    }

    fn response(&mut self, file: usize, name: &str, raw: Vec<RawResponse>) -> Option<Vec<Response>> {
        if raw.is_empty() {
            self.error(file, &[key("responses"), key(name)], None, format!("response {name:?} has no variations"));
            return None;
        }
        let mut ok = true;
        for (i, v) in raw.iter().enumerate() {
            let path = [key("responses"), key(name), Seg::Index(i)];
            if v.text.trim().is_empty() {
                self.error(file, &path, None, "response text is empty".into());
                ok = false;
            }
            if v.buttons.iter().any(|b| b.title.trim().is_empty() || b.payload.trim().is_empty()) {
                self.error(file, &path, None, "every button needs a title and a payload".into());
                ok = false;
            }
        }
        ok.then(|| {
            raw.into_iter()
                .map(|v| Response {
                    text: v.text,
                    buttons: v
                        .buttons
                        .into_iter()
                        .map(|b| usher_channel::Button { title: b.title, payload: b.payload })
                        .collect(),
                })
                .collect()
        })
    }

    fn policy(&mut self, file: usize, raw: RawPolicy) -> Option<Policy> {
        let defaults = Policy::default();
        let threshold = raw.fallback_threshold.unwrap_or(defaults.fallback_threshold);
        if !(0.0..=1.0).contains(&threshold) {
            let path = [key("policy"), key("fallback_threshold")];
            self.error(file, &path, None, format!("fallback_threshold must be between 0 and 1, not {threshold}"));
            return None;
        }
        Some(Policy {
            fallback_threshold: threshold,
            handoff_after_fallbacks: raw.handoff_after_fallbacks.unwrap_or(defaults.handoff_after_fallbacks).max(1),
            form_max_attempts: raw.form_max_attempts.unwrap_or(defaults.form_max_attempts).max(1),
            handoff_keywords: raw.handoff_keywords.iter().map(|k| k.to_lowercase()).collect(),
            negative_sentiment: raw
                .handoff_on_negative_sentiment
                .map(|r| SentimentRule { score_below: r.score_below.clamp(-1.0, 1.0), turns: r.turns.max(1) }),
        })
    }

    fn forms(
        &mut self,
        raw: BTreeMap<String, (usize, RawForm)>,
        entities: &BTreeMap<String, Entity>,
    ) -> BTreeMap<String, Form> {
        let mut forms = BTreeMap::new();
        for (name, (file, form)) in raw {
            if form.slots.is_empty() {
                self.error(file, &[key("forms"), key(&name)], None, format!("form {name:?} has no slots"));
                continue;
            }
            let mut slots = Vec::new();
            for (slot_name, s) in form.slots {
                let path = [key("forms"), key(&name), key("slots"), key(&slot_name)];
                if let Some(e) = &s.entity {
                    if !entities.contains_key(e) {
                        let msg = format!("slot {slot_name:?} of form {name:?} names unknown entity {e:?}; any answer matching its pattern (or any text) will be accepted");
                        self.warn(file, &path, None, msg);
                    }
                }
                let pattern = match &s.pattern {
                    Some(p) => {
                        let mut ppath = path.to_vec();
                        ppath.push(key("pattern"));
                        match self.regex(file, &ppath, p) {
                            Some(r) => Some(r),
                            None => continue,
                        }
                    }
                    None => None,
                };
                slots.push(Slot {
                    name: slot_name,
                    ask: s.ask,
                    entity: s.entity,
                    pattern,
                    invalid: s.invalid.unwrap_or_else(|| "Sorry, that doesn't look right.".into()),
                });
            }
            let cancel = form
                .cancel
                .map(|c| c.iter().map(|w| w.to_lowercase()).collect())
                .unwrap_or_else(|| DEFAULT_CANCEL.iter().map(|s| s.to_string()).collect());
            forms.insert(name.clone(), Form { name, slots, cancel });
        }
        forms
    }

    fn intents(
        &mut self,
        raw: Vec<(usize, usize, RawIntent)>,
        entities: &BTreeMap<String, Entity>,
        forms: &BTreeMap<String, Form>,
        responses: &BTreeMap<String, Vec<Response>>,
        broken: &HashSet<String>,
    ) -> Vec<Intent> {
        let mut intents: Vec<Intent> = Vec::new();
        let mut seen_examples: HashMap<String, String> = HashMap::new();
        let mut seen_names: IndexMap<String, ()> = IndexMap::new();
        for (file, index, r) in raw {
            let path = [key("intents"), Seg::Index(index)];
            let name = r.name.clone();
            let at = |field: &str| [key("intents"), Seg::Index(index), key(field)];
            let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
            if name.is_empty() || !name.chars().all(valid) {
                self.error(file, &at("name"), Some(&name), "intent names use a-z, 0-9 and _ only".into());
                continue;
            }
            if seen_names.insert(name.clone(), ()).is_some() {
                self.error(file, &path, Some(&name), "intent is defined twice".into());
                continue;
            }
            let mut examples = Vec::new();
            for (i, raw_ex) in r.examples.iter().enumerate() {
                let ex_path = [key("intents"), Seg::Index(index), key("examples"), Seg::Index(i)];
                match annotation::parse(raw_ex) {
                    Err(msg) => self.error(file, &ex_path, Some(&name), msg),
                    Ok(ex) => {
                        for span in &ex.entities {
                            if !entities.contains_key(&span.entity) && !broken.contains(&span.entity) {
                                let msg = format!("example marks unknown entity {:?}", span.entity);
                                self.error(file, &ex_path, Some(&name), msg);
                            }
                        }
                        let norm = ex.text.to_lowercase();
                        match seen_examples.get(&norm) {
                            Some(other) if other != &name => {
                                let msg = format!("example {:?} is also an example of intent {other:?}", ex.text);
                                self.warn(file, &ex_path, Some(&name), msg);
                            }
                            _ => {
                                seen_examples.insert(norm, name.clone());
                            }
                        }
                        examples.push(ex);
                    }
                }
            }
            if r.examples.is_empty() {
                self.error(file, &at("examples"), Some(&name), "an intent needs examples".into());
                continue;
            } else if r.examples.len() < 5 {
                let msg = format!("only {} examples: give at least 5 for reliable recognition", r.examples.len());
                self.warn(file, &at("examples"), Some(&name), msg);
            }
            let Some(action) = self.action(file, index, &r, forms, responses, broken) else {
                continue;
            };
            let title = r.title.unwrap_or_else(|| humanize(&name));
            intents.push(Intent { name, title, examples, action });
        }
        intents
    }

    fn action(
        &mut self,
        file: usize,
        index: usize,
        r: &RawIntent,
        forms: &BTreeMap<String, Form>,
        responses: &BTreeMap<String, Vec<Response>>,
        broken: &HashSet<String>,
    ) -> Option<Action> {
        let at = |field: &str| [key("intents"), Seg::Index(index), key(field)];
        let name = r.name.as_str();
        let kind = r.action.as_deref().unwrap_or("respond");
        let other = match kind {
            "respond" => None,
            "handoff" => Some(Action::Handoff),
            "knowledge" => Some(Action::Knowledge),
            t if t.starts_with("tool.") && t.len() > 5 => Some(Action::Tool(t[5..].to_string())),
            unknown => {
                let msg = format!("unknown action {unknown:?}: use respond, handoff, knowledge or tool.<name>");
                self.error(file, &at("action"), Some(name), msg);
                return None;
            }
        };
        if let Some(action) = other {
            for field in ["form", "respond"] {
                let set = if field == "form" { r.form.is_some() } else { r.respond.is_some() };
                if set {
                    let msg = format!("`{field}:` only goes with the respond action, not {kind:?}");
                    self.error(file, &at(field), Some(name), msg);
                }
            }
            return Some(action);
        }
        let respond = r.respond.clone().unwrap_or_else(|| name.to_string());
        if !responses.contains_key(&respond) && !broken.contains(&respond) {
            let field = if r.respond.is_some() { "respond" } else { "name" };
            let msg = format!("no response named {respond:?}: add it under `responses:` or set `respond:`");
            self.error(file, &at(field), Some(name), msg);
            return None;
        }
        match &r.form {
            Some(form) if !forms.contains_key(form) && !broken.contains(form) => {
                self.error(file, &at("form"), Some(name), format!("no form named {form:?}"));
                None
            }
            Some(form) => Some(Action::Form { form: form.clone(), respond }),
            None => Some(Action::Respond(respond)),
        }
    }

    fn unused_responses(&mut self, intents: &[Intent], responses: &BTreeMap<String, Vec<Response>>) {
        let used: HashSet<&str> = intents
            .iter()
            .filter_map(|i| match &i.action {
                Action::Respond(r) | Action::Form { respond: r, .. } => Some(r.as_str()),
                _ => None,
            })
            .chain(SYSTEM_RESPONSES.iter().copied())
            .collect();
        for name in responses.keys() {
            if used.contains(name.as_str()) {
                continue;
            }
            let path = [key("responses"), key(name)];
            let file = (0..self.files.len()).find(|&f| locate::locate(&self.files[f].1, &path).is_some());
            if let Some(file) = file {
                self.warn(file, &path, None, format!("response {name:?} is never used"));
            }
        }
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
fn humanize(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
