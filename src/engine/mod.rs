//! The engine: routes each fan message through its conversation's ordered
//! worker, then one way through understand (NLU, on its own thread), plan
//! (the policy says what it needs), consult (the [`consult::Source`] for
//! each need), decide (the pure policy) and persist (the store), then hands
//! the replies to the message's channel.
//!
//! Messages of one conversation are processed strictly in arrival order, one
//! at a time (platforms do not promise order; serenity even spawns a task per
//! event). Different conversations run concurrently.

mod batcher;
pub mod consult;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use usher_channel::{
    Accepted, Adapter, Context, ConversationId, Inbound, InboundSender, Outbound, Part, Receipts, Rejection, Shutdown,
    Submission,
};

use crate::cluster::{Bus, Notice};
use crate::dialogue::{Evidence, Explanation};
use crate::handoff::Event;
use crate::intents::Domain;
use crate::knowledge::KnowledgeBase;
use crate::limit::Limiter;
use crate::metrics::Metrics;
use crate::nlu::{Nlu, Parse};
use crate::store::{Store, Transcript};
use crate::Error;

/// A domain and the NLU trained for it: swapped as one on reload.
pub struct Brain {
    /// The intent files' content.
    pub domain: Domain,
    /// Its trained NLU.
    pub nlu: Nlu,
}

/// The result of one processed fan message.
#[derive(Debug, Clone)]
pub struct Turn {
    /// The stored inbound message's id.
    pub inbound_id: i64,
    /// What NLU made of it (also while a human owns the conversation).
    pub parse: Parse,
    /// What the engine consulted for it (knowledge, tools).
    pub evidence: Evidence,
    /// The bot's replies, already stored.
    pub replies: Vec<Outbound>,
    /// Why the bot did what it did (stored with the message too).
    pub explanation: Explanation,
}

impl Turn {
    /// The parse and the evidence as one JSON object, as returned by the
    /// REST API (stored with the message with the explanation beside them).
    pub fn details(&self) -> Result<serde_json::Value, Error> {
        details(&self.parse, &self.evidence, None)
    }
}

/// `parse`'s fields followed by `evidence`'s, and the explanation under
/// `explanation` when given.
fn details(parse: &Parse, evidence: &Evidence, explanation: Option<&Explanation>) -> Result<serde_json::Value, Error> {
    let mut value = serde_json::to_value(parse)?;
    if let (Some(object), serde_json::Value::Object(found)) = (value.as_object_mut(), serde_json::to_value(evidence)?) {
        object.extend(found);
        if let Some(explanation) = explanation {
            object.insert("explanation".into(), serde_json::to_value(explanation)?);
        }
    }
    Ok(value)
}

pub(crate) struct Job {
    inbound: Inbound,
    /// Set when the message is already in the store (crash recovery).
    stored: Option<i64>,
    ack: Option<oneshot::Sender<Result<Accepted, Rejection>>>,
    done: Option<oneshot::Sender<Result<Turn, Error>>>,
}

/// Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    store: Arc<dyn Store>,
    /// What replaces fans' personal data in what is stored.
    privacy: RwLock<crate::privacy::Redactor>,
    brain: RwLock<Arc<Brain>>,
    workers: Mutex<HashMap<ConversationId, mpsc::Sender<Job>>>,
    routes: RwLock<HashMap<String, Route>>,
    /// Bounds concurrent CPU-heavy knowledge lookups and creative tools to
    /// the number of cores (NLU runs on the batcher's own thread).
    inference: Semaphore,
    /// The knowledge base, once indexed.
    knowledge: RwLock<Option<Arc<KnowledgeBase>>>,
    /// The creative tools, once loaded.
    tools: RwLock<Option<Arc<crate::creative::tools::Toolset>>>,
    /// The recommender (`tool.recommend`), once loaded.
    recommender: RwLock<Option<Arc<crate::recs::Recommender>>>,
    /// The backends actions call, once configured.
    actions: RwLock<Option<Arc<crate::actions::Actions>>>,
    /// Canned answers that stand in for every backend call (conversation tests).
    stubs: RwLock<Option<Arc<dyn consult::ActionStubs>>>,
    /// Live events for the agent console.
    events: broadcast::Sender<Event>,
    /// The other replicas, when the store is shared.
    bus: OnceLock<Bus>,
    /// Messages per conversation, when limited.
    limit: OnceLock<Arc<Limiter<ConversationId>>>,
    /// Figures for `/metrics`.
    metrics: Arc<Metrics>,
    /// The NLU thread, batching messages across conversations.
    nlu: batcher::Batcher,
}

