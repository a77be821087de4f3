//! The dialogue policy: given the tracker, what NLU made of a message and
//! what the engine found out for it, decide the replies. Pure and
//! synchronous; the engine consults the sources and persists the result.
//!
//! [`plan`] and [`decide`] run the same rules: planning walks the turn on a
//! copy of the tracker and stops at the first piece of evidence it lacks,
//! so what is looked up and how the answer uses it cannot drift apart.
//!
//! # Layout
//! - this file: the turn's rules (commands, handoff rules, the "unsure or
//!   out of scope" rule, knowledge first, an intent's action) and replies.
//! - `flow`: flows under way: collecting slots, digressions, steps.
//! - `calls`: backend actions and Rasa actions, and their outcomes.

use std::collections::BTreeMap;

use serde::Serialize;
use usher_channel::{Button, Part};

use super::evidence::{Evidence, Need, Passage, Produced};
use super::system::default_response;
use super::tracker::{Handoff, Reason, Tracker};
use crate::intents::{Action, Domain, Escalation, Response, Slot};
use crate::nlu::{EntityMatch, Parse, Ranked};

mod calls;
mod flow;

pub use flow::digression_bar;

/// Rasa followup actions run in a row after the first, at most.
const FOLLOWUPS: usize = 3;

/// Flows paused beneath the one answering, at most (the oldest is dropped).
const PAUSED_FLOWS: usize = 3;

/// Steps one message may run without waiting for the fan; more means a
/// loop through slots that are already filled.
const MAX_STEPS: usize = 64;

/// The intent for messages the bot was not built for.
pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// What the fan sent, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The text.
    pub text: &'a str,
    /// The pressed button's payload.
    pub payload: Option<&'a str>,
}

/// What the policy decided for one fan message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// The replies, each one message of parts.
    pub replies: Vec<Vec<Part>>,
    /// Why the conversation was handed to a person this turn, if it was.
    pub handoff: Option<Reason>,
    /// Whether this turn counts as not understood (a clarification, an
    /// out-of-scope message nothing answered, a fallback escalation).
    pub fallback: bool,
    /// The rule that decided, for explanations.
    pub rule: Rule,
    /// The named responses sent, in order (`refund_done`, `clarify`, …).
    pub responses: Vec<String>,
}

/// The policy rule that decided a turn, in staff's words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// A stable name (`fallback_threshold`, `handoff_keyword`, `flow_answer`, …).
    pub name: &'static str,
    /// What it saw ("confidence 0.31 below fallback_threshold 0.45").
    pub detail: String,
}

/// The evidence the policy needs for this message that `evidence` lacks
/// (empty: ready to decide). The tracker is not changed.
pub fn plan(domain: &Domain, tracker: &Tracker, msg: Message<'_>, parse: &Parse, evidence: &Evidence) -> Vec<Need> {
    let mut scratch = tracker.clone();
    let mut turn = Turn::new(domain, &mut scratch, msg, parse, evidence, true);
    turn.start();
    turn.needs
}

/// Decides the replies to one fan message from `evidence`; evidence that
/// was never consulted counts as not found.
pub fn decide(
    domain: &Domain,
    tracker: &mut Tracker,
    msg: Message<'_>,
    parse: &Parse,
    evidence: &Evidence,
) -> Decision {
    let (was_human, fallbacks_before) = (tracker.with_human(), tracker.fallbacks);
    let mut turn = Turn::new(domain, tracker, msg, parse, evidence, false);
    turn.start();
    let (replies, unanswered, rule, responses) = (turn.replies, turn.unanswered, turn.rule, turn.responses);
    let handoff = match tracker.handoff {
        Handoff::Waiting { reason, .. } if !was_human => Some(reason),
        _ => None,
    };
    let fallback =
        !was_human && (tracker.fallbacks > fallbacks_before || handoff == Some(Reason::Fallbacks) || unanswered);
    Decision { replies, handoff, fallback, rule, responses }
}

