//! The intent files as written: serde structs that reject unknown keys.
//! [`super::load`] turns them into a validated [`super::Domain`].

use indexmap::IndexMap;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One intent file. Every section is optional; files are merged.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub intents: Vec<RawIntent>,
    #[serde(default)]
    pub entities: BTreeMap<String, RawEntity>,
    #[serde(default)]
    pub forms: BTreeMap<String, RawForm>,
    #[serde(default)]
    pub responses: BTreeMap<String, Vec<RawResponse>>,
    #[serde(default)]
    pub policy: Option<RawPolicy>,
    #[serde(default)]
    pub canned_replies: BTreeMap<String, String>,
    #[serde(default)]
    pub actions: BTreeMap<String, RawAction>,
    #[serde(default)]
    pub flows: BTreeMap<String, RawFlow>,
    #[serde(default)]
    pub recommendations: Option<crate::domain::Recommendations>,
}

/// A named, ordered list of steps (`flows:`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFlow {
    #[serde(default)]
    pub description: Option<String>,
    pub steps: Vec<RawStep>,
    #[serde(default)]
    pub cancel: Option<Vec<String>>,
}

/// One step of a flow: exactly one of `collect`, `call`, `branch`,
/// `respond`, `set`, `handoff` and `goto`, with an optional `id` and `next`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStep {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub collect: Option<String>,
    #[serde(default)]
    pub ask: Option<String>,
    #[serde(default)]
    pub entity: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub invalid: Option<String>,
    #[serde(default)]
    pub call: Option<String>,
    #[serde(default)]
    pub say: Option<bool>,
    #[serde(default)]
    pub branch: Option<Vec<RawCase>>,
    #[serde(default)]
    pub respond: Option<String>,
    #[serde(default)]
    pub set: Option<IndexMap<String, String>>,
    #[serde(default)]
    pub handoff: Option<bool>,
    #[serde(default)]
    pub goto: Option<String>,
}

/// One case of a `branch`: `if` and `then`, or a last `else`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCase {
    #[serde(default, rename = "if")]
    pub when: Option<String>,
    #[serde(default)]
    pub then: Option<String>,
    #[serde(default, rename = "else")]
    pub otherwise: Option<String>,
}

/// A backend call (`actions:`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAction {
    pub endpoint: String,
    #[serde(default)]
    pub method: Option<String>,
    pub path: String,
    #[serde(default)]
    pub body: Option<serde_yaml::Value>,
    #[serde(default)]
    pub save: BTreeMap<String, String>,
    #[serde(default)]
    pub outcomes: BTreeMap<u16, String>,
    #[serde(default)]
    pub respond: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntent {
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    pub examples: Vec<String>,
    #[serde(default)]
    pub respond: Option<String>,
    #[serde(default)]
    pub form: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub call: Option<String>,
    #[serde(default)]
    pub flow: Option<String>,
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub knowledge_first: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntity {
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub synonyms: BTreeMap<String, String>,
    #[serde(default)]
    pub sensitive: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawForm {
    pub slots: IndexMap<String, RawSlot>,
    #[serde(default)]
    pub cancel: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlot {
    pub ask: String,
    #[serde(default)]
    pub entity: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub invalid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawResponse {
    pub text: String,
    #[serde(default)]
    pub buttons: Vec<RawButton>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawButton {
    pub title: String,
    pub payload: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    #[serde(default)]
    pub fallback_threshold: Option<f32>,
    #[serde(default)]
    pub prefer_knowledge_below: Option<f32>,
    #[serde(default)]
    pub knowledge_wins_at: Option<f32>,
    #[serde(default)]
    pub handoff_after_fallbacks: Option<u32>,
    #[serde(default)]
    pub form_max_attempts: Option<u32>,
    #[serde(default)]
    pub digression_threshold: Option<f32>,
    #[serde(default)]
    pub handoff_keywords: Vec<String>,
    #[serde(default)]
    pub handoff_on_negative_sentiment: Option<RawSentimentRule>,
    #[serde(default)]
    pub escalation: Option<super::Escalation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSentimentRule {
    pub score_below: f32,
    pub turns: u32,
}
