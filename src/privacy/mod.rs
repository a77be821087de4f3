//! Fans' personal data: what is found and replaced before a turn is
//! stored.
//!
//! The NLU, flows and backend actions see the fan's message as typed, in
//! memory, for the turn. What the store keeps of it (the message, what NLU
//! made of it, the bot's replies) has emails, phone numbers, payment cards,
//! IBANs, street address lines and the values of entities marked
//! `sensitive: true` replaced by typed placeholders (`[email]`,
//! `[card ••••4242]`, `[order_id]`).
//!
//! # Layout
//! - [`PrivacyConfig`]: `privacy:` in `config.yaml`.
//! - `detect`: the detectors and their checks (Luhn, IBAN mod 97).
//! - [`Redactor`]: finds and replaces, in text and in JSON.
//! - [`eval`]: recall and precision on a labelled set (`usher test redaction`).
//! - [`retention`]: deleting conversations older than `retention_days`.
//! - [`fans`]: a fan's export and erasure (`usher fans`, the console's admin routes).

mod detect;
pub mod eval;
pub mod fans;
pub mod retention;

use serde::Deserialize;

pub use detect::{Found, Kind};

use crate::nlu::EntityMatch;

/// `privacy:` in `config.yaml`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Replace personal data in what is stored. Default true.
    #[serde(default = "yes")]
    pub redact: bool,
    /// The detectors that run. Default: all of them.
    #[serde(default = "all")]
    pub detectors: Vec<Kind>,
    /// Delete conversations (with their messages, tickets, notes, web
    /// sessions and fan keys) this many days after their last message.
    /// Unset: keep them.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Other retention periods for some channels (`telegram: 30`).
    #[serde(default)]
    pub retention_by_channel: std::collections::BTreeMap<String, u32>,
    /// Minutes between retention sweeps. Default 60.
    #[serde(default = "sweep_minutes")]
    pub sweep_minutes: u64,
    /// Conversations deleted per transaction (turns wait at most for one batch). Default 200.
    #[serde(default = "batch")]
    pub sweep_batch: i64,
}

fn sweep_minutes() -> u64 {
    60
}

fn batch() -> i64 {
    200
}

fn yes() -> bool {
    true
}

fn all() -> Vec<Kind> {
    Kind::ALL.to_vec()
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            redact: true,
            detectors: all(),
            retention_days: None,
            retention_by_channel: Default::default(),
            sweep_minutes: sweep_minutes(),
            sweep_batch: batch(),
        }
    }
}

/// Finds personal data and replaces it with placeholders.
#[derive(Debug, Clone)]
pub struct Redactor {
    kinds: Vec<Kind>,
}

impl Redactor {
    /// A redactor with the configured detectors (none when redaction is off).
    pub fn new(config: &PrivacyConfig) -> Self {
        Self { kinds: if config.redact { config.detectors.clone() } else { Vec::new() } }
    }

    /// Whether it changes anything at all.
    pub fn active(&self) -> bool {
        !self.kinds.is_empty()
    }

    /// The personal data in `text`: the detectors' findings and the matches
    /// of `sensitive` entities, without overlaps (the earliest, then the
    /// longest wins), in order.
    pub fn find(&self, text: &str, entities: &[EntityMatch], sensitive: &dyn Fn(&str) -> bool) -> Vec<Found> {
        if !self.active() {
            return Vec::new();
        }
        let mut all = detect::find(text, &self.kinds);
        for m in entities.iter().filter(|m| sensitive(&m.entity)) {
            // A match's offsets are into the text it was found in; check they still fit.
            if text.get(m.start..m.end) == Some(m.text.as_str()) {
                let placeholder = format!("[{}]", m.entity);
                all.push(Found { start: m.start, end: m.end, kind: m.entity.clone(), placeholder });
            } else {
                // Elsewhere (a reply, a slot filled earlier): every occurrence of its text and value.
                for needle in [&m.text, &m.value].into_iter().filter(|n| !n.is_empty()) {
                    for (at, _) in text.match_indices(needle.as_str()) {
                        let placeholder = format!("[{}]", m.entity);
                        all.push(Found { start: at, end: at + needle.len(), kind: m.entity.clone(), placeholder });
                    }
                }
            }
        }
        all.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        let mut out: Vec<Found> = Vec::new();
        for f in all {
            if out.last().is_none_or(|last| f.start >= last.end) {
                out.push(f);
            }
        }
        out
    }

    /// Keys that find a fan again without keeping their data: the SHA-256
    /// of each email in `text`, lower-cased (see [`fan_key`]). Found even
    /// when redaction is off.
    pub fn fan_keys(text: &str) -> Vec<String> {
        let mut keys: Vec<String> =
            detect::find(text, &[Kind::Email]).iter().map(|f| fan_key(&text[f.start..f.end])).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// `text` with its personal data replaced.
    pub fn redact(&self, text: &str, entities: &[EntityMatch], sensitive: &dyn Fn(&str) -> bool) -> String {
        let found = self.find(text, entities, sensitive);
        if found.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for f in found {
            out.push_str(&text[last..f.start]);
            out.push_str(&f.placeholder);
            last = f.end;
        }
        out.push_str(&text[last..]);
        out
    }

    /// Every string in `value` redacted; strings equal to a sensitive
    /// entity's value or text (an entity's `value` field) become its
    /// placeholder.
    pub fn redact_json(
        &self,
        value: &mut serde_json::Value,
        entities: &[EntityMatch],
        sensitive: &dyn Fn(&str) -> bool,
    ) {
        if !self.active() {
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                let whole =
                    entities.iter().find(|m| sensitive(&m.entity) && (m.value == *s || m.text == *s) && !s.is_empty());
                *s = match whole {
                    Some(m) => format!("[{}]", m.entity),
                    None => self.redact(s, entities, sensitive),
                };
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v, entities, sensitive)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v, entities, sensitive)),
            _ => {}
        }
    }
}

/// The key of a fan's email: the hex SHA-256 of it trimmed and lower-cased.
pub fn fan_key(email: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(email.trim().to_lowercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(entity: &str, text: &str, start: usize) -> EntityMatch {
        let end = start + text.len();
        EntityMatch {
            entity: entity.into(),
            value: text.to_uppercase(),
            text: text.into(),
            start,
            end,
            extractor: "regex",
        }
    }

    #[test]
    fn detectors_and_sensitive_entities_become_placeholders() {
        let r = Redactor::new(&PrivacyConfig::default());
        let text = "refund a12345 to jo@mail.com, card 4242 4242 4242 4242";
        let order = entity("order_id", "a12345", 7);
        let sensitive = |e: &str| e == "order_id";
        assert_eq!(
            r.redact(text, std::slice::from_ref(&order), &sensitive),
            "refund [order_id] to [email], card [card ••••4242]"
        );
        // In what NLU made of it too: the value (canonical) and the text.
        let mut json = serde_json::json!({"entities": [{"value": "A12345", "text": "a12345"}], "text": text});
        r.redact_json(&mut json, &[order], &sensitive);
        assert_eq!(json["entities"][0]["value"], "[order_id]");
        assert_eq!(json["entities"][0]["text"], "[order_id]");
        assert!(!json.to_string().contains("jo@mail.com"), "{json}");
    }

    #[test]
    fn redaction_off_changes_nothing() {
        let r = Redactor::new(&PrivacyConfig { redact: false, ..PrivacyConfig::default() });
        assert_eq!(r.redact("jo@mail.com", &[], &|_| true), "jo@mail.com");
    }
}
