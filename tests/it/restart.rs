//! Persistence: across a restart, under concurrent writers, and answering
//! what a crash left unanswered.

use crate::common;

use usher::handoff::store::HandoffStore;
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
    assert_eq!(t.tracker.flow().map(|f| f.requested.as_str()), Some("email"));
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
        let stored = store.append_inbound(&Inbound::text(conv.clone(), "api", "hello there")).await.unwrap();
        assert!(stored.fresh);
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

fn from_platform(conv: &ConversationId, text: &str, platform_id: &str) -> Inbound {
    let mut inbound = Inbound::text(conv.clone(), "telegram", text);
    inbound.platform_id = Some(platform_id.to_string());
    inbound
}

#[tokio::test]
async fn a_message_the_platform_delivers_again_is_stored_and_answered_once() {
    let dir = tempfile::tempdir().unwrap();
    let conv = ConversationId::new("telegram:42").unwrap();
    let engine = common::engine(dir.path()).await;
    let first = engine.handle(from_platform(&conv, "hello there", "message:7")).await.unwrap();
    assert_eq!(first.replies.len(), 1);
    match engine.handle(from_platform(&conv, "hello there", "message:7")).await {
        Err(usher::Error::Duplicate(id)) => assert_eq!(id, first.inbound_id),
        other => panic!("a redelivery was answered again: {:?}", other.map(|t| t.inbound_id)),
    }
    // Another message, and the same platform id in another chat, are new.
    engine.handle(from_platform(&conv, "hello again", "message:8")).await.unwrap();
    let other = ConversationId::new("telegram:43").unwrap();
    engine.handle(from_platform(&other, "hello there", "message:7")).await.unwrap();
    let t = engine.transcript(&conv).await.unwrap().unwrap();
    let inbound: Vec<_> = t.messages.iter().filter(|m| m.direction == "in").map(|m| m.text.as_str()).collect();
    assert_eq!(inbound, ["hello there", "hello again"]);
    assert_eq!(t.messages.len(), 4, "{:#?}", t.messages);
}

#[tokio::test]
async fn a_redelivery_of_a_message_a_crash_left_unanswered_is_answered_once_by_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let conv = ConversationId::new("telegram:44").unwrap();
    {
        let store = SqliteStore::open(&dir.path().join("usher.db")).await.unwrap();
        assert!(store.append_inbound(&from_platform(&conv, "hello there", "message:9")).await.unwrap().fresh);
    }
    let engine = common::engine(dir.path()).await;
    // The platform never heard the confirmation and sends it again on start.
    assert!(matches!(
        engine.handle(from_platform(&conv, "hello there", "message:9")).await,
        Err(usher::Error::Duplicate(_))
    ));
    assert_eq!(engine.recover().await.unwrap(), 1);
    for _ in 0..200 {
        // Read the transcript after seeing nothing pending: read before,
        // it can predate the reply that empties the queue.
        if engine.store().pending().await.unwrap().is_empty() {
            let t = engine.transcript(&conv).await.unwrap().unwrap();
            assert_eq!(t.messages.len(), 2, "{:#?}", t.messages);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("recovery did not answer the stored message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_one_sqlite_file_all_succeed() {
    // Agents' replies (read, then write) racing delivery receipts (writes):
    // a deferred transaction would fail at once with SQLITE_BUSY here.
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SqliteStore::open(&dir.path().join("usher.db")).await.unwrap());
    let conv = ConversationId::new("busy-1").unwrap();
    store.append_inbound(&Inbound::text(conv.clone(), "api", "hello")).await.unwrap();
    let parts = vec![usher_channel::Part::Text { text: "from an agent".into() }];
    let first = store.append_outbound(&conv, "agent:alice", &parts).await.unwrap().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let (store, conv, parts) = (store.clone(), conv.clone(), parts.clone());
        tasks.spawn(async move {
            if i % 2 == 0 {
                store.append_outbound(&conv, "agent:alice", &parts).await.map(|o| o.is_some())
            } else {
                store.mark_delivered(first.id).await.map(|()| true)
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        assert!(done.unwrap().unwrap());
    }
    let t = store.transcript(&conv).await.unwrap().unwrap();
    assert_eq!(t.messages.len(), 2 + 32);
}

#[tokio::test]
async fn replies_made_after_an_adapter_started_are_not_resent_to_it() {
    // An adapter gets replies from its start on live; the resend at start
    // covers only older ones, or a turn that finished before the resend
    // query ran would reach the fan twice.
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("usher.db")).await.unwrap();
    let conv = ConversationId::new("resend-1").unwrap();
    store.append_inbound(&Inbound::text(conv.clone(), "api", "hello")).await.unwrap();
    let parts = vec![usher_channel::Part::Text { text: "hi".into() }];
    let reply = store.append_outbound(&conv, "bot", &parts).await.unwrap().unwrap();
    let created = store.transcript(&conv).await.unwrap().unwrap().messages[1].created_ms;
    assert!(store.undelivered("api", 0, created).await.unwrap().is_empty());
    let older = store.undelivered("api", 0, created + 1).await.unwrap();
    assert_eq!(older.iter().map(|o| o.id).collect::<Vec<_>>(), [reply.id]);
}
