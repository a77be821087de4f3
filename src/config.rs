//! `config.yaml`, parsed into typed structs that reject unknown keys.
//! Relative paths are resolved against the config file's directory.
//! Secrets never live here: they come from the environment.
//!
//! Environment overrides: `USHER_HTTP_HOST`, `USHER_HTTP_PORT`, `USHER_DATA_DIR`,
//! `QDRANT_URL`.

use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::nlu::encoder::FineTune;
use crate::nlu::TrainConfig;
use crate::Error;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP server (API, web chat, widget).
    #[serde(default)]
    pub http: HttpConfig,
    /// Where the store, model cache and indexes live. Default `data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The intent files: a directory or one file. Default `intents`.
    #[serde(default = "default_intents")]
    pub intents: PathBuf,
    /// The conversation store.
    #[serde(default)]
    pub store: StoreConfig,
    /// Intent classifier training.
    #[serde(default)]
    pub nlu: NluConfig,
    /// Channel adapters.
    #[serde(default)]
    pub channels: ChannelsConfig,
    /// The knowledge base.
    #[serde(default)]
    pub knowledge: KnowledgeConfig,
    /// The creative toolset.
    #[serde(default)]
    pub creative: CreativeConfig,
    /// Human handoff: business hours, queue estimates, console sessions.
    #[serde(default)]
    pub handoff: crate::handoff::HandoffConfig,
    /// Access control on the public routes: credential rate limits.
    #[serde(default)]
    pub access: crate::access::AccessConfig,
}

/// The creative toolset's models.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CreativeConfig {
    /// The emotion lexicon (`usher train emotions` writes it). Default
    /// `models/emotions`.
    #[serde(default = "default_emotions")]
    pub emotions: PathBuf,
    /// The poem model (`usher train creative --model poem` writes it).
    /// Default `models/poem`.
    #[serde(default = "default_poem")]
    pub poem: PathBuf,
    /// The melody DCGAN (`usher train creative --model melody` writes it).
    /// Default `models/melody`.
    #[serde(default = "default_melody")]
    pub melody: PathBuf,
    /// Words no generated text may contain, nor any theme be. The default
    /// is a short list of slurs and profanity; extend it for your audience.
    #[serde(default = "default_blocked")]
    pub blocked_words: Vec<String>,
    /// Limits on the files the tools generate (quota, TTL, per conversation).
    #[serde(default)]
    pub files: crate::creative::files::FilesConfig,
}

impl Default for CreativeConfig {
    fn default() -> Self {
        Self {
            emotions: default_emotions(),
            poem: default_poem(),
            melody: default_melody(),
            blocked_words: default_blocked(),
            files: Default::default(),
        }
    }
}

fn default_poem() -> PathBuf {
    PathBuf::from("models/poem")
}

fn default_melody() -> PathBuf {
    PathBuf::from("models/melody")
}

fn default_blocked() -> Vec<String> {
    ["fuck", "fucking", "shit", "cunt", "bitch", "bastard", "whore", "slut", "nigger", "faggot", "retard", "rape"]
        .iter()
        .map(|w| w.to_string())
        .collect()
}

fn default_emotions() -> PathBuf {
    PathBuf::from("models/emotions")
}

/// The knowledge base: documents, vector store, answering.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// Answer from the knowledge base at all. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The documents (Markdown and YAML Q&A). Default `knowledge`.
    #[serde(default = "default_knowledge_dir")]
    pub dir: PathBuf,
    /// `embedded` (a qdrant-edge shard under the data directory) or
    /// `qdrant` (a Qdrant server; API key from `QDRANT_API_KEY`).
    #[serde(default)]
    pub store: VectorStoreKind,
    /// The Qdrant server's gRPC URL (store `qdrant`). `QDRANT_URL` overrides it.
    #[serde(default = "default_qdrant_url")]
    pub url: String,
    /// The Qdrant collection (store `qdrant`). Default `usher_knowledge`.
    #[serde(default = "default_collection")]
    pub collection: String,
    /// Files larger than this are refused. Default 5 MB.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// The best passage's cosine similarity above which the bot answers;
    /// below it, it says it is not sure and offers a person. Calibrated by
    /// `usher kb eval` on `eval/knowledge.yaml`.
    #[serde(default = "default_answer_threshold")]
    pub answer_threshold: f32,
}

