//! The per-chat delivery queue adapters send replies through.
//!
//! Each chat (conversation) gets its own ordered queue, so one slow or
//! rate-limited chat never holds up another. A queue spaces messages to the
//! platform's per-chat rate, shares a global rate across chats, waits out
//! `retry_after` on 429, retries transient failures with exponential backoff
//! and reports each reply delivered only when every platform message of it
//! went out. Nothing is dropped: a reply still queued at shutdown stays
//! undelivered in the store, and the engine resends it on the next start
//! (the queue recognises a resend by the reply's id and sends it once).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

use crate::{ConversationId, Outbound, Receipts};

/// Why one platform send failed, as the queue needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The platform said 429: wait this long, then retry.
    #[error("rate limited; retry after {0:?}")]
    RetryAfter(Duration),
    /// A network error or a 5xx: retry with backoff.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The platform refused for good (blocked bot, unknown chat): give up.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// A platform's way of sending: renders a reply into native messages and
/// sends one of them.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// One native platform message (a text chunk, a keyboard, a photo).
    type Message: Send + Sync + 'static;

    /// The native messages for `reply`, in order.
    fn render(&self, reply: &Outbound) -> Vec<Self::Message>;

    /// The native message for an adapter's own notice (not stored, no receipt).
    fn notice(&self, text: &str) -> Self::Message;

    /// Sends one message to the chat of `conversation`.
    async fn send(&self, conversation: &ConversationId, message: &Self::Message) -> Result<(), SendError>;
}

/// Rate limits and retry policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Minimum spacing of messages within one chat.
    pub per_chat: Duration,
    /// Maximum messages per second over all chats.
    pub global_per_second: u32,
    /// The first transient-failure backoff; it doubles up to `max_backoff`.
    pub backoff: Duration,
    /// The longest wait between retries.
    pub max_backoff: Duration,
}

impl Limits {
    /// Telegram's documented limits: about one message per second per chat,
    /// 30 per second overall.
    pub const TELEGRAM: Limits = Limits {
        per_chat: Duration::from_millis(1000),
        global_per_second: 30,
        backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(60),
    };
    /// Discord's: 5 messages per 5 s per channel, 50 requests per second overall.
    pub const DISCORD: Limits = Limits {
        per_chat: Duration::from_millis(1000),
        global_per_second: 50,
        backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(60),
    };
}

/// What one chat's queue holds.
struct Item<M> {
    /// The reply's store id; `None` for an adapter notice.
    id: Option<i64>,
    messages: Vec<M>,
}

/// Cheap to clone; all clones share one queue.
pub struct DeliveryQueue<T: Transport> {
    inner: Arc<Inner<T>>,
}

impl<T: Transport> Clone for DeliveryQueue<T> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

struct Inner<T: Transport> {
    transport: T,
    limits: Limits,
    receipts: Receipts,
    chats: Mutex<HashMap<ConversationId, mpsc::UnboundedSender<Item<T::Message>>>>,
    /// Ids of replies queued or sent recently, to send a resend once.
    seen: Mutex<Recent>,
    /// The next free slot of the global rate.
    global: tokio::sync::Mutex<Instant>,
    /// Items queued and not finished.
    pending: AtomicUsize,
    idle: Notify,
    /// Set when the queue must stop retrying (shutdown after the drain).
    stop: watch::Sender<bool>,
}

/// How long a chat's idle queue task lives.
const CHAT_IDLE: Duration = Duration::from_secs(60);
/// How many reply ids are remembered for de-duplication.
const REMEMBER: usize = 4096;

#[derive(Default)]
struct Recent {
    set: HashSet<i64>,
    order: VecDeque<i64>,
}

