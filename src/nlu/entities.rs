//! Rule-based entity extraction: regular expressions and lookup lists with
//! synonyms, from the intent files' `entities:` section.

use regex::Regex;
use serde::Serialize;

use crate::intents::Domain;

/// An entity found in a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityMatch {
    /// The entity name.
    pub entity: String,
    /// The value (canonical for synonyms).
    pub value: String,
    /// The matched text.
    pub text: String,
    /// Start byte in the message.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// `regex`, `lookup` or `tagger`.
    pub extractor: &'static str,
}

struct Rule {
    entity: String,
    regex: Regex,
    /// For lookups: lower-cased surface → canonical.
    lookup: Option<std::collections::BTreeMap<String, String>>,
}

/// Extracts every entity the domain defines.
pub struct EntityExtractor {
    rules: Vec<Rule>,
}

impl EntityExtractor {
    /// Compiles the domain's entities.
    pub fn new(domain: &Domain) -> Self {
        let mut rules = Vec::new();
        for e in domain.entities.values() {
            if let Some(re) = &e.pattern {
                rules.push(Rule { entity: e.name.clone(), regex: re.clone(), lookup: None });
            }
            if e.lookup.is_empty() {
                continue;
            }
            let mut surfaces: Vec<&String> = e.lookup.keys().collect();
            surfaces.sort_by_key(|s| std::cmp::Reverse(s.len()));
            let alternation = surfaces.iter().map(|s| regex::escape(s)).collect::<Vec<_>>().join("|");
            // Built from escaped literals, so it always compiles; skip the entity if not.
            if let Ok(regex) = Regex::new(&format!(r"(?i)\b(?:{alternation})\b")) {
                rules.push(Rule { entity: e.name.clone(), regex, lookup: Some(e.lookup.clone()) });
            }
        }
        Self { rules }
    }

    /// The canonical value of `surface` for `entity`: its lookup entry, else the surface itself.
    pub fn canonical(&self, entity: &str, surface: &str) -> String {
        self.rules
            .iter()
            .filter(|r| r.entity == entity)
            .find_map(|r| r.lookup.as_ref().and_then(|m| m.get(&surface.to_lowercase()).cloned()))
            .unwrap_or_else(|| surface.to_string())
    }

    /// All matches in `text`, in order of position.
    pub fn extract(&self, text: &str) -> Vec<EntityMatch> {
        let mut found = Vec::new();
        for rule in &self.rules {
            for m in rule.regex.find_iter(text) {
                let value = match &rule.lookup {
                    Some(map) => map.get(&m.as_str().to_lowercase()).cloned().unwrap_or_else(|| m.as_str().into()),
                    None => m.as_str().to_string(),
                };
                found.push(EntityMatch {
                    entity: rule.entity.clone(),
                    value,
                    text: m.as_str().to_string(),
                    start: m.start(),
                    end: m.end(),
                    extractor: if rule.lookup.is_some() { "lookup" } else { "regex" },
                });
            }
        }
        found.sort_by_key(|m| (m.start, std::cmp::Reverse(m.end)));
        found
    }
}
