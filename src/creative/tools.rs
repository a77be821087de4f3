//! The creative tools the dialogue policy can call (`action:
//! tool.write_poem`), loaded once and run on the blocking pool.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use super::files::{GeneratedFiles, Refusal};

use serde::{Deserialize, Serialize};
use usher_channel::{Attachment, AttachmentKind};

use super::analysis::{analyze, emotion::Lexicon};
use super::melody::harmony::Mood;
use super::melody::{render, Composer};
use super::poem::{Poet, Request};
use super::provenance::Provenance;
use crate::config::Config;
use crate::nlu::sentiment::Sentiment;

/// What a tool produced for one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// The tool (`write_poem`).
    pub tool: String,
    /// What to tell the fan: the poem, or a polite refusal.
    pub text: String,
    /// Files to send with it (a melody's audio, MIDI and piano roll), served
    /// by Usher under [`FILES_ROUTE`].
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// What made the poem or melody, stored with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

impl ToolOutput {
    /// Text only.
    fn say(tool: &str, text: String) -> Self {
        Self { tool: tool.into(), text, attachments: Vec::new(), provenance: None }
    }
}

/// Where generated files are served: `/files/{id}/{name}`.
pub const FILES_ROUTE: &str = "/files";

/// The loaded creative models.
#[derive(Default)]
pub struct Toolset {
    poet: Option<Poet>,
    composer: Option<Composer>,
    /// Where generated files are written (`data_dir/files`), under their limits.
    files: Option<Arc<GeneratedFiles>>,
    lexicon: Option<Lexicon>,
    sentiment: Option<Arc<Sentiment>>,
    blocked: Vec<String>,
    /// `creative.timeout_ms`, when loaded from a config.
    timeout: Option<std::time::Duration>,
    /// `creative.watermark_key`.
    watermark_key: String,
}

/// Told when an analysis request carries no text to read.
pub const ANALYZE_HOW: &str = "Send me the text to read after a colon, like: \
analyse this: The show was wonderful but the queue was endless.";

/// Words after which a fan names a poem's theme ("a poem about love").
const THEME_MARKERS: &[&str] = &["about", "on", "for", "of"];

impl Toolset {
    /// Loads what `config.creative` names, sharing the NLU's `sentiment`
    /// model; a missing or damaged model is logged and its tool reports
    /// itself unavailable.
    pub fn load(config: &Config, sentiment: Option<Arc<Sentiment>>) -> Self {
        let poet = Poet::load(&config.creative.poem)
            .inspect_err(|e| tracing::warn!(error = %e, "no poem model: the write_poem tool is unavailable"))
            .ok();
        let lexicon = Lexicon::load(&config.creative.emotions)
            .inspect_err(|e| tracing::warn!(error = %e, "no emotion lexicon: the analyze_text tool is unavailable"))
            .ok();
        let composer = Composer::load(&config.creative.melody)
            .inspect_err(|e| tracing::warn!(error = %e, "no melody model: the compose_melody tool is unavailable"))
            .ok();
        Self {
            poet,
            composer,
            files: Some(GeneratedFiles::open(&files_dir(config), config.creative.files.clone())),
            lexicon,
            sentiment,
            blocked: config.creative.blocked_words.clone(),
            timeout: Some(std::time::Duration::from_millis(config.creative.timeout_ms)),
            watermark_key: config.creative.watermark_key.clone(),
        }
    }

    /// How long a turn waits for a tool (`creative.timeout_ms`).
    pub fn timeout(&self) -> std::time::Duration {
        let default = || std::time::Duration::from_millis(crate::config::CreativeConfig::default().timeout_ms);
        self.timeout.unwrap_or_else(default)
    }

    /// The generated files' store (for the sweeper).
    pub fn files(&self) -> Option<&Arc<GeneratedFiles>> {
        self.files.as_ref()
    }

    /// Runs `tool` on a message of `conversation`; `None` when the tool is
    /// not loaded.
    pub fn run(&self, tool: &str, text: &str, conversation: &str) -> Option<ToolOutput> {
        match tool {
            "write_poem" => {
                let poet = self.poet.as_ref()?;
                let request = Request {
                    // The same message gets the same poem.
                    seed: seed(text),
                    blocked: self.blocked.clone(),
                    ..Request::new(&theme_of(text))
                };
                Some(match poet.compose(&request) {
                    Ok(poem) => {
                        let made = poet.provenance(request.seed);
                        let text = format!("{poem}\n\n{}", super::poem::signature(&made));
                        ToolOutput { provenance: Some(made), ..ToolOutput::say(tool, text) }
                    }
                    Err(crate::Error::Model(why)) => ToolOutput::say(tool, format!("Sorry, {why}")),
                    Err(e) => ToolOutput::say(tool, format!("Sorry, I could not write a poem just now ({e}).")),
                })
            }
            "compose_melody" => {
                let composer = self.composer.as_ref()?;
                let files = self.files.as_ref()?;
                Some(self.melody(composer, files, text, conversation).unwrap_or_else(|e| {
                    ToolOutput::say(tool, format!("Sorry, I could not write a melody just now ({e})."))
                }))
            }
            "analyze_text" => {
                let lexicon = self.lexicon.as_ref()?;
                let quoted = quoted_text(text);
                let text = if quoted.split_whitespace().count() < 3 {
                    ANALYZE_HOW.to_string()
                } else {
                    match analyze(quoted, self.sentiment.as_deref(), lexicon) {
                        Ok(a) => a.summary,
                        Err(crate::Error::Model(why)) => format!("Sorry, {why}."),
                        Err(e) => format!("Sorry, I could not read that just now ({e})."),
                    }
                };
                Some(ToolOutput::say(tool, text))
            }
            _ => None,
        }
    }
}