impl Recent {
    /// Records `id`; false if it was already there.
    fn insert(&mut self, id: i64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBER {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

impl<T: Transport> DeliveryQueue<T> {
    /// A queue sending through `transport`, reporting delivered replies to `receipts`.
    pub fn new(transport: T, limits: Limits, receipts: Receipts) -> Self {
        Self {
            inner: Arc::new(Inner {
                transport,
                limits,
                receipts,
                chats: Mutex::new(HashMap::new()),
                seen: Mutex::new(Recent::default()),
                global: tokio::sync::Mutex::new(Instant::now()),
                pending: AtomicUsize::new(0),
                idle: Notify::new(),
                stop: watch::channel(false).0,
            }),
        }
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// Queues a stored reply; a reply already queued or sent (same id) is ignored.
    pub fn push(&self, reply: &Outbound) {
        let fresh = self.inner.seen.lock().unwrap_or_else(|p| p.into_inner()).insert(reply.id);
        if !fresh {
            tracing::debug!(reply = reply.id, "reply already queued; resend ignored");
            return;
        }
        let messages = self.inner.transport.render(reply);
        self.enqueue(&reply.conversation, Item { id: Some(reply.id), messages });
    }

    /// Queues an adapter notice (e.g. "I can only read text"): not stored, no receipt.
    pub fn notice(&self, conversation: &ConversationId, text: &str) {
        let messages = vec![self.inner.transport.notice(text)];
        self.enqueue(conversation, Item { id: None, messages });
    }

    fn enqueue(&self, conversation: &ConversationId, item: Item<T::Message>) {
        self.inner.pending.fetch_add(1, Ordering::SeqCst);
        let mut item = item;
        let mut chats = self.inner.chats.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let tx = chats.entry(conversation.clone()).or_insert_with(|| spawn_chat(&self.inner, conversation));
            // Sent under the lock: a chat task only retires (under the same
            // lock) with an empty queue, so an item is never orphaned.
            match tx.send(item) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => {
                    item = back;
                    chats.remove(conversation);
                }
            }
        }
    }

    /// Shutdown: queues the replies still waiting in `replies`, then drains
    /// (see [`Self::drain`]) and logs what is left for the next start.
    pub async fn close(&self, replies: &mut mpsc::Receiver<Outbound>, within: Duration, channel: &str) {
        while let Ok(reply) = replies.try_recv() {
            self.push(&reply);
        }
        let left = self.drain(within).await;
        if left > 0 {
            tracing::warn!(
                channel,
                replies = left,
                "replies not sent before shutdown; they are resent on the next start"
            );
        }
    }

    /// Waits until every queued item is sent or given up, or `within` has
    /// passed; then stops all retries. Returns how many items were left.
    pub async fn drain(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let idle = self.inner.idle.notified();
            if self.inner.pending.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        self.inner.stop.send_replace(true);
        self.inner.pending.load(Ordering::SeqCst)
    }
}

fn spawn_chat<T: Transport>(
    inner: &Arc<Inner<T>>,
    conversation: &ConversationId,
) -> mpsc::UnboundedSender<Item<T::Message>> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(chat_task(Arc::clone(inner), conversation.clone(), rx, tx.clone()));
    tx
}

async fn chat_task<T: Transport>(
    inner: Arc<Inner<T>>,
    conversation: ConversationId,
    mut rx: mpsc::UnboundedReceiver<Item<T::Message>>,
    me: mpsc::UnboundedSender<Item<T::Message>>,
) {
    let mut last_sent: Option<Instant> = None;
    loop {
        let item = match tokio::time::timeout(CHAT_IDLE, rx.recv()).await {
            Ok(Some(item)) => item,
            Ok(None) => return,
            Err(_idle) => {
                let mut chats = inner.chats.lock().unwrap_or_else(|p| p.into_inner());
                if rx.is_empty() {
                    if chats.get(&conversation).is_some_and(|tx| tx.same_channel(&me)) {
                        chats.remove(&conversation);
                    }
                    rx.close();
                    return;
                }
                continue;
            }
        };
        let delivered = deliver(&inner, &conversation, &item, &mut last_sent).await;
        if let (true, Some(id)) = (delivered, item.id) {
            inner.receipts.delivered(id);
        }
        if inner.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            inner.idle.notify_waiters();
        }
    }
}

