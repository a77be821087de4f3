//! `usher test recs`: the recommender against its peers on MovieLens.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use usher::config::Config;
use usher::nlu::encoder::{EmbeddingCache, Encoder};
use usher::recs::benchmark::{self, Content, Row};
use usher::recs::model::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// MovieLens ml-latest-small with `splits/` (benchmarks only: its
    /// licence forbids shipping a model trained on it).
    #[arg(long, default_value = "../shared/data/movielens")]
    data: PathBuf,
    /// Training epochs (default: the model's).
    #[arg(long)]
    epochs: Option<usize>,
    /// Hidden width.
    #[arg(long)]
    dim: Option<usize>,
    /// Dropout.
    #[arg(long)]
    dropout: Option<f32>,
    /// Window of recent items.
    #[arg(long)]
    window: Option<usize>,
    /// Sampled negatives per step.
    #[arg(long)]
    negatives: Option<usize>,
    /// Learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Item ids only, no content embeddings.
    #[arg(long)]
    no_content: bool,
    /// Skip the cold-start run (a second training).
    #[arg(long)]
    no_cold: bool,
    /// Peer rows measured by `bench/recs_peer.py` in the same run (JSON lines).
    #[arg(long)]
    peers: Option<PathBuf>,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

fn settings(a: &Args) -> Settings {
    let d = Settings::default();
    Settings {
        epochs: a.epochs.unwrap_or(d.epochs),
        dim: a.dim.unwrap_or(d.dim),
        dropout: a.dropout.unwrap_or(d.dropout),
        window: a.window.unwrap_or(d.window),
        negatives: a.negatives.unwrap_or(d.negatives),
        lr: a.lr.unwrap_or(d.lr),
        content: !a.no_content,
        seed: a.seed,
        ..d
    }
}

/// Content embeddings of `items` (MiniLM, cached under the data dir), row 0 zeros.
pub fn content(config: &Config, texts: &[String]) -> anyhow::Result<Content> {
    let dir = config.nlu.encoder.clone().ok_or_else(|| anyhow::anyhow!("recommendations need nlu.encoder"))?;
    let encoder = Encoder::load_on(&dir, config.nlu.device.device()?, config.nlu.cpu_precision.get())?;
    let cache = EmbeddingCache::open(&config.model_cache(), &encoder)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = cache.embed(&encoder, &refs)?;
    let dim = encoder.dim();
    let mut values = vec![0f32; dim];
    for v in vectors {
        values.extend(v);
    }
    Ok(Content { values, dim })
}

fn read_peers(path: &Path) -> anyhow::Result<Vec<Row>> {
    #[derive(serde::Deserialize)]
    struct Peer {
        name: String,
        valid: Metric,
        test: Metric,
        #[serde(default)]
        note: String,
    }
    #[derive(serde::Deserialize)]
    struct Metric {
        hr10: f64,
        ndcg10: f64,
        cases: usize,
    }
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| l.trim_start().starts_with('{')) {
        let p: Peer =
            serde_json::from_str(line).map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), i + 1))?;
        let m = |m: Metric| usher::recs::eval::Metrics { hr10: m.hr10, ndcg10: m.ndcg10, cases: m.cases };
        out.push(Row { name: p.name, valid: m(p.valid), test: m(p.test), note: p.note });
    }
    Ok(out)
}

fn table(title: &str, rows: &[Row]) {
    println!("{title}");
    println!("{:<26} {:>9} {:>10} {:>9} {:>10}  note", "method", "valid HR", "valid NDCG", "test HR", "test NDCG");
    for r in rows {
        println!(
            "{:<26} {:>9.4} {:>10.4} {:>9.4} {:>10.4}  {}",
            r.name, r.valid.hr10, r.valid.ndcg10, r.test.hr10, r.test.ndcg10, r.note
        );
    }
}

