//! Persistence across a restart, and answering what a crash left unanswered.

mod common;

use usher::store::{SqliteStore, Store};
use usher_channel::{ConversationId, Inbound};

#[tokio::test]
async fn conversations_and_form_state_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let conv = ConversationId::new("restart-1").unwrap();
    {
        let engine = common::engine(dir.path()).await;
        engine.handle(Inbound::text(conv.clone(), "api", "I'd like a refund")).await.unwrap();
        engine.handle(Inbound::text(conv.clone(), "api", "order D45678")).await.unwrap();
    }
    let engine = common::engine(dir.path()).await;
    let t = engine.transcript(&conv).await.unwrap().unwrap();
    assert_eq!(t.messages.len(), 4);
    assert_eq!(t.tracker.form.as_ref().map(|f| f.requested.as_str()), Some("email"));
    let turn = engine.handle(Inbound::text(conv.clone(), "api", "me@example.net")).await.unwrap();
    let reply = usher_channel::render_plain(&turn.replies[0].parts);
    assert!(reply.contains("D45678") && reply.contains("me@example.net"), "{reply}");
}

#[tokio::test]
async fn messages_stored_but_unanswered_are_answered_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let conv = ConversationId::new("crash-1").unwrap();
    {
        // A message acknowledged (stored) just before a crash.
        let store = SqliteStore::open(&dir.path().join("usher.db")).await.unwrap();
        store.append_inbound(&Inbound::text(conv.clone(), "api", "hello there")).await.unwrap();
        assert_eq!(store.pending().await.unwrap().len(), 1);
    }
    let engine = common::engine(dir.path()).await;
    assert_eq!(engine.recover().await.unwrap(), 1);
    for _ in 0..200 {
        let t = engine.transcript(&conv).await.unwrap().unwrap();
        if t.messages.len() == 2 {
            assert!(t.messages[1].text.starts_with("Hi!"), "{:?}", t.messages[1]);
            assert!(engine.store().pending().await.unwrap().is_empty());
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the pending message was not answered");
}
