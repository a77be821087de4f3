//! The Usher intent files an import writes, as serde structs in the order
//! their keys are written.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::Serialize;

/// The intent files to write.
#[derive(Debug, Default, Serialize)]
pub(in crate::import) struct OutFile {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intents: Vec<OutIntent>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub entities: IndexMap<String, OutEntity>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub responses: IndexMap<String, Vec<OutResponse>>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub flows: IndexMap<String, OutFlow>,
}

#[derive(Debug, Serialize)]
pub(in crate::import) struct OutIntent {
    pub name: String,
    pub examples: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub respond: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub(in crate::import) struct OutEntity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub synonyms: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub(in crate::import) struct OutResponse {
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<OutButton>,
}

#[derive(Debug, Clone, Serialize)]
pub(in crate::import) struct OutButton {
    pub title: String,
    pub payload: String,
}

#[derive(Debug, Serialize)]
pub(in crate::import) struct OutFlow {
    pub description: String,
    pub steps: Vec<OutStep>,
}

#[derive(Debug, Default, Serialize)]
pub(in crate::import) struct OutStep {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<IndexMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collect: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub respond: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goto: Option<String>,
}
