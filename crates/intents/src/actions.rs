//! Checking the `actions:` section: each backend call's method, path, body
//! placeholders, saved fields, status mapping and outcome responses.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::domain::*;
use super::load::{key, Checker};
use super::locate;
use super::raw::RawAction;

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Every string inside a JSON value.
fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

impl Checker<'_> {
    /// Validates the actions against the forms, entities and responses.
    pub(super) fn actions(
        &mut self,
        raw: BTreeMap<String, (usize, RawAction)>,
        forms: &BTreeMap<String, Form>,
        entities: &BTreeMap<String, Entity>,
        responses: &BTreeMap<String, Vec<Response>>,
        flow_slots: &BTreeSet<String>,
        broken: &HashSet<String>,
    ) -> BTreeMap<String, ActionSpec> {
        // What a placeholder may name: form and flow slots, fields any
        // action saves, entities and the built-in values.
        let known: BTreeSet<String> = forms
            .values()
            .flat_map(|f| f.slots.iter().map(|s| s.name.clone()))
            .chain(flow_slots.iter().cloned())
            .chain(raw.values().flat_map(|(_, a)| a.save.keys().cloned()))
            .chain(entities.keys().cloned())
            .chain(BUILTIN_VALUES.iter().map(|s| s.to_string()))
            .collect();
        let mut out = BTreeMap::new();
        for (name, (file, a)) in raw {
            if let Some(spec) = self.action_spec(file, &name, a, &known, responses, broken) {
                out.insert(name, spec);
            }
        }
        out
    }

    fn action_spec(
        &mut self,
        file: usize,
        name: &str,
        a: RawAction,
        known: &BTreeSet<String>,
        responses: &BTreeMap<String, Vec<Response>>,
        broken: &HashSet<String>,
    ) -> Option<ActionSpec> {
        let at = |field: &str| [key("actions"), key(name), key(field)];
        let before = self.diagnostics.len();
        if !valid_name(name) {
            self.error(file, &[key("actions"), key(name)], None, "action names use a-z, 0-9 and _ only".into());
        }
        if a.endpoint.trim().is_empty() {
            self.error(file, &at("endpoint"), None, "an action needs an endpoint from config.yaml".into());
        }
        let method = match a.method.as_deref() {
            None => Method::Get,
            Some(m) => match Method::parse(m) {
                Some(m) => m,
                None => {
                    let msg = format!("unknown method {m:?}: use GET, HEAD, POST, PUT, PATCH or DELETE");
                    self.error(file, &at("method"), None, msg);
                    Method::Get
                }
            },
        };
        if !a.path.starts_with('/') {
            self.error(file, &at("path"), None, format!("the path {:?} must start with /", a.path));
        }
        let body = match a.body {
            Some(_) if method.is_safe() => {
                let msg = format!("a {} request has no body: use POST, PUT or PATCH", method.as_str());
                self.error(file, &at("body"), None, msg);
                None
            }
            Some(yaml) => match serde_json::to_value(&yaml) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.error(file, &at("body"), None, format!("the body is not JSON-shaped: {e}"));
                    None
                }
            },
            None => None,
        };
        let mut texts = vec![a.path.clone()];
        if let Some(b) = &body {
            strings(b, &mut texts);
        }
        for text in &texts {
            for (_, placeholder) in placeholders(text) {
                if !known.contains(placeholder) {
                    let field = if a.path.contains(&format!("{{{placeholder}}}")) { "path" } else { "body" };
                    let msg = format!(
                        "{{{placeholder}}} is not a slot, a saved field, an entity or one of {}",
                        BUILTIN_VALUES.join(", ")
                    );
                    self.error(file, &at(field), None, msg);
                }
            }
        }
        for (slot, pointer) in &a.save {
            let path = [key("actions"), key(name), key("save"), key(slot)];
            if !valid_name(slot) {
                self.error(file, &path, None, format!("slot names use a-z, 0-9 and _ only, not {slot:?}"));
            }
            if !pointer.is_empty() && !pointer.starts_with('/') {
                let msg = format!("{pointer:?} is not a JSON pointer: write it like /event/doors_at");
                self.error(file, &path, None, msg);
            }
        }
        let mut custom = BTreeSet::new();
        for (status, outcome) in &a.outcomes {
            let path = [key("actions"), key(name), key("outcomes"), key(&status.to_string())];
            if !(100..=599).contains(status) {
                self.error(file, &path, None, format!("{status} is not an HTTP status"));
            }
            if !valid_name(outcome) {
                self.error(file, &path, None, format!("outcome names use a-z, 0-9 and _ only, not {outcome:?}"));
            }
            if !OUTCOMES.contains(&outcome.as_str()) {
                custom.insert(outcome.clone());
            }
        }
        for (outcome, response) in &a.respond {
            let path = [key("actions"), key(name), key("respond"), key(outcome)];
            if !OUTCOMES.contains(&outcome.as_str()) && !custom.contains(outcome) {
                let msg = format!(
                    "{outcome:?} is not an outcome of this action: use {} or map a status to it under `outcomes:`",
                    OUTCOMES.join(", ")
                );
                self.error(file, &path, None, msg);
            }
            if !responses.contains_key(response) && !broken.contains(response) {
                self.error(file, &path, None, format!("no response named {response:?}"));
            }
        }
        if !a.respond.contains_key("ok") {
            let msg = "say which response follows success: `respond: {ok: RESPONSE}`".into();
            self.error(file, &[key("actions"), key(name)], None, msg);
        }
        for outcome in custom.iter().filter(|o| !a.respond.contains_key(*o)) {
            let msg = format!("outcome {outcome:?} has no response: add it under `respond:`");
            self.error(file, &at("outcomes"), None, msg);
        }
        if self.diagnostics.len() > before {
            return None;
        }
        let pos = locate::locate(&self.files[file].1, &at("endpoint")).unwrap_or_default();
        let origin = Origin { file: self.files[file].0.clone(), line: pos.line, column: pos.column };
        Some(ActionSpec {
            name: name.to_string(),
            endpoint: a.endpoint,
            method,
            path: a.path,
            body,
            save: a.save,
            statuses: a.outcomes,
            respond: a.respond,
            origin,
        })
    }
}
