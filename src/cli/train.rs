//! `usher train [intents|sentiment]`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use usher::nlu::sentiment::{read_sst2, Sentiment, SentimentReport};

use usher::config::Config;
use usher::nlu::encoder::{FineTune, Schedule};
use usher::nlu::{Nlu, Provenance};

use super::progress::training_bar;

/// What `usher train` trains.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Target {
    /// The intent classifier (retrains, replacing the cached one).
    Intents,
    /// The GRU sentiment model on SST-2, written to `nlu.sentiment`.
    Sentiment,
    /// The emotion lexicon from GoEmotions, written to `creative.emotions`.
    Emotions,
    /// A creative model (`--model poem`), written under `creative.*`.
    Creative,
    /// The recommender on the service's own histories (`--data
    /// interactions.csv`: `fan,item,timestamp`, items by catalogue id).
    Recs,
}

/// The creative models `usher train creative --model` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CreativeModel {
    /// The sonnet GRU language model.
    Poem,
    /// The melody DCGAN on the Bach chorales' soprano lines.
    Melody,
}

impl CreativeModel {
    /// The data set each model trains on by default.
    pub fn default_data(self) -> &'static str {
        match self {
            CreativeModel::Poem => "../shared/data/sonnets",
            CreativeModel::Melody => "../shared/data/jsb_chorales",
        }
    }
}

impl Target {
    /// The data set each target trains on by default.
    pub fn default_data(self) -> &'static str {
        match self {
            Target::Intents | Target::Sentiment => "../shared/data/sst2",
            Target::Emotions => "../shared/data/goemotions",
            Target::Creative => CreativeModel::Poem.default_data(),
            Target::Recs => "interactions.csv",
        }
    }
}

/// Learns the emotion lexicon from GoEmotions' training split and reports
/// how well its dominant emotion predicts the test split's Ekman label.
pub fn emotions(config: &Config, data: &Path) -> anyhow::Result<ExitCode> {
    use usher::creative::analysis::emotion::{read_goemotions, Lexicon};
    let train = read_goemotions(data, "train")?;
    let test = read_goemotions(data, "test")?;
    let lexicon = Lexicon::learn(&train);
    lexicon.save(&config.creative.emotions)?;
    // Test comments with exactly one Ekman emotion.
    let single: Vec<_> = test.iter().filter(|c| c.emotions.len() == 1).collect();
    let predicted: Vec<Option<String>> = single.iter().map(|c| lexicon.predict(&c.text)).collect();
    let covered = predicted.iter().filter(|p| p.is_some()).count();
    let correct = single.iter().zip(&predicted).filter(|(c, p)| p.as_deref() == Some(c.emotions[0].as_str())).count();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for c in &single {
        *counts.entry(c.emotions[0].as_str()).or_default() += 1;
    }
    let (majority, majority_n) = counts.iter().max_by_key(|(_, n)| **n).map(|(e, n)| (*e, *n)).unwrap_or(("none", 0));
    let n = single.len().max(1) as f64;
    println!("emotion lexicon: {} words from {} GoEmotions training comments", lexicon.len(), train.len());
    println!("test comments with one Ekman emotion: {}", single.len());
    println!("coverage (at least one lexicon word): {:.1}%", covered as f64 / n * 100.0);
    println!("accuracy (dominant lexicon emotion):  {:.1}%", correct as f64 / n * 100.0);
    println!("accuracy where covered:               {:.1}%", correct as f64 / covered.max(1) as f64 * 100.0);
    println!("majority-class baseline ({majority}):       {:.1}%", majority_n as f64 / n * 100.0);
    println!("saved to {}", config.creative.emotions.join("lexicon.json").display());
    Ok(ExitCode::SUCCESS)
}

