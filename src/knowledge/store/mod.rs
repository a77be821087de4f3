//! Vector stores: one trait, two backends. [`EdgeStore`] keeps a
//! qdrant-edge shard on disk in process (the default); [`QdrantStore`]
//! talks to a Qdrant server through qdrant-client (scale-out). Both hold a
//! dense vector (the sentence encoder) and a BM25 sparse vector (IDF applied
//! by the store) per chunk and answer one hybrid query fused with
//! reciprocal rank fusion.

mod edge;
mod qdrant;

pub use edge::EdgeStore;
pub use qdrant::QdrantStore;

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::chunk::Passage;
use crate::Error;

/// Name of the dense vector.
pub const DENSE: &str = "dense";
/// Name of the BM25 sparse vector.
pub const SPARSE: &str = "bm25";
/// RRF's rank constant: Qdrant's default. (The classic 60 flattens the
/// ranks so much that BM25's misses drag the dense hits down: hybrid
/// recall@5 0.956 against dense 0.987 on eval/knowledge.yaml; with 2 the
/// fused list is at least as good as either alone.)
pub const RRF_K: usize = 2;
/// Candidates each side of a hybrid query contributes before fusion.
pub const PREFETCH: usize = 20;

/// A sparse vector: term ids and weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sparse {
    /// Term ids.
    pub indices: Vec<u32>,
    /// Weights, one per id.
    pub values: Vec<f32>,
}

/// One chunk to store.
#[derive(Debug, Clone)]
pub struct Point {
    /// Stable id.
    pub id: u64,
    /// L2-normalised sentence embedding.
    pub dense: Vec<f32>,
    /// BM25 term frequencies.
    pub sparse: Sparse,
    /// Payload.
    pub passage: Passage,
}

/// A query in both spaces.
#[derive(Debug, Clone)]
pub struct Query {
    /// L2-normalised sentence embedding.
    pub dense: Vec<f32>,
    /// BM25 query terms.
    pub sparse: Sparse,
}

/// Which retrieval to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Dense vectors only.
    Dense,
    /// BM25 only.
    Bm25,
    /// Both, fused with reciprocal rank fusion.
    Hybrid,
}

impl Mode {
    /// All modes, for evaluation.
    pub const ALL: [Mode; 3] = [Mode::Dense, Mode::Bm25, Mode::Hybrid];

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Dense => "dense",
            Mode::Bm25 => "bm25",
            Mode::Hybrid => "hybrid",
        }
    }
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Point id.
    pub id: u64,
    /// The mode's score (cosine, BM25 or fused RRF).
    pub score: f32,
    /// Cosine similarity between the query and the chunk: the confidence
    /// the bot compares with `knowledge.answer_threshold`.
    pub similarity: f32,
    /// The stored passage.
    pub passage: Passage,
}

/// A vector store for knowledge chunks.
#[async_trait]
pub trait VectorStore: Send + Sync {
    /// Where it is, for logs and `usher kb stats`.
    fn describe(&self) -> String;
    /// Inserts or replaces points.
    async fn upsert(&self, points: Vec<Point>) -> Result<(), Error>;
    /// Removes every point of these documents.
    async fn delete_documents(&self, paths: &[String]) -> Result<(), Error>;
    /// Indexed documents: path → content hash.
    async fn documents(&self) -> Result<BTreeMap<String, String>, Error>;
    /// The best `limit` chunks.
    async fn search(&self, query: &Query, mode: Mode, limit: usize) -> Result<Vec<Hit>, Error>;
    /// Number of stored chunks.
    async fn count(&self) -> Result<usize, Error>;
    /// Builds search indexes after a large load (a no-op where the store does it itself).
    async fn optimize(&self) -> Result<(), Error>;
}

/// Extra fused candidates fetched so that ties at the cut can be settled.
pub const TIE_MARGIN: usize = 8;

/// Orders fused hits deterministically: RRF gives equal scores to points
/// with mirrored ranks and Qdrant leaves their order to a hash map, so ties
/// go to the higher dense similarity. Keeps the best `limit`.
pub fn settle(hits: &mut Vec<Hit>, limit: usize) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(b.similarity.total_cmp(&a.similarity)).then(a.id.cmp(&b.id)));
    hits.truncate(limit);
}

/// Dot product of two L2-normalised vectors: their cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn store_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Knowledge(format!("{what}: {e}"))
}
