//! Command-line interface (clap).

mod agents;
mod analyze;
mod bench;
mod channels;
mod chat;
mod create;
mod fans;
mod kb;
mod load;
mod models;
mod progress;
mod recs;
mod serve;
mod test_nlu;
mod test_sentiment;
mod test_thresholds;
mod train;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use usher::config::Config;

/// Usher: a customer-service bot for ticketing, streaming and venues.
#[derive(Debug, Parser)]
#[command(name = "usher", version, about)]
pub struct Args {
    /// The configuration file.
    #[arg(long, short, global = true, default_value = "config.yaml")]
    config: PathBuf,
    /// Log lines as `text` or `json` (one object per line, with the span's
    /// fields such as `request_id`).
    #[arg(long, global = true, env = "USHER_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// `usher import`.
#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// A Rasa 3.x project: NLU data, domain, rules, stories, custom actions
    /// (as `rasa.NAME` calls) and test stories; prints what it converted
    /// and what it could not, with file:line:column.
    Rasa {
        /// The Rasa project's root (where domain.yml is).
        path: PathBuf,
        /// Where to write the Usher project (config.yaml, intents/,
        /// tests/conversations/, IMPORT.md).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the bot: HTTP API, web chat widget and every enabled channel.
    Serve,
    /// Chat with the bot in this terminal.
    Chat {
        /// Conversation id (reuse one to continue a conversation).
        #[arg(long, default_value = "cli-local")]
        conversation: String,
        /// After each reply, say why: top intents, nearest examples,
        /// entities and their sources, knowledge, calls and the deciding rule.
        #[arg(long)]
        explain: bool,
    },
    /// Check intent files; exits 1 listing every error.
    Validate {
        /// Also train the quick head and report confusable intent pairs,
        /// near-duplicate examples across intents and intents with too few
        /// distinct examples (warnings, with file:line:column).
        #[arg(long)]
        deep: bool,
        /// With --deep: print the findings as one JSON object.
        #[arg(long, requires = "deep")]
        json: bool,
        /// A directory of intent files or one file (default: the config's `intents`).
        path: Option<PathBuf>,
    },
    /// Train a model: the intent classifier (default) or the sentiment model.
    Train {
        /// What to train.
        #[arg(value_enum, default_value_t = train::Target::Intents)]
        target: train::Target,
        /// Sentiment: the SST-2 directory (stsa.binary.train/.dev/.test).
        /// The data set (default: ../shared/data/sst2, or ../shared/data/goemotions for emotions).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Training epochs (default: 4; the recommender's own default for `recs`).
        #[arg(long)]
        epochs: Option<usize>,
        /// Which creative model (with `creative`).
        #[arg(long, value_enum, default_value_t = train::CreativeModel::Poem)]
        model: train::CreativeModel,
        #[command(flatten)]
        sentiment: train::SentimentArgs,
    },
    /// Evaluate models on data sets.
    Test {
        #[command(subcommand)]
        command: TestCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// The knowledge base: index, search, stats, eval.
    Kb {
        #[command(subcommand)]
        command: kb::Command,
    },
    /// Manage model files.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Sentiment and style analysis of a text.
    Analyze(analyze::Args),
    /// A fan's data: export it as JSON or erase it (GDPR articles 15 and 17).
    Fans {
        #[command(subcommand)]
        command: fans::Command,
    },
    /// Bring a bot over from another framework.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Agent accounts for the console (`/console`).
    Agents {
        #[command(subcommand)]
        command: agents::Command,
    },
    /// What the bot would suggest a fan watch or see next (the configured catalogue and rules).
    Recommend(recs::AskArgs),
    /// Creative output: poems and melodies.
    Create {
        #[command(subcommand)]
        command: create::Command,
    },
    /// Run the Encore demo's example backend (`usher serve` starts it when
    /// `actions.demo_backend` is set).
    DemoBackend {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
        /// Its SQLite file (default: data_dir/encore-backend.sqlite).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Exit when standard input closes (`usher serve` holds it open, so
        /// the backend ends with it, however it ends).
        #[arg(long)]
        exit_with_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Sentence-encoder throughput (batch 64 and 1) and single-message latency.
    Encoder(bench::Args),
    /// Knowledge-base scale: index time, query p50/p99 and RSS with synthetic chunks.
    Kb(kb::BenchArgs),
    /// Many web chat fans against a running server, closed loop
    /// (`--messages`) or open loop (`--rate`, `--duration`): throughput,
    /// latency, lost / duplicated / out-of-order replies (checked against
    /// the store).
    Load(load::Args),
    /// Latency against offered load as a PNG, from `scripts/bench-load.sh`'s JSON lines.
    PlotLoad(load::plot::Args),
    /// Melody generation and rendering latency.
    Melody {
        #[arg(long, default_value_t = 50)]
        runs: usize,
    },
    /// Poem generation latency.
    Poem {
        #[arg(long, default_value_t = 50)]
        runs: usize,
    },
}

#[derive(Debug, Subcommand)]
enum TestCommand {
    /// Train the intent classifier on a data set's train split and evaluate on its test split.
    Nlu(test_nlu::Args),
    /// Entity F1: the rules, the BiLSTM tagger and both on a held-out split of the
    /// intent files, or the tagger (and a peer) per slot on the SGD entertainment turns.
    Entities(test_nlu::EntityArgs),
    /// Conversation tests: fan turns and what must follow, on the engine with backend calls stubbed.
    Conversations {
        /// A test file or a directory of them.
        #[arg(default_value = "tests/conversations")]
        path: PathBuf,
        /// Also write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Score sentiment too (off by default: the upset-fan rule would make
        /// outcomes depend on the sentiment model's reading of each message).
        #[arg(long)]
        sentiment: bool,
    },
    /// Two-turn follow-ups: the second message's intent in the first's context, and read alone.
    Followups {
        /// The cases.
        #[arg(long, default_value = "eval/followups.yaml")]
        data: PathBuf,
        /// Print one JSON object (with every case) on the last line.
        #[arg(long)]
        json: bool,
    },
    /// Where `policy.fallback_threshold` and `policy.digression_threshold`
    /// should sit for the configured classifier, on held-out messages
    /// (`eval/fallbacks.yaml`, `eval/digressions.yaml`).
    Thresholds(test_thresholds::Args),
    /// Recommendations: HR@10 and NDCG@10 on MovieLens against most
    /// popular, item-kNN and the peers of `bench/recs_peer.py`, plus cold start.
    Recs(recs::Args),
    /// The melody model against the held-out chorales: chooses its
    /// decoding on the valid split and compares its melodies with the
    /// test split's on the objective metrics.
    Melody {
        /// The JSB chorales directory (`Jsb16thSeparated.json`).
        #[arg(long, default_value = "../shared/data/jsb_chorales")]
        data: PathBuf,
        /// Write the chosen decoding and the figures into the model's
        /// `meta.json`.
        #[arg(long)]
        update: bool,
    },
    /// The audio watermark: detection and false positives after
    /// resampling to 22.05 kHz and noise at 30 dB SNR, and its loudness.
    Watermark {
        /// Melodies (seeds 0..N) marked and left unmarked.
        #[arg(long, default_value_t = 200)]
        files: usize,
        /// Print one JSON object on the last line.
        #[arg(long)]
        json: bool,
    },
    /// Sentiment: SST-2 dev and test accuracy, a reliability table on test,
    /// and the upset-fan rule on support messages of each tone.
    Sentiment(test_sentiment::Args),
    /// Redaction of personal data: recall and precision per kind on a
    /// labelled set, with the config's detectors.
    Redaction {
        /// The labelled messages (JSON lines: `{"text", "pii": [[KIND, VALUE]]}`).
        #[arg(long, default_value = "eval/privacy/redaction.jsonl")]
        data: PathBuf,
        /// Print one JSON object (with every miss) on the last line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Download the sentence encoder (all-MiniLM-L6-v2) and check its checksums.
    Fetch {
        /// Where to put it (default: the config's `nlu.encoder`).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Serve => serve::run(&load_config(&args.config)?).await,
        Command::Chat { conversation, explain } => chat::run(&load_config(&args.config)?, &conversation, explain).await,
        Command::Validate { path, deep: false, .. } => {
            let path = match path {
                Some(p) => p,
                None => load_config(&args.config)?.intents,
            };
            Ok(validate::run(&path))
        }
        Command::Validate { path, deep: true, json } => {
            let config = load_config(&args.config)?;
            let path = path.unwrap_or_else(|| config.intents.clone());
            tokio::task::spawn_blocking(move || validate::deep(&config, &path, json)).await?
        }
        Command::Train { target: train::Target::Intents, .. } => train::run(&load_config(&args.config)?),
        Command::Train { target: target @ train::Target::Sentiment, data, epochs, sentiment, .. } => {
            let data = data.unwrap_or_else(|| target.default_data().into());
            train::sentiment(&load_config(&args.config)?, &data, epochs, &sentiment)
        }
        Command::Train { target: train::Target::Creative, data, epochs, model, .. } => {
            let data = data.unwrap_or_else(|| model.default_data().into());
            match model {
                train::CreativeModel::Poem => train::poem(&load_config(&args.config)?, &data, epochs.unwrap_or(4)),
                train::CreativeModel::Melody => train::melody(&load_config(&args.config)?, &data, epochs.unwrap_or(1)),
            }
        }
        Command::Train { target: target @ train::Target::Recs, data, epochs, .. } => {
            let data = data.unwrap_or_else(|| target.default_data().into());
            let config = load_config(&args.config)?;
            tokio::task::spawn_blocking(move || recs::train(&config, &data, epochs)).await?
        }
        Command::DemoBackend { listen, data, exit_with_stdin } => {
            if exit_with_stdin {
                std::thread::spawn(|| {
                    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
                    std::process::exit(0);
                });
            }
            let data = match data {
                Some(d) => d,
                None => load_config(&args.config)?.data_dir.join("encore-backend.sqlite"),
            };
            let secret = std::env::var("USHER_ACTIONS_SECRET").ok().filter(|s| !s.is_empty());
            encore_backend::run(&listen, &data, secret).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Recommend(a) => recs::ask(&load_config(&args.config)?, &a),
        Command::Agents { command } => agents::run(&load_config(&args.config)?, command).await,
        Command::Create { command } => create::run(&load_config(&args.config)?, command),
        Command::Train { target: target @ train::Target::Emotions, data, .. } => {
            let data = data.unwrap_or_else(|| target.default_data().into());
            train::emotions(&load_config(&args.config)?, &data)
        }
        Command::Analyze(a) => analyze::run(&load_config(&args.config)?, &a),
        Command::Bench { command: BenchCommand::Encoder(a) } => bench::encoder(&load_config(&args.config)?, &a),
        Command::Bench { command: BenchCommand::Kb(a) } => kb::bench(&a).await,
        Command::Bench { command: BenchCommand::Load(a) } => load::run(&a).await,
        Command::Bench { command: BenchCommand::PlotLoad(a) } => load::plot::run(&a),
        Command::Bench { command: BenchCommand::Poem { runs } } => bench::poem(&load_config(&args.config)?, runs),
        Command::Bench { command: BenchCommand::Melody { runs } } => bench::melody(&load_config(&args.config)?, runs),
        Command::Kb { command } => kb::run(&load_config(&args.config)?, command).await,
        Command::Fans { command } => fans::run(&load_config(&args.config)?, command).await,
        Command::Import { command: ImportCommand::Rasa { path, out } } => {
            let config = load_config(&args.config)?;
            let encoder = config.nlu.encoder.as_deref().filter(|e| e.exists()).map(std::path::absolute).transpose()?;
            let import = usher::import::rasa(&path, &out, encoder.as_deref())?;
            print!("{}", import.text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Test { command: TestCommand::Entities(a) } => {
            let config = load_config(&args.config)?;
            tokio::task::spawn_blocking(move || test_nlu::entities(&config, &a)).await?
        }
        Command::Test { command: TestCommand::Recs(a) } => {
            let config = load_config(&args.config)?;
            tokio::task::spawn_blocking(move || recs::run(&config, &a)).await?
        }
        Command::Test { command: TestCommand::Nlu(a) } => test_nlu::run(&load_config(&args.config)?, &a),
        Command::Test { command: TestCommand::Conversations { path, junit, sentiment } } => {
            test_nlu::conversations(&load_config(&args.config)?, &path, junit.as_deref(), sentiment).await
        }
        Command::Test { command: TestCommand::Melody { data, update } } => {
            train::test_melody(&load_config(&args.config)?, &data, update)
        }
        Command::Test { command: TestCommand::Watermark { files, json } } => {
            create::watermark(&load_config(&args.config)?, files, json)
        }
        Command::Test { command: TestCommand::Sentiment(a) } => test_sentiment::run(&load_config(&args.config)?, &a),
        Command::Test { command: TestCommand::Redaction { data, json } } => {
            test_nlu::redaction(&load_config(&args.config)?, &data, json)
        }
        Command::Test { command: TestCommand::Thresholds(a) } => test_thresholds::run(&load_config(&args.config)?, &a),
        Command::Test { command: TestCommand::Followups { data, json } } => {
            test_nlu::followups(&load_config(&args.config)?, &data, json)
        }
        Command::Models { command: ModelsCommand::Fetch { dir } } => {
            let dir = match dir {
                Some(d) => d,
                None => load_config(&args.config)?
                    .nlu
                    .encoder
                    .ok_or_else(|| anyhow::anyhow!("nlu.encoder is null in the config: pass --dir"))?,
            };
            models::fetch(&dir)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads the config; a missing default `config.yaml` means built-in defaults.
fn load_config(path: &Path) -> anyhow::Result<Config> {
    if !path.exists() && path == Path::new("config.yaml") {
        let mut config = Config::parse("").map_err(anyhow::Error::msg)?;
        config.apply_env(|k| std::env::var(k).ok()).map_err(anyhow::Error::msg)?;
        config.resolve(Path::new("."));
        return Ok(config);
    }
    Ok(Config::load(path)?)
}