/// A running adapter's reply queue.
#[derive(Clone)]
struct Route {
    tx: mpsc::Sender<Outbound>,
    /// Also offered other replicas' replies (see `Adapter::holds_connections`).
    holds_connections: bool,
}

impl Inner {
    /// Hands a stored reply to its channel's adapter, if one runs; otherwise
    /// it stays undelivered in the store and is resent when one starts.
    /// Other replicas are told too: the fan's socket may be on one of them.
    async fn route(&self, reply: Outbound) {
        if let Some(bus) = self.bus.get() {
            bus.send(Notice::Reply { id: reply.id, channel: reply.channel.clone() });
        }
        self.route_here(reply, false).await;
    }

    /// Hands a reply to this replica's adapter for its channel; `remote`
    /// replies only to adapters that hold fans' connections.
    async fn route_here(&self, reply: Outbound, remote: bool) {
        let route = self.routes.read().unwrap_or_else(|p| p.into_inner()).get(&reply.channel).cloned();
        if let Some(route) = route.filter(|r| !remote || r.holds_connections) {
            let channel = reply.channel.clone();
            if route.tx.send(reply).await.is_err() {
                tracing::warn!(%channel, "channel gone; reply stays in the store");
            }
        }
    }

    fn publish(&self, event: Event) {
        if let Some(bus) = self.bus.get() {
            bus.send(Notice::Event { event: event.clone() });
        }
        // No subscriber (no console open) is fine.
        let _ = self.events.send(event);
    }

    /// Acts on another replica's notice.
    async fn on_notice(&self, notice: Notice) {
        match notice {
            Notice::Event { event } => {
                let _ = self.events.send(event);
            }
            Notice::Reply { id, channel } => {
                let wanted = self
                    .routes
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&channel)
                    .is_some_and(|r| r.holds_connections);
                if !wanted {
                    return;
                }
                match self.store.reply(id).await {
                    Ok(Some(reply)) => self.route_here(reply, true).await,
                    Ok(None) => tracing::warn!(reply = id, "another replica's reply is not in the store"),
                    Err(e) => tracing::warn!(reply = id, error = %e, "could not load another replica's reply"),
                }
            }
        }
    }
}

/// How far back undelivered replies are resent when an adapter starts.
pub const RESEND_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Queued messages per conversation before senders wait.
const QUEUE: usize = 64;

impl Engine {
    /// An engine over `store` answering with `brain`.
    ///
    /// # Panics
    /// If the operating system refuses to start the NLU thread.
    pub fn new(store: Arc<dyn Store>, brain: Brain) -> Self {
        Self::with_brain(store, Arc::new(brain))
    }

