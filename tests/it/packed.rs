//! The packed CPU forward pass (`usher-fastbert`, which serves inference
//! on the CPU) against candle's: the same embeddings and token states in
//! f32, embeddings close to them in int8 (weights, and weights with
//! activations), on a batch large enough to be
//! split across threads, on single messages, on odd input and after the
//! top layers are fine-tuned.

use crate::common;

use candle_core::Device;
use usher::nlu::encoder::{fetch, Encoder, FineTune, Precision};

fn load(precision: Precision) -> Encoder {
    let dir = common::repo().join("models/all-MiniLM-L6-v2");
    assert!(fetch::present(&dir), "run `usher models fetch` first (scripts/test does)");
    Encoder::load_on(&dir, Device::Cpu, precision).unwrap()
}

/// 120 messages: BANKING77-style questions of many lengths plus odd ones.
fn texts() -> Vec<String> {
    let stems = [
        "my stream keeps buffering",
        "I want a refund for the concert that was cancelled last night because the singer was ill",
        "hi",
        "can I change my seat to one closer to the stage, and how much extra would that cost me?",
        "where is my ticket",
        "the app logs me out every time I open the player on my television and I have tried reinstalling it twice",
    ];
    let mut out: Vec<String> =
        (0..114).map(|i| format!("{} {}", stems[i % stems.len()], "please ".repeat(i % 9))).collect();
    out.extend(["".into(), "🎸🔥".into(), "مرحبا hello こんにちは".into(), "re\u{200b}fund".into()]);
    out.push("ticket ".repeat(1500));
    out.push("x".into());
    out
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs())).fold(0.0, f32::max)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn packed_f32_embeddings_equal_candles_in_batches_and_alone() {
    let packed = load(Precision::F32);
    let candle = packed.on_candle();
    assert_eq!((packed.kernel(), candle.kernel()), ("packed", "candle"));
    assert_eq!(packed.id(), candle.id(), "same embeddings, same caches");
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let reference = candle.encode(&refs).unwrap();
    let diff = max_diff(&packed.encode(&refs).unwrap(), &reference);
    assert!(diff < 1e-4, "batched embeddings differ by {diff}");
    for (i, text) in refs.iter().enumerate().step_by(7) {
        let alone = packed.encode(&[text]).unwrap();
        let diff = max_diff(&alone, &reference[i..=i]);
        assert!(diff < 1e-4, "{text:?} alone differs by {diff}");
    }
}

#[test]
fn packed_token_states_equal_candles() {
    let packed = load(Precision::F32);
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (a, b) = (packed.token_states(&refs).unwrap(), packed.on_candle().token_states(&refs).unwrap());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.offsets, y.offsets);
        let diff = max_diff(&x.states, &y.states);
        assert!(diff < 1e-3, "token states differ by {diff}");
    }
}

#[test]
fn int8_keeps_embeddings_close_to_f32_under_their_own_cache_key() {
    let f32 = load(Precision::F32);
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let reference = f32.encode(&refs).unwrap();
    // Int8 weights alone, and int8 weights with int8 activations (integer products).
    for precision in [Precision::Int8, Precision::Int8Compute] {
        let int8 = load(precision);
        assert_ne!(int8.id(), f32.id(), "{precision:?} embeddings must not share a cache with f32 ones");
        let a = int8.encode(&refs).unwrap();
        let sims: Vec<f32> = a.iter().zip(&reference).map(|(x, y)| cosine(x, y)).collect();
        let worst = sims.iter().copied().fold(1.0, f32::min);
        let mean = sims.iter().sum::<f32>() / sims.len() as f32;
        eprintln!("{precision:?}: cosine to f32 worst {worst:.4}, mean {mean:.4}");

        assert!(worst >= 0.99 && mean >= 0.995, "{precision:?}: cosine to f32: worst {worst}, mean {mean}");
        // Unlike sentences stay unlike: int8 noise is far below the gaps that matter.
        assert!(cosine(&a[0], &a[1]) < cosine(&a[0], &a[6]), "buffering is nearer buffering than refunds");
    }
    assert_ne!(load(Precision::Int8).id(), load(Precision::Int8Compute).id());
}

