//! The embedded store: a qdrant-edge shard on disk. qdrant-edge is
//! synchronous, so every call runs on the blocking pool.

use std::collections::BTreeMap;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use qdrant_edge::{
    Condition, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams, EdgeVectorParams, FieldCondition, Filter,
    Fusion, JsonPath, Match, Modifier, NamedQuery, PayloadSelector, PointId, PointInsertOperations, PointOperations,
    PointStruct, Prefetch, QuantizationConfig, QueryEnum, QueryRequest, ScalarQuantizationConfig, ScalarType,
    ScoredPoint, ScoringQuery, ScrollRequest, UpdateOperation, ValueVariants, Vector, VectorInternal,
    VectorStructInternal, Vectors, WithPayloadInterface, WithVector,
};

use super::{
    cosine, settle, store_error, Hit, Mode, Point, Query, Sparse, VectorStore, DENSE, PREFETCH, RRF_K, SPARSE,
    TIE_MARGIN,
};
use crate::knowledge::chunk::Passage;
use crate::Error;

/// A qdrant-edge shard under the data directory.
pub struct EdgeStore {
    shard: Arc<Shard>,
    path: PathBuf,
}

/// The shard, flushed on drop. qdrant-edge's own drop panics when the
/// flush fails (say, the directory was deleted under it); here that is
/// logged instead of taking the thread down.
struct Shard(ManuallyDrop<EdgeShard>);

impl Deref for Shard {
    type Target = EdgeShard;
    fn deref(&self) -> &EdgeShard {
        &self.0
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        let inner = &mut self.0;
        // SAFETY: `inner` is dropped exactly once, here, and never used again.
        let dropped = std::panic::catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(inner) }));
        if dropped.is_err() {
            tracing::error!("the knowledge vector store could not be flushed on close");
        }
    }
}

impl EdgeStore {
    /// Opens the shard at `path`, creating it for `dim`-wide dense vectors
    /// if it does not exist. A damaged shard gives an error that says how
    /// to rebuild it.
    pub fn open(path: &Path, dim: usize) -> Result<Self, Error> {
        let damaged = |e: &dyn std::fmt::Display| {
            Error::Knowledge(format!(
                "the vector store at {} is unreadable ({e}); run `usher kb index --rebuild` to recreate it",
                path.display()
            ))
        };
        let exists = path.join("edge_config.json").exists() || path.join("segments").exists();
        let config = Self::config(dim);
        let opened = std::panic::catch_unwind(|| {
            if exists {
                EdgeShard::load(path, None)
            } else {
                std::fs::create_dir_all(path).map_err(|e| qdrant_edge::OperationError::service_error(e.to_string()))?;
                EdgeShard::new(path, config)
            }
        });
        let shard = match opened {
            Ok(Ok(shard)) => shard,
            Ok(Err(e)) => return Err(damaged(&e)),
            Err(_) => return Err(damaged(&"qdrant-edge panicked while loading it")),
        };
        let width = shard.config().vectors.get(DENSE).map(|v| v.size);
        if width != Some(dim) {
            return Err(damaged(&format!("it holds {width:?}-wide vectors, the encoder makes {dim}")));
        }
        Ok(Self { shard: Arc::new(Shard(ManuallyDrop::new(shard))), path: path.to_path_buf() })
    }

