//! Usher's own BERT forward pass and fine-tuning of the encoder's top
//! layers: same outputs as candle-transformers' model, gradients that reach
//! the encoder weights (candle 0.11's fused layer norm has none), and a
//! fine-tuned classifier that is deterministic, survives a save and load and
//! is unsure of messages unlike its examples.

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use usher::nlu::encoder::bert::{mean_pool, run, Bert, Mode};
use usher::nlu::encoder::{EmbeddingCache, Encoder, FineTune};
use usher::nlu::{Classifier, Features, TrainConfig};

fn model_dir() -> std::path::PathBuf {
    let dir = common::repo().join("models/all-MiniLM-L6-v2");
    assert!(usher::nlu::encoder::fetch::present(&dir), "run `usher models fetch` first (scripts/test does)");
    dir
}

fn load() -> (Bert, BertModel) {
    let dir = model_dir();
    let config: Config = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let weights = dir.join("model.safetensors");
    let vb = || unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu).unwrap() };
    (Bert::load(vb(), &config).unwrap(), BertModel::load(vb(), &config).unwrap())
}

fn batch() -> (Tensor, Tensor) {
    // Two sentences of different lengths: the second is padded.
    let ids = Tensor::new(&[[101u32, 2026, 5460, 7906, 11133, 102], [101, 7632, 102, 0, 0, 0]], &Device::Cpu).unwrap();
    let mask = Tensor::new(&[[1u32, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], &Device::Cpu).unwrap();
    (ids, mask)
}

#[test]
fn the_own_forward_pass_matches_candle_transformers_bert() {
    let (ours, stock) = load();
    let (ids, mask) = batch();
    let a = mean_pool(&ours.forward(&ids, &mask).unwrap(), &mask).unwrap();
    let b = mean_pool(&stock.forward(&ids, &ids.zeros_like().unwrap(), Some(&mask)).unwrap(), &mask).unwrap();
    let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-4, "sentence embeddings differ by {diff}");
}

#[test]
fn gradients_reach_every_weight_of_a_trained_layer_only_in_train_mode() {
    let (bert, _) = load();
    let (ids, mask) = batch();
    let top = bert.layers.len() - 1;
    let hidden = bert.forward_to(&ids, &mask, top).unwrap();
    let bias = Bert::attention_bias(&mask).unwrap();
    let (layer, vars) = bert.layers[top].to_vars().unwrap();
    assert_eq!(vars.len(), 16, "6 linear layers and 2 layer norms, weight and bias each");
    let loss = |mode| {
        mean_pool(&run(std::slice::from_ref(&layer), &hidden, &bias, mode).unwrap(), &mask).unwrap().sum_all().unwrap()
    };

    let grads = loss(Mode::Train).backward().unwrap();
    for v in &vars {
        let g = grads.get(v.as_tensor()).expect("every weight gets a gradient");
        let size = g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(size > 0.0, "a weight of shape {:?} got a zero gradient", v.shape());
    }
    // The fused kernels used for inference stop gradients: the layer norms get none.
    let grads = loss(Mode::Infer).backward().unwrap();
    let reached = vars.iter().filter(|v| grads.get(v.as_tensor()).is_some()).count();
    assert!(reached < vars.len(), "fused layer norm has no backward in candle 0.11");
}

const DATA: [(&str, u32); 12] = [
    ("my stream keeps buffering", 0),
    ("the video freezes every minute", 0),
    ("playback stutters on my tv", 0),
    ("the picture is stuck loading", 0),
    ("I want my money back", 1),
    ("please refund my ticket", 1),
    ("can I get a refund for the gig", 1),
    ("return the cash for my order", 1),
    ("hello there", 2),
    ("hi, good morning", 2),
    ("hey usher", 2),
    ("good evening to you", 2),
];