pub fn run(config: &Config, a: &Args) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let data = usher::recs::data::movielens(&a.data)?;
    let texts: Vec<String> = data.items.iter().map(|i| i.content_text()).collect();
    eprintln!("{} users, {} items; embedding titles, genres and tags", data.train.len(), data.n_items());
    let content = content(config, &texts)?;
    let mut report = benchmark::run(&data, &content, &settings(a), !a.no_cold, &mut |line| eprintln!("{line}"))?;
    if let Some(path) = &a.peers {
        let peers = read_peers(path)?;
        let at = report.rows.len() - 1;
        report.rows.splice(at..at, peers);
    }
    table("Full-catalogue ranking (HR@10, NDCG@10; the fan's own items excluded)", &report.rows);
    if !report.cold.is_empty() {
        println!();
        table(
            &format!("Cold start: {} items never seen in training, ranked among themselves", report.cold_items),
            &report.cold,
        );
    }
    println!("{} users, {} items; whole run {:.0} s", report.users, report.items, started.elapsed().as_secs_f64());
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `usher recommend`: what the bot would suggest, from the command line.
#[derive(Debug, clap::Args)]
pub struct AskArgs {
    /// Catalogue ids the fan watched or booked, oldest first (comma-separated).
    #[arg(long, value_delimiter = ',')]
    history: Vec<String>,
    /// Titles (ids) the fan said they liked.
    #[arg(long, value_delimiter = ',')]
    liked: Vec<String>,
    /// Titles (ids) the fan turned down.
    #[arg(long, value_delimiter = ',')]
    disliked: Vec<String>,
    /// Only titles or only events.
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    /// Ask this many times and print the latency (p50, p99).
    #[arg(long, default_value_t = 1)]
    runs: usize,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    Title,
    Event,
}

/// The configured recommender (catalogue embedded with the NLU's encoder, cached).
pub fn recommender(config: &Config) -> anyhow::Result<usher::recs::Recommender> {
    usher::bootstrap::recommender_with(config, usher::bootstrap::features(config))?
        .ok_or_else(|| anyhow::anyhow!("recommendations.catalogue is not set"))
}

pub fn ask(config: &Config, a: &AskArgs) -> anyhow::Result<ExitCode> {
    use usher::recs::catalogue::Kind;
    let r = recommender(config)?;
    for id in a.history.iter().chain(&a.liked).chain(&a.disliked) {
        if r.catalogue().number(id).is_none() {
            eprintln!("note: {id} is not in the catalogue; skipped");
        }
    }
    let kind = a.kind.map(|k| match k {
        KindArg::Title => Kind::Title,
        KindArg::Event => Kind::Event,
    });
    // The intent files' rules too, as the bot applies them.
    let rules = usher::intents::load(&config.intents).ok().map(|l| l.domain.recommendations);
    let req = usher::recs::Request {
        history: &a.history,
        liked: &a.liked,
        disliked: &a.disliked,
        kind,
        rules: rules.as_ref(),
    };
    let mut times = Vec::with_capacity(a.runs);
    let mut answer = None;
    for _ in 0..a.runs.max(1) {
        let t = std::time::Instant::now();
        answer = Some(r.recommend(&req)?);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let answer = answer.expect("at least one run");
    if !answer.personalised {
        println!("(no history: popular picks)");
    }
    for s in &answer.suggestions {
        println!("{:<28} {}", s.title, s.reason);
    }
    if a.runs > 1 {
        times.sort_by(f64::total_cmp);
        let p = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!("{} runs: p50 {:.3} ms, p99 {:.3} ms", times.len(), p(0.5), p(0.99));
    }
    Ok(ExitCode::SUCCESS)
}

/// `usher train recs --data interactions.csv`: the recommender on the
/// service's own histories (`fan,item,timestamp`; items by catalogue id),
/// over the configured catalogue's content; written where
/// `recommendations.model` says (default `data_dir/recs/model.safetensors`).
pub fn train(config: &Config, data: &Path, epochs: Option<usize>) -> anyhow::Result<ExitCode> {
    let rec = recommender(config)?;
    let catalogue = rec.catalogue();
    let histories = usher::recs::data::histories(data, |id| catalogue.number(id))?;
    let content = rec.content();
    let settings = Settings { epochs: epochs.unwrap_or(Settings::default().epochs), ..Settings::default() };
    eprintln!(
        "{} fans, {} interactions; training {} epochs",
        histories.len(),
        histories.iter().map(Vec::len).sum::<usize>(),
        settings.epochs
    );
    let started = std::time::Instant::now();
    let model = usher::recs::model::SasRec::train(
        &histories,
        content.tensor()?,
        settings,
        |e, loss| eprintln!("epoch {e}: loss {loss:.4}"),
        None,
    )?;
    let out = config.recommendations.model.clone().unwrap_or_else(|| config.data_dir.join("recs/model.safetensors"));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    model.save(&out)?;
    println!(
        "trained in {:.0} s; wrote {} (set recommendations.model to it)",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