/// How `usher train sentiment` trains.
#[derive(Debug, Clone, clap::Args)]
pub struct SentimentArgs {
    /// Sentiment: train the small word GRU instead of fine-tuning the encoder.
    #[arg(long)]
    words: bool,
    /// Sentiment: top encoder layers to fine-tune under the GRU head.
    #[arg(long, default_value_t = 6)]
    fine_tune_layers: usize,
    /// Sentiment: the encoder layers' peak learning rate (warm-up over the
    /// first tenth of the steps, then linear decay to zero).
    #[arg(long, default_value_t = 1e-4)]
    learning_rate: f64,
    /// Sentiment: dropout in the tuned layers and on the head's input.
    #[arg(long, default_value_t = 0.1)]
    dropout: f32,
    /// Sentiment: neutral texts for a third class, neither praise nor
    /// complaint: this many in-scope requests drawn (seeded) from the
    /// CLINC150 training split of `--neutral-data` (0: a two-class head;
    /// 1000 is the shipped model's setting).
    #[arg(long, default_value_t = 1000)]
    neutral: usize,
    /// Sentiment: the CLINC150 data (`data_full.json`) for `--neutral`.
    #[arg(long, default_value = "../shared/data/clinc150/data_full.json")]
    neutral_data: std::path::PathBuf,
    /// Sentiment: where to write the model (default: `nlu.sentiment`).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Sentiment: measure on dev only, leaving the test split unread (for
    /// choosing settings).
    #[arg(long)]
    dev_only: bool,
}

/// Trains the sentiment model on SST-2's train split, fits its temperature
/// on dev and reports dev (and, unless `--dev-only`, test) accuracy.
pub fn sentiment(
    config: &Config,
    data: &Path,
    epochs: Option<usize>,
    args: &SentimentArgs,
) -> anyhow::Result<ExitCode> {
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => config.nlu.sentiment.clone().ok_or_else(|| anyhow::anyhow!("nlu.sentiment is null in the config"))?,
    };
    let train = read_sst2(&data.join("stsa.binary.train"))?;
    let dev = read_sst2(&data.join("stsa.binary.dev"))?;
    let test = if args.dev_only { Vec::new() } else { read_sst2(&data.join("stsa.binary.test"))? };
    let started = Instant::now();
    let seed = config.nlu.seed;
    let base = usher::bootstrap::encoder(config);
    let model = if args.words {
        println!("training the sentiment word GRU on {} SST-2 sentences", train.len());
        Sentiment::train(&train, epochs.unwrap_or(4), seed, &mut training_bar("sentiment GRU"))?
    } else {
        let encoder = base
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no sentence encoder loaded (run `usher models fetch`), or pass --words"))?;
        let cfg = FineTune {
            layers: args.fine_tune_layers,
            epochs: epochs.unwrap_or(2),
            learning_rate: args.learning_rate,
            batch_size: 32,
            schedule: Schedule::Linear { warmup: 0.1 },
            dropout: args.dropout,
            min_steps: 0,
            small_layers: None,
            ..FineTune::default()
        };
        println!(
            "fine-tuning {} encoder layers with a GRU head on {} SST-2 sentences ({} epochs, peak rate {}, dropout {})",
            cfg.layers,
            train.len(),
            cfg.epochs,
            cfg.learning_rate,
            cfg.dropout
        );
        let neutral = neutral_requests(&args.neutral_data, args.neutral, seed)?;
        if !neutral.is_empty() {
            println!("with {} neutral CLINC150 requests as a third class", neutral.len());
        }
        Sentiment::train_tuned(&train, &neutral, encoder, &cfg, seed, &mut training_bar("sentiment encoder"))?
    };
    let train_seconds = started.elapsed().as_secs_f64();
    model.save(&out)?;
    // Measure what was saved, as it will serve (f16 weights, packed kernel).
    let mut model = Sentiment::load(&out, base.as_ref())?;
    let temperature = model.calibrate(&dev)?;
    let report = SentimentReport {
        dev_accuracy: model.accuracy(&dev)?,
        test_accuracy: if test.is_empty() { None } else { Some(model.accuracy(&test)?) },
        n_train: train.len(),
        train_seconds,
    };
    model.report = Some(report);
    model.save_meta(&out)?;
    println!("model: {}; temperature {temperature:.2} (fitted on dev)", model.kind());
    println!("dev accuracy:  {:.2}%", report.dev_accuracy * 100.0);
    if let Some(accuracy) = report.test_accuracy {
        println!("test accuracy: {:.2}% ({} sentences)", accuracy * 100.0, test.len());
    }
    println!("trained in {train_seconds:.1} s; saved to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `n` in-scope CLINC150 training requests, drawn under `seed`.
fn neutral_requests(path: &Path, n: usize, seed: u64) -> anyhow::Result<Vec<String>> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut texts: Vec<String> =
        usher::nlu::eval::data::load_clinc(path, true)?.train.into_iter().map(|(t, _)| t).collect();
    texts.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    texts.truncate(n);
    Ok(texts)
}

pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let loaded = usher::intents::load(&config.intents).map_err(usher::Error::Intents)?;
    let cache = config.model_cache();
    // Remove the cached head so this run really trains.
    if let Ok(entries) = std::fs::read_dir(&cache) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("intent-head-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let examples: usize = loaded.domain.intents.iter().map(|i| i.examples.len()).sum();
    println!("training on {} intents, {examples} examples", loaded.domain.intents.len());
    let mut bar = training_bar("intent classifier");
    let features = usher::bootstrap::features(config);
    println!("features: {}", features.id());
    let (_, provenance) = Nlu::train_or_load(&loaded.domain, features, &cache, &config.nlu.train_config(), &mut bar)?;
    if let Provenance::Trained(report) = provenance {
        println!("training accuracy: {:.1}% (final loss {:.4})", report.accuracy * 100.0, report.loss);
    }
    println!("model cached in {}", cache.display());
    Ok(ExitCode::SUCCESS)
}

/// Trains the poem GRU on the sonnets and reports test perplexity against
/// the Kneser-Ney bigram baseline.
pub fn poem(config: &Config, data: &Path, epochs: usize) -> anyhow::Result<ExitCode> {
    use usher::creative::poem::{corpus, ngram::KneserNey, Poet, PoetReport};
    let train = corpus::read(data, "train")?;
    let test = corpus::read(data, "test")?;
    println!("training the poem GRU on {} sonnet tokens", train.len());
    let started = Instant::now();
    let mut poet = Poet::train(&train, epochs, config.nlu.seed, &mut training_bar("poem GRU"))?;
    let train_seconds = started.elapsed().as_secs_f64();
    let baseline = KneserNey::fit(&poet.ids(&train), poet.vocab_len());
    let report = PoetReport {
        test_perplexity: poet.perplexity(&test)?,
        baseline_perplexity: baseline.perplexity(&poet.ids(&test)),
        vocab: poet.vocab_len(),
        n_train: train.len(),
        epochs,
        train_seconds,
    };
    poet.report = Some(report);
    poet.save(&config.creative.poem)?;
    println!("vocabulary: {} words", report.vocab);
    println!("test perplexity, GRU:                  {:.1}", report.test_perplexity);
    println!("test perplexity, Kneser-Ney bigram:    {:.1}", report.baseline_perplexity);
    println!("trained in {train_seconds:.0} s; saved to {}", config.creative.poem.display());
    Ok(ExitCode::SUCCESS)
}

/// Trains the melody DCGAN on the JSB chorales (train split, transposed;
/// soprano over the lower voices' chords), chooses how rolls are read on
/// the valid split, then compares melodies made as `usher serve` makes
/// them with the test split's windows on the objective metrics.
pub fn melody(config: &Config, data: &Path, epochs: usize) -> anyhow::Result<ExitCode> {
    use usher::creative::melody::decode::Decoding;
    use usher::creative::melody::{data as corpus, gan, Composer, MelodyReport};
    let windows = corpus::windows(&corpus::chorales(data, "train")?);
    let train = corpus::augmented(&windows);
    println!("training the melody DCGAN on {} four-bar windows (transposed) with their chords", train.len());
    let started = Instant::now();
    let (generator, losses) = gan::train(&train, epochs, config.nlu.seed, &mut training_bar("melody DCGAN"))?;
    let train_seconds = started.elapsed().as_secs_f64();
    let mut progressions: Vec<_> = windows.into_iter().map(|w| w.progression).collect();
    progressions.dedup();
    let parameters = gan::generator_parameters(&generator)?;
    let mut composer =
        Composer { generator, progressions, decoding: Decoding::default(), report: None, model: String::new() };
    let evaluation = evaluate_melodies(&mut composer, data)?;
    let report = MelodyReport {
        epochs,
        windows: train.len(),
        train_seconds,
        parameters,
        losses,
        generated: evaluation.generated,
        corpus: evaluation.corpus,
        decoding: evaluation.decoding,
        validation: evaluation.validation,
    };
    composer.report = Some(report.clone());
    composer.save(&config.creative.melody)?;
    if let Some(l) = report.losses.last() {
        println!("last epoch: D loss {:.3}, G loss {:.3}, D(real) {:.2}, D(fake) {:.2}", l.d, l.g, l.d_real, l.d_fake);
    }
    println!("trained in {train_seconds:.0} s; saved to {} (loss curves: loss.png)", config.creative.melody.display());
    Ok(ExitCode::SUCCESS)
}