    /// An engine over `store` answering with a brain another engine may
    /// share (a reload's conversation tests run on it before the swap).
    ///
    /// # Panics
    /// If the operating system refuses to start the NLU thread.
    pub fn with_brain(store: Arc<dyn Store>, brain: Arc<Brain>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let metrics = Arc::new(Metrics::default());
        let nlu = batcher::Batcher::start(Arc::clone(&metrics)).expect("the NLU thread starts");
        Self {
            inner: Arc::new(Inner {
                store,
                privacy: RwLock::new(crate::privacy::Redactor::new(&crate::privacy::PrivacyConfig::default())),
                brain: RwLock::new(brain),
                workers: Mutex::new(HashMap::new()),
                routes: RwLock::new(HashMap::new()),
                inference: Semaphore::new(cores),
                knowledge: RwLock::new(None),
                tools: RwLock::new(None),
                recommender: RwLock::new(None),
                actions: RwLock::new(None),
                stubs: RwLock::new(None),
                events: broadcast::channel(1024).0,
                bus: OnceLock::new(),
                limit: OnceLock::new(),
                metrics,
                nlu,
            }),
        }
    }

    /// Limits every conversation to `per_minute` messages (bursts of
    /// `burst`) on every channel; over it, messages are refused with how
    /// long to wait. Call once.
    pub fn limit_conversations(&self, per_minute: u32, burst: u32) {
        let limiter = Limiter::new(per_minute, std::time::Duration::from_secs(60), burst);
        let _ = self.inner.limit.set(limiter);
    }

    /// Counts a new message against its conversation's limit.
    fn admit(&self, conversation: &ConversationId) -> Result<(), Error> {
        match self.inner.limit.get().map(|l| l.check(conversation)) {
            Some(Err(wait)) => {
                Metrics::inc(&self.inner.metrics.rate_limited);
                Err(Error::RateLimited(wait))
            }
            _ => Ok(()),
        }
    }

