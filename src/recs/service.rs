//! The recommender the bot asks: a fan's history (oldest first), what they
//! said they liked or not in this conversation, and the staff's rules in;
//! 3–5 suggestions with a one-line reason each out.
//!
//! With a model trained on the service's own histories ([`SasRec`]) the
//! history is scored by it; otherwise (and for items it never saw) each
//! candidate scores by its content similarity to the fan's items, recent
//! ones weighing more. Liked titles pull, disliked ones ("not for me")
//! push away and are never suggested again. A fan with no history gets
//! the catalogue's most popular items and the answer says so. CPU work:
//! call it on the blocking pool.

use std::collections::HashSet;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::Serialize;

use super::catalogue::{Catalogue, Kind};
use super::config::RecsConfig;
use super::model::SasRec;
use crate::Error;

/// What the fan asked for.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// Items the fan watched or booked, oldest first (catalogue ids;
    /// unknown ones are skipped). Only the last [`HISTORY_WINDOW`] count.
    pub history: &'a [String],
    /// Titles the fan said they liked in this conversation ("something like X").
    pub liked: &'a [String],
    /// Titles the fan turned down ("not for me").
    pub disliked: &'a [String],
    /// Only titles or only events.
    pub kind: Option<Kind>,
    /// Staff's rules from the intent files, on top of `config.yaml`'s.
    pub rules: Option<&'a usher_intents::Recommendations>,
}

/// How much history counts: longer histories are cut to their most recent items.
pub const HISTORY_WINDOW: usize = 200;

/// One suggestion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// The catalogue id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// "because you watched Arrival".
    pub reason: String,
}

/// What the recommender answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// Best first.
    pub suggestions: Vec<Suggestion>,
    /// False when the fan had no history nor likes: popular picks.
    pub personalised: bool,
}

/// The catalogue, its content embeddings, an optional trained model and the rules.
pub struct Recommender {
    catalogue: Catalogue,
    /// L2-normalised content embeddings, row per item number (row 0 zeros).
    content: Vec<f32>,
    dim: usize,
    model: Option<SasRec>,
    rules: RecsConfig,
}

impl Recommender {
    /// Builds over `catalogue` with its items' `content` embeddings (one per
    /// entry, in order, L2-normalised), loading `rules.model` when set.
    pub fn new(catalogue: Catalogue, content: Vec<Vec<f32>>, rules: RecsConfig) -> Result<Self, Error> {
        let dim = content.first().map(Vec::len).unwrap_or(1);
        if content.len() != catalogue.entries.len() {
            return Err(Error::Model(format!("{} embeddings for {} items", content.len(), catalogue.entries.len())));
        }
        let mut flat = vec![0f32; dim];
        flat.extend(content.into_iter().flatten());
        let model = match &rules.model {
            Some(path) => {
                Some(SasRec::load(path, Tensor::from_vec(flat.clone(), (flat.len() / dim, dim), &Device::Cpu)?)?)
            }
            None => None,
        };
        Ok(Self { catalogue, content: flat, dim, model, rules })
    }

    /// The catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The items' content embeddings, row per item number (row 0 zeros):
    /// what a model over this catalogue trains on.
    pub fn content(&self) -> super::benchmark::Content {
        super::benchmark::Content { values: self.content.clone(), dim: self.dim }
    }

    fn row(&self, n: u32) -> &[f32] {
        &self.content[n as usize * self.dim..(n as usize + 1) * self.dim]
    }

    fn cosine(&self, a: u32, b: u32) -> f32 {
        self.row(a).iter().zip(self.row(b)).map(|(x, y)| x * y).sum()
    }

    fn numbers(&self, ids: &[String]) -> Vec<u32> {
        ids.iter().filter_map(|id| self.catalogue.number(id)).collect()
    }

