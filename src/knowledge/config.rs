//! The `knowledge:` section of `config.yaml`: the documents, the vector
//! store and the answer threshold.

use serde::Deserialize;
use std::path::PathBuf;

/// The knowledge base: documents, vector store, answering.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// Answer from the knowledge base at all. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The documents (Markdown and YAML Q&A). Default `knowledge`.
    #[serde(default = "default_knowledge_dir")]
    pub dir: PathBuf,
    /// `embedded` (a qdrant-edge shard under the data directory) or
    /// `qdrant` (a Qdrant server; API key from `QDRANT_API_KEY`).
    #[serde(default)]
    pub store: VectorStoreKind,
    /// The Qdrant server's gRPC URL (store `qdrant`). `QDRANT_URL` overrides it.
    #[serde(default = "default_qdrant_url")]
    pub url: String,
    /// The Qdrant collection (store `qdrant`). Default `usher_knowledge`.
    #[serde(default = "default_collection")]
    pub collection: String,
    /// Files larger than this are refused. Default 5 MB.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// The best passage's cosine similarity above which the bot answers;
    /// below it, it says it is not sure and offers a person. Calibrated by
    /// `usher kb eval` on `eval/knowledge.yaml`.
    #[serde(default = "default_answer_threshold")]
    pub answer_threshold: f32,
    /// How long a fan's turn waits for a lookup before answering without
    /// it, in milliseconds. Default 5000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// Vector store backends.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VectorStoreKind {
    /// qdrant-edge, in process, on disk.
    #[default]
    Embedded,
    /// A Qdrant server through qdrant-client.
    Qdrant,
}

fn yes() -> bool {
    true
}

fn default_knowledge_dir() -> PathBuf {
    PathBuf::from("knowledge")
}

fn default_qdrant_url() -> String {
    "http://127.0.0.1:6334".into()
}

fn default_collection() -> String {
    "usher_knowledge".into()
}

fn default_max_file_bytes() -> u64 {
    5 * 1024 * 1024
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_answer_threshold() -> f32 {
    0.33
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: default_knowledge_dir(),
            store: VectorStoreKind::Embedded,
            url: default_qdrant_url(),
            collection: default_collection(),
            max_file_bytes: default_max_file_bytes(),
            answer_threshold: default_answer_threshold(),
            timeout_ms: default_timeout_ms(),
        }
    }
}