/// The intent a button payload names (`/refund_request`, or Rasa's
/// `/inform{"priority": "low"}` with entity values), if any.
pub fn payload_intent<'d>(domain: &'d Domain, payload: Option<&str>) -> Option<&'d str> {
    let rest = payload?.trim().strip_prefix('/')?;
    let name = rest.split_once('{').map_or(rest, |(name, _)| name);
    domain.intent(name.trim()).map(|i| i.name.as_str())
}

/// The entity values a payload carries after its intent
/// (`/inform{"priority": "low"}`: `priority` = `low`), as matches whose
/// text is the value. A suffix that is not a JSON object of scalars gives
/// none.
pub fn payload_entities(payload: &str) -> Vec<EntityMatch> {
    let Some((_, json)) = payload.trim().split_once('{') else { return Vec::new() };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&format!("{{{json}")) else { return Vec::new() };
    map.into_iter()
        .filter_map(|(entity, v)| {
            let value = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            let end = value.len();
            Some(EntityMatch { entity, text: value.clone(), value, start: 0, end, extractor: "payload" })
        })
        .collect()
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

/// A piece of evidence as the turn sees it.
enum Lookup<'a, T> {
    /// Planning, and not consulted yet: noted as a need; the turn stops.
    Pending,
    /// Consulted (or, deciding, never available): what it found.
    Got(Option<&'a T>),
}

struct Turn<'a> {
    domain: &'a Domain,
    tracker: &'a mut Tracker,
    msg: Message<'a>,
    parse: &'a Parse,
    evidence: &'a Evidence,
    /// Walking the turn only to find what it needs.
    planning: bool,
    needs: Vec<Need>,
    replies: Vec<Vec<Part>>,
    /// An out-of-scope message that nothing answered.
    unanswered: bool,
    /// The rule that decided (the last one noted).
    rule: Rule,
    /// The named responses picked, in order.
    responses: Vec<String>,
}

impl<'a> Turn<'a> {
    fn new(
        domain: &'a Domain,
        tracker: &'a mut Tracker,
        msg: Message<'a>,
        parse: &'a Parse,
        evidence: &'a Evidence,
        planning: bool,
    ) -> Self {
        Self {
            domain,
            tracker,
            msg,
            parse,
            evidence,
            planning,
            needs: Vec::new(),
            replies: Vec::new(),
            unanswered: false,
            rule: Rule::default(),
            responses: Vec::new(),
        }
    }

    /// Notes the rule deciding the turn (a later, more specific one wins).
    fn because(&mut self, name: &'static str, detail: String) {
        self.rule = Rule { name, detail };
    }

    /// "intent refund_request (0.93)".
    fn intent_seen(&self) -> String {
        format!("intent {} ({:.2})", self.parse.intent.name, self.parse.intent.confidence)
    }

    fn start(&mut self) {
        self.tracker.turns += 1;
        if let Handoff::Waiting { .. } = self.tracker.handoff {
            // Parked: a human answers; the bot stays silent.
            return self.because("with_human", "a person owns the conversation: the bot stays silent".into());
        }
        self.run();
    }

    /// The evidence `need` brought, as `get` reads it.
    fn consult<T>(&mut self, need: Need, get: impl FnOnce(&'a Evidence) -> Option<&'a T>) -> Lookup<'a, T> {
        if self.evidence.consulted(&need) {
            return Lookup::Got(get(self.evidence));
        }
        if self.planning {
            self.needs.push(need);
            return Lookup::Pending;
        }
        Lookup::Got(None)
    }

