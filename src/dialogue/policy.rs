//! The dialogue policy: given the tracker and what NLU made of a message,
//! decide the replies. Pure and synchronous; the engine persists the result.

use std::collections::BTreeMap;

use usher_channel::{Button, Part};

use super::system::default_response;
use super::tracker::{ActiveForm, Handoff, Reason, Tracker};
use crate::intents::{Action, Domain, Escalation, Form, Response, Slot};
use crate::knowledge::Answer;
use crate::nlu::{EntityMatch, Parse, Ranked};

/// Above this confidence a message mid-form is a digression, not an answer.
const DIGRESSION_CONFIDENCE: f32 = 0.8;

/// The intent for messages the bot was not built for.
pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// Whether to look `parse`'s message up in the knowledge base before
/// deciding: intents whose action is knowledge, and messages NLU is unsure
/// of or finds out of scope, outside forms and handoffs.
pub fn wants_knowledge(domain: &Domain, tracker: &Tracker, parse: &Parse) -> bool {
    if tracker.form.is_some() || tracker.with_human() {
        return false;
    }
    let knowledge_intent = domain.intent(&parse.intent.name).is_some_and(|i| matches!(i.action, Action::Knowledge));
    knowledge_intent || parse.intent.confidence < domain.policy.fallback_threshold || parse.intent.name == OUT_OF_SCOPE
}

/// The creative tool this message calls, outside forms and handoffs.
pub fn wants_tool<'d>(domain: &'d Domain, tracker: &Tracker, parse: &Parse) -> Option<&'d str> {
    if tracker.form.is_some() || tracker.with_human() {
        return None;
    }
    match &domain.intent(&parse.intent.name)?.action {
        Action::Tool(tool) if parse.intent.confidence >= domain.policy.fallback_threshold => Some(tool),
        _ => None,
    }
}

/// What the fan sent, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The text.
    pub text: &'a str,
    /// The pressed button's payload.
    pub payload: Option<&'a str>,
}

/// Decides the replies to one fan message; each reply is one message of parts.
pub fn decide(domain: &Domain, tracker: &mut Tracker, msg: Message<'_>, parse: &Parse) -> Vec<Vec<Part>> {
    tracker.turns += 1;
    if let Handoff::Waiting { .. } = tracker.handoff {
        // Parked: a human answers; the bot stays silent.
        return Vec::new();
    }
    let mut turn =
        Turn { domain, tracker, replies: Vec::new(), knowledge: parse.knowledge.as_ref(), tool: parse.tool.as_ref() };
    turn.run(msg, parse);
    turn.replies
}

/// The intent a button payload names (`/refund_request`), if any.
pub fn payload_intent<'d>(domain: &'d Domain, payload: Option<&str>) -> Option<&'d str> {
    let name = payload?.trim().strip_prefix('/')?;
    domain.intent(name).map(|i| i.name.as_str())
}

/// The payload a typed command stands for: `/human` (on every channel) asks
/// for a person, as the "Talk to a person" button does.
pub fn command_payload(text: &str) -> Option<&'static str> {
    match text.trim().to_lowercase().as_str() {
        "/human" | "/agent" => Some(HUMAN_PAYLOAD),
        _ => None,
    }
}

/// The payload of "Talk to a person".
pub const HUMAN_PAYLOAD: &str = "/talk_to_human";

struct Turn<'a> {
    domain: &'a Domain,
    tracker: &'a mut Tracker,
    replies: Vec<Vec<Part>>,
    knowledge: Option<&'a Answer>,
    tool: Option<&'a crate::creative::tools::ToolOutput>,
}