/// Vector store backends.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VectorStoreKind {
    /// qdrant-edge, in process, on disk.
    #[default]
    Embedded,
    /// A Qdrant server through qdrant-client.
    Qdrant,
}

/// The HTTP listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Interface to bind. Default `127.0.0.1`.
    #[serde(default = "default_host")]
    pub host: String,
    /// Port. Default 8080; 0 picks a free one.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Requests per second one client address may make (bursts up to
    /// `ip_burst`); beyond it: 429 with `Retry-After`. Default 20 / 100.
    #[serde(default = "default_ip_rate")]
    pub ip_per_second: u32,
    /// See `ip_per_second`.
    #[serde(default = "default_ip_burst")]
    pub ip_burst: u32,
    /// Messages per minute one conversation may send (bursts up to
    /// `conversation_burst`), on every channel. Default 30 / 10.
    #[serde(default = "default_conversation_rate")]
    pub conversation_per_minute: u32,
    /// See `conversation_per_minute`.
    #[serde(default = "default_conversation_burst")]
    pub conversation_burst: u32,
    /// Longest a request may take before a 408. Default 30 s.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// A request's headers must arrive within this (slow clients are
    /// cut off). Default 10 s.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto`
    /// are believed (their own addresses). Empty (the default): the peer's
    /// address is the client's, and forwarded headers are ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

fn default_ip_rate() -> u32 {
    20
}

fn default_ip_burst() -> u32 {
    100
}

fn default_conversation_rate() -> u32 {
    30
}

fn default_conversation_burst() -> u32 {
    10
}

fn default_request_timeout() -> u64 {
    30
}

fn default_header_timeout() -> u64 {
    10
}

/// Which conversation store to use.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite` (the embedded default: `<data_dir>/usher.db`) or `postgres`
    /// (shared by replicas; URL from `DATABASE_URL`).
    #[serde(default)]
    pub kind: StoreKind,
    /// PostgreSQL connections per replica (as many again hold turn locks).
    /// Default 16.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { kind: StoreKind::default(), pool_size: default_pool_size() }
    }
}

fn default_pool_size() -> u32 {
    16
}

/// Store backends.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// One SQLite file in WAL mode.
    #[default]
    Sqlite,
    /// A PostgreSQL database (`DATABASE_URL`), shared by replicas.
    Postgres,
}

/// Intent classifier settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NluConfig {
    /// Seed for training (same seed, same model). Default 42.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Training epochs. Default 40.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Hidden layer width. Default 64.
    #[serde(default = "default_hidden")]
    pub hidden: usize,
    /// Top encoder layers to fine-tune on the intents before the head is
    /// trained (0 to 6). Default 0: the encoder stays frozen and a retrain
    /// after an edit only trains the head (fastest hot reload).
    #[serde(default)]
    pub fine_tune_layers: usize,
    /// Fine-tuning epochs. Default 3.
    #[serde(default = "default_fine_tune_epochs")]
    pub fine_tune_epochs: usize,
    /// The sentence encoder's directory (`config.json`, `tokenizer.json`,
    /// `model.safetensors`); `usher models fetch` fills it. `null` means
    /// hashed n-grams only. Default `models/all-MiniLM-L6-v2`.
    #[serde(default = "default_encoder")]
    pub encoder: Option<PathBuf>,
    /// The sentiment model's directory (`usher train sentiment` writes it);
    /// `null` disables sentiment scores. Default `models/sentiment`.
    #[serde(default = "default_sentiment")]
    pub sentiment: Option<PathBuf>,
    /// Where the encoder runs: `auto` (the first CUDA GPU when built with
    /// `--features cuda` and one is present, else the CPU), `cpu` or `cuda:N`.
    #[serde(default)]
    pub device: DeviceChoice,
    /// How the encoder's linear-layer weights are held for CPU inference:
    /// `int8` (one scale per output column; a quarter of the memory, so the
    /// weights stay in cache: the faster choice) or `f32` (the checkpoint's
    /// values exactly). Training and GPUs always use f32. Default `int8`.
    #[serde(default)]
    pub cpu_precision: CpuPrecision,
}

/// `nlu.cpu_precision`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuPrecision {
    /// 8-bit weights with per-column scales.
    #[default]
    Int8,
    /// 32-bit weights.
    F32,
}

