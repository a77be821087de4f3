//! Incremental indexing: documents whose content hash is unchanged are
//! skipped; changed ones are re-chunked, re-embedded and replaced; deleted
//! files drop their points. A malformed file is reported and skipped, and
//! whatever was indexed from it before stays searchable.

use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;

use super::chunk::{chunks, Chunk};
use super::source::{self, Problem};
use super::store::Point;
use super::KnowledgeBase;
use crate::Error;

/// Chunks embedded per encoder call (and progress step).
const EMBED_BATCH: usize = 256;

/// What one indexing run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IndexReport {
    /// Documents read successfully.
    pub documents: usize,
    /// Newly indexed documents.
    pub added: Vec<String>,
    /// Re-indexed because their content changed.
    pub updated: Vec<String>,
    /// Dropped because their file is gone.
    pub removed: Vec<String>,
    /// Skipped because nothing changed.
    pub unchanged: usize,
    /// Chunks embedded and stored in this run.
    pub chunks: usize,
    /// Files that could not be indexed (`path:line: why`).
    pub problems: Vec<String>,
    /// Wall time.
    pub elapsed_ms: u64,
}

impl KnowledgeBase {
    /// Brings the store in line with the directory; `progress(done, total)`
    /// counts embedded chunks. Runs one at a time.
    pub async fn index(&self, progress: &mut (dyn FnMut(usize, usize) + Send)) -> Result<IndexReport, Error> {
        let _one_at_a_time = self.indexing.lock().await;
        let started = Instant::now();
        let (dir, max) = (self.dir.clone(), self.max_bytes);
        let corpus = tokio::task::spawn_blocking(move || source::read_dir(&dir, max))
            .await
            .map_err(|e| Error::Knowledge(format!("reading documents failed: {e}")))??;
        for p in &corpus.problems {
            tracing::warn!("knowledge document skipped: {p}");
        }
        let indexed = self.store.documents().await?;
        let mut report = IndexReport {
            documents: corpus.documents.len(),
            problems: corpus.problems.iter().map(Problem::to_string).collect(),
            ..IndexReport::default()
        };
        let skipped: BTreeSet<&str> = corpus.problems.iter().map(|p| p.path.as_str()).collect();
        let present: BTreeSet<&str> = corpus.documents.iter().map(|d| d.path.as_str()).collect();
        let mut todo: Vec<Chunk> = Vec::new();
        for doc in &corpus.documents {
            match indexed.get(&doc.path) {
                Some(hash) if *hash == doc.hash => {
                    report.unchanged += 1;
                    continue;
                }
                Some(_) => report.updated.push(doc.path.clone()),
                None => report.added.push(doc.path.clone()),
            }
            todo.extend(chunks(doc));
        }
        report.removed = indexed
            .keys()
            .filter(|p| !present.contains(p.as_str()) && !skipped.contains(p.as_str()))
            .cloned()
            .collect();
        let stale: Vec<String> = report.updated.iter().chain(&report.removed).cloned().collect();
        if !stale.is_empty() {
            self.store.delete_documents(&stale).await?;
        }
        report.chunks = todo.len();
        for (i, batch) in todo.chunks(EMBED_BATCH).enumerate() {
            progress(i * EMBED_BATCH, report.chunks);
            let points = self.embed(batch).await?;
            self.store.upsert(points).await?;
        }
        progress(report.chunks, report.chunks);
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// Dense and sparse vectors for chunks (the encoder on the blocking pool).
    async fn embed(&self, batch: &[Chunk]) -> Result<Vec<Point>, Error> {
        let texts: Vec<String> = batch.iter().map(Chunk::indexed_text).collect();
        let dense = self.encode(texts.clone()).await?;
        Ok(batch
            .iter()
            .zip(dense)
            .zip(&texts)
            .map(|((c, dense), text)| Point {
                id: c.id,
                dense,
                sparse: self.bm25.document(text),
                passage: c.passage.clone(),
            })
            .collect())
    }
}
