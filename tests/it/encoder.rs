//! The MiniLM sentence encoder (fetched by `usher models fetch`, which
//! scripts/test runs first) and the classifier over its embeddings.

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;

use usher::nlu::encoder::{fetch, EmbeddingCache, Encoder};
use usher::nlu::{Features, Nlu, TrainConfig};

fn encoder_dir() -> PathBuf {
    let dir = common::repo().join("models/all-MiniLM-L6-v2");
    assert!(
        fetch::present(&dir),
        "run `usher models fetch` (scripts/test does) to get the encoder into {}",
        dir.display()
    );
    dir
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn the_fetched_files_match_their_checksums() {
    fetch::verify(&encoder_dir()).unwrap();
}

#[test]
fn embeddings_are_normalised_batched_in_order_and_semantic() {
    let enc = Encoder::load(&encoder_dir()).unwrap();
    assert_eq!(enc.dim(), 384);
    let texts = ["my stream keeps buffering", "I want a refund for my ticket", "the video keeps freezing", "hi"];
    let batch = enc.encode(&texts).unwrap();
    for (t, v) in texts.iter().zip(&batch) {
        assert!((dot(v, v) - 1.0).abs() < 1e-4, "{t} is unit length");
        let single = enc.encode(&[t]).unwrap().remove(0);
        assert!(dot(v, &single) > 0.9999, "{t}: batching and length-sorting keep each embedding");
    }
    assert!(dot(&batch[0], &batch[2]) > dot(&batch[0], &batch[1]) + 0.2, "buffering ~ freezing, not refund");
}

#[test]
fn odd_input_embeds_without_panics() {
    let enc = Encoder::load(&encoder_dir()).unwrap();
    let long = "ticket ".repeat(1500);
    let odd = [
        "",
        "   ",
        long.as_str(),
        "🎸🎸🔥",
        "مرحبا hello こんにちは",
        "re\u{200b}fund\u{200d}",
        "e\u{301}\u{301}\u{301}",
        "👩‍👩‍👧",
    ];
    for (text, v) in odd.iter().zip(enc.encode(&odd).unwrap()) {
        assert_eq!(v.len(), 384);
        assert!(v.iter().all(|x| x.is_finite()), "{text:?}");
    }
}

#[test]
fn damaged_model_files_are_named_in_the_error() {
    let src = encoder_dir();
    let dir = tempfile::tempdir().unwrap();
    for (name, _) in fetch::FILES {
        std::fs::copy(src.join(name), dir.path().join(name)).unwrap();
    }
    let weights = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = Encoder::load(dir.path()).err().expect("a truncated safetensors file must not load").to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    assert!(fetch::verify(dir.path()).unwrap_err().to_string().contains("model.safetensors"));

    std::fs::write(dir.path().join("tokenizer.json"), "{\"version\": ").unwrap();
    let err = Encoder::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
}

#[test]
fn the_classifier_generalises_and_retrains_from_cached_embeddings() {
    let enc = Arc::new(Encoder::load(&encoder_dir()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(EmbeddingCache::open(dir.path(), &enc).unwrap());
    let features = Features::EncoderAndNgrams { encoder: enc.clone(), cache: cache.clone() };
    let domain = usher::intents::load(&common::repo().join("intents")).unwrap().domain;
    let cfg = TrainConfig::default();
    let (nlu, _) =
        Nlu::train_or_load(&domain, features.clone(), &dir.path().join("heads"), &cfg, &mut |_, _, _| {}).unwrap();
    let cached = cache.len();
    assert_eq!(cached, domain.intents.iter().map(|i| i.examples.len()).sum::<usize>());
    for (text, intent) in [
        ("my vid keeps stalling on the telly", "playback_issue"),
        ("I need my cash back for the gig", "refund_request"),
        ("can my wheelchair user friend get in easily", "accessibility"),
    ] {
        let p = nlu.parse(text).unwrap();
        assert_eq!(p.intent.name, intent, "{text}: {:?}", p.ranking);
    }
    // Explanations: the nearest training examples, from the same encoder pass.
    let p = nlu.parse("I need my cash back for the gig").unwrap();
    assert_eq!(p.nearest.len(), 3, "{:?}", p.nearest);
    assert_eq!(p.nearest[0].intent, "refund_request", "{:?}", p.nearest);
    assert!(p.nearest.windows(2).all(|w| w[0].similarity >= w[1].similarity), "{:?}", p.nearest);
    assert!(p.nearest[0].similarity > 0.5 && p.nearest[0].similarity <= 1.0001, "{:?}", p.nearest);
    let refund = domain.intent("refund_request").unwrap();
    assert!(refund.examples.iter().any(|e| e.text == p.nearest[0].text), "a real example: {:?}", p.nearest);
    // The learned tagger finds a show that no lookup list names, in a sentence it never saw.
    let p = nlu.parse("when do doors open for Arctic Monkeys").unwrap();
    let event = p.entities.iter().find(|m| m.entity == "event");
    assert_eq!(event.map(|m| (m.text.as_str(), m.extractor)), Some(("Arctic Monkeys", "tagger")), "{:?}", p.entities);
    let p = nlu.parse("refund order A12345 for Hamilton").unwrap();
    let found: Vec<_> = p.entities.iter().map(|m| (m.entity.as_str(), m.value.as_str(), m.extractor)).collect();
    assert!(
        found.contains(&("order_id", "A12345", "regex")) && found.contains(&("event", "Hamilton", "lookup")),
        "{found:?}"
    );
    // Same seed, same model.
    let (again, _) =
        Nlu::train_or_load(&domain, features.clone(), &dir.path().join("other"), &cfg, &mut |_, _, _| {}).unwrap();
    let a = nlu.parse("where is my ticket").unwrap();
    let b = again.parse("where is my ticket").unwrap();
    assert_eq!(a.ranking, b.ranking, "deterministic under a seed");
    assert_eq!(cache.len(), cached, "the retrain encoded nothing new");
}