/// `usher test melody`: the configured model against the held-out
/// chorales; `update` keeps the chosen decoding and figures in its
/// `meta.json`.
pub fn test_melody(config: &Config, data: &Path, update: bool) -> anyhow::Result<ExitCode> {
    let dir = &config.creative.melody;
    let mut composer = usher::creative::melody::Composer::load(dir)?;
    let e = evaluate_melodies(&mut composer, data)?;
    if update {
        let report =
            composer.report.as_mut().ok_or_else(|| anyhow::anyhow!("{}: no meta.json report", dir.display()))?;
        (report.generated, report.corpus, report.decoding, report.validation) =
            (e.generated, e.corpus, e.decoding, e.validation);
        usher::util::write_json(&dir.join("meta.json"), &composer.report)?;
        println!("wrote the decoding and figures into {}", dir.join("meta.json").display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Chooses `composer`'s decoding on the valid chorales and prints how its
/// melodies compare with the test chorales'.
pub fn evaluate_melodies(
    composer: &mut usher::creative::melody::Composer,
    data: &Path,
) -> anyhow::Result<usher::creative::melody::Evaluation> {
    use usher::creative::melody::data as corpus;
    let valid = corpus::melodies(&corpus::windows(&corpus::chorales(data, "valid")?));
    let test = corpus::melodies(&corpus::windows(&corpus::chorales(data, "test")?));
    let e = composer.evaluate(&valid, &test, GENERATED)?;
    for t in &e.validation {
        let (d, m) = (t.decoding, t.metrics);
        println!(
            "valid: runs of at least {} steps, temperature {}, key kept {}: pitch classes per bar {:.2}, in-key {:.3}, qualified {:.3}; largest relative gap {:.1} %",
            d.min_steps,
            d.temperature,
            d.in_key,
            m.pitch_classes_per_bar,
            m.in_key_ratio,
            m.qualified_note_rate,
            100.0 * t.gap
        );
    }
    println!(
        "decoding chosen on valid: runs of at least {} steps, temperature {}, key kept {}",
        e.decoding.min_steps, e.decoding.temperature, e.decoding.in_key
    );
    let (g, c) = (e.generated, e.corpus);
    println!("metric                      generated ({:>4})   JSB test windows ({:>4})", g.melodies, c.melodies);
    let rows = [
        ("empty-bar rate", g.empty_bar_rate, c.empty_bar_rate),
        ("pitch classes per bar", g.pitch_classes_per_bar, c.pitch_classes_per_bar),
        ("in-key ratio", g.in_key_ratio, c.in_key_ratio),
        ("qualified-note rate", g.qualified_note_rate, c.qualified_note_rate),
        ("pitch range (semitones)", g.pitch_range, c.pitch_range),
    ];
    for (name, a, b) in rows {
        println!("{name:<27} {a:>16.3}   {b:>21.3}");
    }
    println!("largest relative gap to the test windows: {:.1} %", 100.0 * g.largest_gap(&c));
    Ok(e)
}

/// Melodies generated (seeds 0..N) for the metrics.
const GENERATED: u64 = 500;