#[test]
fn fine_tuning_is_seeded_changes_only_the_top_layers_and_round_trips() {
    let enc = Encoder::load(&model_dir()).unwrap();
    let texts: Vec<&str> = DATA.iter().map(|(t, _)| *t).collect();
    let labels: Vec<u32> = DATA.iter().map(|(_, l)| *l).collect();
    let cfg =
        FineTune { layers: 2, epochs: 3, learning_rate: 1e-4, batch_size: 4, min_steps: 0, ..FineTune::default() };
    let tuned = enc.fine_tuned(&texts, &labels, 3, &cfg, 7, &mut |_, _, _| {}).unwrap().0;
    assert_eq!(tuned.tuned_layers(), 2);
    assert_ne!(tuned.id(), enc.id(), "a tuned encoder has its own embedding cache");
    let probe = ["the film keeps pausing to load", "give me a refund"];
    let before = enc.encode(&probe).unwrap();
    let after = tuned.encode(&probe).unwrap();
    assert_ne!(before, after, "training moved the weights");

    let names: Vec<String> = tuned.tuned_tensors().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 32);
    assert!(names.iter().all(|n| n.starts_with("encoder.layer.4.") || n.starts_with("encoder.layer.5.")), "{names:?}");

    let again = enc.fine_tuned(&texts, &labels, 3, &cfg, 7, &mut |_, _, _| {}).unwrap().0;
    assert_eq!(again.encode(&probe).unwrap(), after, "same seed, same weights");
    assert_eq!(again.id(), tuned.id());

    let saved: HashMap<String, Tensor> = tuned.tuned_tensors().into_iter().collect();
    assert!(enc.with_tuned_tensors(&HashMap::new()).unwrap().is_none());
    let loaded = enc.with_tuned_tensors(&saved).unwrap().unwrap();
    assert_eq!(loaded.id(), tuned.id());
    assert_eq!(loaded.encode(&probe).unwrap(), after);
}

