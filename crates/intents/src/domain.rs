//! The validated intent set the engine runs on.

use regex::Regex;
use std::collections::BTreeMap;

/// Everything staff defined in the intent files, checked and cross-linked.
#[derive(Debug, Clone)]
pub struct Domain {
    /// Intents in file order (the classifier's label order).
    pub intents: Vec<Intent>,
    /// Entities by name.
    pub entities: BTreeMap<String, Entity>,
    /// Forms by name.
    pub forms: BTreeMap<String, Form>,
    /// Responses by name, each with its variations.
    pub responses: BTreeMap<String, Vec<Response>>,
    /// Dialogue policy settings.
    pub policy: Policy,
    /// Canned replies for agents in the console: title → text.
    pub canned: BTreeMap<String, String>,
    /// SHA-256 of every file's name and contents: keys model caches.
    pub fingerprint: String,
}

impl Domain {
    /// The intent named `name`.
    pub fn intent(&self, name: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.name == name)
    }
}

/// One intent.
#[derive(Debug, Clone)]
pub struct Intent {
    /// Its unique name, e.g. `refund_request`.
    pub name: String,
    /// A short human title for clarification buttons ("Refund a ticket").
    pub title: String,
    /// Training examples, annotations resolved.
    pub examples: Vec<Example>,
    /// What the bot does when it recognises this intent.
    pub action: Action,
}

/// What the bot does for an intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a response.
    Respond(String),
    /// Fill a form, then send a response built from its slots.
    Form {
        /// The form to fill.
        form: String,
        /// The response once it is complete.
        respond: String,
    },
    /// Hand the conversation to a human agent.
    Handoff,
    /// Answer from the knowledge base.
    Knowledge,
    /// Run a creative tool (`tool.compose_melody` → `compose_melody`).
    Tool(String),
}

/// A training example: plain text plus the entity spans marked inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The text with the `[..](..)` markup removed.
    pub text: String,
    /// Marked entities (byte offsets into `text`).
    pub entities: Vec<Span>,
}

/// An entity occurrence in an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// The entity name.
    pub entity: String,
}

/// How an entity is recognised.
#[derive(Debug, Clone)]
pub struct Entity {
    /// Its name.
    pub name: String,
    /// A regular expression (whole match is the value).
    pub pattern: Option<Regex>,
    /// Lower-cased surface form → canonical value (values map to themselves).
    pub lookup: BTreeMap<String, String>,
}

/// A slot-filling form.
#[derive(Debug, Clone)]
pub struct Form {
    /// Its name.
    pub name: String,
    /// Slots in the order they are asked.
    pub slots: Vec<Slot>,
    /// Lower-cased phrases that cancel the form.
    pub cancel: Vec<String>,
}

/// One slot of a form.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Its name (also the `{placeholder}` in responses).
    pub name: String,
    /// The question asking for it.
    pub ask: String,
    /// An entity whose match fills it.
    pub entity: Option<String>,
    /// A regular expression the value must match (searched in the message).
    pub pattern: Option<Regex>,
    /// What to say when the answer is not valid.
    pub invalid: String,
}

/// One variation of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Text with `{slot}` placeholders.
    pub text: String,
    /// Buttons.
    pub buttons: Vec<usher_channel::Button>,
}

/// Dialogue policy settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Below this confidence the bot asks for clarification.
    pub fallback_threshold: f32,
    /// After this many consecutive fallbacks the bot offers a human.
    pub handoff_after_fallbacks: u32,
    /// Invalid answers to one slot before the bot offers a human.
    pub form_max_attempts: u32,
    /// Lower-cased words that hand the conversation to a human at once.
    pub handoff_keywords: Vec<String>,
    /// Hand over after this many consecutive messages scoring below a sentiment.
    pub negative_sentiment: Option<SentimentRule>,
    /// After repeated fallbacks or a failing form: offer a person, or hand over.
    pub escalation: Escalation,
}

/// What repeated failure (fallbacks, a form slot failing) leads to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Escalation {
    /// Ask whether the fan wants a person ("Talk to a person" button).
    #[default]
    Offer,
    /// Hand the conversation to a person at once.
    Handoff,
}

/// "Upset for K turns": sentiment below `score_below` for `turns` messages in a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SentimentRule {
    /// Threshold in [-1, 1].
    pub score_below: f32,
    /// Consecutive messages.
    pub turns: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            fallback_threshold: 0.45,
            handoff_after_fallbacks: 2,
            form_max_attempts: 3,
            handoff_keywords: Vec::new(),
            negative_sentiment: None,
            escalation: Escalation::Offer,
        }
    }
}

/// Phrases that cancel a form when its `cancel:` list is not given.
pub const DEFAULT_CANCEL: &[&str] = &["cancel", "stop", "never mind", "nevermind", "forget it", "quit"];