/// Sends every message of `item`; true if all went out.
async fn deliver<T: Transport>(
    inner: &Inner<T>,
    conversation: &ConversationId,
    item: &Item<T::Message>,
    last_sent: &mut Option<Instant>,
) -> bool {
    let mut stop = inner.stop.subscribe();
    for message in &item.messages {
        let mut backoff = inner.limits.backoff;
        loop {
            if *stop.borrow() {
                tracing::info!(%conversation, reply = ?item.id, "shutting down; reply stays queued in the store");
                return false;
            }
            if let Some(at) = *last_sent {
                tokio::time::sleep_until(at + inner.limits.per_chat).await;
            }
            reserve_global_slot(inner).await;
            tracing::trace!(%conversation, "sending");
            let result = inner.transport.send(conversation, message).await;
            tracing::trace!(%conversation, ok = result.is_ok(), "sent");
            *last_sent = Some(Instant::now());
            let wait = match result {
                Ok(()) => break,
                Err(SendError::RetryAfter(after)) => {
                    tracing::warn!(%conversation, ?after, "rate limited by the platform; waiting");
                    after
                }
                Err(SendError::Transient(e)) => {
                    tracing::warn!(%conversation, error = %e, ?backoff, "send failed; retrying");
                    let wait = backoff;
                    backoff = (backoff * 2).min(inner.limits.max_backoff);
                    wait
                }
                Err(SendError::Permanent(e)) => {
                    tracing::error!(%conversation, reply = ?item.id, error = %e, "platform refused the reply; giving up");
                    return false;
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
    }
    true
}

async fn reserve_global_slot<T: Transport>(inner: &Inner<T>) {
    let spacing = Duration::from_secs(1) / inner.limits.global_per_second.max(1);
    let at = {
        let mut next = inner.global.lock().await;
        let now = Instant::now();
        let at = (*next).max(now);
        *next = at + spacing;
        at
    };
    tokio::time::sleep_until(at).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Part, Receipts};
    use std::sync::atomic::AtomicU32;

    /// Records sends; fails according to a script.
    struct Script {
        sent: Mutex<Vec<(String, String, Instant)>>,
        failures: Mutex<VecDeque<SendError>>,
        calls: AtomicU32,
    }

    #[async_trait]
    impl Transport for Arc<Script> {
        type Message = String;
        fn render(&self, reply: &Outbound) -> Vec<String> {
            reply
                .parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text { text } => Some(text.clone()),
                    _ => None,
                })
                .collect()
        }
        fn notice(&self, text: &str) -> String {
            text.to_string()
        }
        async fn send(&self, conversation: &ConversationId, message: &String) -> Result<(), SendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(e) = self.failures.lock().unwrap().pop_front() {
                return Err(e);
            }
            self.sent.lock().unwrap().push((conversation.to_string(), message.clone(), Instant::now()));
            Ok(())
        }
    }

    fn script(failures: Vec<SendError>) -> Arc<Script> {
        Arc::new(Script { sent: Mutex::default(), failures: Mutex::new(failures.into()), calls: AtomicU32::new(0) })
    }

    fn reply(conversation: &str, id: i64, texts: &[&str]) -> Outbound {
        Outbound {
            conversation: ConversationId::new(conversation).unwrap(),
            channel: "test".into(),
            id,
            parts: texts.iter().map(|t| Part::Text { text: t.to_string() }).collect(),
        }
    }

    const FAST: Limits = Limits {
        per_chat: Duration::from_millis(100),
        global_per_second: 1000,
        backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(5),
    };

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_and_backs_off_then_reports_delivery() {
        let transport = script(vec![
            SendError::RetryAfter(Duration::from_secs(3)),
            SendError::Transient("connection reset".into()),
            SendError::Transient("502".into()),
        ]);
        let (receipts, mut delivered) = Receipts::new();
        let queue = DeliveryQueue::new(Arc::clone(&transport), FAST, receipts);
        let start = Instant::now();
        queue.push(&reply("c1", 7, &["one", "two"]));
        assert_eq!(delivered.recv().await, Some(7));
        let sent = transport.sent.lock().unwrap().clone();
        assert_eq!(sent.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(), vec!["one", "two"]);
        // 3 s retry_after, then 200 ms and 400 ms of backoff, then the per-chat spacing.
        let first = sent[0].2 - start;
        assert!(first >= Duration::from_millis(3600), "sent after {first:?}");
        assert!(sent[1].2 - sent[0].2 >= FAST.per_chat);
        assert_eq!(transport.calls.load(Ordering::SeqCst), 5);
        assert_eq!(queue.drain(Duration::from_secs(1)).await, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_resend_of_the_same_reply_goes_out_once() {
        let transport = script(vec![]);
        let (receipts, mut delivered) = Receipts::new();
        let queue = DeliveryQueue::new(Arc::clone(&transport), FAST, receipts);
        queue.push(&reply("c1", 1, &["hello"]));
        queue.push(&reply("c1", 1, &["hello"]));
        queue.notice(&ConversationId::new("c1").unwrap(), "I can only read text");
        queue.push(&reply("c1", 2, &["bye"]));
        assert_eq!(delivered.recv().await, Some(1));
        assert_eq!(delivered.recv().await, Some(2));
        assert_eq!(queue.drain(Duration::from_secs(1)).await, 0);
        let texts: Vec<String> = transport.sent.lock().unwrap().iter().map(|s| s.1.clone()).collect();
        assert_eq!(texts, vec!["hello", "I can only read text", "bye"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_failure_gives_up_without_a_receipt_and_others_continue() {
        let transport = script(vec![SendError::Permanent("bot was blocked by the user".into())]);
        let (receipts, mut delivered) = Receipts::new();
        let queue = DeliveryQueue::new(Arc::clone(&transport), FAST, receipts);
        queue.push(&reply("c1", 1, &["blocked"]));
        queue.push(&reply("c2", 2, &["fine"]));
        assert_eq!(delivered.recv().await, Some(2));
        assert_eq!(queue.drain(Duration::from_secs(1)).await, 0);
        assert!(delivered.try_recv().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn chats_do_not_wait_for_each_other() {
        let transport = script(vec![SendError::RetryAfter(Duration::from_secs(30))]);
        let (receipts, mut delivered) = Receipts::new();
        let queue = DeliveryQueue::new(Arc::clone(&transport), FAST, receipts);
        queue.push(&reply("slow", 1, &["a"]));
        tokio::time::sleep(Duration::from_millis(10)).await;
        queue.push(&reply("fast", 2, &["b"]));
        let start = Instant::now();
        assert_eq!(delivered.recv().await, Some(2));
        assert!(Instant::now() - start < Duration::from_secs(1));
        assert_eq!(delivered.recv().await, Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_stops_retrying_and_reports_what_is_left() {
        let transport = script(vec![SendError::Transient("down".into()); 100]);
        let (receipts, mut delivered) = Receipts::new();
        let queue = DeliveryQueue::new(Arc::clone(&transport), FAST, receipts);
        queue.push(&reply("c1", 1, &["never"]));
        assert_eq!(queue.drain(Duration::from_secs(2)).await, 1);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(delivered.try_recv().is_err(), "an unsent reply must not be reported delivered");
    }
}
