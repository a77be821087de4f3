//! The learned entity tagger: a BiLSTM over the encoder's token states with
//! BIO tags, trained from the inline-annotated examples. It finds entities
//! the rules miss (a show name not in any lookup list); the engine combines
//! it with the regex and lookup extractors.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::rnn::{LSTMConfig, LSTM, RNN};
use candle_nn::{AdamW, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::crf::Crf;
use super::encoder::{Encoder, TokenStates};
use crate::intents::{Domain, Example, Span};
use crate::Error;

const HIDDEN: usize = 64;
const EPOCHS: usize = 30;

/// A training sequence: token states and gold tag indices.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// One vector per token.
    pub states: Vec<Vec<f32>>,
    /// One tag index per token.
    pub tags: Vec<u32>,
}

/// How tags are read off the per-token scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Decoding {
    /// Each token's most probable tag on its own.
    Greedy,
    /// The most probable tag sequence in which an `I-x` follows only a
    /// `B-x` or an `I-x` (Viterbi over the token log-probabilities).
    #[default]
    Constrained,
}

/// What the tagger reads and how it scores a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Design {
    /// Word-shape features ([`super::word_shape`]) beside the token states.
    pub word_shape: bool,
    /// A CRF layer ([`super::crf`]): learned transitions, trained on the
    /// whole sequence's likelihood, decoded by Viterbi over them.
    pub crf: bool,
}

/// A copy of every weight, by name.
type Weights = Vec<(String, Tensor)>;

/// The BiLSTM tagger.
pub struct Tagger {
    tags: Vec<String>,
    design: Design,
    fwd: LSTM,
    bwd: LSTM,
    out: Linear,
    crf: Option<Crf>,
    varmap: VarMap,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    tags: Vec<String>,
    input: usize,
    #[serde(default)]
    design: Design,
}

/// A text's tagger input: each token's state, with its word-shape features
/// ([`super::word_shape`]) appended when `shape` (borrowed as they are otherwise).
pub fn inputs<'a>(text: &str, states: &'a TokenStates, shape: bool) -> Cow<'a, [Vec<f32>]> {
    if shape {
        Cow::Owned(super::word_shape::append(text, &states.offsets, &states.states))
    } else {
        Cow::Borrowed(&states.states)
    }
}

/// The BIO tag set for `entities`: `O`, then `B-x`, `I-x` per entity.
pub fn tag_set<'a>(entities: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut tags = vec!["O".to_string()];
    for e in entities {
        tags.push(format!("B-{e}"));
        tags.push(format!("I-{e}"));
    }
    tags
}

/// Gold BIO tags for tokens at `offsets`, from annotated `spans`.
pub fn bio(offsets: &[(usize, usize)], spans: &[Span], tags: &[String]) -> Vec<u32> {
    let index: HashMap<&str, u32> = tags.iter().enumerate().map(|(i, t)| (t.as_str(), i as u32)).collect();
    let mut previous: Option<usize> = None;
    offsets
        .iter()
        .map(|&(start, _)| {
            let hit = spans.iter().position(|s| s.start <= start && start < s.end);
            let tag = match hit {
                Some(k) => {
                    let prefix = if previous == Some(k) { "I" } else { "B" };
                    index.get(format!("{prefix}-{}", spans[k].entity).as_str()).copied().unwrap_or(0)
                }
                None => 0,
            };
            previous = hit;
            tag
        })
        .collect()
}

impl Tagger {
    fn new(tags: Vec<String>, input: usize, design: Design, varmap: VarMap) -> Result<Self, Error> {
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let fwd = candle_nn::rnn::lstm(input, HIDDEN, LSTMConfig::default(), vb.pp("fwd"))?;
        let bwd = candle_nn::rnn::lstm(input, HIDDEN, LSTMConfig::default(), vb.pp("bwd"))?;
        let out = candle_nn::linear(2 * HIDDEN, tags.len(), vb.pp("out"))?;
        let crf = design.crf.then(|| Crf::new(tags.len(), vb)).transpose()?;
        Ok(Self { tags, design, fwd, bwd, out, crf, varmap })
    }