    /// Deletes the shard directory, then opens a fresh one.
    pub fn recreate(path: &Path, dim: usize) -> Result<Self, Error> {
        if path.exists() {
            std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))?;
        }
        Self::open(path, dim)
    }

    fn config(dim: usize) -> EdgeConfig {
        EdgeConfig::builder()
            .vector(DENSE, EdgeVectorParams::builder(dim, Distance::Cosine).quantization_config(int8()).build())
            .sparse_vector(SPARSE, EdgeSparseVectorParams::builder().modifier(Modifier::Idf).build())
            .build()
    }

    /// Vectors covered by a search index (HNSW) rather than a plain scan.
    pub fn indexed_vectors(&self) -> usize {
        self.shard.info().indexed_vectors_count
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&EdgeShard) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let shard = Arc::clone(&self.shard);
        tokio::task::spawn_blocking(move || f(&shard))
            .await
            .map_err(|e| Error::Knowledge(format!("vector store task failed: {e}")))?
    }

    /// Searches synchronously (the benchmark measures the store alone).
    pub fn search_blocking(&self, query: &Query, mode: Mode, limit: usize) -> Result<Vec<Hit>, Error> {
        search(&self.shard, query, mode, limit)
    }
}

/// int8 scalar quantization of the dense vectors, kept in RAM: a quarter
/// of the memory and bandwidth per comparison; the top candidates are
/// rescored with the full vectors.
fn int8() -> QuantizationConfig {
    ScalarQuantizationConfig { r#type: ScalarType::Int8, quantile: Some(0.99), always_ram: Some(true) }.into()
}

fn to_point(p: Point) -> Result<PointStruct, Error> {
    let sparse = Vector::new_sparse(p.sparse.indices, p.sparse.values).map_err(|e| store_error("sparse vector", e))?;
    let vectors = Vectors::new_named([(DENSE.to_string(), Vector::new_dense(p.dense)), (SPARSE.to_string(), sparse)]);
    let payload = serde_json::to_value(&p.passage)?;
    Ok(PointStruct::new(p.id, vectors, payload))
}

fn nearest(vector: VectorInternal, using: &str) -> ScoringQuery {
    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery { query: vector, using: Some(using.into()) }))
}

fn sparse_vector(s: &Sparse) -> Result<VectorInternal, Error> {
    let v = Vector::new_sparse(s.indices.clone(), s.values.clone()).map_err(|e| store_error("sparse query", e))?;
    Ok(v.0)
}

fn search(shard: &EdgeShard, query: &Query, mode: Mode, limit: usize) -> Result<Vec<Hit>, Error> {
    if mode == Mode::Bm25 && query.sparse.indices.is_empty() {
        return Ok(Vec::new()); // only stop words: BM25 has nothing to match
    }
    let dense = || nearest(VectorInternal::Dense(query.dense.clone()), DENSE);
    let prefetch = |q: ScoringQuery| Prefetch {
        prefetches: Vec::new(),
        query: Some(q),
        limit: PREFETCH.max(limit),
        params: None,
        filter: None,
        score_threshold: None,
    };
    let (prefetches, scoring) = match mode {
        Mode::Dense => (Vec::new(), dense()),
        Mode::Bm25 => (Vec::new(), nearest(sparse_vector(&query.sparse)?, SPARSE)),
        Mode::Hybrid if query.sparse.indices.is_empty() => (Vec::new(), dense()),
        Mode::Hybrid => (
            vec![prefetch(dense()), prefetch(nearest(sparse_vector(&query.sparse)?, SPARSE))],
            ScoringQuery::Fusion(Fusion::Rrf { k: RRF_K, weights: None }),
        ),
    };
    let fused = !prefetches.is_empty();
    let request = QueryRequest {
        prefetches,
        query: Some(scoring),
        filter: None,
        score_threshold: None,
        limit: if fused { limit + TIE_MARGIN } else { limit },
        offset: 0,
        params: None,
        with_vector: WithVector::Selector(vec![DENSE.into()]),
        with_payload: WithPayloadInterface::Bool(true),
    };
    let points = shard.query(request).map_err(|e| store_error("search", e))?;
    let mut hits = points.into_iter().map(|p| to_hit(p, &query.dense)).collect::<Result<Vec<_>, _>>()?;
    settle(&mut hits, limit);
    Ok(hits)
}