impl Toolset {
    /// Composes the melody `text` asks for (its mood and key, its seed
    /// from the words) and writes its files under `files/{id}/`, `id` made
    /// from the conversation and the seed (the same request in the same
    /// conversation reuses them); a conversation at its cap is told so
    /// instead.
    fn melody(
        &self,
        composer: &Composer,
        files: &GeneratedFiles,
        text: &str,
        conversation: &str,
    ) -> Result<ToolOutput, crate::Error> {
        let seed = seed(text);
        let id = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (conversation, seed).hash(&mut h);
            format!("{:016x}", h.finish())
        };
        let exists = match files.admit(&id, conversation) {
            Ok(exists) => exists,
            Err(Refusal::ConversationCap(n)) => {
                let text = format!(
                    "I've written {n} melodies in this conversation, which is as many as I can keep for you at once. \
                     Download the ones you like; you can ask for more tomorrow."
                );
                return Ok(ToolOutput::say("compose_melody", text));
            }
        };
        let composed = composer.compose(seed, Mood::parse(text))?;
        let made = composer.provenance(seed);
        if !exists {
            render::write_all(&composed.melody, &files.dir().join(&id), &made, &self.watermark_key)?;
            files.record(&id, conversation)?;
        }
        let file = |kind, name: &str, mime: &str| Attachment {
            kind,
            url: format!("{FILES_ROUTE}/{id}/{name}"),
            name: name.to_string(),
            mime: mime.to_string(),
        };
        Ok(ToolOutput {
            tool: "compose_melody".into(),
            text: format!(
                "Here's a melody in {} I wrote for you: {} notes over four bars.",
                composed.key,
                composed.melody.notes().len()
            ),
            attachments: vec![
                file(AttachmentKind::Audio, "melody.wav", "audio/wav"),
                file(AttachmentKind::File, "melody.mid", "audio/midi"),
                file(AttachmentKind::Image, "melody.png", "image/png"),
            ],
            provenance: Some(made),
        })
    }
}

/// Where generated files live: `data_dir/files`.
pub fn files_dir(config: &Config) -> PathBuf {
    config.data_dir.join("files")
}

/// The text a fan wants analysed: after the first colon, else inside
/// double quotes, else nothing.
pub fn quoted_text(text: &str) -> &str {
    if let Some((_, after)) = text.split_once(':') {
        return after.trim();
    }
    let mut quotes = text.match_indices(['"', '“', '”']);
    match (quotes.next(), quotes.next_back()) {
        (Some((a, qa)), Some((b, _))) if b > a => text[a + qa.len()..b].trim(),
        _ => "",
    }
}

/// The word after "about", "on", "for" or "of" (the last such marker).
pub fn theme_of(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let at = words.iter().rposition(|w| THEME_MARKERS.contains(&w.to_lowercase().as_str()));
    let skip = ["the", "a", "an", "my", "our", "your"];
    at.and_then(|i| words[i + 1..].iter().find(|w| !skip.contains(&w.to_lowercase().as_str())))
        .map(|w| w.to_string())
        .unwrap_or_default()
}

fn seed(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.trim().to_lowercase().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn themes_come_from_the_request() {
        assert_eq!(theme_of("write a poem about the concert please"), "concert");
        assert_eq!(theme_of("a poem for my friend"), "friend");
        assert_eq!(theme_of("write me a poem"), "");
    }

    #[test]
    fn the_text_to_analyse_follows_a_colon_or_sits_in_quotes() {
        assert_eq!(quoted_text("analyse this: The show was great"), "The show was great");
        assert_eq!(quoted_text("how does \"I want my money back now\" sound"), "I want my money back now");
        assert_eq!(quoted_text("analyse my review"), "");
    }

    #[test]
    fn unknown_or_unloaded_tools_say_so() {
        let tools = Toolset::default();
        assert_eq!(tools.run("write_poem", "a poem", "c"), None);
        assert_eq!(tools.run("analyze_text", "analyse: this text here", "c"), None);
        assert_eq!(tools.run("compose_melody", "a melody", "c"), None);
        assert_eq!(tools.run("juggle", "x", "c"), None);
    }
}