    /// The knowledge base's confident answer to the message.
    fn passage(&mut self) -> Lookup<'a, Passage> {
        let need = Need::Knowledge { query: self.msg.text.to_string() };
        self.consult(need, |e| e.knowledge.as_ref().filter(|a| a.confident))
    }

    /// The slots, then `entities` by entity name: what a backend call's or
    /// a tool's placeholders may use.
    fn slots_and(&self, entities: &[EntityMatch]) -> BTreeMap<String, String> {
        let mut values = self.tracker.slots.clone();
        for m in entities {
            values.entry(m.entity.clone()).or_insert_with(|| m.value.clone());
        }
        values
    }

    /// Sets `slot` to `value`; an empty value clears it.
    fn set_slot(&mut self, slot: &str, value: String) {
        match value.is_empty() {
            true => self.tracker.slots.remove(slot),
            false => self.tracker.slots.insert(slot.to_string(), value),
        };
    }

    /// `tool`'s output for the message.
    fn produced(&mut self, tool: &str) -> Lookup<'a, Produced> {
        let values = self.slots_and(&self.parse.entities);
        let payload = self.msg.payload.map(str::to_string);
        let need = Need::Tool { tool: tool.to_string(), text: self.msg.text.to_string(), payload, values };
        self.consult(need, |e| e.tool.as_ref().filter(|o| o.tool == tool))
    }

    fn run(&mut self) {
        let (msg, parse) = (self.msg, self.parse);
        let lower = msg.text.to_lowercase();
        if msg.payload.map(str::trim) == Some("/continue") {
            self.because("continue_button", "the fan pressed \"continue\" after an offer of a person".into());
            self.tracker.fallbacks = 0;
            return self.respond("continue", &BTreeMap::new());
        }
        // What the fan meant stays context for the agent's hand-back even
        // when a rule hands over before it is acted on.
        let confident = parse.intent.confidence >= self.domain.policy.fallback_threshold;
        if let Some(k) = self.domain.policy.handoff_keywords.iter().find(|k| contains_phrase(&lower, k)) {
            self.because("handoff_keyword", format!("the message contains {k:?}, one of policy.handoff_keywords"));
            if confident {
                self.tracker.remember(parse.intent.clone());
            }
            self.tracker.flows.clear();
            return self.handoff(Reason::Keyword);
        }
        if let (Some(rule), Some(score)) = (self.domain.policy.negative_sentiment, parse.sentiment) {
            self.tracker.negative_turns = if score < rule.score_below { self.tracker.negative_turns + 1 } else { 0 };
            if self.tracker.negative_turns >= rule.turns {
                let detail = format!(
                    "sentiment {score:+.2} below {:+.2} for {} turn(s) in a row (policy.negative_sentiment)",
                    rule.score_below, self.tracker.negative_turns
                );
                self.because("negative_sentiment", detail);
                if confident {
                    self.tracker.remember(parse.intent.clone());
                }
                self.tracker.flows.clear();
                return self.handoff(Reason::Sentiment);
            }
        }
        let by_button = payload_intent(self.domain, msg.payload).is_some();
        while let Some(active) = self.tracker.flow().cloned() {
            if let Some(flow) = self.domain.flows.get(&active.name) {
                self.because("flow_answer", format!("flow {} is waiting for {}", active.name, active.requested));
                return self.continue_flow(flow, active, by_button);
            }
            self.tracker.flows.pop(); // the flow was removed by a reload
        }
        // The one place the "unsure or out of scope" rule is written: such a
        // message is looked up, answered from the documents when they know,
        // and otherwise clarified (unsure) or counted as unanswered.
        let unsure = parse.intent.confidence < self.domain.policy.fallback_threshold;
        let out_of_scope = parse.intent.name == OUT_OF_SCOPE;
        if !by_button && (unsure || out_of_scope) {
            let seen = match unsure {
                true => format!(
                    "confidence {:.2} below fallback_threshold {:.2}",
                    parse.intent.confidence, self.domain.policy.fallback_threshold
                ),
                false => format!("{} is out of scope", self.intent_seen()),
            };
            match self.passage() {
                Lookup::Pending => return,
                Lookup::Got(Some(answer)) => {
                    let detail = format!("{seen}: the knowledge base answered ({:.2})", answer.similarity);
                    self.because("knowledge_fallback", detail);
                    self.tracker.fallbacks = 0;
                    return self.cite(answer);
                }
                Lookup::Got(None) => self.unanswered = out_of_scope,
            }
            if unsure {
                self.because("fallback_threshold", format!("{seen}; no confident knowledge passage: clarify"));
                return self.fallback();
            }
            self.because("out_of_scope", format!("{seen}; no confident knowledge passage"));
        }
        // Knowledge first: a template the classifier is unsure of yields to
        // any confident passage; a confident `knowledge_first` intent only
        // to one that answers the message itself ("can I bring my own food"
        // gets the food rule, not the general venue page).
        let intent = self.domain.intent(&parse.intent.name);
        let template = intent.is_some_and(|i| matches!(i.action, Action::Respond(_)));
        let policy = &self.domain.policy;
        let bar = match parse.intent.confidence < policy.prefer_knowledge_below {
            true => Some(0.0),
            false => intent.is_some_and(|i| i.knowledge_first).then_some(policy.knowledge_wins_at),
        };
        if let Some(bar) = bar.filter(|_| !by_button && template) {
            match self.passage() {
                Lookup::Pending => return,
                Lookup::Got(Some(answer)) if answer.similarity >= bar => {
                    let detail = match bar > 0.0 {
                        true => format!(
                            "{} is knowledge_first and a passage answers at {:.2} ≥ knowledge_wins_at {bar:.2}",
                            self.intent_seen(),
                            answer.similarity
                        ),
                        false => format!(
                            "{} below prefer_knowledge_below {:.2}: a confident passage ({:.2}) answers instead",
                            self.intent_seen(),
                            policy.prefer_knowledge_below,
                            answer.similarity
                        ),
                    };
                    self.because("knowledge_first", detail);
                    self.tracker.fallbacks = 0;
                    self.tracker.remember(parse.intent.clone());
                    return self.cite(answer);
                }
                Lookup::Got(_) => {}
            }
        }
        if !out_of_scope {
            let detail = match by_button {
                true => format!("the fan pressed the button for {}", parse.intent.name),
                false => format!(
                    "{} at or above fallback_threshold {:.2}",
                    self.intent_seen(),
                    self.domain.policy.fallback_threshold
                ),
            };
            self.because("intent", detail);
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
            Action::Flow(flow) => self.start_flow(&flow, entities),
            Action::Call(action) => {
                self.call(&action, entities, true);
            }
            Action::Handoff => self.handoff(Reason::Requested),
            Action::Knowledge => match self.passage() {
                Lookup::Pending => {}
                Lookup::Got(Some(answer)) => self.cite(answer),
                Lookup::Got(None) => self.respond("kb_unsure", &BTreeMap::new()),
            },
            Action::Tool(tool) => match self.produced(&tool) {
                Lookup::Pending => {}
                Lookup::Got(Some(output)) => {
                    self.say(output.text.clone(), output.buttons.clone());
                    if let Some(reply) = self.replies.last_mut() {
                        reply.extend(output.attachments.iter().cloned().map(Part::Attachment));
                    }
                    for (slot, value) in &output.slots {
                        self.set_slot(slot, value.clone());
                    }
                }
                Lookup::Got(None) => self.not_available(&format!("the {} tool", tool.replace('_', " "))),
            },
        }
    }

    fn ask(&mut self, slot: &Slot) {
        self.say(slot.ask.clone(), Vec::new());
    }

    fn fallback(&mut self) {
        self.tracker.fallbacks += 1;
        if self.tracker.fallbacks >= self.domain.policy.handoff_after_fallbacks {
            let detail = format!(
                "{}; {} fallbacks in a row reach handoff_after_fallbacks {}",
                self.rule.detail, self.tracker.fallbacks, self.domain.policy.handoff_after_fallbacks
            );
            self.because("handoff_after_fallbacks", detail);
            return self.escalate(Reason::Fallbacks);
        }
        let response = self.pick("clarify");
        let mut buttons: Vec<Button> = self
            .parse
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
    fn cite(&mut self, answer: &Passage) {
        let vars = BTreeMap::from([
            ("answer".to_string(), answer.text.clone()),
            ("source".to_string(), answer.citation.clone()),
        ]);
        self.respond("kb_answer", &vars);
    }

    fn not_available(&mut self, feature: &str) {
        let vars = BTreeMap::from([("feature".to_string(), feature.to_string())]);
        self.respond("not_available", &vars);
    }

    /// A variation of `name`: the domain's, else the built-in default.
    /// The choice rotates with the turn count, so it is deterministic.
    /// The variation of response `name` for this turn, noted as sent.
    fn pick(&mut self, name: &str) -> Response {
        self.responses.push(name.to_string());
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
