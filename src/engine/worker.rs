//! One conversation's ordered worker: a task that processes that
//! conversation's messages one at a time and retires when idle.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use usher_channel::{Accepted, ConversationId, Inbound, Outbound, Rejection};

use super::consult::Asker;
use super::{Brain, Inner, Job, Turn};
use crate::dialogue::{
    self, command_payload, payload_entities, payload_intent, Evidence, Explanation, Message, Tracker,
};
use crate::handoff::{Event, NewTicket};
use crate::intents::Domain;
use crate::metrics::Metrics;
use crate::nlu::{Context, Parse};
use crate::store::TurnRecord;
use crate::Error;

/// How long an idle worker waits before retiring.
const IDLE: Duration = Duration::from_secs(30);

pub(super) fn spawn(inner: Arc<Inner>, conversation: ConversationId) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(super::QUEUE);
    tokio::spawn(run(inner, conversation, rx, tx.clone()));
    tx
}

async fn run(inner: Arc<Inner>, conversation: ConversationId, mut rx: mpsc::Receiver<Job>, me: mpsc::Sender<Job>) {
    loop {
        match tokio::time::timeout(IDLE, rx.recv()).await {
            Ok(Some(job)) => process(&inner, job).await,
            Ok(None) => return,
            Err(_idle) => {
                let mut workers = inner.workers.lock().unwrap_or_else(|p| p.into_inner());
                if rx.is_empty() {
                    if workers.get(&conversation).is_some_and(|s| s.same_channel(&me)) {
                        workers.remove(&conversation);
                    }
                    rx.close();
                    return;
                }
            }
        }
    }
}

async fn process(inner: &Arc<Inner>, job: Job) {
    use std::sync::atomic::Ordering::Relaxed;
    inner.metrics.in_flight.fetch_add(1, Relaxed);
    inner.metrics.queue_depth.fetch_sub(1, Relaxed);
    let Job { inbound, stored, ack, done } = job;
    let result = turn(inner, inbound, stored, ack).await;
    inner.metrics.in_flight.fetch_sub(1, Relaxed);
    match &result {
        Err(e @ (Error::Duplicate(_) | Error::Conflict(_))) => {
            tracing::info!(reason = %e, "message not answered again")
        }
        Err(e) => tracing::error!(error = %e, "turn failed"),
        Ok(_) => {}
    }
    if let Some(done) = done {
        let _ = done.send(result);
    }
}

