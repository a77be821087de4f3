//! The scale benchmark: N synthetic chunks (random unit vectors and
//! Zipf-distributed words, so BM25 sees realistic term statistics; vectors
//! clustered around topics, as real embeddings are) indexed
//! into a fresh qdrant-edge shard, then hybrid queries timed against the
//! store alone (encoding excluded).

use std::path::Path;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::bm25::Bm25;
use super::chunk::Passage;
use super::store::{EdgeStore, Mode, Point, Query, VectorStore};
use crate::Error;

/// Words in the synthetic vocabulary.
const VOCABULARY: usize = 20_000;

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    /// Chunks indexed.
    pub chunks: usize,
    /// Dense width.
    pub dim: usize,
    /// Upserting every chunk (seconds).
    pub upsert_s: f64,
    /// Building the search indexes after the load (seconds).
    pub optimize_s: f64,
    /// Queries timed per mode.
    pub queries: usize,
    /// Hybrid query latency, median (ms).
    pub hybrid_p50_ms: f64,
    /// Hybrid query latency, 99th percentile (ms).
    pub hybrid_p99_ms: f64,
    /// Dense-only median (ms).
    pub dense_p50_ms: f64,
    /// BM25-only median (ms).
    pub bm25_p50_ms: f64,
    /// Vectors covered by the HNSW index after optimizing.
    pub indexed_vectors: usize,
    /// Peak resident memory of the process (MB).
    pub peak_rss_mb: f64,
}

/// Topics the synthetic chunks cluster around, as real embeddings do.
const TOPICS: usize = 500;

fn unit(rng: &mut StdRng, dim: usize) -> Vec<f32> {
    normalise((0..dim).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect())
}

fn normalise(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.into_iter().map(|x| x / norm).collect()
}

/// A unit vector near a random topic centre.
fn near(rng: &mut StdRng, topics: &[Vec<f32>]) -> Vec<f32> {
    let centre = &topics[rng.random_range(0..topics.len())];
    let noise = unit(rng, centre.len());
    normalise(centre.iter().zip(noise).map(|(c, n)| c + 0.6 * n).collect())
}

/// The most frequent ranks stand for stop words, which the BM25 tokenizer
/// drops from real text, so they are not generated.
const STOP_RANKS: usize = 100;

fn word(rng: &mut StdRng) -> String {
    // Zipf's law (frequency ∝ 1/rank) over the content words: log-uniform ranks.
    let u: f64 = rng.random();
    let rank = (STOP_RANKS as f64 * (VOCABULARY as f64 / STOP_RANKS as f64).powf(u)) as usize;
    format!("w{rank}")
}

fn text(rng: &mut StdRng, words: usize) -> String {
    (0..words).map(|_| word(rng)).collect::<Vec<_>>().join(" ")
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Indexes `chunks` synthetic chunks into a new shard at `dir`, then times
/// `queries` queries per mode.
pub async fn run(dir: &Path, chunks: usize, dim: usize, queries: usize, seed: u64) -> Result<ScaleReport, Error> {
    let store = EdgeStore::recreate(dir, dim)?;
    let bm25 = Bm25::new()?;
    let mut rng = StdRng::seed_from_u64(seed);
    let topics: Vec<Vec<f32>> = (0..TOPICS).map(|_| unit(&mut rng, dim)).collect();
    let started = Instant::now();
    let mut id = 0u64;
    while (id as usize) < chunks {
        let n = (chunks - id as usize).min(2000);
        let mut points = Vec::with_capacity(n);
        for _ in 0..n {
            let body = text(&mut rng, 60);
            points.push(Point {
                id,
                dense: near(&mut rng, &topics),
                sparse: bm25.document(&body),
                passage: Passage {
                    path: format!("synthetic/{}.md", id / 10),
                    title: format!("Document {}", id / 10),
                    heading: format!("Section {}", id % 10),
                    url: None,
                    text: body,
                    hash: "synthetic".into(),
                },
            });
            id += 1;
        }
        store.upsert(points).await?;
    }
    let upsert_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    store.optimize().await?;
    let optimize_s = started.elapsed().as_secs_f64();
    let probes: Vec<Query> = (0..queries)
        .map(|_| Query { dense: near(&mut rng, &topics), sparse: bm25.query(&text(&mut rng, 5)) })
        .collect();
    let mut p50 = Vec::new();
    let mut hybrid = Vec::new();
    for mode in [Mode::Dense, Mode::Bm25, Mode::Hybrid] {
        for q in probes.iter().take(10) {
            store.search_blocking(q, mode, 5)?; // warm-up
        }
        let mut times = Vec::with_capacity(probes.len());
        for q in &probes {
            let t = Instant::now();
            store.search_blocking(q, mode, 5)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        p50.push(percentile(&times, 0.5));
        if mode == Mode::Hybrid {
            hybrid = times;
        }
    }
    Ok(ScaleReport {
        chunks,
        dim,
        upsert_s,
        optimize_s,
        queries,
        hybrid_p50_ms: percentile(&hybrid, 0.5),
        hybrid_p99_ms: percentile(&hybrid, 0.99),
        dense_p50_ms: p50[0],
        bm25_p50_ms: p50[1],
        indexed_vectors: store.indexed_vectors(),
        peak_rss_mb: peak_rss_mb(),
    })
}