    /// The tag names.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Tag scores (batch × tokens × tags) for right-padded sequences. The
    /// backward LSTM reads each sequence reversed within its own length, so
    /// padding never reaches a real token's state in either direction.
    fn logits(&self, batch: &[&[Vec<f32>]]) -> Result<Tensor, Error> {
        let (n, len) = (batch.len(), batch.iter().map(|s| s.len()).max().unwrap_or(1).max(1));
        let dim = batch.iter().flat_map(|s| s.first()).map(Vec::len).next().unwrap_or(1);
        let mut data = Vec::with_capacity(n * len * dim);
        let mut reverse = Vec::with_capacity(n * len);
        for (b, seq) in batch.iter().enumerate() {
            for t in 0..len {
                match seq.get(t) {
                    Some(v) => data.extend_from_slice(v),
                    None => data.extend(std::iter::repeat_n(0.0, dim)),
                }
                let within = if t < seq.len() { seq.len() - 1 - t } else { t };
                reverse.push((b * len + within) as u32);
            }
        }
        let x = Tensor::from_vec(data, (n, len, dim), &Device::Cpu)?;
        // Its own inverse: it maps the reversed states back in place too.
        let reverse = Tensor::new(reverse.as_slice(), &Device::Cpu)?;
        let x_rev = x.reshape((n * len, dim))?.index_select(&reverse, 0)?.reshape((n, len, dim))?;
        let hf: Vec<Tensor> = self.fwd.seq(&x)?.iter().map(|s| s.h().clone()).collect();
        let hb: Vec<Tensor> = self.bwd.seq(&x_rev)?.iter().map(|s| s.h().clone()).collect();
        let hf = Tensor::stack(&hf, 1)?;
        let hidden = hf.dim(2)?;
        let hb =
            Tensor::stack(&hb, 1)?.reshape((n * len, hidden))?.index_select(&reverse, 0)?.reshape((n, len, hidden))?;
        Ok(self.out.forward(&Tensor::cat(&[hf, hb], 2)?)?)
    }

    /// Trains on `sequences` (built by [`inputs`] as `design` says) with the given tag set.
    pub fn train(
        sequences: &[Sequence],
        tags: Vec<String>,
        design: Design,
        epochs: usize,
        seed: u64,
    ) -> Result<Self, Error> {
        Ok(Self::train_selected(sequences, tags, design, epochs, seed, |_| Ok(0.0))?.0)
    }