impl Turn<'_> {
    fn run(&mut self, msg: Message<'_>, parse: &Parse) {
        let lower = msg.text.to_lowercase();
        if msg.payload.map(str::trim) == Some("/continue") {
            self.tracker.fallbacks = 0;
            return self.respond("continue", &BTreeMap::new());
        }
        if self.domain.policy.handoff_keywords.iter().any(|k| contains_phrase(&lower, k)) {
            self.tracker.form = None;
            return self.handoff(Reason::Keyword);
        }
        if let (Some(rule), Some(score)) = (self.domain.policy.negative_sentiment, parse.sentiment) {
            self.tracker.negative_turns = if score < rule.score_below { self.tracker.negative_turns + 1 } else { 0 };
            if self.tracker.negative_turns >= rule.turns {
                self.tracker.form = None;
                return self.handoff(Reason::Sentiment);
            }
        }
        let by_button = payload_intent(self.domain, msg.payload).is_some();
        if let Some(active) = self.tracker.form.clone() {
            if let Some(form) = self.domain.forms.get(&active.name) {
                return self.continue_form(form, active, msg, parse, by_button);
            }
            self.tracker.form = None; // the form was removed by a reload
        }
        let unsure = parse.intent.confidence < self.domain.policy.fallback_threshold;
        if !by_button && (unsure || parse.intent.name == OUT_OF_SCOPE) {
            if let Some(answer) = self.knowledge.filter(|a| a.confident) {
                self.tracker.fallbacks = 0;
                return self.cite(answer);
            }
        }
        if !by_button && unsure {
            return self.fallback(parse);
        }
        self.tracker.fallbacks = 0;
        self.tracker.remember(parse.intent.clone());
        self.act(&parse.intent.name, &parse.entities);
    }

    fn act(&mut self, intent: &str, entities: &[EntityMatch]) {
        let Some(action) = self.domain.intent(intent).map(|i| i.action.clone()) else {
            return self.respond("continue", &BTreeMap::new());
        };
        match action {
            Action::Respond(r) => self.respond(&r, &self.tracker.slots.clone()),
            Action::Form { form, respond } => {
                let Some(form) = self.domain.forms.get(&form) else {
                    return;
                };
                for slot in &form.slots {
                    self.tracker.slots.remove(&slot.name);
                }
                self.fill_from_entities(form, entities);
                self.tracker.form =
                    Some(ActiveForm { name: form.name.clone(), respond, requested: String::new(), attempts: 0 });
                self.next_slot(form);
            }
            Action::Handoff => self.handoff(Reason::Requested),
            Action::Knowledge => match self.knowledge.filter(|a| a.confident) {
                Some(answer) => self.cite(answer),
                None => self.respond("kb_unsure", &BTreeMap::new()),
            },
            Action::Tool(tool) => match self.tool.filter(|o| o.tool == tool) {
                Some(output) => {
                    self.say(output.text.clone(), Vec::new());
                    if let Some(reply) = self.replies.last_mut() {
                        reply.extend(output.attachments.iter().cloned().map(Part::Attachment));
                    }
                }
                None => self.not_available(&format!("the {} tool", tool.replace('_', " "))),
            },
        }
    }

    fn continue_form(&mut self, form: &Form, mut active: ActiveForm, msg: Message<'_>, parse: &Parse, by_button: bool) {
        let lower = msg.text.trim().to_lowercase();
        if form.cancel.iter().any(|c| contains_phrase(&lower, c)) {
            self.tracker.form = None;
            return self.respond("form_cancelled", &BTreeMap::new());
        }
        let Some(slot) = form.slots.iter().find(|s| s.name == active.requested) else {
            return self.next_slot(form);
        };
        if let Some(value) = slot_value(slot, msg.text, &parse.entities) {
            self.tracker.slots.insert(slot.name.clone(), value);
            self.fill_from_entities(form, &parse.entities);
            return self.next_slot(form);
        }
        let digression = by_button
            || (parse.intent.confidence >= DIGRESSION_CONFIDENCE.max(self.domain.policy.fallback_threshold)
                && self.domain.intent(&parse.intent.name).is_some_and(|i| !matches!(i.action, Action::Form { .. })));
        if digression {
            self.tracker.remember(parse.intent.clone());
            let leaves = matches!(self.domain.intent(&parse.intent.name).map(|i| &i.action), Some(Action::Handoff));
            if leaves {
                self.tracker.form = None;
                return self.handoff(Reason::Requested);
            }
            self.act(&parse.intent.name, &[]);
            return self.ask(slot);
        }
        active.attempts += 1;
        if active.attempts >= self.domain.policy.form_max_attempts {
            self.tracker.form = None;
            return self.escalate(Reason::FormFailed);
        }
        self.tracker.form = Some(active);
        self.say(format!("{} {}", slot.invalid, slot.ask), Vec::new());
    }

    fn fill_from_entities(&mut self, form: &Form, entities: &[EntityMatch]) {
        for slot in &form.slots {
            if self.tracker.slots.contains_key(&slot.name) {
                continue;
            }
            let value = entities
                .iter()
                .filter(|m| slot.entity.as_deref() == Some(m.entity.as_str()))
                .find(|m| slot.pattern.as_ref().is_none_or(|p| p.is_match(&m.value)));
            if let Some(m) = value {
                self.tracker.slots.insert(slot.name.clone(), m.value.clone());
            }
        }
    }

    fn next_slot(&mut self, form: &Form) {
        match form.slots.iter().find(|s| !self.tracker.slots.contains_key(&s.name)) {
            Some(slot) => {
                if let Some(active) = self.tracker.form.as_mut() {
                    if active.requested != slot.name {
                        active.requested = slot.name.clone();
                        active.attempts = 0;
                    }
                }
                self.ask(slot);
            }
            None => {
                let done = self.tracker.form.take();
                if let Some(active) = done {
                    self.respond(&active.respond, &self.tracker.slots.clone());
                }
            }
        }
    }

    fn ask(&mut self, slot: &Slot) {
        self.say(slot.ask.clone(), Vec::new());
    }

    fn fallback(&mut self, parse: &Parse) {
        self.tracker.fallbacks += 1;
        if self.tracker.fallbacks >= self.domain.policy.handoff_after_fallbacks {
            return self.escalate(Reason::Fallbacks);
        }
        let response = self.pick("clarify");
        let mut buttons: Vec<Button> = parse
            .ranking
            .iter()
            .filter_map(|r: &Ranked| self.domain.intent(&r.name))
            .take(2)
            .map(|i| Button { title: i.title.clone(), payload: format!("/{}", i.name) })
            .collect();
        buttons.extend(response.buttons.iter().cloned());
        self.say(response.text, buttons);
    }

    /// Repeated failure: offer a person, or hand over at once, as the policy says.
    fn escalate(&mut self, reason: Reason) {
        match self.domain.policy.escalation {
            Escalation::Offer => self.respond("offer_human", &BTreeMap::new()),
            Escalation::Handoff => {
                self.tracker.fallbacks = 0;
                self.handoff(reason)
            }
        }
    }

    fn handoff(&mut self, reason: Reason) {
        self.tracker.handoff = Handoff::Waiting { since_ms: crate::util::now_ms(), reason };
        let notice = fill(&self.pick("handoff").text, &self.tracker.slots);
        self.replies.push(vec![Part::Handoff { notice }]);
    }

    /// A knowledge-base answer with its source.
    fn cite(&mut self, answer: &Answer) {
        let vars =
            BTreeMap::from([("answer".to_string(), answer.text.clone()), ("source".to_string(), answer.citation())]);
        self.respond("kb_answer", &vars);
    }

    fn not_available(&mut self, feature: &str) {
        let vars = BTreeMap::from([("feature".to_string(), feature.to_string())]);
        self.respond("not_available", &vars);
    }

    /// A variation of `name`: the domain's, else the built-in default.
    /// The choice rotates with the turn count, so it is deterministic.
    fn pick(&self, name: &str) -> Response {
        match self.domain.responses.get(name) {
            Some(vars) if !vars.is_empty() => vars[(self.tracker.turns as usize) % vars.len()].clone(),
            _ => default_response(name),
        }
    }

    fn respond(&mut self, name: &str, vars: &BTreeMap<String, String>) {
        let r = self.pick(name);
        self.say(fill(&r.text, vars), r.buttons);
    }

    fn say(&mut self, text: String, buttons: Vec<Button>) {
        let mut parts = vec![Part::Text { text }];
        if !buttons.is_empty() {
            parts.push(Part::Buttons { buttons });
        }
        self.replies.push(parts);
    }
}

