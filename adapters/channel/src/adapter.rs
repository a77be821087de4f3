//! The [`Adapter`] trait and the [`Context`] it runs in.
//!
//! Shaped like vector's sources: the context carries the sender into the
//! engine ([`InboundSender`]), the receiver of replies for this channel and a
//! shutdown signal. An adapter stops taking input when the signal fires, then
//! flushes the replies still queued, then returns.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, watch};

use crate::{Error, Inbound, Outbound};

/// A platform adapter: translates platform events to [`Inbound`] and
/// [`Outbound`] replies to platform messages. Nothing else.
#[async_trait]
pub trait Adapter: Send + 'static {
    /// The channel name, used in [`Inbound::channel`] and for routing replies.
    fn name(&self) -> &str;

    /// True when fans hold a live connection to one server (the web chat
    /// socket). With several replicas, such an adapter is also offered the
    /// replies other replicas make; platform adapters (Telegram, Discord),
    /// which any replica can send through, only get their own replica's.
    fn holds_connections(&self) -> bool {
        false
    }

    /// Runs until `ctx.shutdown` fires (then flushes queued replies) or the
    /// platform connection fails for good.
    async fn run(self: Box<Self>, ctx: Context) -> Result<(), Error>;
}

/// Everything an adapter gets from the engine.
pub struct Context {
    /// Where fan messages go.
    pub output: InboundSender,
    /// Replies to deliver on this channel.
    pub replies: mpsc::Receiver<Outbound>,
    /// Fires once when the server shuts down.
    pub shutdown: Shutdown,
    /// Where the adapter reports replies the platform accepted.
    pub receipts: Receipts,
}

/// Reports replies delivered, so the store can tell sent from unsent (unsent
/// replies are resent after a restart).
#[derive(Debug, Clone)]
pub struct Receipts {
    tx: mpsc::UnboundedSender<i64>,
}

impl Receipts {
    /// A reporter and the receiver of the reply ids it reports.
    pub fn new() -> (Receipts, mpsc::UnboundedReceiver<i64>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Receipts { tx }, rx)
    }

    /// Reports the reply with store id `reply_id` delivered.
    pub fn delivered(&self, reply_id: i64) {
        // The engine gone means shutdown; the reply is resent on restart at worst.
        let _ = self.tx.send(reply_id);
    }
}

/// A fan message on its way into the engine, with the channel to answer on
/// once it is stored (acknowledged) or refused.
#[derive(Debug)]
pub struct Submission {
    /// The message.
    pub inbound: Inbound,
    /// Answered after the message is persisted, or with the reason it was refused.
    pub ack: oneshot::Sender<Result<Accepted, Rejection>>,
}

/// The engine stored the message: it will not be lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The store's id of the message.
    pub message_id: i64,
}

/// The engine refused the message; nothing was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejection {
    /// Why, in words fit to show the sender.
    pub reason: String,
    /// True when the message itself is fine and the engine could not take
    /// it now (shutting down, store unavailable): platforms that redeliver
    /// (Telegram's update offset, webhooks' retries) should not confirm it.
    pub retryable: bool,
}

impl Rejection {
    /// A refusal of the message itself (too long, empty): sending it again
    /// will not help.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), retryable: false }
    }

    /// The engine cannot take messages now; the same message may succeed later.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), retryable: true }
    }
}

/// The sending half into the engine.
#[derive(Debug, Clone)]
pub struct InboundSender {
    tx: mpsc::Sender<Submission>,
}

impl InboundSender {
    /// Wraps the engine's submission queue.
    pub fn new(tx: mpsc::Sender<Submission>) -> Self {
        Self { tx }
    }

    /// Sends a message and waits until the engine has stored or refused it.
    pub async fn submit(&self, inbound: Inbound) -> Result<Accepted, Rejection> {
        if let Err(e) = inbound.validate() {
            return Err(Rejection::invalid(e.to_string()));
        }
        let (ack, answer) = oneshot::channel();
        let closed = || Rejection::unavailable(Error::EngineClosed.to_string());
        self.tx.send(Submission { inbound, ack }).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

/// A shutdown signal every task watches.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The owner's half of a [`Shutdown`] signal.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    /// A new signal and its trigger.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    /// Whether shutdown has begun.
    pub fn is_shutdown(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until shutdown begins (or the trigger is dropped).
    pub async fn recv(&mut self) {
        // An error means the trigger is gone, which also means: stop.
        let _ = self.rx.wait_for(|down| *down).await;
    }
}

impl ShutdownTrigger {
    /// Starts shutdown.
    pub fn fire(&self) {
        self.tx.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConversationId;

    #[tokio::test]
    async fn submit_waits_for_the_ack_and_refuses_bad_input_locally() {
        let (tx, mut rx) = mpsc::channel(4);
        let sender = InboundSender::new(tx);
        let id = ConversationId::new("c").unwrap();
        let empty = sender.submit(Inbound::text(id.clone(), "t", "")).await;
        assert_eq!(empty.unwrap_err().reason, "message is empty");

        let engine = tokio::spawn(async move {
            let sub = rx.recv().await.unwrap();
            assert_eq!(sub.inbound.text, "hi");
            sub.ack.send(Ok(Accepted { message_id: 7 })).unwrap();
        });
        assert_eq!(sender.submit(Inbound::text(id, "t", "hi")).await.unwrap().message_id, 7);
        engine.await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_wakes_waiters() {
        let (trigger, mut shutdown) = Shutdown::new();
        assert!(!shutdown.is_shutdown());
        let waiter = tokio::spawn(async move { shutdown.recv().await });
        trigger.fire();
        waiter.await.unwrap();
    }
}