    /// Suggestions for `req` under the staff's rules.
    pub fn recommend(&self, req: &Request) -> Result<Answer, Error> {
        let history = self.numbers(&req.history[req.history.len().saturating_sub(HISTORY_WINDOW)..]);
        let liked = self.numbers(req.liked);
        let disliked = self.numbers(req.disliked);
        let rows = self.catalogue.entries.len() + 1;
        let personalised = !history.is_empty() || !liked.is_empty();
        let owned: HashSet<u32> = history.iter().chain(&liked).chain(&disliked).copied().collect();
        let extra = req.rules.cloned().unwrap_or_default();
        let excluded: HashSet<u32> =
            self.numbers(&self.rules.exclude).into_iter().chain(self.numbers(&extra.exclude)).collect();
        let pins: Vec<&String> = self.rules.pin.iter().chain(&extra.pin).collect();
        let eligible = |n: u32| {
            let Some(e) = self.catalogue.entry(n) else { return false };
            e.available
                && !owned.contains(&n)
                && !excluded.contains(&n)
                && req.kind.is_none_or(|k| k == e.kind)
                && match (self.rules.max_age_rating, e.age_rating) {
                    (Some(max), Some(age)) => age <= max,
                    _ => true,
                }
        };
        // Recent items weigh more: weight 1 for the last, halving every 10 back.
        let recency: Vec<(u32, f32)> =
            history.iter().rev().enumerate().map(|(k, &n)| (n, 0.5f32.powf(k as f32 / 10.0))).collect();
        let model_scores = match (&self.model, history.is_empty()) {
            (Some(m), false) => Some(m.score(&[history.as_slice()])?.remove(0)),
            _ => None,
        };
        let mut scored: Vec<(u32, f32, String)> = Vec::new();
        for n in (1..rows as u32).filter(|&n| eligible(n)) {
            let entry = self.catalogue.entry(n).expect("eligible items exist");
            let (score, reason) = if personalised {
                let mut best: Option<(f32, String)> = None;
                let mut score = 0f32;
                for &(h, w) in &recency {
                    let s = self.cosine(n, h);
                    score += w * s;
                    if best.as_ref().is_none_or(|(b, _)| s > *b) {
                        let verb = match self.catalogue.entry(h).map(|e| e.kind) {
                            Some(Kind::Event) => "booked",
                            _ => "watched",
                        };
                        best = Some((
                            s,
                            format!("because you {verb} {}", self.catalogue.entry(h).map_or("", |e| &e.title)),
                        ));
                    }
                }
                for &l in &liked {
                    let s = self.cosine(n, l);
                    score += 2.0 * s;
                    if best.as_ref().is_none_or(|(b, _)| s > *b) {
                        best = Some((
                            s,
                            format!("like {}, which you asked about", self.catalogue.entry(l).map_or("", |e| &e.title)),
                        ));
                    }
                }
                for &d in &disliked {
                    score -= 1.5 * self.cosine(n, d).max(0.0);
                }
                if let Some(m) = &model_scores {
                    score += m[n as usize];
                }
                (score, best.map(|(_, r)| r).unwrap_or_default())
            } else {
                let genre = entry.genres.first().map(|g| format!(" in {g}")).unwrap_or_default();
                (entry.popularity, format!("popular with fans{genre}"))
            };
            let boost = self.rules.boost.get(&entry.id).copied().unwrap_or(0.0)
                + extra.boost.get(&entry.id).copied().unwrap_or(0.0);
            let pinned = pins.iter().position(|p| **p == entry.id);
            let pin_bonus = pinned.map(|k| 1e6 - k as f32).unwrap_or(0.0);
            let reason =
                if pinned.is_some() && !personalised { "picked by the Encore team".to_string() } else { reason };
            scored.push((n, score + boost + pin_bonus, reason));
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let count = self.rules.count.clamp(3, 5);
        let suggestions = scored
            .into_iter()
            .take(count)
            .filter_map(|(n, _, reason)| {
                let e = self.catalogue.entry(n)?;
                Some(Suggestion { id: e.id.clone(), title: e.title.clone(), reason })
            })
            .collect();
        Ok(Answer { suggestions, personalised })
    }
}

/// Width of [`hashed_content`] vectors.
pub const HASHED_DIM: usize = 512;

/// Content vectors without the sentence encoder: the words of each text
/// (three letters or more, lower-cased) hashed into [`HASHED_DIM`] counts,
/// L2-normalised. Items sharing genres and description words come out
/// similar; used when no encoder is loaded.
pub fn hashed_content(texts: &[&str]) -> Vec<Vec<f32>> {
    use sha2::{Digest, Sha256};
    texts
        .iter()
        .map(|text| {
            let mut v = vec![0f32; HASHED_DIM];
            let lower = text.to_lowercase();
            for word in lower.split(|c: char| !c.is_alphanumeric() && c != '-').filter(|w| w.len() >= 3) {
                let h = Sha256::digest(word.as_bytes());
                v[u16::from_le_bytes([h[0], h[1]]) as usize % HASHED_DIM] += 1.0;
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
            v.iter_mut().for_each(|x| *x /= norm);
            v
        })
        .collect()
}

/// Loads the catalogue at `path` and embeds its items with `embed`.
pub fn load(
    rules: &RecsConfig,
    path: &Path,
    embed: impl FnOnce(&[&str]) -> Result<Vec<Vec<f32>>, Error>,
) -> Result<Recommender, Error> {
    let catalogue = Catalogue::load(path)?;
    let texts: Vec<String> = catalogue.items().iter().map(|i| i.content_text()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let content = embed(&refs)?;
    Recommender::new(catalogue, content, rules.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three genres as three directions; items carry theirs.
    fn recommender(rules: RecsConfig) -> Recommender {
        let src = "items:
  - {id: arrival, title: Arrival, genres: [sci-fi], popularity: 5}
  - {id: dune, title: Dune, genres: [sci-fi], popularity: 9}
  - {id: alien, title: Alien, genres: [sci-fi], age_rating: 18, popularity: 7}
  - {id: solaris, title: Solaris, genres: [sci-fi], available: false}
  - {id: amelie, title: Amelie, genres: [romance], popularity: 8}
  - {id: notting, title: Notting Hill, genres: [romance], popularity: 6}
  - {id: heat, title: Heat, genres: [crime], popularity: 4}
  - {id: ev-ronin, title: Ronin live, kind: event, genres: [crime], popularity: 1}
";
        let catalogue = Catalogue::parse(Path::new("c.yaml"), src).unwrap();
        let content = catalogue
            .entries
            .iter()
            .map(|e| match e.genres[0].as_str() {
                "sci-fi" => vec![1.0, 0.0, 0.0],
                "romance" => vec![0.0, 1.0, 0.0],
                _ => vec![0.0, 0.0, 1.0],
            })
            .collect();
        Recommender::new(catalogue, content, rules).unwrap()
    }

    fn ids(a: &Answer) -> Vec<&str> {
        a.suggestions.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn history_pulls_similar_items_with_a_reason_and_skips_what_the_fan_has() {
        let r = recommender(RecsConfig { count: 3, ..Default::default() });
        let history = vec!["arrival".to_string()];
        let a = r.recommend(&Request { history: &history, ..Default::default() }).unwrap();
        assert!(a.personalised);
        assert_eq!(ids(&a)[..2], ["dune", "alien"]); // solaris is unavailable, arrival is owned
        assert_eq!(a.suggestions[0].reason, "because you watched Arrival");
    }

    #[test]
    fn not_for_me_pushes_away_and_no_history_gets_popular_picks() {
        let r = recommender(RecsConfig { count: 3, ..Default::default() });
        let history = vec!["arrival".to_string()];
        let disliked = vec!["dune".to_string(), "alien".to_string()];
        let a = r.recommend(&Request { history: &history, disliked: &disliked, ..Default::default() }).unwrap();
        assert!(!ids(&a).contains(&"dune") && !ids(&a).contains(&"alien"), "{a:?}");
        let cold = r.recommend(&Request::default()).unwrap();
        assert!(!cold.personalised);
        assert_eq!(ids(&cold), ["dune", "amelie", "alien"]);
        assert_eq!(cold.suggestions[0].reason, "popular with fans in sci-fi");
    }

    #[test]
    fn staff_rules_pin_boost_exclude_and_cap_age() {
        let rules = RecsConfig {
            count: 3,
            pin: vec!["heat".into()],
            boost: [("notting".to_string(), 100.0)].into(),
            exclude: vec!["dune".into()],
            max_age_rating: Some(15),
            ..Default::default()
        };
        let r = recommender(rules);
        let history = vec!["arrival".to_string()];
        let a = r.recommend(&Request { history: &history, ..Default::default() }).unwrap();
        assert_eq!(ids(&a), ["heat", "notting", "amelie"]);
        let events =
            r.recommend(&Request { history: &history, kind: Some(Kind::Event), ..Default::default() }).unwrap();
        assert_eq!(ids(&events), ["ev-ronin"]);
        // The intent files' rules add to config.yaml's.
        let files = usher_intents::Recommendations {
            pin: vec!["amelie".into()],
            exclude: vec!["heat".into()],
            boost: [("ev-ronin".to_string(), 50.0)].into(),
        };
        let a = r.recommend(&Request { history: &history, rules: Some(&files), ..Default::default() }).unwrap();
        assert_eq!(ids(&a), ["amelie", "notting", "ev-ronin"]);
    }

    #[test]
    fn a_ten_thousand_item_history_is_cut_to_the_window() {
        let r = recommender(RecsConfig::default());
        let mut history: Vec<String> = std::iter::repeat_n("amelie".to_string(), 10_000).collect();
        history.push("heat".into());
        let a = r.recommend(&Request { history: &history, ..Default::default() }).unwrap();
        // The last 200 items count: romance first, then the crime event, never what the fan has.
        assert_eq!(ids(&a), ["notting", "ev-ronin", "arrival", "dune"]);
    }
}
