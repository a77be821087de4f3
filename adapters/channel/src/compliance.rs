//! The compliance suite every adapter runs against a fake of its platform.
//!
//! An adapter's test implements [`Platform`] over a local fake of the
//! platform API, then calls [`run`]. The suite checks that text and button
//! presses reach the engine with the adapter's channel name, that every reply
//! part reaches the fan (natively or as text) and is reported delivered, that a refused message does not
//! stop the adapter, and that the adapter returns promptly on shutdown.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::{
    Accepted, Adapter, Attachment, AttachmentKind, Button, Context, ConversationId, InboundSender, Outbound, Part,
    Receipts, Rejection, Shutdown, Submission,
};

/// What the fan saw, flattened for checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shown {
    /// All text shown, in order (plain-text fallbacks included).
    pub text: String,
    /// Titles of native buttons.
    pub buttons: Vec<String>,
    /// Names of native attachments.
    pub attachments: Vec<String>,
}

impl Shown {
    /// Whether the fan can see `needle` anywhere: in text, a button or an attachment.
    pub fn shows(&self, needle: &str) -> bool {
        self.text.contains(needle)
            || self.buttons.iter().any(|b| b.contains(needle))
            || self.attachments.iter().any(|a| a.contains(needle))
    }
}

/// A fake platform driving one adapter under test.
#[async_trait]
pub trait Platform: Send {
    /// Makes a fan send `text`; returns the conversation id the adapter should use.
    async fn fan_says(&mut self, text: &str) -> ConversationId;
    /// Makes the fan of `conversation` press the button carrying `payload`.
    async fn fan_presses(&mut self, conversation: &ConversationId, payload: &str);
    /// Everything shown to the fan of `conversation` since the last call,
    /// waiting until at least `expected` items have arrived.
    async fn shown(&mut self, conversation: &ConversationId, expected: &[&str]) -> Shown;
}

const WAIT: Duration = Duration::from_secs(10);

/// Runs the suite; panics with a description of the first failed check.
pub async fn run(adapter: Box<dyn Adapter>, mut platform: impl Platform) {
    let name = adapter.name().to_string();
    let mut h = Harness::start(adapter);

    // 1. Text reaches the engine, tagged with the channel.
    let conversation = platform.fan_says("hello from compliance").await;
    let sub = h.next().await;
    assert_eq!(sub.inbound.text, "hello from compliance", "{name}: text must arrive unchanged");
    assert_eq!(sub.inbound.channel, name, "{name}: inbound must carry the adapter's name");
    assert_eq!(sub.inbound.conversation, conversation, "{name}: conversation id");
    let _ = sub.ack.send(Ok(Accepted { message_id: 1 }));

    // 2. Every reply part reaches the fan.
    let parts = vec![
        Part::Text { text: "Compliance reply.".into() },
        Part::Buttons { buttons: vec![Button { title: "Refund me".into(), payload: "/refund_request".into() }] },
        Part::Attachment(Attachment {
            kind: AttachmentKind::Image,
            url: "http://127.0.0.1:9/roll.png".into(),
            name: "roll.png".into(),
            mime: "image/png".into(),
        }),
        Part::Handoff { notice: "A person will answer soon".into() },
    ];
    let reply = Outbound { conversation: conversation.clone(), channel: name.clone(), id: 1, parts };
    h.replies.send(reply).await.expect("adapter dropped its reply receiver");
    let expected = ["Compliance reply.", "Refund me", "roll.png", "A person will answer soon"];
    let shown = platform.shown(&conversation, &expected).await;
    for needle in expected {
        assert!(shown.shows(needle), "{name}: the fan must see {needle:?}, saw {shown:?}");
    }
    assert_eq!(h.receipt().await, Some(1), "{name}: a delivered reply must be reported by id");

    // 3. Button presses come back as payloads.
    platform.fan_presses(&conversation, "/refund_request").await;
    let sub = h.next().await;
    assert_eq!(sub.inbound.payload.as_deref(), Some("/refund_request"), "{name}: payload");
    // A refusal must not stop the adapter.
    let _ = sub.ack.send(Err(Rejection::invalid("refused by compliance")));
    let again = platform.fan_says("still there?").await;
    let sub = h.next().await;
    assert_eq!(sub.inbound.text, "still there?", "{name}: adapter must survive a refusal");
    assert_eq!(sub.inbound.conversation, again);
    let _ = sub.ack.send(Ok(Accepted { message_id: 2 }));

    // 4. Shutdown ends the adapter promptly.
    h.stop().await;
}

/// One adapter started with a hand-held engine side, for adapter tests
/// beyond the suite (bad input, retries, platform specifics).
pub struct Harness {
    /// Messages the adapter submitted; answer each `ack`.
    pub submissions: mpsc::Receiver<Submission>,
    /// Send replies for the adapter to deliver.
    pub replies: mpsc::Sender<Outbound>,
    /// Reply ids the adapter reported delivered.
    pub delivered: mpsc::UnboundedReceiver<i64>,
    trigger: crate::ShutdownTrigger,
    task: tokio::task::JoinHandle<Result<(), crate::Error>>,
}

impl Harness {
    /// Starts `adapter`.
    pub fn start(adapter: Box<dyn Adapter>) -> Harness {
        let (sub_tx, submissions) = mpsc::channel(16);
        let (replies, reply_rx) = mpsc::channel(16);
        let (trigger, shutdown) = Shutdown::new();
        let (receipts, delivered) = Receipts::new();
        let ctx = Context { output: InboundSender::new(sub_tx), replies: reply_rx, shutdown, receipts };
        let task = tokio::spawn(adapter.run(ctx));
        Harness { submissions, replies, delivered, trigger, task }
    }

    /// The next submitted message (10 s at most).
    pub async fn next(&mut self) -> Submission {
        next(&mut self.submissions).await
    }

    /// The next delivery receipt (20 s at most).
    pub async fn receipt(&mut self) -> Option<i64> {
        tokio::time::timeout(2 * WAIT, self.delivered.recv()).await.ok().flatten()
    }

    /// Shuts the adapter down; panics unless it returns Ok within 10 s.
    pub async fn stop(self) {
        self.trigger.fire();
        let ended = tokio::time::timeout(WAIT, self.task).await.expect("adapter ignored shutdown");
        ended.expect("adapter task panicked").expect("adapter returned an error on shutdown");
    }
}

/// A platform fake's HTTP server on a free loopback port; dropping it stops it.
pub struct FakeServer {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    /// Serves `app` on 127.0.0.1.
    pub async fn start(app: axum::Router) -> std::io::Result<FakeServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeServer { url, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Re-runs `check` whenever `changed` fires until it reports done or 15 s
/// pass; returns its last value either way (the caller asserts on it).
pub async fn wait_until<T>(changed: &tokio::sync::Notify, mut check: impl FnMut() -> (bool, T)) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let notified = changed.notified();
        let (done, value) = check();
        if done || tokio::time::Instant::now() >= deadline {
            return value;
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

async fn next(submissions: &mut mpsc::Receiver<Submission>) -> Submission {
    tokio::time::timeout(WAIT, submissions.recv())
        .await
        .expect("no message reached the engine within 10 s")
        .expect("adapter closed its sender")
}
