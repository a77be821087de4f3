//! Backend actions (`actions:`) and Rasa actions (`rasa.NAME`) as the
//! policy sees them: the need, then the outcome and what it changed.

use std::collections::BTreeMap;

use usher_channel::Part;

use super::{Lookup, Turn, FOLLOWUPS};
use crate::dialogue::evidence::{Called, Need};
use crate::intents::default_response_for;
use crate::nlu::EntityMatch;

/// Whether an outcome means the backend could not answer.
pub(super) fn failed(outcome: &str) -> bool {
    matches!(outcome, "error" | "timeout")
}

impl Turn<'_> {
    /// Calls `action` with the slots (and this message's entities) and,
    /// with `say` or when it failed, answers with its outcome's response;
    /// fields it saved become slots. The outcome, or none while planning.
    pub(super) fn call(&mut self, action: &str, entities: &[EntityMatch], say: bool) -> Option<String> {
        if let Some(name) = action.strip_prefix("rasa.") {
            return self.call_rasa(name, 0);
        }
        let Some(spec) = self.domain.actions.get(action) else {
            self.respond("action_failed", &BTreeMap::new());
            return Some("error".into());
        };
        let values = self.slots_and(entities);
        let need = Need::Action { action: action.to_string(), values };
        let called: Lookup<'_, Called> = self.consult(need, |e| e.actions.iter().rev().find(|c| c.action == action));
        let outcome = match called {
            Lookup::Pending => return None,
            Lookup::Got(Some(called)) => {
                // What an earlier call saved under these names is stale now.
                for slot in spec.save.keys() {
                    self.tracker.slots.remove(slot);
                }
                self.tracker.slots.extend(called.saved.clone());
                called.outcome.clone()
            }
            Lookup::Got(None) => "error".to_string(),
        };
        // A failure always answers (an apology and a person offered), even
        // where staff keep a call quiet: never a silent, or a happy, turn.
        if say || failed(&outcome) {
            let response = spec.response_for(&outcome).to_string();
            self.respond(&response, &self.tracker.slots.clone());
        }
        Some(outcome)
    }

    /// Calls the Rasa action `name`: its slot events change the slots, its
    /// messages are the replies, and its followup (an intent here, or
    /// another action there) runs next, at most [`FOLLOWUPS`] deep. The
    /// outcome, or none while planning.
    fn call_rasa(&mut self, name: &str, depth: usize) -> Option<String> {
        let need = Need::Rasa {
            action: name.to_string(),
            slots: self.tracker.slots.clone(),
            text: self.msg.text.to_string(),
            ranking: self.parse.ranking.clone(),
            entities: self.parse.entities.clone(),
        };
        let full = format!("rasa.{name}");
        let called = match self.consult(need, |e| e.actions.iter().rev().find(|c| c.action == full)) {
            Lookup::Pending => return None,
            Lookup::Got(Some(called)) if called.outcome == "ok" => called,
            Lookup::Got(Some(called)) => {
                self.respond(default_response_for(&called.outcome), &self.tracker.slots.clone());
                return Some(called.outcome.clone());
            }
            Lookup::Got(None) => {
                self.respond("action_failed", &BTreeMap::new());
                return Some("error".into());
            }
        };
        if called.reset_slots {
            self.tracker.slots.clear();
        }
        for (slot, value) in &called.saved {
            self.set_slot(slot, value.clone());
        }
        for said in &called.said {
            let mut parts = Vec::new();
            if !said.text.is_empty() {
                parts.push(Part::Text { text: said.text.clone() });
            }
            if !said.buttons.is_empty() {
                parts.push(Part::Buttons { buttons: said.buttons.clone() });
            }
            if let Some(url) = &said.image {
                parts.push(Part::Attachment(usher_channel::Attachment {
                    kind: usher_channel::AttachmentKind::Image,
                    url: url.clone(),
                    name: url.rsplit('/').next().unwrap_or("image").to_string(),
                    mime: "image/*".into(),
                }));
            }
            self.replies.push(parts);
        }
        match called.followup.clone() {
            Some(next) if self.domain.intent(&next).is_some() => self.act(&next, &[]),
            Some(next) if depth < FOLLOWUPS => return self.call_rasa(&next, depth + 1),
            _ => {}
        }
        Some("ok".into())
    }
}
