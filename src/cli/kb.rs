//! `usher kb`: index, search, inspect and evaluate the knowledge base.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use usher::config::Config;
use usher::knowledge::eval::{self, QuestionSet};
use usher::knowledge::{KnowledgeBase, Mode};
use usher::nlu::encoder::{fetch, Encoder};

use super::progress::count_bar;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Index what changed in the knowledge directory.
    Index {
        /// Empty the vector store first and index everything again.
        #[arg(long)]
        rebuild: bool,
    },
    /// Ranked passages for a question, with scores, titles and sources.
    Search {
        /// The question.
        query: String,
        /// dense, bm25 or hybrid.
        #[arg(long, value_enum, default_value_t = ModeArg::Hybrid)]
        mode: ModeArg,
        /// How many passages.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Documents and chunks in the store.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// recall@1, recall@5 and MRR of dense, BM25 and hybrid retrieval on a question set.
    Eval {
        /// The question set.
        #[arg(long, default_value = "eval/knowledge.yaml")]
        questions: PathBuf,
        /// Print one JSON object on the last line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    Dense,
    Bm25,
    Hybrid,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Dense => Mode::Dense,
            ModeArg::Bm25 => Mode::Bm25,
            ModeArg::Hybrid => Mode::Hybrid,
        }
    }
}

/// The configured sentence encoder, loaded off the runtime.
pub async fn encoder(config: &Config) -> anyhow::Result<Arc<Encoder>> {
    let dir = config.nlu.encoder.clone().ok_or_else(|| anyhow::anyhow!("nlu.encoder is null in the config"))?;
    if !fetch::present(&dir) {
        anyhow::bail!("no sentence encoder in {}: run `usher models fetch`", dir.display());
    }
    let (device, precision) = (config.nlu.device.device()?, config.nlu.cpu_precision.get());
    Ok(Arc::new(tokio::task::spawn_blocking(move || Encoder::load_on(&dir, device, precision)).await??))
}

async fn open(config: &Config, rebuild: bool) -> anyhow::Result<KnowledgeBase> {
    Ok(KnowledgeBase::open(config, encoder(config).await?, rebuild).await?)
}

pub async fn run(config: &Config, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Index { rebuild } => {
            let kb = open(config, rebuild).await?;
            let report = kb.index(&mut count_bar("indexing", "chunks embedded")).await?;
            for p in &report.problems {
                eprintln!("skipped {p}");
            }
            println!(
                "{} documents: {} added, {} updated, {} removed, {} unchanged, {} skipped; {} chunks embedded in {} ms ({})",
                report.documents,
                report.added.len(),
                report.updated.len(),
                report.removed.len(),
                report.unchanged,
                report.problems.len(),
                report.chunks,
                report.elapsed_ms,
                kb.store().describe()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Search { query, mode, limit, json } => {
            let kb = open(config, false).await?;
            let hits = kb.search(&query, mode.into(), limit).await?;
            if json {
                let rows: Vec<_> = hits
                    .iter()
                    .map(|h| serde_json::json!({"score": h.score, "similarity": h.similarity, "passage": h.passage}))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else if hits.is_empty() {
                println!("no passages (is the knowledge base indexed? run `usher kb index`)");
            } else {
                for (i, h) in hits.iter().enumerate() {
                    let p = &h.passage;
                    println!("{}. [{:.4} | sim {:.3}] {} › {}", i + 1, h.score, h.similarity, p.title, p.heading);
                    println!("   {} {}", p.path, p.url.as_deref().unwrap_or(""));
                    println!("   {}", usher::knowledge::answer::trim(&p.text, 200));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats { json } => {
            let kb = open(config, false).await?;
            let docs = kb.store().documents().await?;
            let chunks = kb.store().count().await?;
            if json {
                let v = serde_json::json!({"store": kb.store().describe(), "documents": docs.len(), "chunks": chunks,
                    "paths": docs.keys().collect::<Vec<_>>()});
                println!("{v}");
            } else {
                println!("{}: {} documents, {} chunks", kb.store().describe(), docs.len(), chunks);
                for path in docs.keys() {
                    println!("  {path}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { questions, json } => {
            let set = QuestionSet::load(&questions)?;
            let kb = open(config, false).await?;
            kb.index(&mut count_bar("indexing", "chunks embedded")).await?;
            let report = eval::evaluate(&kb, &set).await?;
            println!(
                "{} questions ({} unanswerable), {}",
                report.questions,
                report.unanswerable,
                kb.store().describe()
            );
            println!("{:<8} {:>9} {:>9} {:>7}", "mode", "recall@1", "recall@5", "MRR");
            for (name, s) in [("dense", report.dense), ("bm25", report.bm25), ("hybrid", report.hybrid)] {
                println!("{name:<8} {:>9.4} {:>9.4} {:>7.4}", s.recall_at_1, s.recall_at_5, s.mrr);
            }
            let c = report.calibration;
            println!(
                "calibrated answer threshold {:.3}: {:.1}% answered from the right document, {:.1}% of unanswerable refused (config: {:.3})",
                c.threshold,
                c.answered_correctly * 100.0,
                c.unanswerable_refused * 100.0,
                kb.threshold()
            );
            for (q, want, got) in report.misses.iter().take(15) {
                println!("  miss: {q:?}: want {want}, got {got}");
            }
            if json {
                let v = serde_json::json!({"questions": report.questions, "dense": report.dense, "bm25": report.bm25,
                    "hybrid": report.hybrid, "calibration": report.calibration});
                println!("{v}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Synthetic chunks to index.
    #[arg(long, default_value_t = 100_000)]
    chunks: usize,
    /// Queries timed per mode.
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Where the temporary shard goes (deleted afterwards).
    #[arg(long, default_value = "data/bench-kb")]
    dir: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// `usher bench kb`: the scale benchmark.
pub async fn bench(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let r = usher::knowledge::bench::run(&args.dir, args.chunks, 384, args.queries, 7).await?;
    let _ = std::fs::remove_dir_all(&args.dir);
    println!("{} synthetic chunks ({}-d dense + BM25) on {threads} threads", r.chunks, r.dim);
    println!(
        "index: upsert {:.1} s + optimize (HNSW, sparse index) {:.1} s; {} vectors in HNSW",
        r.upsert_s, r.optimize_s, r.indexed_vectors
    );
    println!(
        "query ({} each, encoding excluded): hybrid p50 {:.3} ms, p99 {:.3} ms; dense p50 {:.3} ms; bm25 p50 {:.3} ms",
        r.queries, r.hybrid_p50_ms, r.hybrid_p99_ms, r.dense_p50_ms, r.bm25_p50_ms
    );
    println!("peak RSS {:.0} MB", r.peak_rss_mb);
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(ExitCode::SUCCESS)
}
