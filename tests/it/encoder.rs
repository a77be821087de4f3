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
    // With the intents' names as examples (a small domain), a name is a
    // neighbour like any other.
    let named = TrainConfig { name_examples: true, ..cfg.clone() };
    let (with_names, _) =
        Nlu::train_or_load(&domain, features.clone(), &dir.path().join("named"), &named, &mut |_, _, _| {}).unwrap();
    let p = with_names.parse("refund request").unwrap();
    assert_eq!(p.intent.name, "refund_request", "{:?}", p.ranking);
    assert_eq!((p.nearest[0].text.as_str(), p.nearest[0].intent.as_str()), ("refund request", "refund_request"));
    assert!(p.nearest[0].similarity > 0.999, "the name itself: {:?}", p.nearest);
    assert!(cache.len() > cached, "the names were embedded too");
}

/// Writes a small SGD-shaped data set: a cinema service for train and dev,
/// and for test a service the tagger never saw, with other slot names.
fn write_sgd(dir: &std::path::Path) {
    let schema = r#"[
      {"service_name": "Cinema_1", "slots": [
        {"name": "movie_name", "description": "Name of the movie", "is_categorical": false},
        {"name": "city", "description": "City where the cinema is", "is_categorical": false}]},
      {"service_name": "Pictures_2", "slots": [
        {"name": "film_title", "description": "Title of the film", "is_categorical": false},
        {"name": "town", "description": "Town where the theatre is located", "is_categorical": false},
        {"name": "price", "description": "Price per ticket", "is_categorical": false}]}]"#;
    std::fs::write(dir.join("schema.json"), schema).unwrap();
    let templates = [
        "I want to see {m} in {c}",
        "find me tickets for {m} please",
        "is {m} showing anywhere in {c} tonight?",
        "any movies playing in {c}",
        "what's on this weekend",
        "Can I watch {m} near {c}?",
    ];
    let split = |service: &str, n: usize, movies: &[&str], cities: &[&str], slots: (&str, &str)| -> String {
        let mut out = String::new();
        for (i, template) in templates.iter().cycle().take(n).enumerate() {
            let (m, c) = (movies[i % movies.len()], cities[(i / 2) % cities.len()]);
            let mut spans = Vec::new();
            let mut text = String::new();
            let mut rest = *template;
            while let Some(at) = rest.find('{') {
                text.push_str(&rest[..at]);
                let (value, slot) = if &rest[at..at + 3] == "{m}" { (m, slots.0) } else { (c, slots.1) };
                let start = text.chars().count();
                text.push_str(value);
                spans.push(serde_json::json!({"slot": slot, "start": start, "exclusive_end": text.chars().count()}));
                rest = &rest[at + 3..];
            }
            text.push_str(rest);
            let line = serde_json::json!({"dialogue_id": format!("{service}_{i}"), "turn_index": 0,
                "service": service, "text": text, "slots": spans});
            out.push_str(&format!("{line}\n"));
        }
        out
    };
    let cinema = ("movie_name", "city");
    let train_movies =
        ["Body Double", "The Lion King", "Dumbo", "Toy Story", "Alien", "Little Women", "Inception", "Jaws"];
    let train_cities = ["Berkeley", "San Jose", "Fresno", "Oakland", "Napa"];
    std::fs::write(dir.join("train_turns.jsonl"), split("Cinema_1", 160, &train_movies, &train_cities, cinema))
        .unwrap();
    let dev = split("Cinema_1", 30, &["Brightburn", "Shazam", "Hellboy"], &["Sacramento", "Santa Rosa"], cinema);
    std::fs::write(dir.join("dev_turns.jsonl"), dev).unwrap();
    let test = split(
        "Pictures_2",
        48,
        &["Midsommar", "Booksmart", "Rocketman", "Us"],
        &["Portland", "Fairfield", "Vallejo"],
        ("film_title", "town"),
    );
    std::fs::write(dir.join("test_turns.jsonl"), test).unwrap();
}

#[test]
fn the_tagger_learns_sgd_slots_and_maps_them_onto_an_unseen_service() {
    let dir = tempfile::tempdir().unwrap();
    write_sgd(dir.path());
    // The peer: every gold span, under the training service's slot names.
    let test: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("test_turns.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut peer = String::new();
    for mut t in test {
        for s in t["slots"].as_array_mut().unwrap() {
            let renamed = if s["slot"] == "film_title" { "movie_name" } else { "city" };
            s["slot"] = renamed.into();
        }
        let spans = t.as_object_mut().unwrap().remove("slots").unwrap();
        t["spans"] = spans;
        peer.push_str(&format!("{t}\n"));
    }
    std::fs::write(dir.path().join("peer.jsonl"), peer).unwrap();
    let config = dir.path().join("usher.yaml");
    std::fs::write(&config, format!("nlu: {{encoder: {}}}\n", encoder_dir().display())).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_usher"))
        .arg("--config")
        .arg(&config)
        .args(["test", "entities", "--format", "sgd", "--epochs", "20", "--json", "--data"])
        .arg(dir.path())
        .arg("--peer")
        .arg(dir.path().join("peer.jsonl"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(r["map"]["Pictures_2"]["movie_name"], "film_title", "{}", r["map"]);
    assert_eq!(r["map"]["Pictures_2"]["city"], "town", "{}", r["map"]);
    assert_eq!(r["peer"]["overall"]["f1"], 1.0, "the gold spans score 1 through the same map: {}", r["peer"]);
    let usher = &r["usher"];
    assert!(usher["unseen_services"]["f1"].as_f64().unwrap() > 0.6, "{usher}");
    assert_eq!(usher["seen_services"]["f1"], 0.0, "no test service has training turns");
    assert!(usher["new_values_recall"].as_f64().unwrap() > 0.5, "unseen films and towns: {usher}");
    assert_eq!(r["dev_f1_by_epoch"].as_array().unwrap().len(), 20);
    assert!(stdout.contains("Pictures_2/film_title *"), "{stdout}");
}
