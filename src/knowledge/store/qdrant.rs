//! The remote store: a Qdrant server (or cluster) through qdrant-client,
//! with the same vectors, payload and hybrid query as the embedded shard.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use qdrant_client::qdrant::{
    point_id::PointIdOptions, vector_output, Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Filter, Modifier, NamedVectors,
    PayloadIncludeSelector, PointId, PointStruct, PrefetchQueryBuilder, Query as QdrantQuery, QueryPointsBuilder,
    RrfBuilder, ScoredPoint, ScrollPointsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
    UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder, VectorsConfigBuilder, VectorsSelector,
};
use qdrant_client::{Payload, Qdrant};

use super::{
    cosine, settle, store_error, Hit, Mode, Point, Query, VectorStore, DENSE, PREFETCH, RRF_K, SPARSE, TIE_MARGIN,
};
use crate::knowledge::chunk::Passage;
use crate::Error;

/// How long start-up waits for the server before giving up.
const CONNECT: Duration = Duration::from_secs(5);

/// A collection on a Qdrant server.
pub struct QdrantStore {
    client: Qdrant,
    url: String,
    collection: String,
}

impl QdrantStore {
    /// Connects and creates the collection (for `dim`-wide dense vectors)
    /// if missing. An unreachable server is an error naming the URL after
    /// at most a few seconds, not a hang.
    pub async fn connect(url: &str, collection: &str, api_key: Option<String>, dim: usize) -> Result<Self, Error> {
        let unreachable = |e: &dyn std::fmt::Display| {
            Error::Knowledge(format!(
                "cannot reach the Qdrant server at {url}: {e} (check knowledge.url or QDRANT_URL)"
            ))
        };
        let client = Qdrant::from_url(url)
            .api_key(api_key)
            .connect_timeout(CONNECT)
            .timeout(Duration::from_secs(30))
            .skip_compatibility_check()
            .build()
            .map_err(|e| unreachable(&e))?;
        let exists = tokio::time::timeout(CONNECT * 2, client.collection_exists(collection))
            .await
            .map_err(|_| unreachable(&"no answer in 10 s"))?
            .map_err(|e| unreachable(&e))?;
        let store = Self { client, url: url.to_string(), collection: collection.to_string() };
        if !exists {
            store.create(dim).await?;
        }
        Ok(store)
    }

    async fn create(&self, dim: usize) -> Result<(), Error> {
        let mut dense = VectorsConfigBuilder::default();
        dense.add_named_vector_params(DENSE, VectorParamsBuilder::new(dim as u64, Distance::Cosine));
        let mut sparse = SparseVectorsConfigBuilder::default();
        sparse.add_named_vector_params(SPARSE, SparseVectorParamsBuilder::default().modifier(Modifier::Idf));
        let create = CreateCollectionBuilder::new(&self.collection).vectors_config(dense).sparse_vectors_config(sparse);
        self.client.create_collection(create).await.map_err(|e| store_error("create collection", e))?;
        let index = CreateFieldIndexCollectionBuilder::new(&self.collection, "path", FieldType::Keyword).wait(true);
        self.client.create_field_index(index).await.map_err(|e| store_error("create payload index", e))?;
        Ok(())
    }

    /// Drops the collection and creates it again.
    pub async fn recreate(&self, dim: usize) -> Result<(), Error> {
        if self.client.collection_exists(&self.collection).await.map_err(|e| store_error("collection", e))? {
            self.client.delete_collection(&self.collection).await.map_err(|e| store_error("drop collection", e))?;
        }
        self.create(dim).await
    }
}

fn id_of(id: Option<PointId>) -> Option<u64> {
    match id?.point_id_options? {
        PointIdOptions::Num(n) => Some(n),
        PointIdOptions::Uuid(_) => None,
    }
}

fn to_hit(p: ScoredPoint, query: &[f32]) -> Result<Hit, Error> {
    let id = id_of(p.id.clone()).ok_or_else(|| store_error("search", "a point without a numeric id"))?;
    let similarity = p
        .vectors
        .as_ref()
        .and_then(|v| v.get_vector_by_name(DENSE))
        .and_then(|v| match v {
            vector_output::Vector::Dense(d) => Some(d.data),
            _ => None,
        })
        .map_or(0.0, |v| cosine(query, &v));
    let payload: serde_json::Map<String, serde_json::Value> =
        p.payload.into_iter().map(|(k, v)| (k, v.into_json())).collect();
    let passage: Passage = serde_json::from_value(serde_json::Value::Object(payload))?;
    Ok(Hit { id, score: p.score, similarity, passage })
}

