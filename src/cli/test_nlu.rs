//! `usher test nlu`: train on a data set's train split, evaluate on its test split.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use usher::config::Config;
use usher::nlu::encoder::Schedule;
use usher::nlu::eval::{self, data};

use super::progress::training_bar;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// `train.csv` / `test.csv` with columns `text,category`.
    Banking77,
    /// CLINC150 `data_full.json` (in-scope accuracy and OOS recall).
    Clinc150,
    /// Like banking77.
    Csv,
    /// Our intent files, split 80/20 per intent.
    Yaml,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data: a directory or file (see --format).
    #[arg(long)]
    data: PathBuf,
    /// The data's format (default: clinc150 for .json, yaml for intent directories, else csv).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Use at most N training examples per intent (few-shot).
    #[arg(long)]
    train_limit: Option<usize>,
    /// Seed for the split, the few-shot sample and training.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Fine-tune this many top encoder layers first (default: nlu.fine_tune_layers).
    #[arg(long)]
    fine_tune_layers: Option<usize>,
    /// Fine-tuning epochs (default: nlu.fine_tune_epochs).
    #[arg(long)]
    fine_tune_epochs: Option<usize>,
    /// Fine-tuning steps at the least (default: nlu.fine_tune_min_steps).
    #[arg(long)]
    fine_tune_min_steps: Option<usize>,
    /// Fine-tuning (peak) learning rate (default: nlu.fine_tune_learning_rate).
    #[arg(long)]
    fine_tune_lr: Option<f64>,
    /// Sentences per fine-tuning step on a training set that is not small
    /// (default 32; `--fine-tune-min-steps` then counts steps of this many).
    /// Batches of 16 lost on BANKING77's val (BENCHMARKS.md, stop 51).
    #[arg(long)]
    fine_tune_batch: Option<usize>,
    /// Sentences per fine-tuning step on a small training set (default:
    /// nlu.fine_tune_small_batch); 0 keeps batches of 32.
    #[arg(long)]
    fine_tune_small_batch: Option<usize>,
    /// Chance of leaving a token out at each fine-tuning step (default:
    /// nlu.fine_tune_token_dropout); 0: none.
    #[arg(long)]
    fine_tune_token_dropout: Option<f32>,
    /// Chance of leaving a token out at each fine-tuning step on a small
    /// training set (default: nlu.fine_tune_small_token_dropout); 0: none.
    #[arg(long)]
    fine_tune_small_token_dropout: Option<f32>,
    /// Fine-tuning warm-up fraction, then linear decay; a negative value
    /// keeps the rate constant (default: nlu.fine_tune_warmup).
    #[arg(long, allow_hyphen_values = true)]
    fine_tune_warmup: Option<f64>,
    /// Dropout while fine-tuning (default: nlu.fine_tune_dropout).
    #[arg(long)]
    fine_tune_dropout: Option<f32>,
    /// Layers to tune instead on a small training set (fewer than
    /// min-steps steps in its epochs); 0 turns the rule off (default:
    /// nlu.fine_tune_small_layers).
    #[arg(long)]
    fine_tune_small_layers: Option<usize>,
    /// Weight of the tuning's cosine classifier beside the head (default:
    /// nlu.fine_tune_cosine_weight).
    #[arg(long)]
    cosine_weight: Option<f32>,
    /// Weight of the nearest training examples' vote (default:
    /// nlu.fine_tune_knn_weight).
    #[arg(long)]
    knn_weight: Option<f32>,
    /// On a small training set, count each intent's name, in words, as one
    /// more training example (default: nlu.intent_names_as_examples).
    #[arg(long)]
    name_examples: Option<bool>,
    /// CLINC150: also report test figures at the lowest threshold whose
    /// OOS recall on val reaches this (e.g. 0.85), beside the default
    /// threshold (the best sum of in-scope accuracy and OOS recall on val).
    #[arg(long)]
    oos_recall: Option<f64>,
    /// CLINC150: leave out the out-of-scope training examples, so that only
    /// the threshold finds OOS messages (the paper's oos-threshold
    /// protocol); by default `oos_train` is a class of its own and a
    /// message is OOS when that class wins or the winner is below the
    /// threshold.
    #[arg(long)]
    oos_threshold_only: bool,
    /// Choose settings without reading test: BANKING77 trains on
    /// `splits/dialoglue_train.csv` and is measured on
    /// `splits/dialoglue_val.csv`; CLINC150 is measured on its val split
    /// (in scope and out of scope, the OOS threshold fitted on the same).
    #[arg(long)]
    dev_only: bool,
    /// Where to write report.json and confusion.png (default: <data_dir>/reports/nlu-<time>).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Also write each test message's confidences to
    /// `<report>/probabilities.json` (to compare or combine runs offline).
    #[arg(long)]
    save_probabilities: bool,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let format = args.format.unwrap_or_else(|| {
        let p = &args.data;
        if p.extension().is_some_and(|e| e == "json") || p.join("data_full.json").exists() {
            Format::Clinc150
        } else if p.join("train.csv").exists() || p.extension().is_some_and(|e| e == "csv") {
            Format::Csv
        } else {
            Format::Yaml
        }
    });
    let mut dataset = match (format, args.dev_only) {
        (Format::Banking77 | Format::Csv, false) => data::load_csv(&args.data)?,
        (Format::Banking77 | Format::Csv, true) => data::load_csv_dev(&args.data)?,
        (Format::Clinc150, false) => data::load_clinc(&args.data, args.oos_threshold_only)?,
        (Format::Clinc150, true) => data::load_clinc(&args.data, args.oos_threshold_only)?.dev_only(),
        (Format::Yaml, _) if args.dev_only => anyhow::bail!("--dev-only needs BANKING77 or CLINC150 data"),
        (Format::Yaml, _) => data::load_yaml(&args.data, args.seed)?,
    };
    if let Some(n) = args.train_limit {
        dataset.train = data::limit_per_label(&dataset.train, n, args.seed);
    }
    let features = usher::bootstrap::features(config);
    let mut cfg = config.nlu.train_config();
    cfg.seed = args.seed;
    cfg.fine_tune.layers = args.fine_tune_layers.unwrap_or(cfg.fine_tune.layers);
    cfg.fine_tune.epochs = args.fine_tune_epochs.unwrap_or(cfg.fine_tune.epochs);
    cfg.fine_tune.min_steps = args.fine_tune_min_steps.unwrap_or(cfg.fine_tune.min_steps);
    cfg.fine_tune.learning_rate = args.fine_tune_lr.unwrap_or(cfg.fine_tune.learning_rate);
    cfg.fine_tune.batch_size = args.fine_tune_batch.unwrap_or(cfg.fine_tune.batch_size).max(1);
    if let Some(n) = args.fine_tune_small_batch {
        cfg.fine_tune.small_batch_size = (n > 0).then_some(n);
    }
    cfg.fine_tune.token_dropout = args.fine_tune_token_dropout.unwrap_or(cfg.fine_tune.token_dropout);
    cfg.fine_tune.small_token_dropout = args.fine_tune_small_token_dropout.unwrap_or(cfg.fine_tune.small_token_dropout);
    cfg.fine_tune.dropout = args.fine_tune_dropout.unwrap_or(cfg.fine_tune.dropout);
    if let Some(n) = args.fine_tune_small_layers {
        cfg.fine_tune.small_layers = (n > 0).then_some(n);
    }
    cfg.cosine_weight = args.cosine_weight.unwrap_or(cfg.cosine_weight);
    cfg.knn_weight = args.knn_weight.unwrap_or(cfg.knn_weight);
    cfg.name_examples = args.name_examples.unwrap_or(cfg.name_examples);
    if let Some(w) = args.fine_tune_warmup {
        cfg.fine_tune.schedule = if w < 0.0 { Schedule::Constant } else { Schedule::Linear { warmup: w.min(1.0) } };
    }
    let out = args
        .report
        .clone()
        .unwrap_or_else(|| config.data_dir.join("reports").join(format!("nlu-{}", usher::util::now_ms())));
    eprintln!("{} training / {} test examples, features {}", dataset.train.len(), dataset.test.len(), features.id());
    let options =
        eval::Options { oos_recall: args.oos_recall, out_dir: out, save_probabilities: args.save_probabilities };
    let report = eval::evaluate(&dataset, features, &cfg, &options, &mut training_bar("training"))?;
    println!("{:<32} {:>9} {:>9} {:>9} {:>7}", "intent", "precision", "recall", "f1", "support");
    for s in &report.metrics.per_label {
        println!("{:<32} {:>9.3} {:>9.3} {:>9.3} {:>7}", s.label, s.precision, s.recall, s.f1, s.support);
    }
    println!("accuracy:  {:.2}%", report.accuracy * 100.0);
    println!("macro-F1:  {:.2}%", report.macro_f1 * 100.0);
    if let (Some(ins), Some(oos), Some(t)) = (report.in_scope_accuracy, report.oos_recall, report.oos_threshold) {
        println!(
            "in-scope accuracy: {:.2}%   OOS recall: {:.2}%   (threshold {t:.2}, calibrated on val)",
            ins * 100.0,
            oos * 100.0
        );
    }
    if let Some(p) = &report.oos_operating_point {
        println!(
            "at OOS recall {:.2} on val (threshold {:.3}): in-scope accuracy {:.2}%, OOS recall {:.2}%",
            p.target_oos_recall,
            p.threshold,
            p.in_scope_accuracy * 100.0,
            p.oos_recall * 100.0
        );
    }
    for (c, k, acc) in &report.weights {
        println!(
            "with the tuning's cosine classifier at {c:.2} and the nearest examples' vote at {k:.2}: {:.2}% (in scope, no threshold)",
            acc * 100.0
        );
    }
    println!("trained in {:.1} s on {} examples; tested on {}", report.train_seconds, report.n_train, report.n_test);
    println!("report: {}", options.out_dir.display());
    if args.json {
        let summary = serde_json::json!({
            "accuracy": report.accuracy,
            "macro_f1": report.macro_f1,
            "train_seconds": report.train_seconds,
            "n_train": report.n_train,
            "n_test": report.n_test,
            "in_scope_accuracy": report.in_scope_accuracy,
            "oos_recall": report.oos_recall,
            "oos_threshold": report.oos_threshold,
            "features": report.features,
            "fine_tuned_layers": report.fine_tuned_layers,
            "fine_tune": format!("{:?}", cfg.fine_tune),
            "weights": report.weights,
            "oos_operating_point": report.oos_operating_point,
            "dev_only": args.dev_only,
        });
        println!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The data `usher test entities` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EntityFormat {
    /// Intent YAML files with inline entities, split 80/20 per intent.
    Yaml,
    /// The SGD entertainment turns: `schema.json`, `{train,dev,test}_turns.jsonl`.
    Sgd,
}

/// `usher test entities`.
#[derive(Debug, Clone, clap::Args)]
pub struct EntityArgs {
    /// The intent files, or the SGD directory.
    #[arg(long, default_value = "intents")]
    data: std::path::PathBuf,
    /// What `--data` holds.
    #[arg(long, value_enum, default_value = "yaml")]
    format: EntityFormat,
    /// A peer's predictions for the SGD test frames (`bench/slots_peer.py`), scored beside.
    #[arg(long)]
    peer: Option<std::path::PathBuf>,
    /// Most training epochs of the SGD tagger (the best on dev is kept; the
    /// intent files' tagger always trains for 30).
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// Seed for the split and training.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// SGD: also train on copies of the frames whose capitalised values are
    /// swapped for random names (off by default: dev F1 0.732 with, 0.770 without).
    #[arg(long)]
    name_swap: bool,
    /// Whether the tagger reads word-shape features (case, digits, month
    /// and day names, ordinals, clock times, the neighbours' case) beside
    /// the token states (default: SGD, the choice made on its dev split;
    /// intent files, the shipped tagger's).
    #[arg(long)]
    word_shape: Option<bool>,
    /// Whether the tagger has a CRF layer over its scores (learned
    /// transitions, trained on each sequence's likelihood); defaults as for
    /// --word-shape.
    #[arg(long)]
    crf: Option<bool>,
    /// Print the report as one JSON line too.
    #[arg(long)]
    json: bool,
}

fn encoder(config: &Config) -> anyhow::Result<usher::nlu::encoder::Encoder> {
    let dir = config.nlu.encoder.clone().ok_or_else(|| anyhow::anyhow!("the tagger needs nlu.encoder"))?;
    Ok(usher::nlu::encoder::Encoder::load_on(&dir, config.nlu.device.device()?, config.nlu.cpu_precision.get())?)
}

fn design(args: &EntityArgs, default: usher::nlu::tagger::Design) -> usher::nlu::tagger::Design {
    usher::nlu::tagger::Design {
        word_shape: args.word_shape.unwrap_or(default.word_shape),
        crf: args.crf.unwrap_or(default.crf),
    }
}

fn prf_cell(p: Option<usher::nlu::eval::entities::Prf>) -> String {
    p.map(|p| format!("{:.3}", p.f1)).unwrap_or_else(|| "-".into())
}

/// `usher test entities`: span F1 on a held-out split of the intent files,
/// or per slot on the SGD entertainment turns.
pub fn entities(config: &Config, args: &EntityArgs) -> anyhow::Result<ExitCode> {
    if args.format == EntityFormat::Sgd {
        return sgd_entities(config, args);
    }
    let domain = usher::intents::load(&args.data).map_err(usher::Error::Intents)?.domain;
    let r =
        usher::nlu::eval::entities::evaluate(&domain, &encoder(config)?, design(args, usher::nlu::TAGGER), args.seed)?;
    println!("{:<10} {:>9} {:>9} {:>9} {:>12}", "extractor", "precision", "recall", "f1", "new values");
    let new = r.new_values_recall;
    for (name, s, n) in
        [("rules", r.rules, new.rules), ("tagger", r.tagger, new.tagger), ("combined", r.combined, new.combined)]
    {
        println!("{name:<10} {:>9.3} {:>9.3} {:>9.3} {:>12.3}", s.precision, s.recall, s.f1, n);
    }
    println!(
        "{} test spans ({} with a value no training example marks: \"new values\", recall); tagger trained on {} examples in {:.1} s",
        r.n_test_spans, r.n_new_values, r.n_train, r.train_seconds
    );
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn sgd_entities(config: &Config, args: &EntityArgs) -> anyhow::Result<ExitCode> {
    use usher::nlu::eval::{sgd, slots};
    let data = sgd::load(&args.data)?;
    let peer = args.peer.as_deref().map(|p| sgd::predictions(p, &data.test)).transpose()?;
    eprintln!(
        "{} training frames, {} dev, {} test; training up to {} epochs",
        data.train.len(),
        data.dev.len(),
        data.test.len(),
        args.epochs
    );
    let (encoder, run) = (encoder(config)?, (args.epochs, args.seed));
    let r = slots::evaluate(&data, &encoder, run, args.name_swap, design(args, slots::DESIGN), peer.as_deref())?;
    println!("{:<28} {:>6} {:>9} {:>9}", "slot (test)", "spans", "usher F1", "peer F1");
    for s in &r.slots {
        let name = format!("{}/{}{}", s.service, s.slot, if s.seen { "" } else { " *" });
        println!("{name:<28} {:>6} {:>9.3} {:>9}", s.spans, s.usher.f1, prf_cell(s.peer));
    }
    let peer_of = |f: fn(&slots::Scores) -> usher::nlu::eval::entities::Prf| r.peer.as_ref().map(f);
    let totals: [(&str, String, f64, Option<usher::nlu::eval::entities::Prf>); 3] = [
        ("overall", r.n_test_spans.to_string(), r.usher.overall.f1, peer_of(|s| s.overall)),
        ("seen services", String::new(), r.usher.seen_services.f1, peer_of(|s| s.seen_services)),
        ("unseen services (*)", String::new(), r.usher.unseen_services.f1, peer_of(|s| s.unseen_services)),
    ];
    for (name, spans, usher, peer) in totals {
        println!("{name:<28} {spans:>6} {usher:>9.3} {:>9}", prf_cell(peer));
    }
    let peer_new = r.peer.as_ref().map(|p| format!("{:.3}", p.new_values_recall)).unwrap_or_else(|| "-".into());
    println!("{:<28} {:>6} {:>9.3} {:>9}", "new values (recall)", r.n_new_values, r.usher.new_values_recall, peer_new);
    println!(
        "epoch {} of {} kept (dev F1 {:.3}), slot-map threshold {}{}, span confidence {}, {:?} decoding; token states and training {:.0} s",
        r.epoch,
        r.dev_f1_by_epoch.len(),
        r.dev_f1,
        r.threshold,
        if r.own_slots_only { " (seen services: own slots only)" } else { "" },
        r.confidence,
        r.decoding,
        r.train_seconds
    );
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `usher test followups`: the configured classifier, trained on the
/// intent files (or loaded from the model cache), on two-turn follow-ups.
pub fn followups(config: &Config, data: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let cases = eval::followups::load(data)?;
    let features = usher::bootstrap::features(config);
    eprintln!("{} cases, features {}", cases.len(), features.id());
    let (brain, _, _) = usher::bootstrap::brain(config, features, None, &mut training_bar("intent classifier"))?;
    let r = eval::followups::evaluate(&brain.nlu, &cases)?;
    for o in r.outcomes.iter().filter(|o| o.in_context != o.expect) {
        let kind = if o.control { "control" } else { "follow-up" };
        println!("miss ({kind}): {:?} after {} -> {} (expected {})", o.second, o.first_intent, o.in_context, o.expect);
    }
    println!(
        "follow-ups: {:.1}% in context, {:.1}% read alone, {:.1}% from the classifier with no context rule ({} cases)",
        r.in_context * 100.0,
        r.alone * 100.0,
        r.unscoped * 100.0,
        r.n
    );
    println!(
        "controls:   {:.1}% in context, {:.1}% with no context rule ({} cases)",
        r.controls_in_context * 100.0,
        r.controls_unscoped * 100.0,
        r.controls
    );
    if json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `usher test conversations`: the configured classifier (trained on the
/// intent files or loaded from the model cache), the knowledge base, and a
/// throwaway store; backend calls answered by each file's stubs; the
/// sentiment model only with `--sentiment`.
pub async fn conversations(
    config: &Config,
    path: &std::path::Path,
    junit: Option<&std::path::Path>,
    sentiment: bool,
) -> anyhow::Result<ExitCode> {
    let cases = usher::convtest::load(path)?;
    let cfg = config.clone();
    let (brain, _, _) = tokio::task::spawn_blocking(move || {
        let features = usher::bootstrap::features(&cfg);
        let mood = if sentiment { usher::bootstrap::sentiment(&cfg, features.encoder()) } else { None };
        usher::bootstrap::brain(&cfg, features, mood, &mut |_, _, _| {})
    })
    .await??;
    usher::convtest::check(&cases, &brain.domain)?;
    let scratch = usher::convtest::Scratch::new(&config.data_dir, std::sync::Arc::new(brain)).await?;
    let mut bar = super::progress::count_bar("knowledge base", "chunks embedded");
    usher::bootstrap::knowledge(config, &scratch.engine, &mut bar).await?;
    let report = usher::convtest::run(&scratch.engine, &cases).await?;
    print!("{}", report.text());
    if let Some(file) = junit {
        std::fs::write(file, report.junit())?;
    }
    Ok(if report.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `usher test redaction`: the configured detectors on a labelled set.
pub fn redaction(config: &Config, data: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let redactor = usher::privacy::Redactor::new(&config.privacy);
    let started = std::time::Instant::now();
    let s = usher::privacy::eval::evaluate(data, &redactor)?;
    let seconds = started.elapsed().as_secs_f64();
    println!("{} messages, {:.3} ms each", s.messages, seconds * 1000.0 / s.messages.max(1) as f64);
    println!("{:<10} {:>6} {:>6} {:>8}", "kind", "found", "total", "recall");
    for (kind, (found, total)) in &s.by_kind {
        println!("{kind:<10} {found:>6} {total:>6} {:>7.1}%", 100.0 * *found as f64 / (*total).max(1) as f64);
    }
    for (text, kind, value) in &s.missed {
        println!("missed {kind} {value:?} in {text:?}");
    }
    for (text, span) in &s.spurious {
        println!("spurious {span:?} in {text:?}");
    }
    println!(
        "recall {:.2}% ({} missed), precision {:.2}% ({} of {} replaced spans right), {} with another kind's placeholder",
        100.0 * s.recall,
        s.missed.len(),
        100.0 * s.precision,
        s.predicted.1,
        s.predicted.0,
        s.wrong_kind
    );
    if json {
        println!("{}", serde_json::to_string(&s)?);
    }
    Ok(ExitCode::SUCCESS)
}
