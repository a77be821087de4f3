//! Rasa test stories (`stories:` with `user:` text under `tests/`) and
//! end-to-end test cases (`test_cases:`) as Usher conversation tests: each
//! fan step becomes a turn that must be read as its intent and be followed
//! by exactly the responses (`responds:`) and action-server calls
//! (`calls: [rasa.NAME]`, stubbed) the story lists, in the form it names.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_yaml::Value;

use super::convert::{plain, slot_values, steps, usher_name, Converted, Step};
use super::project::{key, scalar, Project};
use super::Notes;
use crate::intents::Seg;

/// One converted test file.
#[derive(Debug, Serialize)]
pub(super) struct OutTests {
    pub conversations: Vec<OutConversation>,
}

#[derive(Debug, Serialize)]
pub(super) struct OutConversation {
    pub name: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stubs: BTreeMap<String, BTreeMap<String, String>>,
    pub turns: Vec<OutTurn>,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct OutTurn {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fan: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub press: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responds: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub says: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
}

/// Every test file of the project that holds tests: its name (the file's
/// stem) and its conversations.
pub(super) fn convert(project: &Project, conv: &Converted, notes: &mut Notes) -> Vec<(String, OutTests)> {
    let mut out = Vec::new();
    for source in &project.tests {
        let mut conversations = Vec::new();
        for section in ["stories", "test_cases"] {
            let Some(items) = source.section(section).and_then(Value::as_sequence) else { continue };
            for (i, item) in items.iter().enumerate() {
                let at = source.at(&[key(section), Seg::Index(i)]);
                let name = ["story", "test_case"].iter().find_map(|k| item.get(*k)).map(scalar).unwrap_or_default();
                let mut story = Story::new(conv, name.clone(), at.clone());
                match section {
                    "stories" => story.test_story(item.get("steps").unwrap_or(&Value::Null), notes),
                    _ => story.test_case(item.get("steps").unwrap_or(&Value::Null), notes),
                }
                if story.conversation.turns.is_empty() {
                    notes.skip(at, format!("test {name:?} has no fan turn Usher can send: not converted"));
                } else {
                    conversations.push(story.conversation);
                }
            }
        }
        if !conversations.is_empty() {
            let stem = source.name.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            out.push((stem, OutTests { conversations }));
        }
    }
    out
}

/// One story being converted.
struct Story<'a> {
    conv: &'a Converted,
    at: String,
    conversation: OutConversation,
    /// The form under way.
    active: Option<String>,
    /// The current turn started the form under way, or went back to it
    /// after answering something else: either way no fan answer filled it.
    unanswered: bool,
    /// The current turn was `nlu_fallback`.
    fallback: bool,
}

impl<'a> Story<'a> {
    fn new(conv: &'a Converted, name: String, at: String) -> Self {
        let conversation = OutConversation { name, stubs: BTreeMap::new(), turns: Vec::new() };
        Self { conv, at, conversation, active: None, unanswered: false, fallback: false }
    }

    fn turn(&mut self) -> Option<&mut OutTurn> {
        self.conversation.turns.last_mut()
    }

    /// Notes why the story stops here; the turns so far stay.
    fn stop(&mut self, notes: &mut Notes, why: String) {
        notes.skip(self.at.clone(), format!("test {:?}: {why}; the turns before it are kept", self.conversation.name));
    }

    fn test_story(&mut self, list: &Value, notes: &mut Notes) {
        let steps = steps(list);
        for (n, step) in steps.iter().enumerate() {
            let go_on = match step {
                Step::User { intents, text } => self.user(intents.first().map(String::as_str), text.as_deref(), notes),
                Step::Action(a) => {
                    let starts = matches!(steps.get(n + 1), Some(Step::Loop(Some(l))) if l == a);
                    self.action(a, starts, notes)
                }
                Step::Loop(None) => self.form_ended(notes),
                Step::Loop(Some(form)) => {
                    self.active = Some(form.clone());
                    true
                }
                Step::Slots(slots) => self.slots(slots, notes),
                Step::Other(k) => {
                    self.stop(notes, format!("a `{k}` step"));
                    false
                }
            };
            if !go_on {
                return;
            }
        }
    }

    fn test_case(&mut self, list: &Value, notes: &mut Notes) {
        for item in list.as_sequence().into_iter().flatten() {
            let go_on = if let Some(text) = item.get("user").map(scalar) {
                self.user(None, Some(text.trim()), notes)
            } else if let Some(name) = item.get("utter").map(scalar) {
                self.action(&name, false, notes)
            } else if let Some(text) = item.get("bot").map(scalar) {
                self.turn().map(|t| t.says.push(text)).is_some()
            } else if let Some(slots) = item.get("slot_was_set") {
                self.slots(&slot_values(slots), notes)
            } else {
                let k = item.as_mapping().and_then(|m| m.keys().next()).map(scalar).unwrap_or_default();
                self.stop(notes, format!("a `{k}` step"));
                false
            };
            if !go_on {
                return;
            }
        }
    }

