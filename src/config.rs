//! `config.yaml`, parsed into typed structs that reject unknown keys. Each
//! component owns its section's struct (`http::config`, `store::config`,
//! `nlu::config`, `knowledge::config`, `creative::config`,
//! `handoff::config`, `access::config`, `actions::config`, the adapters'
//! own); this file ties
//! them together.
//! Relative paths are resolved against the config file's directory.
//! Secrets never live here: they come from the environment.
//!
//! Environment overrides: `USHER_HTTP_HOST`, `USHER_HTTP_PORT`, `USHER_DATA_DIR`,
//! `QDRANT_URL`.

use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::Error;

pub use crate::creative::config::CreativeConfig;
pub use crate::http::config::HttpConfig;
pub use crate::knowledge::config::{KnowledgeConfig, VectorStoreKind};
pub use crate::nlu::config::{CpuPrecision, DeviceChoice, NluConfig};
pub use crate::store::config::{StoreConfig, StoreKind};

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
    /// The backends the intent files' actions call.
    #[serde(default)]
    pub actions: crate::actions::ActionsConfig,
    /// What a hot reload checks before and after the swap.
    #[serde(default)]
    pub reload: crate::reload::ReloadConfig,
    /// Redaction of fans' personal data in what is stored.
    #[serde(default)]
    pub privacy: crate::privacy::PrivacyConfig,
    /// Recommendations: the catalogue and staff's pins, boosts and exclusions.
    #[serde(default)]
    pub recommendations: crate::recs::RecsConfig,
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

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_intents() -> PathBuf {
    PathBuf::from("intents")
}
impl Config {
    /// Reads, parses, applies environment overrides and resolves paths.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let err = |message: String| Error::Config { file: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let mut config = Self::parse(&text).map_err(err)?;
        config.handoff.validate().map_err(|e| err(format!("handoff: {e}")))?;
        config.nlu.validate().map_err(|e| err(format!("nlu: {e}")))?;
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
    use crate::nlu::encoder::Schedule;

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
    fn fine_tuning_settings_parse_and_bad_ones_are_refused_by_name() {
        let c = Config::parse("nlu: {fine_tune_layers: 6, fine_tune_warmup: 0.1, fine_tune_dropout: 0.1}").unwrap();
        let cfg = c.nlu.train_config().fine_tune;
        assert_eq!((cfg.layers, cfg.schedule, cfg.dropout), (6, Schedule::Linear { warmup: 0.1 }, 0.1));
        assert!(c.nlu.fine_tune_in_background, "tuned in the background by default");
        let defaults = Config::parse("").unwrap().nlu.train_config();
        assert_eq!((defaults.fine_tune.layers, defaults.fine_tune.schedule), (5, Schedule::Linear { warmup: 0.1 }));
        let chosen = crate::nlu::encoder::FineTune { layers: 5, ..Default::default() };
        assert_eq!(defaults.fine_tune, chosen, "the config's defaults are the library's, with 5 tuned layers");
        let constant = Config::parse("nlu: {fine_tune_warmup: null}").unwrap().nlu.train_config();
        assert_eq!(constant.fine_tune.schedule, Schedule::Constant);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        for (yaml, key) in [
            ("nlu: {fine_tune_warmup: 1.5}", "nlu: fine_tune_warmup is 1.5"),
            ("nlu: {fine_tune_dropout: 1.0}", "nlu: fine_tune_dropout is 1"),
            ("nlu: {fine_tune_learning_rate: 0}", "nlu: fine_tune_learning_rate is 0"),
            ("nlu: {fine_tune_cosine_weight: 2}", "nlu: fine_tune_cosine_weight is 2"),
            ("nlu: {fine_tune_small_batch: 0}", "nlu: fine_tune_small_batch is 0"),
        ] {
            std::fs::write(&path, yaml).unwrap();
            let e = Config::load(&path).unwrap_err().to_string();
            assert!(e.contains("config.yaml") && e.contains(key), "{e}");
        }
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