fn to_hit(p: ScoredPoint, query: &[f32]) -> Result<Hit, Error> {
    let id = match p.id {
        PointId::NumId(n) => n,
        PointId::Uuid(u) => return Err(store_error("unexpected point id", u)),
    };
    let similarity = match &p.vector {
        Some(VectorStructInternal::Named(map)) => match map.get(DENSE) {
            Some(VectorInternal::Dense(v)) => cosine(query, v),
            _ => 0.0,
        },
        _ => 0.0,
    };
    let payload = p.payload.map(|p| serde_json::Value::Object(p.0.into_iter().collect())).unwrap_or_default();
    let passage: Passage = serde_json::from_value(payload)?;
    Ok(Hit { id, score: p.score, similarity, passage })
}

fn path_filter(path: &str) -> Result<Filter, Error> {
    let key = JsonPath::try_from("path").map_err(|()| store_error("payload key", "path"))?;
    let condition = FieldCondition::new_match(key, Match::new_value(ValueVariants::String(path.to_string())));
    Ok(Filter::new_must(Condition::Field(condition)))
}

#[async_trait]
impl VectorStore for EdgeStore {
    fn describe(&self) -> String {
        format!("qdrant-edge shard at {}", self.path.display())
    }

    async fn upsert(&self, points: Vec<Point>) -> Result<(), Error> {
        if points.is_empty() {
            return Ok(());
        }
        let list = points.into_iter().map(|p| to_point(p).map(Into::into)).collect::<Result<Vec<_>, _>>()?;
        self.blocking(move |shard| {
            let op = PointOperations::UpsertPoints(PointInsertOperations::PointsList(list));
            shard.update(UpdateOperation::PointOperation(op)).map_err(|e| store_error("upsert", e))
        })
        .await
    }

    async fn delete_documents(&self, paths: &[String]) -> Result<(), Error> {
        let filters = paths.iter().map(|p| path_filter(p)).collect::<Result<Vec<_>, _>>()?;
        self.blocking(move |shard| {
            for filter in filters {
                let op = PointOperations::DeletePointsByFilter(filter);
                shard.update(UpdateOperation::PointOperation(op)).map_err(|e| store_error("delete", e))?;
            }
            Ok(())
        })
        .await
    }

    async fn documents(&self) -> Result<BTreeMap<String, String>, Error> {
        self.blocking(|shard| {
            let mut docs = BTreeMap::new();
            let mut offset = None;
            loop {
                let include = ["path", "hash"]
                    .into_iter()
                    .map(JsonPath::try_from)
                    .collect::<Result<Vec<_>, ()>>()
                    .map_err(|()| store_error("payload key", "path/hash"))?;
                let request = ScrollRequest {
                    offset,
                    limit: Some(1000),
                    filter: None,
                    with_payload: Some(WithPayloadInterface::Selector(PayloadSelector::new_include(include))),
                    with_vector: WithVector::Bool(false),
                    order_by: None,
                };
                let (records, next) = shard.scroll(request).map_err(|e| store_error("scroll", e))?;
                for r in records {
                    let field = |k: &str| r.payload.as_ref().and_then(|p| p.0.get(k)).and_then(|v| v.as_str());
                    if let (Some(path), Some(hash)) = (field("path"), field("hash")) {
                        docs.insert(path.to_string(), hash.to_string());
                    }
                }
                match next {
                    Some(n) => offset = Some(n),
                    None => return Ok(docs),
                }
            }
        })
        .await
    }

    async fn search(&self, query: &Query, mode: Mode, limit: usize) -> Result<Vec<Hit>, Error> {
        let query = query.clone();
        self.blocking(move |shard| search(shard, &query, mode, limit)).await
    }

    async fn count(&self) -> Result<usize, Error> {
        self.blocking(|shard| Ok(shard.info().points_count)).await
    }

    async fn optimize(&self) -> Result<(), Error> {
        self.blocking(|shard| {
            shard.optimize().map_err(|e| store_error("optimize", e))?;
            shard.flush();
            Ok(())
        })
        .await
    }
}
