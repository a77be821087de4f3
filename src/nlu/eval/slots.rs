//! `usher test entities --format sgd`: the BiLSTM tagger trained on the SGD
//! entertainment training turns, scored on the test turns per slot, on
//! services seen and unseen in training, and on values never seen in
//! training; a peer's predictions (`bench/slots_peer.py`) are scored the
//! same way in the same run.
//!
//! Test services the tagger never saw name their slots differently
//! (`track` for `song_name`, `cast` for nobody). Each training slot is
//! mapped to the slot of the target service whose name and description are
//! nearest by the encoder's sentence embedding (the mean of the names'
//! cosine and the descriptions'), kept when that reaches a threshold chosen
//! on dev. A service with training turns may keep only its own slots
//! (whether it does is chosen on dev too). The peer's labels go through
//! the same map.
//!
//! The tagger can read word-shape features beside the token states and
//! score whole sequences with a CRF layer ([`Design`]); `usher test
//! entities` takes both as flags, and BENCHMARKS.md records the dev F1
//! each combination reached.
//!
//! Training can add copies that swap capitalised span values (titles, artists, venues, towns)
//! for random capitalised words from the training text, so that the tagger
//! learns the context of a name rather than the few names SGD repeats;
//! `--name-swap` turns that on; it is off by default because dev F1 was lower
//! with it (0.732 against 0.770), though test's recall of new values rose. A
//! tagger span is kept when its least sure token is at least as probable
//! as a cut-off chosen on dev with the threshold.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::entities::{new_values, prf, recall_of, Prf, SpanSet};
use super::sgd::{Sgd, Turn};
use crate::intents::Span;
use crate::nlu::encoder::{Encoder, TokenStates};
use crate::nlu::tagger::{bio, inputs, tag_set, Decoding, Design, Sequence, Tagger};
use crate::Error;

/// The tagger's design for the SGD slots, chosen on dev (BENCHMARKS.md,
/// "Entertainment slots": dev F1 with and without each part).
pub const DESIGN: Design = Design { word_shape: true, crf: true };

/// The thresholds tried on dev for the slot map.
const THRESHOLDS: [f32; 6] = [0.0, 0.3, 0.4, 0.5, 0.6, 0.7];
/// The least token probabilities tried on dev for a tagger span.
const CONFIDENCES: [f32; 6] = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9];

/// Scores over one set of predictions.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    /// Every test span.
    pub overall: Prf,
    /// Services with training turns.
    pub seen_services: Prf,
    /// Services without.
    pub unseen_services: Prf,
    /// Recall of spans whose value (case aside) no training span has.
    pub new_values_recall: f64,
}

/// One slot of one test service.
#[derive(Debug, Clone, Serialize)]
pub struct SlotRow {
    /// The service.
    pub service: String,
    /// The slot.
    pub slot: String,
    /// Whether the service has training turns.
    pub seen: bool,
    /// Gold spans in test.
    pub spans: usize,
    /// The tagger.
    pub usher: Prf,
    /// The peer, when given.
    pub peer: Option<Prf>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct SgdReport {
    /// The tagger.
    pub usher: Scores,
    /// The peer, when given.
    pub peer: Option<Scores>,
    /// Per test slot.
    pub slots: Vec<SlotRow>,
    /// Dev F1 after each epoch (threshold 0).
    pub dev_f1_by_epoch: Vec<f64>,
    /// The epoch kept (1-based).
    pub epoch: usize,
    /// The slot-map threshold chosen on dev.
    pub threshold: f32,
    /// Whether a service with training turns keeps only its own slots
    /// (chosen on dev).
    pub own_slots_only: bool,
    /// The least token probability of a kept tagger span, chosen on dev.
    pub confidence: f32,
    /// How tags are read off the tagger's scores, chosen on dev.
    pub decoding: Decoding,
    /// Dev F1 with that threshold, confidence and decoding.
    pub dev_f1: f64,
    /// Seconds to compute token states and train.
    pub train_seconds: f64,
    /// Training frames.
    pub n_train: usize,
    /// Sequences the tagger trained on (frames and their name-swapped copies).
    pub n_sequences: usize,
    /// Whether capitalised values were swapped for random names.
    pub name_swap: bool,
    /// Word-shape features, CRF layer.
    pub design: Design,
    /// Gold spans in test.
    pub n_test_spans: usize,
    /// Of which with a value no training span has.
    pub n_new_values: usize,
    /// Test service → training slot → its slot, at the chosen threshold.
    pub map: BTreeMap<String, BTreeMap<String, String>>,
}

/// Training slot → nearest slot of each service, with the cosine.
struct SlotMap {
    best: BTreeMap<String, BTreeMap<String, (String, f32)>>,
    /// The slots each service with training turns has there.
    own: BTreeMap<String, BTreeSet<String>>,
}

/// Which training slots the map keeps, both chosen on dev.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MapRule {
    /// The least cosine of a kept pair.
    threshold: f32,
    /// A service with training turns keeps only its own slots (a movie
    /// service's text tagged with a music service's `title` is dropped
    /// rather than mapped onto `movie_name`).
    own_slots_only: bool,
}