#[test]
fn fine_tuned_layers_run_packed_as_in_candle() {
    let enc = load(Precision::F32);
    let texts = ["my stream keeps buffering", "video freezes", "refund my ticket", "I want my money back"];
    let cfg = FineTune { layers: 2, epochs: 1, min_steps: 0, ..FineTune::default() };
    let tuned = enc.fine_tuned(&texts, &[0, 0, 1, 1], 2, &cfg, 7, &mut |_, _, _| {}).unwrap().0;
    assert_eq!(tuned.kernel(), "packed");
    let probe = ["where is my refund", "buffering again", "hi"];
    let diff = max_diff(&tuned.encode(&probe).unwrap(), &tuned.on_candle().encode(&probe).unwrap());
    assert!(diff < 1e-4, "tuned encoder: packed and candle differ by {diff}");
    assert!(max_diff(&tuned.encode(&probe).unwrap(), &enc.encode(&probe).unwrap()) > 1e-3, "tuning changed it");
}

/// A head that reads the first two dimensions of the mean token state.
struct FirstTwo;

impl usher::nlu::encoder::Head for FirstTwo {
    fn logits(
        &self,
        hidden: &candle_core::Tensor,
        mask: &candle_core::Tensor,
    ) -> candle_core::Result<candle_core::Tensor> {
        usher::nlu::encoder::bert::mean_pool(hidden, mask)?.narrow(1, 0, 2)
    }
    fn vars(&self) -> Vec<candle_core::Var> {
        Vec::new()
    }
    fn learning_rate(&self) -> f64 {
        0.0
    }
}

#[test]
fn a_branch_shares_the_bottom_layers_of_a_split_batch() {
    use usher::nlu::encoder::Branch;
    for precision in [Precision::F32, Precision::Int8Compute] {
        let enc = load(precision);
        let train = ["my stream keeps buffering", "video freezes", "refund my ticket", "I want my money back"];
        let cfg = FineTune { layers: 2, epochs: 1, min_steps: 0, ..FineTune::default() };
        let tuned = enc.fine_tuned(&train, &[0, 0, 1, 1], 2, &cfg, 7, &mut |_, _, _| {}).unwrap().0;
        assert_eq!(enc.shared_bottom(&tuned), Some(4));
        assert_eq!(tuned.shared_bottom(&enc), None, "a branch tuned lower down than the pass shares nothing");
        assert_eq!(enc.on_candle().shared_bottom(&tuned), None, "candle passes are not split");
        let texts = texts();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let branch = Branch { encoder: &tuned, head: &FirstTwo };
        let reading = enc.encode_with_branch(&refs, true, &branch).unwrap();
        let (alone_vectors, alone_states) = enc.encode_with_tokens(&refs).unwrap();
        assert_eq!((reading.vectors, reading.states), (alone_vectors, alone_states), "{precision:?}: unchanged");
        let logits = reading.logits;
        let diff = max_diff(&logits, &tuned.head_logits(&refs, &FirstTwo).unwrap());
        assert!(diff < 1e-5, "{precision:?}: the shared pass and the branch's own differ by {diff}");
        // Through a fallback pass (candle), the same reading.
        let fallback = enc.on_candle().encode_with_branch(&refs[..20], false, &branch).unwrap().logits;
        assert_eq!(fallback, tuned.head_logits(&refs[..20], &FirstTwo).unwrap(), "{precision:?}");
        let diff = max_diff(&fallback, &logits[..20]);
        // int8 activations are quantised per token, yet products over other
        // row tiles round apart a little.
        let tolerance = if precision == Precision::F32 { 1e-4 } else { 1e-2 };
        assert!(diff < tolerance, "{precision:?}: in a batch of 20 and one of 120 the branch reads within {diff}");
    }
}
