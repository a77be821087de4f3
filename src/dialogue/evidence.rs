//! What the policy asks for before it decides ([`Need`]) and what the
//! engine brings back ([`Evidence`]). The policy owns this vocabulary: the
//! knowledge base, the creative tools and backend actions are consulted by
//! the engine and their results translated into these types, so `dialogue`
//! depends on none of them.

use std::collections::BTreeMap;

use serde::Serialize;
use usher_channel::{Attachment, Button};

use crate::nlu::{EntityMatch, Ranked};

/// Something the policy needs to know before it can answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "need")]
pub enum Need {
    /// The knowledge base's best passage for `query`.
    Knowledge {
        /// The question, as the fan wrote it.
        query: String,
    },
    /// A tool's output for `text` (a creative tool, the recommender).
    Tool {
        /// The tool (`write_poem`, `recommend`).
        tool: String,
        /// The fan's message.
        text: String,
        /// The pressed button's payload, if one was pressed.
        payload: Option<String>,
        /// The slots, then this message's entities by entity name.
        values: BTreeMap<String, String>,
    },
    /// A backend action's outcome.
    Action {
        /// The action (`start_refund`).
        action: String,
        /// The values its placeholders may use: the slots, then this
        /// message's entities by entity name.
        values: BTreeMap<String, String>,
    },
    /// A custom action on a Rasa action server (`call: rasa.NAME`).
    Rasa {
        /// The Rasa action's name (`action_check_order`).
        action: String,
        /// The slots.
        slots: BTreeMap<String, String>,
        /// The fan's message, its intent and entities (Rasa's `latest_message`).
        text: String,
        /// The intent ranking, best first.
        ranking: Vec<Ranked>,
        /// The entities found.
        entities: Vec<EntityMatch>,
    },
}

impl Need {
    /// The kind of source that answers it, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Knowledge { .. } => "knowledge",
            Self::Tool { .. } => "tool",
            Self::Action { .. } => "action",
            Self::Rasa { .. } => "rasa",
        }
    }
}

/// A knowledge-base passage, as the policy cites it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passage {
    /// The passage, trimmed to whole sentences.
    pub text: String,
    /// "Source: Title – url", for the reply.
    pub citation: String,
    /// The source document's path in `knowledge/`.
    pub path: String,
    /// Cosine similarity between the question and the passage.
    pub similarity: f32,
    /// Whether the similarity clears `knowledge.answer_threshold`.
    pub confident: bool,
    /// The next best passages ("path#heading") and their similarities.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runners_up: Vec<(String, f32)>,
}

/// A creative tool's output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Produced {
    /// The tool.
    pub tool: String,
    /// What to tell the fan.
    pub text: String,
    /// Files to send with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Buttons under the text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    /// Slots the tool sets (an empty value clears): what it remembers for
    /// the next turn, kept with the tracker.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<String, String>,
    /// What made it, for generated poems and melodies (the generator, the
    /// model's hash, the seed and the time), stored with the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub made_by: Option<String>,
}

/// What a backend action call came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Called {
    /// The action.
    pub action: String,
    /// Its endpoint (`config.yaml`'s name for it).
    pub endpoint: String,
    /// `ok`, `not_found`, `refused`, `error`, `timeout` or a staff outcome.
    pub outcome: String,
    /// The backend's status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Response fields saved into slots.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub saved: BTreeMap<String, String>,
    /// Wall time of the call, retries included.
    pub duration_ms: u64,
    /// Attempts made (safe methods are retried).
    pub attempts: u32,
    /// What went wrong, for errors and timeouts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Messages the action itself sends (a Rasa action's `responses`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub said: Vec<Said>,
    /// The action cleared every slot first (Rasa's `reset_slots`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reset_slots: bool,
    /// What should run next (Rasa's `followup`): an intent of the domain or
    /// another action of the same server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub followup: Option<String>,
}

impl Called {
    /// A call of `action` on `endpoint` that has not succeeded (yet).
    pub fn new(action: &str, endpoint: &str) -> Self {
        Self {
            action: action.to_string(),
            endpoint: endpoint.to_string(),
            outcome: "error".into(),
            status: None,
            saved: BTreeMap::new(),
            duration_ms: 0,
            attempts: 0,
            detail: None,
            said: Vec::new(),
            reset_slots: false,
            followup: None,
        }
    }
}

/// A message an action sends to the fan itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Said {
    /// Its text (may be empty when it only has buttons or an image).
    pub text: String,
    /// Its buttons.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    /// An image URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// What a source found for one need.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// The best passage, or none above nothing.
    Passage(Option<Passage>),
    /// The tool's output, or none when the tool is not loaded.
    Produced(Option<Produced>),
    /// The action's outcome.
    Called(Called),
    /// The source could not answer (not attached, failed, timed out).
    Unavailable {
        /// Why, for logs and the stored turn.
        why: String,
    },
}

/// What the engine found out for this turn, need by need.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    /// The knowledge base's best passage, when it was looked up and had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub knowledge: Option<Passage>,
    /// A creative tool's output, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<Produced>,
    /// Backend actions called, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Called>,
    /// Needs a source could not answer, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<Unavailable>,
    /// Every need consulted, answered or not: the policy plans only what
    /// is still missing.
    #[serde(skip)]
    consulted: Vec<Need>,
}

/// A need no source could answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unavailable {
    /// The source's kind (`knowledge`, `tool`).
    pub source: &'static str,
    /// Why.
    pub why: String,
}

impl Evidence {
    /// Records what a source found for `need`.
    pub fn record(&mut self, need: Need, found: Found) {
        match found {
            Found::Passage(p) => self.knowledge = p,
            Found::Produced(p) => self.tool = p,
            Found::Called(c) => self.actions.push(c),
            Found::Unavailable { why } => self.unavailable.push(Unavailable { source: need.kind(), why }),
        }
        self.consulted.push(need);
    }

    /// Whether `need` was consulted (whatever it found).
    pub fn consulted(&self, need: &Need) -> bool {
        self.consulted.contains(need)
    }
}