    /// Trains for up to `epochs`, scores the model after each with `score`
    /// (a validation split, never test) and returns the best-scoring
    /// epoch's weights (the latest among ties) with every epoch's score.
    pub fn train_selected(
        sequences: &[Sequence],
        tags: Vec<String>,
        design: Design,
        epochs: usize,
        seed: u64,
        mut score: impl FnMut(&Tagger) -> Result<f64, Error>,
    ) -> Result<(Self, Vec<f64>), Error> {
        let input = sequences.iter().flat_map(|s| s.states.first()).map(Vec::len).next().unwrap_or(1);
        let model = Self::new(tags, input, design, VarMap::new())?;
        let mut rng = StdRng::seed_from_u64(seed);
        let vars = super::seeded::reinit(&model.varmap, &mut rng, HIDDEN)?;
        let mut opt = AdamW::new(vars, ParamsAdamW { lr: 3e-3, weight_decay: 1e-4, ..Default::default() })?;
        let mut order: Vec<usize> = (0..sequences.len()).filter(|&i| !sequences[i].tags.is_empty()).collect();
        let (mut scores, mut best): (Vec<f64>, Option<(f64, Weights)>) = (Vec::new(), None);
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            for chunk in order.chunks(32) {
                let loss = model.loss(sequences, chunk)?;
                opt.backward_step(&loss)?;
            }
            let s = score(&model)?;
            scores.push(s);
            if best.as_ref().is_none_or(|(b, _)| s >= *b) {
                best = Some((s, model.snapshot()?));
            }
        }
        if let Some((_, weights)) = best {
            model.restore(weights)?;
        }
        Ok((model, scores))
    }

    /// Mean cross-entropy of the gold tags of `sequences[chunk]` per token
    /// (with a CRF: the sequences' negative log-likelihood per token).
    fn loss(&self, sequences: &[Sequence], chunk: &[usize]) -> Result<Tensor, Error> {
        let batch: Vec<&[Vec<f32>]> = chunk.iter().map(|&i| sequences[i].states.as_slice()).collect();
        let logits = self.logits(&batch)?;
        let (b, t, k) = logits.dims3()?;
        // Gold tags, padded to the longest sequence, and their real lengths.
        let gold: Vec<u32> =
            chunk.iter().flat_map(|&i| (0..t).map(move |j| sequences[i].tags.get(j).copied().unwrap_or(0))).collect();
        let lengths: Vec<usize> = chunk.iter().map(|&i| sequences[i].tags.len()).collect();
        let tokens = lengths.iter().sum::<usize>().max(1) as f64;
        if let Some(crf) = &self.crf {
            return Ok((crf.nll(&logits, &gold, &lengths)? / tokens)?);
        }
        let mask: Vec<f32> = lengths.iter().flat_map(|&n| (0..t).map(move |j| f32::from(u8::from(j < n)))).collect();
        let gold = Tensor::from_vec(gold, (b * t, 1), &Device::Cpu)?;
        let mask = Tensor::from_vec(mask, b * t, &Device::Cpu)?;
        let logp = candle_nn::ops::log_softmax(&logits.reshape((b * t, k))?, D::Minus1)?;
        let picked = logp.gather(&gold, 1)?.squeeze(1)?;
        Ok((picked.mul(&mask)?.sum_all()?.neg()? / tokens)?)
    }

    fn weights(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, candle_core::Var>>, Error> {
        self.varmap.data().lock().map_err(|_| Error::Model("tagger weights: a training thread panicked".into()))
    }

    /// A copy of every weight.
    fn snapshot(&self) -> Result<Weights, Error> {
        self.weights()?.iter().map(|(name, var)| Ok((name.clone(), var.as_tensor().copy()?))).collect()
    }

    /// Puts back weights taken by [`Self::snapshot`].
    fn restore(&self, weights: Weights) -> Result<(), Error> {
        let vars = self.weights()?;
        for (name, tensor) in weights {
            if let Some(var) = vars.get(&name) {
                var.set(&tensor)?;
            }
        }
        Ok(())
    }

    /// Trains a tagger for `domain`'s entities on `examples` (token states
    /// from `encoder`, with word-shape features when `shape`).
    pub fn train_for(
        domain: &Domain,
        encoder: &Encoder,
        examples: &[Example],
        design: Design,
        seed: u64,
    ) -> Result<Self, Error> {
        let tags = tag_set(domain.entities.keys().map(String::as_str));
        let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        let states = encoder.token_states(&texts)?;
        let sequences: Vec<Sequence> = states
            .iter()
            .zip(examples)
            .map(|(s, ex)| Sequence {
                tags: bio(&s.offsets, &ex.entities, &tags),
                states: inputs(&ex.text, s, design.word_shape).into_owned(),
            })
            .collect();
        Self::train(&sequences, tags, design, EPOCHS, seed)
    }

    /// Tag indices per token of each text (its token states beside it; batched by length).
    pub fn predict(&self, texts: &[&str], sequences: &[TokenStates]) -> Result<Vec<Vec<u32>>, Error> {
        let scored = self.predict_scored(texts, sequences)?;
        Ok(scored.into_iter().map(|s| s.into_iter().map(|(tag, _)| tag).collect()).collect())
    }

    /// Each token's tag ([`Decoding::Constrained`]) with its probability.
    pub fn predict_scored(&self, texts: &[&str], sequences: &[TokenStates]) -> Result<Vec<Vec<(u32, f32)>>, Error> {
        self.predict_decoded(texts, sequences, Decoding::default())
    }

    /// Each token's tag, read off as `decoding` says, with its probability.
    pub fn predict_decoded(
        &self,
        texts: &[&str],
        sequences: &[TokenStates],
        decoding: Decoding,
    ) -> Result<Vec<Vec<(u32, f32)>>, Error> {
        let mut out = vec![Vec::new(); sequences.len()];
        let mut order: Vec<usize> = (0..sequences.len()).filter(|&i| !sequences[i].states.is_empty()).collect();
        order.sort_by_key(|&i| sequences[i].states.len());
        for chunk in order.chunks(64) {
            let inputs: Vec<Cow<[Vec<f32>]>> = chunk
                .iter()
                .map(|&i| inputs(texts.get(i).copied().unwrap_or(""), &sequences[i], self.design.word_shape))
                .collect();
            let batch: Vec<&[Vec<f32>]> = inputs.iter().map(AsRef::as_ref).collect();
            let logits = self.logits(&batch)?;
            let p = candle_nn::ops::softmax_last_dim(&logits)?.to_vec3::<f32>()?;
            let logits = logits.to_vec3::<f32>()?;
            for ((&i, probs), scores) in chunk.iter().zip(p).zip(logits) {
                let n = sequences[i].states.len();
                let probs = &probs[..n];
                let tags = match (decoding, &self.crf) {
                    (Decoding::Greedy, _) => probs.iter().map(|row| argmax(row)).collect(),
                    (Decoding::Constrained, None) => self.viterbi(probs),
                    (Decoding::Constrained, Some(crf)) => crf.decode(&scores[..n], &|f, t| self.may_follow(f, t))?,
                };
                out[i] = tags.into_iter().zip(probs).map(|(t, row)| (t as u32, row[t])).collect();
            }
        }
        Ok(out)
    }

    /// Tag `t`'s name (`O` for an index past the set).
    fn tag_name(&self, t: usize) -> &str {
        self.tags.get(t).map(String::as_str).unwrap_or("O")
    }

    /// Whether tag `to` may follow tag `from` (`None`: the start).
    fn may_follow(&self, from: Option<usize>, to: usize) -> bool {
        match self.tag_name(to).strip_prefix("I-") {
            None => true,
            Some(entity) => from.is_some_and(|f| {
                let f = self.tag_name(f);
                f.strip_prefix("B-").or_else(|| f.strip_prefix("I-")) == Some(entity)
            }),
        }
    }

    /// The most probable tag sequence under [`Self::may_follow`].
    fn viterbi(&self, probs: &[Vec<f32>]) -> Vec<usize> {
        let k = self.tags.len();
        let log = |p: f32| p.max(1e-12).ln();
        // The tags each tag may precede, worked out once rather than per token.
        let next: Vec<Vec<usize>> =
            (0..k).map(|from| (0..k).filter(|&to| self.may_follow(Some(from), to)).collect()).collect();
        let start = |t: usize| if self.may_follow(None, t) { log(probs[0][t]) } else { f32::NEG_INFINITY };
        let moves = |from: usize, to: &mut dyn FnMut(usize, f32)| next[from].iter().for_each(|&t| to(t, 0.0));
        crate::util::best_path(k, probs.len(), start, moves, |step, t| log(probs[step][t]), argmax)
    }

    /// Entity spans `(start, end, entity)` from predicted tags of `text`'s tokens.
    pub fn spans(&self, text: &str, tags: &[u32], offsets: &[(usize, usize)]) -> Vec<(usize, usize, String)> {
        let sure: Vec<(u32, f32)> = tags.iter().map(|&t| (t, 1.0)).collect();
        let spans = self.scored_spans(text, &sure, offsets).into_iter();
        spans.map(|(start, end, entity, _)| (start, end, entity)).collect()
    }

    /// Entity spans from [`Self::predict_scored`], each with its least
    /// sure word's probability. Spans are whole words: each word takes its
    /// first sub-word token's tag and ends where its last token ends, so a
    /// tag that changes inside a word ("Ouaga" + "##dougou") neither cuts
    /// the word nor starts a span in its middle. A word is a run of
    /// adjacent tokens that join letters or digits; punctuation is a word
    /// of its own ("Paris" + ","), as BERT's pre-tokenisation splits it.
    pub fn scored_spans(
        &self,
        text: &str,
        tags: &[(u32, f32)],
        offsets: &[(usize, usize)],
    ) -> Vec<(usize, usize, String, f32)> {
        let mut spans: Vec<(usize, usize, String, f32)> = Vec::new();
        // Whether the previous word was inside a span (an I- tag after O starts one).
        let mut open = false;
        let offsets = &offsets[..offsets.len().min(tags.len())];
        for word in super::word_shape::words(text, offsets) {
            // The word's first token's tag; its later tokens only stretch it.
            let (tag, p) = tags[word.start];
            let (start, end) = (offsets[word.start].0, offsets[word.end - 1].1);
            let name = self.tag_name(tag as usize);
            let was_open = std::mem::replace(&mut open, name != "O");
            if let Some(entity) = name.strip_prefix("I-") {
                if let Some(last) = spans.last_mut().filter(|l| was_open && l.2 == entity) {
                    last.1 = end;
                    last.3 = last.3.min(p);
                    continue;
                }
                spans.push((start, end, entity.to_string(), p));
            } else if let Some(entity) = name.strip_prefix("B-") {
                spans.push((start, end, entity.to_string(), p));
            }
        }
        spans
    }

    /// Writes `path` (safetensors) and `path.json` (tags).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        self.varmap.save(path)?;
        let meta = Meta { tags: self.tags.clone(), input: self.input_dim(), design: self.design };
        crate::util::write_json(&path.with_extension("json"), &meta)
    }

    fn input_dim(&self) -> usize {
        self.varmap
            .data()
            .lock()
            .ok()
            .and_then(|d| d.get("fwd.weight_ih_l0").and_then(|v| v.dims().get(1).copied()))
            .unwrap_or(0)
    }

    /// Loads a tagger written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self, Error> {
        let meta: Meta = crate::util::read_json(&path.with_extension("json"))?;
        let mut model = Self::new(meta.tags, meta.input, meta.design, VarMap::new())?;
        model.varmap.load(path).map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
        Ok(model)
    }
}