#[async_trait]
impl VectorStore for QdrantStore {
    fn describe(&self) -> String {
        format!("Qdrant collection {} at {}", self.collection, self.url)
    }

    async fn upsert(&self, points: Vec<Point>) -> Result<(), Error> {
        let mut structs = Vec::with_capacity(points.len());
        for p in points {
            let vectors = NamedVectors::default()
                .add_vector(DENSE, Vector::new_dense(p.dense))
                .add_vector(SPARSE, Vector::new_sparse(p.sparse.indices, p.sparse.values));
            let payload =
                Payload::try_from(serde_json::to_value(&p.passage)?).map_err(|e| store_error("payload", e))?;
            structs.push(PointStruct::new(p.id, vectors, payload));
        }
        for batch in structs.chunks(256) {
            let request = UpsertPointsBuilder::new(&self.collection, batch.to_vec()).wait(true);
            self.client.upsert_points(request).await.map_err(|e| store_error("upsert", e))?;
        }
        Ok(())
    }

    async fn delete_documents(&self, paths: &[String]) -> Result<(), Error> {
        for path in paths {
            let filter = Filter::must([Condition::matches("path", path.clone())]);
            let request = DeletePointsBuilder::new(&self.collection).points(filter).wait(true);
            self.client.delete_points(request).await.map_err(|e| store_error("delete", e))?;
        }
        Ok(())
    }

    async fn documents(&self) -> Result<BTreeMap<String, String>, Error> {
        let mut docs = BTreeMap::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(&self.collection)
                .limit(1000)
                .with_payload(PayloadIncludeSelector { fields: vec!["path".into(), "hash".into()] });
            if let Some(o) = offset.take() {
                request = request.offset(o);
            }
            let page = self.client.scroll(request).await.map_err(|e| store_error("scroll", e))?;
            for point in page.result {
                let field = |k: &str| {
                    point.payload.get(k).and_then(|v| v.clone().into_json().as_str().map(ToString::to_string))
                };
                if let (Some(path), Some(hash)) = (field("path"), field("hash")) {
                    docs.insert(path, hash);
                }
            }
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(docs),
            }
        }
    }

    async fn search(&self, query: &Query, mode: Mode, limit: usize) -> Result<Vec<Hit>, Error> {
        let dense = || QdrantQuery::new_nearest(VectorInput::new_dense(query.dense.clone()));
        let sparse = || {
            QdrantQuery::new_nearest(VectorInput::new_sparse(query.sparse.indices.clone(), query.sparse.values.clone()))
        };
        let no_terms = query.sparse.indices.is_empty();
        let fused = mode == Mode::Hybrid && !no_terms;
        let base = QueryPointsBuilder::new(&self.collection)
            .limit((if fused { limit + TIE_MARGIN } else { limit }) as u64)
            .with_payload(true)
            .with_vectors(VectorsSelector { names: vec![DENSE.to_string()] });
        let request = match mode {
            Mode::Bm25 if no_terms => return Ok(Vec::new()),
            Mode::Dense => base.query(dense()).using(DENSE),
            Mode::Hybrid if no_terms => base.query(dense()).using(DENSE),
            Mode::Bm25 => base.query(sparse()).using(SPARSE),
            Mode::Hybrid => base
                .add_prefetch(PrefetchQueryBuilder::default().query(dense()).using(DENSE).limit(PREFETCH as u64))
                .add_prefetch(PrefetchQueryBuilder::default().query(sparse()).using(SPARSE).limit(PREFETCH as u64))
                .query(QdrantQuery::new_rrf(RrfBuilder::with_k(RRF_K as u32))),
        };
        let found = self.client.query(request).await.map_err(|e| store_error("search", e))?;
        let mut hits = found.result.into_iter().map(|p| to_hit(p, &query.dense)).collect::<Result<Vec<_>, _>>()?;
        settle(&mut hits, limit);
        Ok(hits)
    }

    async fn count(&self) -> Result<usize, Error> {
        let request = CountPointsBuilder::new(&self.collection).exact(true);
        let found = self.client.count(request).await.map_err(|e| store_error("count", e))?;
        Ok(found.result.map_or(0, |r| r.count as usize))
    }

    async fn optimize(&self) -> Result<(), Error> {
        Ok(()) // the server indexes in the background
    }
}
