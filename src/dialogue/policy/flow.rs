//! Flows under way: the answer to a `collect`, digressions into other
//! intents and flows, and running steps until the flow waits or ends.

use std::collections::BTreeMap;

use super::calls::failed;
use super::{contains_phrase, fill, slot_value, Turn, MAX_STEPS, PAUSED_FLOWS};
use crate::dialogue::tracker::{ActiveFlow, Reason};
use crate::intents::{Action, Domain, Flow, StepKind, Target, OUTCOME};
use crate::nlu::EntityMatch;

/// The confidence an intent needs to change the subject while `flow`
/// waits for a slot the message did not fill: `policy.digression_threshold`,
/// or only the fallback threshold for a follow-up recognised in its context
/// ("how long does that take" mid-transfer is likely meant). `None` when it
/// never does: an unknown intent, or one that starts this very flow.
pub fn digression_bar(domain: &Domain, flow: &str, intent: &str) -> Option<f32> {
    let intent = domain.intent(intent)?;
    match (&intent.action, intent.after.is_empty()) {
        (Action::Flow(f), _) if f == flow => None,
        (_, false) => Some(domain.policy.fallback_threshold),
        (_, true) => Some(domain.policy.digression_threshold),
    }
}

impl Turn<'_> {
    pub(super) fn continue_flow(&mut self, flow: &Flow, mut active: ActiveFlow, by_button: bool) {
        let (msg, parse) = (self.msg, self.parse);
        let lower = msg.text.trim().to_lowercase();
        if let Some(c) = flow.cancel.iter().find(|c| contains_phrase(&lower, c)) {
            self.because("flow_cancel", format!("{c:?} cancels flow {}", flow.name));
            self.tracker.flows.pop();
            self.respond("form_cancelled", &BTreeMap::new());
            return self.run_flow(); // a paused flow asks its question again
        }
        let slot = match flow.steps.get(active.step).map(|s| &s.kind) {
            Some(StepKind::Collect(slot)) if slot.name == active.requested => slot,
            _ => return self.run_flow(), // a reload changed the flow
        };
        if let Some(value) = slot_value(slot, msg.text, &parse.entities) {
            self.because("flow_answer", format!("the message fills slot {} of flow {}", slot.name, flow.name));
            self.tracker.slots.insert(slot.name.clone(), value);
            self.fill_from_entities(flow, &parse.entities);
            return self.run_flow();
        }
        let intent = self.domain.intent(&parse.intent.name);
        let needed = digression_bar(self.domain, &flow.name, &parse.intent.name);
        let digression = by_button || needed.is_some_and(|n| parse.intent.confidence >= n);
        if digression {
            let detail = match by_button {
                true => format!("a button press for {} digresses from flow {}", parse.intent.name, flow.name),
                false => format!(
                    "no value for slot {}; {} ≥ {:.2} digresses from flow {}",
                    slot.name,
                    self.intent_seen(),
                    needed.unwrap_or_default(),
                    flow.name
                ),
            };
            self.because("digression", detail);
            self.tracker.remember(parse.intent.clone());
            match intent.map(|i| &i.action) {
                Some(Action::Handoff) => {
                    self.tracker.flows.clear();
                    return self.handoff(Reason::Requested);
                }
                // Another flow: this one waits beneath it and resumes after.
                Some(Action::Flow(other)) => return self.start_flow(other, &parse.entities),
                _ => {}
            }
            self.act(&parse.intent.name, &[]);
            return self.ask(slot);
        }
        active.attempts += 1;
        let detail = format!(
            "no valid value for slot {} of flow {} (attempt {} of form_max_attempts {})",
            slot.name, flow.name, active.attempts, self.domain.policy.form_max_attempts
        );
        self.because("flow_invalid_answer", detail);
        if active.attempts >= self.domain.policy.form_max_attempts {
            self.tracker.flows.clear();
            return self.escalate(Reason::FormFailed);
        }
        if let Some(top) = self.tracker.flows.last_mut() {
            *top = active;
        }
        self.say(format!("{} {}", slot.invalid, slot.ask), Vec::new());
    }

    fn fill_from_entities(&mut self, flow: &Flow, entities: &[EntityMatch]) {
        for slot in flow.collected() {
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

    /// Puts `name` on top of the flows, its slots cleared and filled from
    /// `entities`; a flow already under way with that name starts over.
    fn enter(&mut self, name: &str, entities: &[EntityMatch]) {
        let Some(flow) = self.domain.flows.get(name) else { return };
        self.tracker.flows.retain(|f| f.name != name);
        for slot in flow.collected() {
            self.tracker.slots.remove(&slot.name);
        }
        self.fill_from_entities(flow, entities);
        self.tracker.flows.push(ActiveFlow::new(name));
        if self.tracker.flows.len() > PAUSED_FLOWS + 1 {
            self.tracker.flows.remove(0);
        }
    }

    pub(super) fn start_flow(&mut self, name: &str, entities: &[EntityMatch]) {
        self.enter(name, entities);
        self.run_flow();
    }

    /// Moves the flow answering now to `target`.
    fn jump(&mut self, target: Target) {
        if let Some(active) = self.tracker.flows.last_mut() {
            active.step = match target {
                Target::Step(i) => i,
                Target::End => usize::MAX,
            };
        }
    }

    /// The slots, with the last call's outcome, as a condition reads them.
    fn vars(&self) -> BTreeMap<String, String> {
        let mut vars = self.tracker.slots.clone();
        if let Some(outcome) = self.tracker.flow().and_then(|f| f.outcome.clone()) {
            vars.insert(OUTCOME.to_string(), outcome);
        }
        vars
    }

    /// Runs the flow answering now until it waits for the fan, needs
    /// evidence, or ends (when a paused flow beneath it resumes).
    fn run_flow(&mut self) {
        for _ in 0..MAX_STEPS {
            let Some(active) = self.tracker.flow() else { return };
            let Some(step) = self.domain.flows.get(&active.name).and_then(|f| f.steps.get(active.step)) else {
                self.tracker.flows.pop(); // it ended (or a reload removed it)
                continue;
            };
            let next = step.next;
            match &step.kind {
                StepKind::Collect(slot) => {
                    if self.tracker.slots.contains_key(&slot.name) {
                        self.jump(next);
                        continue;
                    }
                    if let Some(active) = self.tracker.flows.last_mut() {
                        if active.requested != slot.name {
                            active.requested = slot.name.clone();
                            active.attempts = 0;
                        }
                    }
                    return self.ask(slot);
                }
                StepKind::Respond(r) => {
                    self.respond(r, &self.vars());
                    self.jump(next);
                }
                StepKind::Set(pairs) => {
                    let vars = self.vars();
                    for (slot, template) in pairs {
                        self.set_slot(slot, fill(template, &vars));
                    }
                    self.jump(next);
                }
                StepKind::Call { action, say } => {
                    let Some(outcome) = self.call(action, &[], *say) else { return };
                    if failed(&outcome) {
                        // The backend could not answer (the call said so):
                        // nothing after it can be trusted; the flows end.
                        self.tracker.flows.clear();
                        return;
                    }
                    if let Some(active) = self.tracker.flows.last_mut() {
                        active.outcome = Some(outcome);
                    }
                    self.jump(next);
                }
                StepKind::Branch(cases) => {
                    let vars = self.vars();
                    let hit = cases.iter().find(|c| c.when.as_ref().is_none_or(|w| w.holds(&vars)));
                    self.jump(hit.map_or(next, |c| c.target));
                }
                StepKind::Handoff => {
                    self.tracker.flows.clear();
                    return self.handoff(Reason::Requested);
                }
                StepKind::Goto(other) => {
                    let other = other.clone();
                    self.tracker.flows.pop();
                    self.enter(&other, &[]);
                }
            }
        }
        // Steps without a wait, over and over: slots already filled keep a
        // loop going. End the flows rather than spin.
        self.tracker.flows.clear();
        self.respond("action_failed", &BTreeMap::new());
    }
}