    /// Waits (up to `deadline`) until no message is queued or being
    /// processed; true if drained. Call after the channels stop taking
    /// messages. Whatever is left stays in the store and is answered on the
    /// next start.
    pub async fn drain(&self, deadline: std::time::Duration) -> bool {
        let until = tokio::time::Instant::now() + deadline;
        while self.inner.metrics.pending() > 0 {
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        true
    }

    /// This replica's figures.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Joins the other replicas: this engine's replies and console events
    /// go out on `bus`, and theirs (`notices`) come in. Call once, before
    /// starting adapters.
    pub fn attach_bus(&self, bus: Bus, mut notices: mpsc::UnboundedReceiver<Notice>) {
        if self.inner.bus.set(bus).is_err() {
            tracing::warn!("a cluster bus is already attached");
            return;
        }
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while let Some(notice) = notices.recv().await {
                let Some(inner) = inner.upgrade() else { return };
                inner.on_notice(notice).await;
            }
        });
    }

    /// The brain answering now.
    pub fn brain(&self) -> Arc<Brain> {
        let guard = self.inner.brain.read().unwrap_or_else(|p| p.into_inner());
        Arc::clone(&guard)
    }

    /// Replaces the brain atomically; turns in flight finish with the old one.
    pub fn swap_brain(&self, brain: Brain) {
        self.swap_shared_brain(Arc::new(brain));
    }

    /// Replaces the brain with a shared one, atomically.
    pub fn swap_shared_brain(&self, brain: Arc<Brain>) {
        let mut guard = self.inner.brain.write().unwrap_or_else(|p| p.into_inner());
        *guard = brain;
    }

    /// Replaces the brain only while the one answering passes `still`
    /// (checked under the same lock): whether it did.
    pub fn swap_brain_if(&self, brain: Arc<Brain>, still: impl FnOnce(&Brain) -> bool) -> bool {
        let mut guard = self.inner.brain.write().unwrap_or_else(|p| p.into_inner());
        let swap = still(&guard);
        if swap {
            *guard = brain;
        }
        swap
    }

    /// Lets the policy answer from `kb` (knowledge intents, low-confidence
    /// and out-of-scope messages).
    pub fn set_knowledge(&self, kb: Arc<KnowledgeBase>) {
        *self.inner.knowledge.write().unwrap_or_else(|p| p.into_inner()) = Some(kb);
    }

    /// Lets `tool.recommend` suggest from the catalogue.
    pub fn set_recommender(&self, recommender: Arc<crate::recs::Recommender>) {
        *self.inner.recommender.write().unwrap_or_else(|p| p.into_inner()) = Some(recommender);
    }

    /// Lets `tool.*` actions run the creative tools.
    pub fn set_tools(&self, tools: Arc<crate::creative::tools::Toolset>) {
        *self.inner.tools.write().unwrap_or_else(|p| p.into_inner()) = Some(tools);
    }

    /// Lets actions (`call:`) reach their backends.
    pub fn set_actions(&self, actions: Arc<crate::actions::Actions>) {
        *self.inner.actions.write().unwrap_or_else(|p| p.into_inner()) = Some(actions);
    }

    /// Redacts fans' personal data as `config` says in what is stored
    /// (on by default, with every detector).
    pub fn set_privacy(&self, config: &crate::privacy::PrivacyConfig) {
        *self.inner.privacy.write().unwrap_or_else(|p| p.into_inner()) = crate::privacy::Redactor::new(config);
    }

    /// Answers every backend action and Rasa call from `stubs` instead of
    /// the network (conversation tests: `usher test conversations`).
    pub fn set_action_stubs(&self, stubs: Arc<dyn consult::ActionStubs>) {
        *self.inner.stubs.write().unwrap_or_else(|p| p.into_inner()) = Some(stubs);
    }

    /// The creative tools, if attached.
    pub fn tools(&self) -> Option<Arc<crate::creative::tools::Toolset>> {
        self.inner.tools.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The knowledge base, if one is attached.
    pub fn knowledge(&self) -> Option<Arc<KnowledgeBase>> {
        self.inner.knowledge.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Processes one message and waits for its replies (the HTTP API's path).
    /// Replies also go to the channel's adapter if one is registered.
    pub async fn handle(&self, inbound: Inbound) -> Result<Turn, Error> {
        inbound.validate()?;
        self.admit(&inbound.conversation)?;
        let (done, turn) = oneshot::channel();
        self.dispatch(Job { inbound, stored: None, ack: None, done: Some(done) }).await?;
        turn.await.map_err(|_| Error::ShuttingDown)?
    }

    /// Sends `parts` to the fan from `sender` (`agent:NAME`, `system`)
    /// outside a bot turn: stored first, then handed to the fan's channel,
    /// so nothing is lost while the channel is down.
    pub async fn send(&self, conversation: &ConversationId, sender: &str, parts: Vec<Part>) -> Result<Outbound, Error> {
        let outbound = self
            .inner
            .store
            .append_outbound(conversation, sender, &parts)
            .await?
            .ok_or_else(|| Error::NotFound(conversation.to_string()))?;
        Metrics::inc(&self.inner.metrics.replies_out);
        self.inner.route(outbound.clone()).await;
        self.inner.publish(Event::Message { conversation: conversation.clone() });
        Ok(outbound)
    }

    /// Live events: conversations changing, the handoff queue changing.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Announces an event to every console.
    pub fn publish(&self, event: Event) {
        self.inner.publish(event);
    }

    /// The conversation's transcript.
    pub async fn transcript(&self, conversation: &ConversationId) -> Result<Option<Transcript>, Error> {
        self.inner.store.transcript(conversation).await
    }

    /// Re-processes messages stored but never answered (after a crash).
    pub async fn recover(&self) -> Result<usize, Error> {
        let pending = self.inner.store.pending().await?;
        let n = pending.len();
        for (id, inbound) in pending {
            self.dispatch(Job { inbound, stored: Some(id), ack: None, done: None }).await?;
        }
        Ok(n)
    }

    /// Starts `adapter`: its messages flow into the engine, replies for its
    /// channel flow out to it, and the replies it reports delivered are
    /// marked so in the store. Replies of the last [`RESEND_WINDOW`] that were
    /// never reported delivered (a crash, a platform outage) are sent again
    /// first; adapters recognise a reply they already hold by its id. The
    /// returned task ends when the adapter does.
    pub fn start_adapter(&self, adapter: Box<dyn Adapter>, shutdown: Shutdown) -> JoinHandle<()> {
        let name = adapter.name().to_string();
        let (reply_tx, replies) = mpsc::channel(256);
        let route = Route { tx: reply_tx.clone(), holds_connections: adapter.holds_connections() };
        self.inner.routes.write().unwrap_or_else(|p| p.into_inner()).insert(name.clone(), route);
        let (sub_tx, mut submissions) = mpsc::channel::<Submission>(256);
        let engine = self.clone();
        tokio::spawn(async move {
            while let Some(Submission { inbound, ack }) = submissions.recv().await {
                if let Err(e) = engine.admit(&inbound.conversation) {
                    let _ = ack.send(Err(Rejection::unavailable(e.to_string())));
                    continue;
                }
                let job = Job { inbound, stored: None, ack: Some(ack), done: None };
                if let Err(e) = engine.dispatch(job).await {
                    tracing::warn!(error = %e, "could not queue a message");
                }
            }
        });
        let (receipts, mut delivered) = Receipts::new();
        let store = Arc::clone(&self.inner.store);
        tokio::spawn(async move {
            while let Some(id) = delivered.recv().await {
                if let Err(e) = store.mark_delivered(id).await {
                    tracing::warn!(reply = id, error = %e, "could not mark a reply delivered; it may be sent again");
                }
            }
        });
        let store = Arc::clone(&self.inner.store);
        let channel = name.clone();
        // The route is in place: replies from now on reach the adapter live,
        // so only older ones are resent (else a turn finishing before this
        // task runs would be delivered twice).
        let started = crate::util::now_ms();
        tokio::spawn(async move {
            let since = started - RESEND_WINDOW.as_millis() as i64;
            match store.undelivered(&channel, since, started).await {
                Ok(unsent) => {
                    if !unsent.is_empty() {
                        tracing::info!(%channel, replies = unsent.len(), "resending replies never reported delivered");
                    }
                    for reply in unsent {
                        if reply_tx.send(reply).await.is_err() {
                            break;
                        }
                    }
                }
                Err(e) => tracing::error!(%channel, error = %e, "could not load undelivered replies"),
            }
        });
        let ctx = Context { output: InboundSender::new(sub_tx), replies, shutdown, receipts };
        tokio::spawn(async move {
            if let Err(e) = adapter.run(ctx).await {
                tracing::error!(channel = %name, error = %e, "adapter stopped");
            }
        })
    }

    /// Queues a job on its conversation's worker, starting one if needed.
    async fn dispatch(&self, job: Job) -> Result<(), Error> {
        let depth = &self.inner.metrics.queue_depth;
        depth.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let queued = self.queue(job).await;
        if queued.is_err() {
            depth.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        queued
    }

    async fn queue(&self, job: Job) -> Result<(), Error> {
        let mut job = job;
        loop {
            let sender = {
                let mut workers = self.inner.workers.lock().unwrap_or_else(|p| p.into_inner());
                let conversation = job.inbound.conversation.clone();
                let sender = workers
                    .entry(conversation.clone())
                    .or_insert_with(|| worker::spawn(Arc::clone(&self.inner), conversation))
                    .clone();
                // try_send under the lock: a worker only retires (under the same
                // lock) when its queue is empty, so a queued job is never orphaned.
                match sender.try_send(job) {
                    Ok(()) => return Ok(()),
                    Err(mpsc::error::TrySendError::Full(j)) => {
                        job = j;
                        sender
                    }
                    Err(mpsc::error::TrySendError::Closed(j)) => {
                        job = j;
                        workers.remove(&job.inbound.conversation);
                        continue;
                    }
                }
            };
            // Full queue: wait for room outside the lock. The worker cannot
            // retire while its queue is non-empty.
            match sender.send(job).await {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(j)) => job = j,
            }
        }
    }
}
