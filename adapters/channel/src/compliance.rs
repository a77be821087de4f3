//! The compliance suite every adapter runs against a fake of its platform.
//!
//! An adapter's test implements [`Platform`] over a local fake of the
//! platform API, then calls [`run`]. The suite checks that text and button
//! presses reach the engine with the adapter's channel name, that every reply
//! part reaches the fan (natively or as text), that a refused message does not
//! stop the adapter, and that the adapter returns promptly on shutdown.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::{
    Accepted, Adapter, Attachment, AttachmentKind, Button, Context, ConversationId, InboundSender, Outbound, Part,
    Rejection, Shutdown, Submission,
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
    let (sub_tx, mut submissions) = mpsc::channel::<Submission>(16);
    let (reply_tx, replies) = mpsc::channel::<Outbound>(16);
    let (trigger, shutdown) = Shutdown::new();
    let ctx = Context { output: InboundSender::new(sub_tx), replies, shutdown };
    let task = tokio::spawn(adapter.run(ctx));

    // 1. Text reaches the engine, tagged with the channel.
    let conversation = platform.fan_says("hello from compliance").await;
    let sub = next(&mut submissions).await;
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
    reply_tx.send(reply).await.expect("adapter dropped its reply receiver");
    let expected = ["Compliance reply.", "Refund me", "roll.png", "A person will answer soon"];
    let shown = platform.shown(&conversation, &expected).await;
    for needle in expected {
        assert!(shown.shows(needle), "{name}: the fan must see {needle:?}, saw {shown:?}");
    }

    // 3. Button presses come back as payloads.
    platform.fan_presses(&conversation, "/refund_request").await;
    let sub = next(&mut submissions).await;
    assert_eq!(sub.inbound.payload.as_deref(), Some("/refund_request"), "{name}: payload");
    // A refusal must not stop the adapter.
    let _ = sub.ack.send(Err(Rejection { reason: "refused by compliance".into() }));
    let again = platform.fan_says("still there?").await;
    let sub = next(&mut submissions).await;
    assert_eq!(sub.inbound.text, "still there?", "{name}: adapter must survive a refusal");
    assert_eq!(sub.inbound.conversation, again);
    let _ = sub.ack.send(Ok(Accepted { message_id: 2 }));

    // 4. Shutdown ends the adapter promptly.
    trigger.fire();
    let ended = tokio::time::timeout(WAIT, task).await;
    let result = ended.unwrap_or_else(|_| panic!("{name}: adapter ignored shutdown"));
    result.expect("adapter task panicked").expect("adapter returned an error on shutdown");
}

async fn next(submissions: &mut mpsc::Receiver<Submission>) -> Submission {
    tokio::time::timeout(WAIT, submissions.recv())
        .await
        .expect("no message reached the engine within 10 s")
        .expect("adapter closed its sender")
}