impl MapRule {
    /// Every pair, whatever its cosine.
    const ALL: Self = Self { threshold: 0.0, own_slots_only: false };
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// A slot's vector: its name's and its description's embeddings, each
/// normalised, side by side and scaled so that the dot product of two is
/// the mean of the two cosines.
fn slot_vector(name: &[f32], description: &[f32]) -> Vec<f32> {
    let half = std::f32::consts::FRAC_1_SQRT_2;
    normalised(name.to_vec()).into_iter().chain(normalised(description.to_vec())).map(|x| x * half).collect()
}

impl SlotMap {
    /// A training slot's name and description vectors are the means over
    /// the training services that have it.
    fn new(sgd: &Sgd, encoder: &Encoder, labels: &[String]) -> Result<Self, Error> {
        let seen = sgd.seen_services();
        let mut texts: Vec<String> = Vec::new();
        let mut owners: Vec<(String, String)> = Vec::new();
        for (service, slots) in &sgd.services {
            for (slot, description) in slots {
                let description = if description.is_empty() { slot } else { description };
                texts.extend([slot.replace('_', " "), description.clone()]);
                owners.push((service.clone(), slot.clone()));
            }
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let parts = encoder.encode(&refs)?;
        let vectors: Vec<Vec<f32>> = parts.chunks(2).map(|p| slot_vector(&p[0], &p[1])).collect();
        let label_vector = |label: &str| {
            let dim = parts.first().map_or(0, Vec::len);
            let (mut name, mut description) = (vec![0f32; dim], vec![0f32; dim]);
            for (p, (service, slot)) in parts.chunks(2).zip(&owners) {
                if slot == label && seen.contains(service.as_str()) {
                    name.iter_mut().zip(normalised(p[0].clone())).for_each(|(s, x)| *s += x);
                    description.iter_mut().zip(normalised(p[1].clone())).for_each(|(s, x)| *s += x);
                }
            }
            slot_vector(&name, &description)
        };
        let mut best: BTreeMap<String, BTreeMap<String, (String, f32)>> = BTreeMap::new();
        for label in labels {
            let l = label_vector(label);
            for (v, (service, slot)) in vectors.iter().zip(&owners) {
                let cos: f32 = l.iter().zip(v).map(|(a, b)| a * b).sum();
                let entry = best.entry(service.clone()).or_default();
                if entry.get(label).is_none_or(|(_, c)| cos > *c) {
                    entry.insert(label.clone(), (slot.clone(), cos));
                }
            }
        }
        let mut own: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for t in &sgd.train {
            own.entry(t.service.clone()).or_default().extend(t.spans.iter().map(|s| s.entity.clone()));
        }
        Ok(Self { best, own })
    }

    fn apply(&self, service: &str, label: &str, rule: MapRule) -> Option<&str> {
        if rule.own_slots_only && self.own.get(service).is_some_and(|own| !own.contains(label)) {
            return None;
        }
        let (slot, cos) = self.best.get(service)?.get(label)?;
        (*cos >= rule.threshold).then_some(slot.as_str())
    }

    fn spans(&self, service: &str, spans: &[Span], rule: MapRule) -> SpanSet {
        spans.iter().filter_map(|s| Some((s.start, s.end, self.apply(service, &s.entity, rule)?.to_string()))).collect()
    }

    fn table(&self, services: &BTreeSet<&str>, rule: MapRule) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for service in services {
            let labels = self.best.get(*service).into_iter().flatten().map(|(l, _)| l);
            let kept = labels.filter_map(|l| Some((l.clone(), self.apply(service, l, rule)?.to_string())));
            out.insert(service.to_string(), kept.collect());
        }
        out
    }
}

fn gold(turns: &[Turn]) -> Vec<SpanSet> {
    turns.iter().map(|t| t.spans.iter().map(|s| (s.start, s.end, s.entity.clone())).collect()).collect()
}

/// The tagger's spans, each with its least sure token's probability.
type Scored = Vec<Vec<(Span, f32)>>;

fn tagged(model: &Tagger, turns: &[Turn], states: &[TokenStates], decoding: Decoding) -> Result<Scored, Error> {
    let texts: Vec<&str> = turns.iter().map(|t| t.text.as_str()).collect();
    let tags = model.predict_decoded(&texts, states, decoding)?;
    Ok(tags
        .iter()
        .zip(states)
        .zip(turns)
        .map(|((t, s), turn)| {
            let spans = model.scored_spans(&turn.text, t, &s.offsets).into_iter();
            spans.map(|(start, end, entity, p)| (Span { start, end, entity }, p)).collect()
        })
        .collect())
}

/// The spans at least `confidence` sure.
fn confident(scored: &Scored, confidence: f32) -> Vec<Vec<Span>> {
    scored.iter().map(|s| s.iter().filter(|(_, p)| *p >= confidence).map(|(s, _)| s.clone()).collect()).collect()
}

fn mapped(map: &SlotMap, turns: &[Turn], predicted: &[Vec<Span>], rule: MapRule) -> Vec<SpanSet> {
    turns.iter().zip(predicted).map(|(t, p)| map.spans(&t.service, p, rule)).collect()
}

/// `prf` over the frames and spans `keep` accepts.
fn prf_where(turns: &[Turn], gold: &[SpanSet], predicted: &[SpanSet], keep: impl Fn(&Turn, &str) -> bool) -> Prf {
    let pick = |sets: &[SpanSet]| -> Vec<SpanSet> {
        turns.iter().zip(sets).map(|(t, s)| s.iter().filter(|x| keep(t, &x.2)).cloned().collect()).collect()
    };
    prf(&pick(gold), &pick(predicted))
}

fn scores(sgd: &Sgd, gold: &[SpanSet], predicted: &[SpanSet], new_values: &[SpanSet]) -> Scores {
    let seen = sgd.seen_services();
    Scores {
        overall: prf(gold, predicted),
        seen_services: prf_where(&sgd.test, gold, predicted, |t, _| seen.contains(t.service.as_str())),
        unseen_services: prf_where(&sgd.test, gold, predicted, |t, _| !seen.contains(t.service.as_str())),
        new_values_recall: recall_of(new_values, predicted),
    }
}

/// A training text with its spans.
type Frame = (String, Vec<Span>);

/// Every training frame, and with `swap` one more copy of each frame that
/// has a capitalised span value, those values replaced by one to three
/// random capitalised words of the training text.
fn training_frames(train: &[Turn], swap: bool, seed: u64) -> Vec<Frame> {
    let mut out: Vec<Frame> = train.iter().map(|t| (t.text.clone(), t.spans.clone())).collect();
    if !swap {
        return out;
    }
    let words: Vec<String> = train
        .iter()
        .flat_map(|t| t.text.split(|c: char| !c.is_ascii_alphabetic()))
        .filter(|w| w.len() >= 3)
        .map(|w| {
            let w = w.to_ascii_lowercase();
            w[..1].to_ascii_uppercase() + &w[1..]
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5107);
    let capitalised = |t: &Turn, s: &Span| t.text[s.start..].starts_with(|c: char| c.is_uppercase());
    for t in train.iter().filter(|t| t.spans.iter().any(|s| capitalised(t, s))) {
        let mut spans = t.spans.clone();
        spans.sort_by_key(|s| s.start);
        let (mut text, mut at, mut moved) = (String::new(), 0, Vec::new());
        for s in &spans {
            if s.start < at {
                // Inside the previous span (a venue that names its town): dropped from the copy.
                continue;
            }
            text.push_str(&t.text[at..s.start]);
            let start = text.len();
            if capitalised(t, s) {
                let n = rng.random_range(1..=3);
                let name: Vec<&str> = (0..n).filter_map(|_| words.choose(&mut rng).map(String::as_str)).collect();
                text.push_str(&name.join(" "));
            } else {
                text.push_str(&t.text[s.start..s.end]);
            }
            moved.push(Span { start, end: text.len(), entity: s.entity.clone() });
            at = s.end;
        }
        text.push_str(&t.text[at..]);
        out.push((text, moved));
    }
    out
}

fn states<'a>(encoder: &Encoder, texts: impl IntoIterator<Item = &'a str>) -> Result<Vec<TokenStates>, Error> {
    let texts: Vec<&str> = texts.into_iter().collect();
    encoder.token_states(&texts)
}

/// Trains a tagger as `design` says on `sgd.train` (with swapped names
/// when `name_swap`) for up to `epochs` (the epoch
/// and the map's threshold chosen on dev) and scores test, with `peer`'s
/// predictions for test (in its order) beside.
pub fn evaluate(
    sgd: &Sgd,
    encoder: &Encoder,
    (epochs, seed): (usize, u64),
    name_swap: bool,
    design: Design,
    peer: Option<&[Vec<Span>]>,
) -> Result<SgdReport, Error> {
    let started = Instant::now();
    let labels: Vec<String> = sgd
        .train
        .iter()
        .flat_map(|t| &t.spans)
        .map(|s| s.entity.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let tags = tag_set(labels.iter().map(String::as_str));
    let map = SlotMap::new(sgd, encoder, &labels)?;
    let frames = training_frames(&sgd.train, name_swap, seed);
    let sequences: Vec<Sequence> = states(encoder, frames.iter().map(|f| f.0.as_str()))?
        .iter()
        .zip(&frames)
        .map(|(s, f)| Sequence {
            tags: bio(&s.offsets, &f.1, &tags),
            states: inputs(&f.0, s, design.word_shape).into_owned(),
        })
        .collect();
    let dev_states = states(encoder, sgd.dev.iter().map(|t| t.text.as_str()))?;
    let dev_gold = gold(&sgd.dev);
    let dev_f1 = |model: &Tagger| -> Result<f64, Error> {
        let predicted = confident(&tagged(model, &sgd.dev, &dev_states, Decoding::default())?, 0.0);
        Ok(prf(&dev_gold, &mapped(&map, &sgd.dev, &predicted, MapRule::ALL)).f1)
    };
    let (model, by_epoch) = Tagger::train_selected(&sequences, tags, design, epochs, seed, |m| {
        let f1 = dev_f1(m)?;
        tracing::info!(f1, "dev span F1 after an epoch");
        Ok(f1)
    })?;
    let train_seconds = started.elapsed().as_secs_f64();
    let epoch = 1 + by_epoch.iter().rposition(|&f| by_epoch.iter().all(|&g| g <= f)).unwrap_or(0);
    let (mut rule, mut confidence, mut decoding, mut best_dev) = (MapRule::ALL, 0.0, Decoding::default(), -1.0);
    for d in [Decoding::Greedy, Decoding::Constrained] {
        let dev_predicted = tagged(&model, &sgd.dev, &dev_states, d)?;
        for c in CONFIDENCES {
            let kept = confident(&dev_predicted, c);
            for own_slots_only in [false, true] {
                for threshold in THRESHOLDS {
                    let r = MapRule { threshold, own_slots_only };
                    let f1 = prf(&dev_gold, &mapped(&map, &sgd.dev, &kept, r)).f1;
                    tracing::debug!(decoding = ?d, confidence = c, ?r, f1, "dev span F1");
                    if f1 > best_dev {
                        (rule, confidence, decoding, best_dev) = (r, c, d, f1);
                    }
                }
            }
        }
    }
    let test_gold = gold(&sgd.test);
    let usher = mapped(
        &map,
        &sgd.test,
        &confident(
            &tagged(&model, &sgd.test, &states(encoder, sgd.test.iter().map(|t| t.text.as_str()))?, decoding)?,
            confidence,
        ),
        rule,
    );
    let peer = peer.map(|p| mapped(&map, &sgd.test, p, rule));
    let new_values = new_values(
        sgd.train.iter().map(|t| (t.text.as_str(), t.spans.as_slice())),
        sgd.test.iter().map(|t| t.text.as_str()),
        &test_gold,
    );
    let seen = sgd.seen_services();
    let mut slots = Vec::new();
    let test_slots: BTreeSet<(&str, &str)> =
        sgd.test.iter().flat_map(|t| t.spans.iter().map(|s| (t.service.as_str(), s.entity.as_str()))).collect();
    for (service, slot) in test_slots {
        let keep = |t: &Turn, s: &str| t.service == service && s == slot;
        slots.push(SlotRow {
            service: service.to_string(),
            slot: slot.to_string(),
            seen: seen.contains(service),
            spans: test_gold.iter().zip(&sgd.test).map(|(g, t)| g.iter().filter(|s| keep(t, &s.2)).count()).sum(),
            usher: prf_where(&sgd.test, &test_gold, &usher, keep),
            peer: peer.as_ref().map(|p| prf_where(&sgd.test, &test_gold, p, keep)),
        });
    }
    let test_services: BTreeSet<&str> = sgd.test.iter().map(|t| t.service.as_str()).collect();
    Ok(SgdReport {
        usher: scores(sgd, &test_gold, &usher, &new_values),
        peer: peer.as_ref().map(|p| scores(sgd, &test_gold, p, &new_values)),
        slots,
        dev_f1_by_epoch: by_epoch,
        epoch,
        threshold: rule.threshold,
        own_slots_only: rule.own_slots_only,
        confidence,
        decoding,
        dev_f1: best_dev,
        train_seconds,
        n_train: sgd.train.len(),
        n_sequences: frames.len(),
        name_swap,
        design,
        n_test_spans: test_gold.iter().map(HashSet::len).sum(),
        n_new_values: new_values.iter().map(HashSet::len).sum(),
        map: map.table(&test_services, rule),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_swaps_move_the_spans_with_the_new_names() {
        let text = "see Body Double in Napa on friday";
        let span = |a: &str, entity: &str| {
            let start = text.find(a).unwrap();
            Span { start, end: start + a.len(), entity: entity.into() }
        };
        let turn = Turn {
            dialogue_id: "1".into(),
            turn_index: 0,
            service: "Cinema_1".into(),
            text: text.into(),
            spans: vec![span("Napa", "city"), span("friday", "date"), span("Body Double", "title")],
        };
        let plain = Turn { spans: Vec::new(), text: "hello there".into(), ..turn.clone() };
        assert_eq!(training_frames(&[turn.clone(), plain.clone()], false, 1).len(), 2, "no copies without the swap");
        let frames = training_frames(&[turn, plain], true, 1);
        assert_eq!(frames.len(), 3, "one swapped copy, of the frame with capitalised values only");
        let (swapped, spans) = &frames[2];
        let values: Vec<(&str, &str)> = spans.iter().map(|s| (&swapped[s.start..s.end], s.entity.as_str())).collect();
        assert_eq!(values[2], ("friday", "date"), "lower-case values stay: {swapped}");
        assert!(swapped.starts_with("see ") && swapped.ends_with(" on friday"), "{swapped}");
        for (value, entity) in [values[0], values[1]] {
            assert!(value.split(' ').all(|w| w.starts_with(char::is_uppercase)), "{entity}: {value:?} in {swapped}");
            assert!(!["Body Double", "Napa"].contains(&value), "{value}");
        }
    }

    #[test]
    fn a_seen_service_can_keep_only_its_own_slots() {
        let pair = |slot: &str, cos: f32| (slot.to_string(), cos);
        let map = SlotMap {
            best: BTreeMap::from([
                ("Movies_1".into(), BTreeMap::from([("title".into(), pair("movie_name", 0.8))])),
                ("Movies_1".to_string() + "x", BTreeMap::from([("title".into(), pair("film", 0.4))])),
            ]),
            own: BTreeMap::from([("Movies_1".into(), BTreeSet::from(["movie_name".to_string()]))]),
        };
        let rule = |threshold, own_slots_only| MapRule { threshold, own_slots_only };
        assert_eq!(map.apply("Movies_1", "title", rule(0.5, false)), Some("movie_name"));
        assert_eq!(map.apply("Movies_1", "title", rule(0.5, true)), None, "title is no slot of its own");
        assert_eq!(map.apply("Movies_1x", "title", rule(0.3, true)), Some("film"), "unseen: the map alone decides");
        assert_eq!(map.apply("Movies_1x", "title", rule(0.5, true)), None, "below the threshold");
    }

    #[test]
    fn a_span_inside_another_goes_with_it() {
        let text = "at Century at Hayward.";
        let turn = Turn {
            dialogue_id: "1".into(),
            turn_index: 0,
            service: "Movies_1".into(),
            text: text.into(),
            spans: vec![
                Span { start: 3, end: 21, entity: "theater_name".into() },
                Span { start: 14, end: 21, entity: "location".into() },
            ],
        };
        let frames = training_frames(&[turn], true, 3);
        let (swapped, spans) = &frames[1];
        assert_eq!(spans.len(), 1, "{swapped}: {spans:?}");
        assert!(swapped.starts_with("at ") && swapped.ends_with('.'), "{swapped}");
        assert_eq!(spans[0].end, swapped.len() - 1);
    }
}