/// The index of the largest value (the first among ties).
fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().fold(0, |best, (i, v)| if *v > values[best] { i } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(n: usize, salt: f32) -> Sequence {
        let states = (0..n).map(|t| (0..8).map(|d| ((t * 8 + d) as f32 * 0.37 + salt).sin()).collect()).collect();
        Sequence { states, tags: (0..n).map(|t| (t % 3) as u32).collect() }
    }

    #[test]
    fn padding_never_changes_a_shorter_sequence_in_a_batch() {
        let train: Vec<Sequence> = (0..8).map(|i| sequence(3 + i % 4, i as f32)).collect();
        let model = Tagger::train(&train, tag_set(["show"]), Design::default(), 2, 7).unwrap();
        let (short, long) = (sequence(3, 0.5), sequence(9, 1.5));
        let alone = model.logits(&[short.states.as_slice()]).unwrap();
        let padded = model.logits(&[short.states.as_slice(), long.states.as_slice()]).unwrap();
        let alone: Vec<Vec<f32>> = alone.squeeze(0).unwrap().to_vec2().unwrap();
        let padded: Vec<Vec<f32>> = padded.get(0).unwrap().narrow(0, 0, 3).unwrap().to_vec2().unwrap();
        for (a, b) in alone.iter().flatten().zip(padded.iter().flatten()) {
            assert!((a - b).abs() < 1e-5, "{alone:?} vs {padded:?}");
        }
    }

    #[test]
    fn the_best_epoch_on_the_validation_score_is_kept() {
        let train: Vec<Sequence> = (0..8).map(|i| sequence(4, i as f32)).collect();
        let probe = sequence(4, 0.25);
        let mut seen = Vec::new();
        let (model, scores) = Tagger::train_selected(&train, tag_set(["show"]), Design::default(), 4, 3, |m| {
            seen.push(m.logits(&[probe.states.as_slice()])?.flatten_all()?.to_vec1::<f32>()?);
            Ok(if seen.len() == 2 { 1.0 } else { 0.0 })
        })
        .unwrap();
        assert_eq!(scores, [0.0, 1.0, 0.0, 0.0]);
        let kept = model.logits(&[probe.states.as_slice()]).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(kept, seen[1], "the second epoch's weights, not the last");
    }

    #[test]
    fn a_crf_tagger_learns_its_transitions_and_keeps_its_design_on_disk() {
        let train: Vec<Sequence> = (0..16).map(|i| sequence(3 + i % 4, i as f32)).collect();
        let design = Design { word_shape: false, crf: true };
        let model = Tagger::train(&train, tag_set(["show"]), design, 3, 5).unwrap();
        let trans = |m: &Tagger| m.crf.as_ref().unwrap().transitions().unwrap();
        assert!(trans(&model).iter().flatten().any(|x| x.abs() > 1e-3), "transitions moved from zero");
        let texts = vec![""; 3];
        let states: Vec<TokenStates> = (0..3)
            .map(|i| TokenStates { states: sequence(4 + i, 9.0 + i as f32).states, offsets: vec![(0, 0); 4 + i] })
            .collect();
        let tags = model.predict(&texts, &states).unwrap();
        for seq in &tags {
            assert!(model.may_follow(None, seq[0] as usize));
            assert!(seq.windows(2).all(|w| model.may_follow(Some(w[0] as usize), w[1] as usize)), "{tags:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tagger.safetensors");
        model.save(&path).unwrap();
        let back = Tagger::load(&path).unwrap();
        assert_eq!((back.design, trans(&back)), (design, trans(&model)));
        assert_eq!(back.predict(&texts, &states).unwrap(), tags);
    }

    #[test]
    fn a_span_is_as_sure_as_its_least_sure_token() {
        let model = Tagger::train(&[sequence(3, 0.0)], tag_set(["show"]), Design::default(), 1, 1).unwrap();
        let text = "Cats Show at Hair";
        let offsets = [(0, 4), (5, 9), (10, 12), (13, 17)];
        let tags = [(1, 0.9), (2, 0.6), (0, 0.99), (2, 0.8)];
        let spans = model.scored_spans(text, &tags, &offsets);
        assert_eq!(spans, [(0, 9, "show".to_string(), 0.6), (13, 17, "show".to_string(), 0.8)]);
        let plain: Vec<u32> = tags.iter().map(|t| t.0).collect();
        assert_eq!(model.spans(text, &plain, &offsets), [(0, 9, "show".to_string()), (13, 17, "show".to_string())]);
    }

    #[test]
    fn constrained_decoding_never_starts_a_span_with_an_inside_tag() {
        let model = Tagger::train(&[sequence(3, 0.0)], tag_set(["city", "date"]), Design::default(), 1, 1).unwrap();
        // Tags: O, B-city, I-city, B-date, I-date.
        let probs = vec![
            vec![0.50, 0.05, 0.40, 0.03, 0.02], // greedy: O
            vec![0.10, 0.05, 0.60, 0.05, 0.20], // greedy: I-city after O
            vec![0.20, 0.05, 0.10, 0.05, 0.60], // greedy: I-date after I-city
        ];
        assert_eq!(probs.iter().map(|r| argmax(r)).collect::<Vec<_>>(), [0, 2, 4]);
        let path = model.viterbi(&probs);
        for pair in path.windows(2) {
            assert!(model.may_follow(Some(pair[0]), pair[1]), "{path:?}");
        }
        assert!(model.may_follow(None, path[0]));
        // The best legal path: O B-date I-date (0.5·0.05·0.6 = 0.015; O O O is 0.01).
        assert_eq!(path, [0, 3, 4]);
    }

    #[test]
    fn spans_cover_whole_words() {
        let model = Tagger::train(&[sequence(3, 0.0)], tag_set(["city"]), Design::default(), 1, 1).unwrap();
        // "in Ouagadougou, today": the word's first token says B-, its
        // others say O and B-; the comma after it is tagged I-.
        let text = "in Ouagadougou, today";
        let offsets = [(0, 2), (3, 8), (8, 11), (11, 14), (14, 15), (16, 21)];
        let tags = [(0, 0.9), (1, 0.8), (0, 0.7), (1, 0.6), (2, 0.5), (0, 0.9)];
        assert_eq!(model.scored_spans(text, &tags, &offsets), [(3, 15, "city".to_string(), 0.5)]);
        // A word whose first token is O is no span, whatever its others say.
        let tags = [(0, 0.9), (0, 0.8), (1, 0.7), (2, 0.6), (0, 0.5), (0, 0.9)];
        assert!(model.scored_spans(text, &tags, &offsets).is_empty());
        // Without the I- comma the span ends with the word.
        let tags = [(0, 0.9), (1, 0.8), (2, 0.7), (2, 0.6), (0, 0.5), (0, 0.9)];
        assert_eq!(model.spans(text, &[0, 1, 2, 2, 0, 0], &offsets), [(3, 14, "city".to_string())]);
        assert_eq!(model.scored_spans(text, &tags, &offsets), [(3, 14, "city".to_string(), 0.8)]);
    }
}