/// The value for `slot` in a message: its entity's match, else its pattern's
/// match, else (with neither) the whole trimmed text.
fn slot_value(slot: &Slot, text: &str, entities: &[EntityMatch]) -> Option<String> {
    let valid = |v: &str| slot.pattern.as_ref().is_none_or(|p| p.is_match(v));
    if let Some(entity) = &slot.entity {
        if let Some(m) = entities.iter().find(|m| &m.entity == entity && valid(&m.value)) {
            return Some(m.value.clone());
        }
    }
    match (&slot.pattern, &slot.entity) {
        (Some(p), _) => p.find(text).map(|m| m.as_str().to_string()),
        (None, Some(_)) => None,
        (None, None) => Some(text.trim().to_string()).filter(|t| !t.is_empty()),
    }
}

/// Whether `phrase` occurs in `text` as whole words.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(i, m)| {
        let before = text[..i].chars().next_back();
        let after = text[i + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Replaces `{name}` placeholders with values; unknown ones stay as written.
pub fn fill(template: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_whole_words() {
        assert!(contains_phrase("please cancel that", "cancel"));
        assert!(!contains_phrase("the cancellation policy", "cancel"));
        assert!(contains_phrase("never mind.", "never mind"));
    }

    #[test]
    fn placeholders_are_filled() {
        let vars = BTreeMap::from([("order_id".to_string(), "A12345".to_string())]);
        assert_eq!(fill("Order {order_id}, {email}", &vars), "Order A12345, {email}");
    }
}