async fn turn(
    inner: &Arc<Inner>,
    inbound: Inbound,
    stored: Option<i64>,
    ack: Option<tokio::sync::oneshot::Sender<Result<Accepted, Rejection>>>,
) -> Result<Turn, Error> {
    let inbound_id = match stored {
        Some(id) => id,
        None => match inner.store.append_inbound(&inbound).await {
            Ok(appended) if appended.fresh => {
                Metrics::inc(&inner.metrics.messages_in);
                appended.id
            }
            Ok(appended) => {
                // Delivered again (the platform did not hear our confirmation):
                // the first copy is answered, or will be by recovery.
                if let Some(ack) = ack {
                    let _ = ack.send(Ok(Accepted { message_id: appended.id }));
                }
                return Err(Error::Duplicate(appended.id));
            }
            Err(e) => {
                if let Some(ack) = ack {
                    let _ = ack.send(Err(Rejection::unavailable("the message could not be stored; please retry")));
                }
                return Err(e);
            }
        },
    };
    if let Some(ack) = ack {
        let _ = ack.send(Ok(Accepted { message_id: inbound_id }));
    }
    let started = std::time::Instant::now();
    // The message is acknowledged: a store hiccup (a busy pool, a dropped
    // connection) must not leave it unanswered until the next restart.
    let mut attempt = 0u32;
    let (turn, handoff) = loop {
        match locked_turn(inner, &inbound, inbound_id).await {
            Err(Error::Store(e)) if attempt < RETRIES => {
                attempt += 1;
                tracing::warn!(message = inbound_id, attempt, error = %e, "turn failed on the store; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
            other => break other?,
        }
    };
    inner.metrics.turn.observe(started.elapsed());
    inner.metrics.replies_out.fetch_add(turn.replies.len() as u64, std::sync::atomic::Ordering::Relaxed);
    if handoff {
        Metrics::inc(&inner.metrics.handoffs);
    }
    for reply in &turn.replies {
        inner.route(reply.clone()).await;
    }
    inner.publish(Event::Message { conversation: inbound.conversation.clone() });
    if handoff {
        inner.publish(Event::Queue);
    }
    Ok(turn)
}

/// Store failures retried per acknowledged message.
const RETRIES: u32 = 5;

/// Takes the conversation's turn lock and answers the message unless
/// another replica already did (or, recovering after a restart, picked up
/// this very message).
async fn locked_turn(inner: &Arc<Inner>, inbound: &Inbound, inbound_id: i64) -> Result<(Turn, bool), Error> {
    let lock = inner.store.lock(&inbound.conversation).await?;
    // One process owning the store never answers a message twice: only a
    // shared store needs the check.
    let result = if lock.shared() && inner.store.is_processed(inbound_id).await? {
        Err(Error::Conflict(format!("message {inbound_id} was already answered by another replica")))
    } else {
        answer(inner, inbound, inbound_id).await
    };
    lock.release().await?;
    result
}

/// Understands and answers one stored message under its turn lock; true
/// when the turn opened a handoff ticket. The path is one-way:
/// [`understand`] → [`dialogue::plan`] → [`consult`] → [`dialogue::decide`]
/// → [`at_rest`] → [`persist`].
#[tracing::instrument(skip_all, fields(conversation = %inbound.conversation, message = inbound_id, request_id = %request_id(inbound, inbound_id)))]
async fn answer(inner: &Arc<Inner>, inbound: &Inbound, inbound_id: i64) -> Result<(Turn, bool), Error> {
    let brain = {
        let guard = inner.brain.read().unwrap_or_else(|p| p.into_inner());
        Arc::clone(&guard)
    };
    let mut tracker = inner.store.tracker(&inbound.conversation).await?;
    if tracker.with_human() && inner.store.open_ticket(&inbound.conversation).await?.is_none() {
        tracker.back_to_bot();
    }
    let payload = inbound.payload.as_deref().or_else(|| command_payload(&inbound.text));
    let context = Context::after(tracker.recent.iter().map(|r| r.name.as_str()));
    let parse = understand(inner, &brain, &inbound.text, payload, context).await?;
    let msg = Message { text: &inbound.text, payload };
    let request_id = request_id(inbound, inbound_id);
    let asker = Asker {
        conversation: &inbound.conversation,
        channel: &inbound.channel,
        inbound_id,
        request_id: &request_id,
        domain: &brain.domain,
        embedded: parse.embedding.as_ref().map(|e| (inbound.text.as_str(), e)),
    };
    let evidence = consult(inner, &brain.domain, &tracker, msg, &parse, asker).await?;
    let decision = dialogue::decide(&brain.domain, &mut tracker, msg, &parse, &evidence);
    let handoff = decision.handoff.map(|reason| NewTicket::new(reason, parse.sentiment));
    let explanation = Explanation::new(&parse, &evidence, &decision);
    tracing::debug!(rule = decision.rule.name, detail = %decision.rule.detail, "decided");
    // What is stored keeps no personal data; the fan gets the replies as they are.
    let mut nlu = super::details(&parse, &evidence, Some(&explanation))?;
    let kept = at_rest(inner, &brain.domain, &parse, &mut tracker, &inbound.text, &mut nlu, &decision.replies)?;
    let record = TurnRecord {
        conversation: &inbound.conversation,
        inbound_id,
        text: kept.text,
        fan_keys: kept.fan_keys,
        nlu,
        replies: &kept.replies,
        tracker: &tracker,
        fallback: decision.fallback,
        handoff,
    };
    let ids = persist(inner, record).await?;
    let replies = ids
        .into_iter()
        .zip(decision.replies)
        .map(|(id, parts)| Outbound {
            conversation: inbound.conversation.clone(),
            channel: inbound.channel.clone(),
            id,
            parts,
        })
        .collect();
    Ok((Turn { inbound_id, parse, evidence, replies, explanation }, handoff.is_some()))
}

/// What the store keeps of a turn: the message and the replies with fans'
/// personal data replaced (`nlu` is redacted in place), and the tracker
/// without the slots of sensitive entities once no flow needs them. The
/// fan gets the replies as they are.
#[tracing::instrument(skip_all)]
fn at_rest(
    inner: &Inner,
    domain: &Domain,
    parse: &Parse,
    tracker: &mut Tracker,
    text: &str,
    nlu: &mut serde_json::Value,
    replies: &[Vec<usher_channel::Part>],
) -> Result<Kept, Error> {
    let redactor = inner.privacy.read().unwrap_or_else(|p| p.into_inner()).clone();
    let sensitive = |e: &str| domain.entities.get(e).is_some_and(|e| e.sensitive);
    // Values of sensitive entities: this message's, and slots named after
    // one (filled earlier, and perhaps repeated in a reply).
    let mut known = parse.entities.clone();
    known.extend(tracker.slots.iter().filter(|(k, _)| sensitive(k)).map(|(k, v)| crate::nlu::EntityMatch {
        entity: k.clone(),
        value: v.clone(),
        text: v.clone(),
        start: 0,
        end: 0,
        extractor: "slot",
    }));
    redactor.redact_json(nlu, &known, &sensitive);
    let stored_text = Some(redactor.redact(text, &known, &sensitive)).filter(|t| t != text);
    let mut stored = serde_json::to_value(replies)?;
    redactor.redact_json(&mut stored, &known, &sensitive);
    if tracker.flows.is_empty() {
        tracker.slots.retain(|k, _| !sensitive(k));
    }
    let fan_keys = crate::privacy::Redactor::fan_keys(text);
    Ok(Kept { text: stored_text, replies: serde_json::from_value(stored)?, fan_keys })
}

/// What [`at_rest`] keeps of a turn.
struct Kept {
    /// The message's text when redaction changed it.
    text: Option<String>,
    /// The replies as stored.
    replies: Vec<Vec<usher_channel::Part>>,
    /// Keys that find the fan again (hashed emails).
    fan_keys: Vec<String>,
}

/// The turn's request id: the HTTP request's, else one named after the
/// stored message (the same when a message is answered again after a crash).
fn request_id(inbound: &Inbound, inbound_id: i64) -> String {
    inbound.request_id.clone().unwrap_or_else(|| format!("msg-{inbound_id}"))
}

/// What the message means: a pressed button's intent for certain, else
/// the NLU's reading in the conversation's context (batched on the NLU
/// thread): follow-ups count only after the intents they follow.
#[tracing::instrument(skip_all)]
async fn understand(
    inner: &Inner,
    brain: &Arc<Brain>,
    text: &str,
    payload: Option<&str>,
    context: Context,
) -> Result<Parse, Error> {
    match payload_intent(&brain.domain, payload) {
        Some(name) => {
            let mut entities = brain.nlu.entities(text);
            entities.extend(payload.map(payload_entities).unwrap_or_default());
            Ok(Parse::certain(name, entities))
        }
        None => inner.nlu.parse(Arc::clone(brain), text.to_string(), context).await,
    }
}

/// Most rounds of planning and consulting in one turn: each round brings
/// what the policy lacks first (a flow's calls come one round each). A need
/// still missing after the last round counts as not found (an action: `error`).
const ROUNDS: usize = 8;

/// Asks the policy what it lacks and consults a source for each need until
/// it lacks nothing (or [`ROUNDS`] have passed).
#[tracing::instrument(skip_all)]
async fn consult(
    inner: &Inner,
    domain: &Domain,
    tracker: &Tracker,
    msg: Message<'_>,
    parse: &Parse,
    asker: Asker<'_>,
) -> Result<Evidence, Error> {
    let mut evidence = Evidence::default();
    for _ in 0..ROUNDS {
        let needs = dialogue::plan(domain, tracker, msg, parse, &evidence);
        if needs.is_empty() {
            break;
        }
        for need in needs {
            let found = inner.consult(&need, asker).await?;
            evidence.record(need, found);
        }
    }
    Ok(evidence)
}

/// Stores the turn (its replies, the tracker, the ticket) in one
/// transaction; the replies' ids, in order.
#[tracing::instrument(skip_all)]
async fn persist(inner: &Inner, record: TurnRecord<'_>) -> Result<Vec<i64>, Error> {
    inner.store.complete_turn(record).await
}
