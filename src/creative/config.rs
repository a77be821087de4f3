//! The `creative:` section of `config.yaml`: the creative tools' models,
//! blocked words and the generated files' limits.

use serde::Deserialize;
use std::path::PathBuf;

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
    /// How long a fan's turn waits for a tool before saying it is not
    /// available, in milliseconds. Default 30000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The key of the watermark in generated audio (`usher create verify`
    /// finds it only with the same key). Set your own: the default is
    /// public, so anyone can check a file for it, and mark one.
    #[serde(default = "default_watermark_key")]
    pub watermark_key: String,
}

impl Default for CreativeConfig {
    fn default() -> Self {
        Self {
            emotions: default_emotions(),
            poem: default_poem(),
            melody: default_melody(),
            blocked_words: default_blocked(),
            files: Default::default(),
            timeout_ms: default_timeout_ms(),
            watermark_key: default_watermark_key(),
        }
    }
}

fn default_watermark_key() -> String {
    "usher".into()
}

fn default_timeout_ms() -> u64 {
    30_000
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
