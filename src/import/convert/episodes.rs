//! What follows each intent across a project's rules and stories, and what
//! each form's submission runs.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use super::super::project::{key, scalar, Project};
use super::super::Notes;
use super::read::{steps, usher_name, Step};
use crate::intents::Seg;

/// Rasa's own actions, which have no Usher counterpart to call.
pub(super) const BUILTIN_ACTIONS: &[&str] = &[
    "action_listen",
    "action_restart",
    "action_session_start",
    "action_default_fallback",
    "action_deactivate_loop",
    "action_two_stage_fallback",
    "action_default_ask_affirmation",
    "action_default_ask_rephrase",
    "action_back",
    "action_unlikely_intent",
    "action_extract_slots",
    "action_revert_fallback_events",
];

/// What follows a fan's message in a rule or story.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(in crate::import) enum Act {
    /// A response (`utter_…`).
    Say(String),
    /// A form starts.
    Form(String),
    /// A custom action on the action server.
    Call(String),
}

/// What follows each intent across the rules and stories.
pub(super) struct Episodes {
    /// Intent → each sequence seen, with where.
    pub(super) by_intent: BTreeMap<String, Vec<(Vec<Act>, String)>>,
    /// Intent → sequences that came from rules.
    pub(super) from_rules: BTreeMap<String, Vec<Vec<Act>>>,
    /// Form → what its submission runs.
    pub(super) submit: BTreeMap<String, Vec<Act>>,
    /// Custom actions some rule or story runs.
    pub(super) used: BTreeSet<String>,
}

impl Episodes {
    pub(super) fn read(project: &Project, forms: &BTreeSet<String>, notes: &mut Notes) -> Self {
        let mut e = Episodes {
            by_intent: BTreeMap::new(),
            from_rules: BTreeMap::new(),
            submit: BTreeMap::new(),
            used: BTreeSet::new(),
        };
        for source in &project.data {
            for section in ["rules", "stories"] {
                let Some(items) = source.section(section).and_then(Value::as_sequence) else { continue };
                for (i, item) in items.iter().enumerate() {
                    let at = source.at(&[key(section), Seg::Index(i)]);
                    e.read_one(item, section == "rules", forms, &at, notes);
                }
            }
        }
        e
    }

    fn read_one(&mut self, item: &Value, rule: bool, forms: &BTreeSet<String>, at: &str, notes: &mut Notes) {
        let name = item.get("rule").or_else(|| item.get("story")).map(scalar).unwrap_or_default();
        for flag in ["conversation_start", "wait_for_user_input"].into_iter().filter(|f| item.get(*f).is_some()) {
            notes.skip(at.to_string(), format!("{name:?}: `{flag}` (Usher's replies do not depend on it)"));
        }
        let mut active: Option<String> = item
            .get("condition")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .find_map(|c| c.get("active_loop").map(scalar));
        if item
            .get("condition")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .any(|c| c.get("slot_was_set").is_some())
        {
            notes.skip(
                at.to_string(),
                format!("{name:?}: its slot_was_set condition (the rule's reply is used whatever the slots)"),
            );
        }
        let steps = steps(item.get("steps").unwrap_or(&Value::Null));
        let mut current: Option<(Vec<String>, Vec<Act>)> = None;
        let mut submitting: Option<(String, Vec<Act>)> = None;
        let flush = |current: &mut Option<(Vec<String>, Vec<Act>)>, this: &mut Self| {
            if let Some((intents, acts)) = current.take() {
                for intent in intents {
                    this.by_intent.entry(intent.clone()).or_default().push((acts.clone(), at.to_string()));
                    if rule {
                        this.from_rules.entry(intent).or_default().push(acts.clone());
                    }
                }
            }
        };
        for (n, step) in steps.iter().enumerate() {
            match step {
                Step::User { intents, .. } => {
                    flush(&mut current, self);
                    submitting = None;
                    current = Some((intents.iter().map(|i| usher_name(i)).collect(), Vec::new()));
                }
                Step::Action(a) if a == "action_listen" => {}
                Step::Action(a) if forms.contains(a) => {
                    let starts = matches!(steps.get(n + 1), Some(Step::Loop(Some(l))) if l == a);
                    if starts && active.as_deref() != Some(a) {
                        if let Some((_, acts)) = current.as_mut() {
                            acts.push(Act::Form(a.clone()));
                        }
                    }
                    active = Some(a.clone());
                }
                Step::Loop(None) => {
                    if let Some(form) = active.take() {
                        submitting = Some((form, Vec::new()));
                    }
                }
                Step::Loop(Some(f)) => active = Some(f.clone()),
                Step::Action(a) => {
                    let act = match a.starts_with("utter_") {
                        true => Act::Say(a.clone()),
                        false if BUILTIN_ACTIONS.contains(&a.as_str()) => {
                            notes.skip(at.to_string(), format!("{name:?}: Rasa's {a} (no Usher counterpart)"));
                            continue;
                        }
                        false => {
                            self.used.insert(a.clone());
                            Act::Call(a.clone())
                        }
                    };
                    match submitting.as_mut() {
                        Some((_, acts)) => acts.push(act),
                        None => {
                            if let Some((_, acts)) = current.as_mut() {
                                acts.push(act)
                            }
                        }
                    }
                }
                Step::Slots(_) => {}
                Step::Other(k) => notes.skip(at.to_string(), format!("{name:?}: a `{k}` step (not converted)")),
            }
        }
        flush(&mut current, self);
        if let Some((form, acts)) = submitting.filter(|(_, acts)| !acts.is_empty()) {
            self.submit.entry(form).or_insert(acts);
        }
    }

    /// The sequence to use for `intent`: a rule's, else the most common in
    /// the stories. Alternatives are noted.
    pub(super) fn choose(&self, intent: &str, notes: &mut Notes) -> Vec<Act> {
        let name = usher_name(intent);
        let seen = self.by_intent.get(&name).cloned().unwrap_or_default();
        let chosen = match self.from_rules.get(&name).and_then(|r| r.first()) {
            Some(rule) => rule.clone(),
            None => {
                let mut counts: BTreeMap<&Vec<Act>, usize> = BTreeMap::new();
                for (acts, _) in &seen {
                    *counts.entry(acts).or_default() += 1;
                }
                // Most common; ties go to the first seen.
                let best = counts.values().copied().max().unwrap_or(0);
                seen.iter().map(|(a, _)| a).find(|a| counts[a] == best).cloned().unwrap_or_default()
            }
        };
        for (acts, at) in seen.iter().filter(|(a, _)| *a != chosen && !a.is_empty()) {
            notes.skip(at.clone(), format!("intent {intent}: here it is followed by {} instead of {} (Usher answers an intent the same way wherever it comes)", show(acts), show(&chosen)));
        }
        chosen
    }
}

fn show(acts: &[Act]) -> String {
    let names: Vec<&str> = acts
        .iter()
        .map(|a| match a {
            Act::Say(n) | Act::Form(n) | Act::Call(n) => n.as_str(),
        })
        .collect();
    format!("[{}]", names.join(", "))
}
