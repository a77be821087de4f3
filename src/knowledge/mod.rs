//! The knowledge base: the service's own documents, answering policy
//! questions no intent list covers, with the source cited.
//!
//! # Layout
//! - [`config`]: the `knowledge:` section of `config.yaml`.
//! - [`source`]: reading `knowledge/` (Markdown with front matter, YAML
//!   Q&A), refusing symlinks, escapes and oversized files.
//! - [`chunk`]: chunks by heading with sentence overlap; stable point ids.
//! - [`bm25`]: BM25 sparse vectors (qdrant-edge's tokenizer: stop words, stemming).
//! - [`store`]: the [`VectorStore`] trait; qdrant-edge on disk (default) or
//!   a Qdrant server through qdrant-client.
//! - [`index`]: incremental indexing by content hash.
//! - [`answer`]: from the best passage to a readable, cited answer.
//! - [`eval`]: recall@k and MRR on a fan question set; threshold calibration.
//! - [`bench`]: the scale benchmark with synthetic chunks.

pub mod answer;
pub mod bench;
pub mod bm25;
pub mod chunk;
pub mod config;
pub mod eval;
pub mod index;
pub mod source;
pub mod store;

pub use answer::Answer;
pub use index::IndexReport;
pub use store::{Hit, Mode, VectorStore};

use std::path::PathBuf;
use std::sync::Arc;

use bm25::Bm25;
use store::{EdgeStore, QdrantStore, Query};

use crate::config::{Config, VectorStoreKind};
use crate::nlu::encoder::Encoder;
use crate::nlu::Embedding;
use crate::Error;

/// Documents, their vectors and the models that make query vectors.
pub struct KnowledgeBase {
    dir: PathBuf,
    max_bytes: u64,
    threshold: f32,
    timeout: std::time::Duration,
    encoder: Arc<Encoder>,
    bm25: Bm25,
    store: Arc<dyn VectorStore>,
    indexing: tokio::sync::Mutex<()>,
}

impl KnowledgeBase {
    /// Opens the configured store (`rebuild`: emptied first). Does not index.
    pub async fn open(config: &Config, encoder: Arc<Encoder>, rebuild: bool) -> Result<Self, Error> {
        let k = &config.knowledge;
        let dim = encoder.dim();
        let store: Arc<dyn VectorStore> = match k.store {
            VectorStoreKind::Embedded => {
                let path = config.knowledge_shard();
                let opened = tokio::task::spawn_blocking(move || {
                    if rebuild {
                        EdgeStore::recreate(&path, dim)
                    } else {
                        EdgeStore::open(&path, dim)
                    }
                })
                .await
                .map_err(|e| Error::Knowledge(format!("opening the vector store failed: {e}")))??;
                Arc::new(opened)
            }
            VectorStoreKind::Qdrant => {
                let key = std::env::var("QDRANT_API_KEY").ok().filter(|k| !k.is_empty());
                let remote = QdrantStore::connect(&k.url, &k.collection, key, dim).await?;
                if rebuild {
                    remote.recreate(dim).await?;
                }
                Arc::new(remote)
            }
        };
        Self::with_store(config, encoder, store)
    }

    /// A knowledge base over an already opened store.
    pub fn with_store(config: &Config, encoder: Arc<Encoder>, store: Arc<dyn VectorStore>) -> Result<Self, Error> {
        let k = &config.knowledge;
        Ok(Self {
            dir: k.dir.clone(),
            max_bytes: k.max_file_bytes,
            threshold: k.answer_threshold,
            timeout: std::time::Duration::from_millis(k.timeout_ms),
            encoder,
            bm25: Bm25::new()?,
            store,
            indexing: tokio::sync::Mutex::new(()),
        })
    }

    /// The vector store.
    pub fn store(&self) -> &dyn VectorStore {
        self.store.as_ref()
    }

    /// The documents' directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The similarity above which answers are given.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// How long a turn waits for a lookup (`knowledge.timeout_ms`).
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    /// Query vectors for `texts`; the encoder runs on the blocking pool.
    pub async fn queries(&self, texts: &[String]) -> Result<Vec<Query>, Error> {
        let dense = self.encode(texts.to_vec()).await?;
        Ok(dense.into_iter().zip(texts).map(|(dense, t)| Query { dense, sparse: self.bm25.query(t) }).collect())
    }

    /// The query vector of `text`, from `embedding` (the NLU step's) when
    /// it comes from this knowledge base's encoder, else encoded now.
    async fn query(&self, text: &str, embedding: Option<&Embedding>) -> Result<Query, Error> {
        match embedding.filter(|e| *e.encoder == self.encoder.id()) {
            Some(e) => Ok(Query { dense: e.vector.to_vec(), sparse: self.bm25.query(text) }),
            None => Ok(self.queries(&[text.to_string()]).await?.remove(0)),
        }
    }

    /// Sentence embeddings, computed on the blocking pool.
    async fn encode(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, Error> {
        let encoder = Arc::clone(&self.encoder);
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            encoder.encode(&refs)
        })
        .await
        .map_err(|e| Error::Knowledge(format!("encoder task failed: {e}")))?
    }

    /// The best `limit` chunks for `text`.
    pub async fn search(&self, text: &str, mode: Mode, limit: usize) -> Result<Vec<Hit>, Error> {
        self.search_with(text, None, mode, limit).await
    }

    /// As [`Self::search`], with the text's embedding when the NLU step has it.
    pub async fn search_with(
        &self,
        text: &str,
        embedding: Option<&Embedding>,
        mode: Mode,
        limit: usize,
    ) -> Result<Vec<Hit>, Error> {
        let query = self.query(text, embedding).await?;
        self.store.search(&query, mode, limit).await
    }

    /// The best passage for a fan's question, trimmed and cited; `confident`
    /// says whether it clears the threshold. `None` when nothing matched.
    pub async fn answer(&self, text: &str) -> Result<Option<Answer>, Error> {
        self.answer_with(text, None).await
    }

    /// As [`Self::answer`], with the question's embedding when the NLU step has it.
    pub async fn answer_with(&self, text: &str, embedding: Option<&Embedding>) -> Result<Option<Answer>, Error> {
        let hits = self.search_with(text, embedding, Mode::Hybrid, 5).await?;
        Ok(answer::best(&hits, self.threshold))
    }
}

/// Re-indexes `kb` after every edit under its directory until `shutdown`
/// fires; the previous index keeps answering meanwhile.
pub fn watch(kb: Arc<KnowledgeBase>, shutdown: usher_channel::Shutdown) -> Result<(), Error> {
    let dir = kb.dir.clone();
    crate::watch::watch(&dir, true, shutdown, move |_| {
        let kb = Arc::clone(&kb);
        async move {
            match kb.index(&mut |_, _| {}).await {
                Ok(r) => tracing::info!(
                    added = ?r.added, updated = ?r.updated, removed = ?r.removed,
                    skipped = ?r.problems, ms = r.elapsed_ms, "knowledge base re-indexed"
                ),
                Err(e) => tracing::error!(error = %e, "knowledge re-index failed; the previous index keeps answering"),
            }
        }
    })
}