    /// A fan step: text to type, or (with an intent alone) its button.
    fn user(&mut self, intent: Option<&str>, text: Option<&str>, notes: &mut Notes) -> bool {
        self.fallback = intent == Some("nlu_fallback");
        self.unanswered = false;
        let known = |i: &str| self.conv.file.intents.iter().any(|x| x.name == usher_name(i));
        if let Some(i) = intent.filter(|i| !self.fallback && !known(i)) {
            self.stop(notes, format!("intent {i} was not converted"));
            return false;
        }
        let mut turn = OutTurn {
            intent: intent.filter(|_| !self.fallback).map(usher_name),
            responds: Some(Vec::new()),
            calls: Some(Vec::new()),
            ..Default::default()
        };
        match (text.filter(|t| !t.is_empty()), intent) {
            (Some(t), _) => turn.fan = Some(plain(t)),
            (None, Some(i)) if !self.fallback => turn.press = Some(format!("/{}", usher_name(i))),
            _ => {
                self.stop(notes, "a fan step with neither text nor an intent Usher has".into());
                return false;
            }
        }
        if let Some(form) = &self.active {
            turn.flow = Some(usher_name(form));
        }
        self.conversation.turns.push(turn);
        true
    }

    /// An action after the current fan step.
    fn action(&mut self, action: &str, starts_form: bool, notes: &mut Notes) -> bool {
        if action == "action_listen" {
            return true;
        }
        let (fallback, conv) = (self.fallback, self.conv);
        let active = self.active.clone();
        let Some(turn) = self.conversation.turns.last_mut() else {
            self.stop(notes, format!("{action} before any fan step"));
            return false;
        };
        if conv.forms.contains(action) {
            if starts_form || active.as_deref() == Some(action) {
                turn.flow = Some(usher_name(action));
            }
            // Starting it, or going back to it after a digression.
            self.unanswered = true;
            self.active = Some(action.to_string());
            return true;
        }
        if action.starts_with("utter_") {
            let name = match conv.fallback_response.as_deref() == Some(action) && fallback {
                true => "clarify".to_string(),
                false => usher_name(action),
            };
            if !conv.file.responses.contains_key(&name) && name != "clarify" {
                turn.responds = None;
                notes.skip(
                    self.at.clone(),
                    format!(
                        "test {:?}: {action} was not converted, so the turn does not check its responses",
                        self.conversation.name
                    ),
                );
                return true;
            }
            if let Some(r) = turn.responds.as_mut() {
                r.push(name);
            }
        } else if conv.custom.contains(action) {
            let call = format!("rasa.{action}");
            turn.calls.get_or_insert_with(Vec::new).push(call.clone());
            self.conversation.stubs.entry(call).or_default();
        } else {
            turn.responds = None;
            turn.calls = None;
            notes.skip(
                self.at.clone(),
                format!(
                    "test {:?}: {action} has no Usher counterpart; that turn checks only its intent",
                    self.conversation.name
                ),
            );
        }
        true
    }

    /// `active_loop: null`: the form ended. When no fan turn filled it, the
    /// story cannot go on in Usher, where the form still waits.
    fn form_ended(&mut self, notes: &mut Notes) -> bool {
        let Some(form) = self.active.take() else { return true };
        if self.unanswered {
            self.stop(
                notes,
                format!("the form {form} is filled without fan turns, so the converted test checks that it starts"),
            );
            return false;
        }
        if let Some(turn) = self.turn() {
            turn.flow = Some(String::new());
        }
        true
    }

    fn slots(&mut self, slots: &[(String, Option<String>)], notes: &mut Notes) -> bool {
        let collected: Vec<&str> =
            self.conv.file.flows.values().flat_map(|f| &f.steps).filter_map(|s| s.collect.as_deref()).collect();
        let name = self.conversation.name.clone();
        let Some(turn) = self.conversation.turns.last_mut() else { return true };
        for (slot, value) in slots {
            let slot = usher_name(slot);
            if collected.contains(&slot.as_str()) {
                // `- slot` alone means "set to anything", which a test cannot say.
                if let Some(v) = value {
                    turn.slots.insert(slot, Some(v.clone()));
                }
            } else {
                notes.skip(
                    self.at.clone(),
                    format!("test {name:?}: slot {slot} is not collected by any flow, so it is not checked"),
                );
            }
        }
        true
    }
}
