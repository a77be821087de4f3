//! One encoder pass per message: the NLU step's sentence embeddings and
//! token states are exactly what separate passes gave, the classifier and
//! the knowledge base reuse them with identical results, and a turn that
//! reaches the knowledge base runs the MiniLM encoder once.

use crate::common;

use std::sync::Arc;

use usher::engine::{Brain, Engine};
use usher::knowledge::eval::QuestionSet;
use usher::knowledge::{KnowledgeBase, Mode};
use usher::nlu::encoder::{fetch, EmbeddingCache, Encoder};
use usher::nlu::{Classifier, Embedded, Features, IntentClassifier, Nlu, TrainConfig};
use usher::store::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_encoder_pass_serves_the_classifier_the_tagger_and_the_knowledge_base() {
    let dir = common::repo().join("models/all-MiniLM-L6-v2");
    assert!(fetch::present(&dir), "run `usher models fetch` (scripts/test does) to get {}", dir.display());
    // This test's own encoder: its pass counter sees no other test's work.
    let enc = Arc::new(Encoder::load(&dir).unwrap());
    let root = tempfile::tempdir().unwrap();
    let cache = Arc::new(EmbeddingCache::open(&root.path().join("embeddings"), &enc).unwrap());
    let features = Features::EncoderAndNgrams { encoder: enc.clone(), cache };
    let domain = usher::intents::load(&common::repo().join("intents")).unwrap().domain;
    let heads = root.path().join("heads");
    let (nlu, _) = {
        let (domain, features, heads) = (domain.clone(), features.clone(), heads.clone());
        tokio::task::spawn_blocking(move || {
            Nlu::train_or_load(&domain, features, &heads, &TrainConfig::default(), &mut |_, _, _| {}).unwrap()
        })
        .await
        .unwrap()
    };
    // The very head the NLU holds, read back from its cache file.
    let head = std::fs::read_dir(&heads)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("intent-head-"))
        .unwrap();
    let labels = domain.intents.iter().map(|i| i.name.clone()).collect();
    let classifier = Classifier::load(&head, labels, features).unwrap();

    let questions = QuestionSet::load(&common::repo().join("eval/knowledge.yaml")).unwrap();
    let mut texts: Vec<&str> = domain.intents.iter().flat_map(|i| i.examples.iter().map(|e| e.text.as_str())).collect();
    texts.extend(questions.questions.iter().map(|q| q.q.as_str()));
    texts.extend(questions.unanswerable.iter().map(String::as_str));
    texts.extend(["", "refund order A12345 for Hamilton", "when do doors open for Arctic Monkeys", "🎸 ok?"]);
    assert!(texts.len() > 300, "{}", texts.len());

    // The pass itself: the two outputs are the separate passes', bit for bit.
    let before = enc.passes();
    let (vectors, states) = enc.encode_with_tokens(&texts).unwrap();
    assert_eq!(enc.passes(), before + 1);
    assert_eq!(vectors, enc.encode(&texts).unwrap(), "pooled embeddings");
    assert_eq!(states, enc.token_states(&texts).unwrap(), "token states");

    // The classifier over the given embeddings: the same confidences.
    let id = enc.id();
    let given = classifier.predict_embedded(&texts, &Embedded { encoder: &id, vectors: &vectors }).unwrap();
    assert_eq!(given, classifier.predict(&texts).unwrap(), "intent confidences");

    // The NLU step: one pass for the batch, carrying each message's embedding.
    let before = enc.passes();
    let parses = nlu.parse_batch(&texts).unwrap();
    assert_eq!(enc.passes(), before + 1, "one pass for classifier, tagger and embedding");
    for (p, v) in parses.iter().zip(&vectors) {
        assert_eq!(p.embedding.as_ref().map(|e| &e.vector[..]), Some(&v[..]));
    }
    let parse = |text: &str| &parses[texts.iter().position(|t| *t == text).unwrap()];
    let tagged = &parse("when do doors open for Arctic Monkeys").entities;
    assert!(tagged.iter().any(|m| m.text == "Arctic Monkeys" && m.extractor == "tagger"), "{tagged:?}");

    // The knowledge base searching with the NLU's embedding: the same hits.
    let mut config = common::config(&root.path().join("kb"));
    config.knowledge.dir = common::repo().join("knowledge");
    let kb = Arc::new(KnowledgeBase::open(&config, enc.clone(), false).await.unwrap());
    kb.index(&mut |_, _| {}).await.unwrap();
    for q in questions.questions.iter().map(|q| q.q.as_str()).chain(questions.unanswerable.iter().map(String::as_str)) {
        let reused = kb.search_with(q, parse(q).embedding.as_ref(), Mode::Hybrid, 5).await.unwrap();
        let encoded = kb.search(q, Mode::Hybrid, 5).await.unwrap();
        let key = |hits: &[usher::knowledge::Hit]| -> Vec<(u64, f32, f32)> {
            hits.iter().map(|h| (h.id, h.score, h.similarity)).collect()
        };
        assert_eq!(key(&reused), key(&encoded), "{q}");
    }

    // A fan's knowledge question through the engine: one pass in all.
    let store = SqliteStore::open(&root.path().join("usher.db")).await.unwrap();
    let engine = Engine::new(Arc::new(store), Brain { domain, nlu });
    engine.set_knowledge(kb);
    let mut fan = common::Fan::new(&engine, "one-pass-fan").await;
    let before = enc.passes();
    let reply = fan.say("do you lend ear defenders for children").await;
    let text: String = reply.iter().map(|p| common::text(p)).collect();
    assert!(text.contains("Source: Age limits and children"), "{text}");
    assert_eq!(enc.passes(), before + 1, "the turn encoded its message once");
}