impl CpuPrecision {
    /// The packed encoder's setting.
    pub fn get(self) -> crate::nlu::encoder::Precision {
        match self {
            Self::Int8 => crate::nlu::encoder::Precision::Int8,
            Self::F32 => crate::nlu::encoder::Precision::F32,
        }
    }
}

/// Where to run the encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum DeviceChoice {
    /// A GPU if the build and the machine have one, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA GPU number N.
    Cuda(usize),
}

impl TryFrom<String> for DeviceChoice {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| format!("device {other:?}: use auto, cpu or cuda:N")),
        }
    }
}

impl DeviceChoice {
    /// The candle device; `auto` falls back to the CPU (logged) when no GPU works.
    pub fn device(self) -> Result<candle_core::Device, crate::Error> {
        match self {
            Self::Cpu => Ok(candle_core::Device::Cpu),
            Self::Cuda(n) => Ok(candle_core::Device::new_cuda(n)?),
            Self::Auto if candle_core::utils::cuda_is_available() => match candle_core::Device::new_cuda(0) {
                Ok(d) => Ok(d),
                Err(e) => {
                    tracing::warn!(error = %e, "no usable CUDA GPU: running the encoder on the CPU");
                    Ok(candle_core::Device::Cpu)
                }
            },
            Self::Auto => Ok(candle_core::Device::Cpu),
        }
    }
}

/// Channel adapters; each adapter's config type lives in its crate.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    /// The web chat widget.
    #[serde(default)]
    pub webchat: usher_webchat::Config,
    /// Telegram (token from `TELEGRAM_BOT_TOKEN`).
    #[serde(default)]
    pub telegram: usher_telegram::Config,
    /// Discord (token from `DISCORD_TOKEN`).
    #[serde(default)]
    pub discord: usher_discord::Config,
}

fn yes() -> bool {
    true
}
fn default_knowledge_dir() -> PathBuf {
    PathBuf::from("knowledge")
}
fn default_qdrant_url() -> String {
    "http://127.0.0.1:6334".into()
}
fn default_collection() -> String {
    "usher_knowledge".into()
}
fn default_max_file_bytes() -> u64 {
    5 * 1024 * 1024
}
fn default_fine_tune_epochs() -> usize {
    FineTune::default().epochs
}

fn default_answer_threshold() -> f32 {
    0.33
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_intents() -> PathBuf {
    PathBuf::from("intents")
}
fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    8080
}
fn default_seed() -> u64 {
    TrainConfig::default().seed
}
fn default_epochs() -> usize {
    TrainConfig::default().epochs
}
fn default_hidden() -> usize {
    TrainConfig::default().hidden
}
fn default_sentiment() -> Option<PathBuf> {
    Some(PathBuf::from("models/sentiment"))
}
fn default_encoder() -> Option<PathBuf> {
    Some(PathBuf::from("models/all-MiniLM-L6-v2"))
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            host: default_host(),
            port: default_port(),
            ip_per_second: default_ip_rate(),
            ip_burst: default_ip_burst(),
            conversation_per_minute: default_conversation_rate(),
            conversation_burst: default_conversation_burst(),
            request_timeout_secs: default_request_timeout(),
            header_timeout_secs: default_header_timeout(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for NluConfig {
    fn default() -> Self {
        Self {
            seed: default_seed(),
            epochs: default_epochs(),
            hidden: default_hidden(),
            fine_tune_layers: 0,
            fine_tune_epochs: default_fine_tune_epochs(),
            encoder: default_encoder(),
            sentiment: default_sentiment(),
            device: DeviceChoice::Auto,
            cpu_precision: CpuPrecision::Int8,
        }
    }
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: default_knowledge_dir(),
            store: VectorStoreKind::Embedded,
            url: default_qdrant_url(),
            collection: default_collection(),
            max_file_bytes: default_max_file_bytes(),
            answer_threshold: default_answer_threshold(),
        }
    }
}

impl NluConfig {
    /// The training settings these stand for.
    pub fn train_config(&self) -> TrainConfig {
        let fine_tune =
            FineTune { layers: self.fine_tune_layers, epochs: self.fine_tune_epochs, ..FineTune::default() };
        TrainConfig { fine_tune, seed: self.seed, epochs: self.epochs, hidden: self.hidden, ..TrainConfig::default() }
    }
}