#[test]
fn a_cancelled_fine_tuning_stops_at_its_next_step() {
    let enc = Encoder::load(&model_dir()).unwrap();
    let texts: Vec<&str> = DATA.iter().map(|(t, _)| *t).collect();
    let labels: Vec<u32> = DATA.iter().map(|(_, l)| *l).collect();
    let cfg = FineTune { layers: 1, epochs: 1, batch_size: 4, min_steps: 0, ..FineTune::default() };
    let flag = cfg.cancel.clone();
    let mut copy = cfg.clone();
    assert_eq!(format!("{cfg:?}"), format!("{copy:?}"), "the flag takes no part in cache keys");
    flag.cancel();
    assert!(copy.cancel.is_cancelled(), "clones share the flag");
    match enc.fine_tuned(&texts, &labels, 3, &cfg, 7, &mut |_, _, _| {}) {
        Err(usher::Error::Cancelled(what)) => assert_eq!(what, "fine-tuning"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a cancelled run finished"),
    }
    copy.cancel = Default::default();
    assert_eq!(enc.fine_tuned(&texts, &labels, 3, &copy, 7, &mut |_, _, _| {}).unwrap().0.tuned_layers(), 1);
}

#[test]
fn a_fine_tuned_classifier_saves_and_loads_with_its_layers() {
    let enc = Arc::new(Encoder::load(&model_dir()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(EmbeddingCache::open(dir.path(), &enc).unwrap());
    let features = Features::EncoderAndNgrams { encoder: enc, cache };
    let labels = vec!["playback".to_string(), "refund".to_string(), "greet".to_string()];
    let data: Vec<(String, usize)> = DATA.iter().map(|(t, l)| (t.to_string(), *l as usize)).collect();
    let cfg = TrainConfig {
        // Twelve examples make a small set, tuned in one batch of 16: three
        // steps of 32 sentences' worth are six steps of 16, six epochs.
        fine_tune: FineTune { layers: 1, epochs: 2, min_steps: 3, small_layers: None, ..FineTune::default() },
        cosine_weight: 0.5,
        ..Default::default()
    };
    let mut phases = Vec::new();
    let (mut model, _) = Classifier::train(labels.clone(), &data, features.clone(), &cfg, &mut |e, n, _| {
        if e == n {
            phases.push(n)
        }
    })
    .unwrap();
    assert_eq!(phases, [6, cfg.epochs], "fine-tuning (for min_steps in small steps), then the head");
    let path = dir.path().join("head.safetensors");
    model.save(&path).unwrap();
    let mut loaded = Classifier::load(&path, labels, features).unwrap();
    let probe = ["my movie won't stop buffering", "refund please", "hiya"];
    assert!(loaded.has_cosine(), "the tuning's cosine classifier is kept");
    let mixed = loaded.probabilities(&probe, false).unwrap();
    assert_eq!(model.probabilities(&probe, false).unwrap(), mixed, "the same mix after a load");
    loaded.set_cosine_weight(0.0);
    assert_ne!(loaded.probabilities(&probe, false).unwrap(), mixed, "the cosine classifier counts");
    loaded.set_cosine_weight(0.5);
    // A small set (min_steps added epochs): the nearest examples do not
    // vote, but their intents are saved, so a vote can be weighed in.
    assert_eq!((model.knn_weight(), loaded.knn_weight()), (0.0, 0.0));
    model.set_knn_weight(0.5);
    loaded.set_knn_weight(0.5);
    let voted = loaded.probabilities(&probe, false).unwrap();
    assert_eq!(model.probabilities(&probe, false).unwrap(), voted, "the same vote after a load");
    assert_ne!(voted, mixed, "the vote counts");
    loaded.set_knn_weight(0.0);
    let best: Vec<usize> = loaded
        .probabilities(&probe, false)
        .unwrap()
        .iter()
        .map(|p| p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0)
        .collect();
    assert_eq!(best, [0, 1, 2]);
    // Confidence is scaled by the similarity to the nearest training
    // example: a message unlike any of them is far less sure.
    let top = |text: &str| loaded.probabilities(&[text], false).unwrap()[0].iter().cloned().fold(0.0f32, f32::max);
    let off_topic = top("photosynthesis converts sunlight into chemical energy");
    assert!(off_topic < 0.5 * top("please refund my ticket"), "{off_topic}");
}

#[test]
fn a_fine_tuned_sentiment_model_reads_tokens_saves_in_f16_and_names_its_encoder() {
    use usher::nlu::encoder::Schedule;
    use usher::nlu::sentiment::Sentiment;
    let enc = Encoder::load(&model_dir()).unwrap();
    let train: Vec<(String, u32)> = [
        ("a wonderful , moving and funny film", 1),
        ("great acting and a lovely story", 1),
        ("i really enjoyed this clever , warm movie", 1),
        ("the best show i have seen this year", 1),
        ("dull , tedious and awful", 0),
        ("a boring , painful mess of a film", 0),
        ("terrible acting and a stupid plot", 0),
        ("the worst movie i have seen this year", 0),
    ]
    .iter()
    .map(|(t, y)| (t.to_string(), *y))
    .collect();
    let cfg = FineTune {
        layers: 1,
        epochs: 6,
        learning_rate: 1e-4,
        batch_size: 4,
        schedule: Schedule::Linear { warmup: 0.1 },
        dropout: 0.1,
        min_steps: 0,
        ..FineTune::default()
    };
    let model = Sentiment::train_tuned(&train, &[], &enc, &cfg, 7, &mut |_, _, _| {}).unwrap();
    assert!(model.kind().contains("1 tuned layers"), "{}", model.kind());
    assert_eq!(model.accuracy(&train).unwrap(), 1.0, "eight sentences are learnt");
    let probe = ["a lovely , funny and moving story", "an awful , boring film"];
    let scores = model.score(&probe).unwrap();
    assert!(scores[0] > 0.0 && scores[1] < 0.0, "{scores:?}");
    let again = Sentiment::train_tuned(&train, &[], &enc, &cfg, 7, &mut |_, _, _| {}).unwrap();
    assert_eq!(again.score(&probe).unwrap(), scores, "same seed, same model");

    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let weights = std::fs::metadata(dir.path().join("model.safetensors")).unwrap().len();
    // One layer (1.78 M weights) and the head (0.2 M) in f16: about 4 MB, not 8.
    assert!(weights < 4_500_000, "{weights} bytes");
    let loaded = Sentiment::load(dir.path(), Some(&enc)).unwrap();
    for (a, b) in loaded.score(&probe).unwrap().iter().zip(&scores) {
        assert!((a - b).abs() < 0.05, "f16 weights and the packed pass score alike: {a} vs {b}");
    }
    let err = Sentiment::load(dir.path(), None).err().unwrap().to_string();
    assert!(err.contains("sentence encoder"), "{err}");

    // In the NLU's pass the sentiment encoder shares the bottom five layers
    // and runs only its own sixth: the same scores as a pass of its own.
    let branch = loaded.branch().unwrap();
    assert_eq!(enc.shared_bottom(branch.encoder), Some(5));
    let reading = enc.encode_with_branch(&probe, true, &branch).unwrap();
    assert_eq!(reading.vectors, enc.encode(&probe).unwrap(), "the NLU's own reading is unchanged");
    assert_eq!(reading.states, enc.token_states(&probe).unwrap());
    let logits = reading.logits;
    let alone = loaded.score(&probe).unwrap();
    for (l, a) in logits.iter().zip(&alone) {
        let shared = 2.0 / (1.0 + (l[0] - l[1]).exp()) - 1.0;
        assert!((shared - a).abs() < 1e-5, "{shared} vs {a}");
    }
    let meta = dir.path().join("vocab.json");
    let raw = std::fs::read_to_string(&meta).unwrap();
    let base = enc.weights_id();
    std::fs::write(&meta, raw.replace(base, "0123456789abcdef")).unwrap();
    let err = Sentiment::load(dir.path(), Some(&enc)).err().unwrap().to_string();
    assert!(err.contains("0123456789abcdef") && err.contains("model.safetensors"), "{err}");
}

#[test]
fn dropout_masks_are_seeded_scaled_and_absent_outside_training() {
    let x = Tensor::ones((4, 250), DType::F32, &Device::Cpu).unwrap();
    let mode = Mode::Dropout { p: 0.5, key: 7 };
    let a = mode.drop(&x, 1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(a.iter().all(|&v| v == 0.0 || v == 2.0), "kept values are scaled by 1/(1-p)");
    let zeros = a.iter().filter(|&&v| v == 0.0).count();
    assert!((400..600).contains(&zeros), "{zeros} of 1000 dropped");
    assert_eq!(mode.drop(&x, 1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(), a, "same key, same mask");
    assert_ne!(mode.drop(&x, 2).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap(), a, "another site");
    for m in [Mode::Train, Mode::Infer, Mode::Dropout { p: 0.0, key: 7 }] {
        assert_eq!(m.drop(&x, 1).unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap(), 1000.0);
    }
}

#[test]
fn the_served_gru_head_reads_as_candles_does() {
    use candle_nn::rnn::{GRUConfig, RNN};
    use candle_nn::{Module, VarMap};
    let (input, hidden, tokens) = (12, 5, 7);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let gru = candle_nn::rnn::gru(input, hidden, GRUConfig::default(), vb.pp("gru")).unwrap();
    let out = candle_nn::linear(hidden, 2, vb.pp("out")).unwrap();
    let x = Tensor::randn(0f32, 1.0, (1, tokens, input), &Device::Cpu).unwrap();
    let states = gru.seq(&x).unwrap();
    let hs: Vec<Tensor> = states.iter().map(|s| s.h.clone()).collect();
    let mean = Tensor::stack(&hs, 1).unwrap().mean(1).unwrap();
    let want = out.forward(&mean).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let data = varmap.data().lock().unwrap();
    let get = |name: &str| data[name].as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let served = usher_fastbert::GruHead::new(
        input,
        hidden,
        (get("gru.weight_ih_l0"), get("gru.bias_ih_l0")),
        (get("gru.weight_hh_l0"), get("gru.bias_hh_l0")),
        (get("out.weight"), get("out.bias")),
    )
    .unwrap();
    let got = served.logits(&x.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() < 1e-5, "{got:?} vs {want:?}");
    }
    let short = usher_fastbert::GruHead::new(input, hidden, (vec![0.0; 3], vec![]), (vec![], vec![]), (vec![], vec![]));
    assert!(short.unwrap_err().to_string().contains("3 values"));
}
