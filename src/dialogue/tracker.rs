//! The conversation tracker: what the bot remembers between turns.
//! Stored as JSON with the conversation, so any replica can resume it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::nlu::Ranked;

/// How many recent intents the tracker keeps.
pub const RECENT: usize = 10;

/// Dialogue state of one conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    /// Filled slot values.
    pub slots: BTreeMap<String, String>,
    /// The flows in progress, the one answering last; those below it were
    /// paused by a digression into it and resume when it ends.
    #[serde(default)]
    pub flows: Vec<ActiveFlow>,
    /// The latest recognised intents with confidences, newest last.
    pub recent: Vec<Ranked>,
    /// Consecutive messages the bot did not understand.
    pub fallbacks: u32,
    /// Whether a human has (or is about to) take over.
    pub handoff: Handoff,
    /// Fan messages so far.
    pub turns: u64,
    /// Consecutive messages below the policy's negative-sentiment threshold.
    #[serde(default)]
    pub negative_turns: u32,
}

/// A flow in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveFlow {
    /// The flow's name.
    pub name: String,
    /// The step it is at.
    pub step: usize,
    /// The slot asked for last.
    pub requested: String,
    /// Invalid answers to `requested` so far.
    pub attempts: u32,
    /// The outcome of the flow's last call, for its branches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl ActiveFlow {
    /// `name` at its first step.
    pub fn new(name: &str) -> Self {
        Self { name: name.to_string(), step: 0, requested: String::new(), attempts: 0, outcome: None }
    }
}

/// Who answers the fan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Handoff {
    /// The bot.
    #[default]
    Bot,
    /// Parked for a human agent: the bot stays silent.
    Waiting {
        /// When the handoff began (ms since the epoch).
        since_ms: i64,
        /// What triggered it.
        #[serde(default)]
        reason: Reason,
    },
}

/// Why a conversation was handed to a human.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The fan asked (intent, `/human`, the "Talk to a person" button).
    #[default]
    Requested,
    /// A configured keyword ("chargeback", "lawyer").
    Keyword,
    /// Negative sentiment for the configured number of turns.
    Sentiment,
    /// Too many consecutive fallbacks.
    Fallbacks,
    /// A slot a flow collects failed validation too often.
    FormFailed,
}

impl Reason {
    /// Its name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Keyword => "keyword",
            Self::Sentiment => "sentiment",
            Self::Fallbacks => "fallbacks",
            Self::FormFailed => "form_failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Requested, Self::Keyword, Self::Sentiment, Self::Fallbacks, Self::FormFailed]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl Tracker {
    /// The flow answering now, if any.
    pub fn flow(&self) -> Option<&ActiveFlow> {
        self.flows.last()
    }

    /// Whether a human owns (or is about to own) the conversation.
    pub fn with_human(&self) -> bool {
        matches!(self.handoff, Handoff::Waiting { .. })
    }

    /// The agent handed the conversation back (or closed its ticket): the
    /// bot answers again, with its failure counts reset.
    pub fn back_to_bot(&mut self) {
        self.handoff = Handoff::Bot;
        self.fallbacks = 0;
        self.negative_turns = 0;
    }

    /// Remembers a recognised intent.
    pub fn remember(&mut self, intent: Ranked) {
        self.recent.push(intent);
        if self.recent.len() > RECENT {
            self.recent.remove(0);
        }
    }
}
