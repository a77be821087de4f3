//! Why the bot did what it did with one message: what NLU saw (the top
//! intents, the nearest training examples, each entity and where it came
//! from), what the engine consulted (knowledge passages, backend calls, a
//! tool) and the policy rule that decided. Built from a turn's [`Parse`],
//! [`Evidence`] and [`Decision`]; stored with the message for the console,
//! returned by `POST …/messages?explain=true` and printed by
//! `usher chat --explain`.

use serde::Serialize;

use super::evidence::{Called, Evidence};
use super::policy::{Decision, Rule};
use crate::nlu::{Neighbour, Parse, Ranked};

/// Intents shown, best first.
const TOP_INTENTS: usize = 3;

/// The explanation of one turn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The top intents with their confidences, best first.
    pub intents: Vec<Ranked>,
    /// The nearest training examples, best first (empty without an encoder).
    pub nearest: Vec<Neighbour>,
    /// Each entity found and the extractor that found it.
    pub entities: Vec<Sourced>,
    /// Knowledge passages with their similarities, best first.
    pub knowledge: Vec<Scored>,
    /// Backend actions called and their outcomes.
    pub actions: Vec<Called>,
    /// The creative tool that ran, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The policy rule that decided.
    pub rule: Rule,
    /// The named responses sent, in order.
    pub responses: Vec<String>,
}

/// An entity and its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sourced {
    /// The entity name.
    pub entity: String,
    /// Its value (canonical when a synonym mapped it).
    pub value: String,
    /// The text it was found in.
    pub text: String,
    /// `regex`, `lookup`, `synonym` (a lookup entry that maps to another
    /// value) or `tagger`.
    pub source: String,
}

/// A knowledge passage's source and similarity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// "path" or "path#heading".
    pub source: String,
    /// Cosine similarity to the message.
    pub similarity: f32,
    /// Whether it cleared `knowledge.answer_threshold` (the best one only).
    pub confident: bool,
}

impl Explanation {
    /// The explanation of a turn that read `parse`, consulted `evidence`
    /// and came to `decision`.
    pub fn new(parse: &Parse, evidence: &Evidence, decision: &Decision) -> Self {
        let entities = parse
            .entities
            .iter()
            .map(|m| {
                let mapped = !m.value.eq_ignore_ascii_case(&m.text);
                let source = match (m.extractor, mapped) {
                    ("lookup", true) => "synonym".to_string(),
                    ("tagger", true) => "tagger, then synonym".to_string(),
                    (e, _) => e.to_string(),
                };
                Sourced { entity: m.entity.clone(), value: m.value.clone(), text: m.text.clone(), source }
            })
            .collect();
        let knowledge = evidence
            .knowledge
            .iter()
            .flat_map(|p| {
                let best = Scored { source: p.path.clone(), similarity: p.similarity, confident: p.confident };
                let others = p.runners_up.iter().map(|(source, similarity)| Scored {
                    source: source.clone(),
                    similarity: *similarity,
                    confident: false,
                });
                std::iter::once(best).chain(others)
            })
            .collect();
        Self {
            intents: parse.ranking.iter().take(TOP_INTENTS).cloned().collect(),
            nearest: parse.nearest.clone(),
            entities,
            knowledge,
            actions: evidence.actions.clone(),
            tool: evidence.tool.as_ref().map(|t| t.tool.clone()),
            rule: decision.rule.clone(),
            responses: decision.responses.clone(),
        }
    }

    /// The explanation as lines of text, for the terminal.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let intents: Vec<String> = self.intents.iter().map(|r| format!("{} {:.2}", r.name, r.confidence)).collect();
        lines.push(format!("intents: {}", intents.join(", ")));
        for n in &self.nearest {
            lines.push(format!("nearest: {:?} ({}, {:.2})", n.text, n.intent, n.similarity));
        }
        for e in &self.entities {
            lines.push(format!("entity: {} = {:?} from {:?} via {}", e.entity, e.value, e.text, e.source));
        }
        for k in &self.knowledge {
            let confident = if k.confident { ", confident" } else { "" };
            lines.push(format!("knowledge: {} ({:.2}{confident})", k.source, k.similarity));
        }
        for a in &self.actions {
            let status = a.status.map(|s| format!(" {s}")).unwrap_or_default();
            let detail = a.detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default();
            lines.push(format!("called: {} → {}{status}{detail}", a.action, a.outcome));
        }
        if let Some(tool) = &self.tool {
            lines.push(format!("tool: {tool}"));
        }
        if !self.responses.is_empty() {
            lines.push(format!("responses: {}", self.responses.join(", ")));
        }
        lines.push(format!("rule: {} – {}", self.rule.name, self.rule.detail));
        lines
    }
}