impl Config {
    /// Reads, parses, applies environment overrides and resolves paths.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let err = |message: String| Error::Config { file: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let mut config = Self::parse(&text).map_err(err)?;
        config.handoff.validate().map_err(|e| err(format!("handoff: {e}")))?;
        config.apply_env(|k| std::env::var(k).ok()).map_err(err)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base);
        Ok(config)
    }

    /// Parses YAML text; the error names line and column.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return serde_yaml::from_str("{}").map_err(|e| e.to_string());
        }
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies `USHER_*` overrides read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(host) = var("USHER_HTTP_HOST") {
            self.http.host = host;
        }
        if let Some(port) = var("USHER_HTTP_PORT") {
            self.http.port = port.parse().map_err(|_| format!("USHER_HTTP_PORT={port:?} is not a port number"))?;
        }
        if let Some(dir) = var("USHER_DATA_DIR") {
            self.data_dir = PathBuf::from(dir);
        }
        if let Some(url) = var("QDRANT_URL") {
            self.knowledge.url = url;
        }
        Ok(())
    }

    /// Makes relative paths relative to `base`.
    pub fn resolve(&mut self, base: &Path) {
        let models = self.nlu.encoder.iter_mut().chain(self.nlu.sentiment.iter_mut());
        let fixed = [
            &mut self.data_dir,
            &mut self.intents,
            &mut self.knowledge.dir,
            &mut self.creative.emotions,
            &mut self.creative.poem,
            &mut self.creative.melody,
        ];
        for p in fixed.into_iter().chain(models) {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// The PostgreSQL URL (store `postgres`), from `DATABASE_URL`.
    pub fn database_url(&self) -> Result<String, Error> {
        std::env::var("DATABASE_URL").map_err(|_| Error::Config {
            file: PathBuf::from("config.yaml"),
            message: "store kind postgres needs DATABASE_URL (postgres://user:password@host/db)".into(),
        })
    }

    /// The SQLite database file.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("usher.db")
    }

    /// The embedded vector store's shard directory.
    pub fn knowledge_shard(&self) -> PathBuf {
        self.data_dir.join("knowledge")
    }

    /// Where trained models are cached.
    pub fn model_cache(&self) -> PathBuf {
        self.data_dir.join("models")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.http.port, 8080);
        assert_eq!(c.store.kind, StoreKind::Sqlite);
        let e = Config::parse("http:\n  prot: 9\n").unwrap_err();
        assert!(e.contains("unknown field `prot`") && e.contains("line 2 column 3"), "{e}");
    }

    #[test]
    fn channel_sections_parse_and_reject_typos() {
        let c = Config::parse(
            "channels:\n  telegram: {enabled: true, mode: webhook, webhook_url: 'https://x.example/telegram/webhook'}\n  discord: {enabled: true, support_channel: 42}\n",
        )
        .unwrap();
        assert_eq!(c.channels.telegram.mode, usher_telegram::Mode::Webhook);
        assert_eq!(c.channels.discord.support_channel, Some(42));
        assert!(c.channels.discord.slash_command);
        let e = Config::parse("channels:\n  telegram:\n    mdoe: polling\n").unwrap_err();
        assert!(e.contains("unknown field `mdoe`") && e.contains("line 3"), "{e}");
        let e = Config::parse("channels:\n  telegram: {mode: carrier_pigeon}\n").unwrap_err();
        assert!(e.contains("carrier_pigeon"), "{e}");
    }

    #[test]
    fn devices_parse() {
        let c = Config::parse("nlu: {device: 'cuda:1'}").unwrap();
        assert_eq!(c.nlu.device, DeviceChoice::Cuda(1));
        assert_eq!(Config::parse("").unwrap().nlu.device, DeviceChoice::Auto);
        let e = Config::parse("nlu: {device: gpu}").unwrap_err();
        assert!(e.contains("use auto, cpu or cuda:N"), "{e}");
        assert!(DeviceChoice::Cpu.device().unwrap().is_cpu());
    }

    #[test]
    fn environment_overrides() {
        let mut c = Config::parse("http: {port: 1}").unwrap();
        let env = |k: &str| match k {
            "USHER_HTTP_PORT" => Some("9999".to_string()),
            "USHER_DATA_DIR" => Some("/tmp/x".to_string()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        assert_eq!((c.http.port, c.data_dir.as_path()), (9999, Path::new("/tmp/x")));
        assert!(c.apply_env(|_| Some("nope".into())).unwrap_err().contains("USHER_HTTP_PORT"));
    }
}
