//! One conversation's ordered worker: a task that processes that
//! conversation's messages one at a time and retires when idle.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use usher_channel::{Accepted, ConversationId, Inbound, Outbound, Rejection};

use super::{Inner, Job, Turn};
use crate::dialogue::{self, command_payload, payload_intent, Handoff, Message, Reason, OUT_OF_SCOPE};
use crate::handoff::{Event, NewTicket};
use crate::metrics::Metrics;
use crate::nlu::{Parse, Ranked};
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
/// when the turn opened a handoff ticket.
async fn answer(inner: &Arc<Inner>, inbound: &Inbound, inbound_id: i64) -> Result<(Turn, bool), Error> {
    let brain = {
        let guard = inner.brain.read().unwrap_or_else(|p| p.into_inner());
        Arc::clone(&guard)
    };
    let mut tracker = inner.store.tracker(&inbound.conversation).await?;
    if tracker.with_human() && inner.store.open_ticket(&inbound.conversation).await?.is_none() {
        // The agent handed the conversation back (or closed it): the bot resumes.
        tracker.handoff = Handoff::Bot;
        tracker.fallbacks = 0;
        tracker.negative_turns = 0;
    }
    let payload = inbound.payload.as_deref().or_else(|| command_payload(&inbound.text));
    let mut parse = match payload_intent(&brain.domain, payload) {
        Some(name) => Parse {
            intent: Ranked { name: name.to_string(), confidence: 1.0 },
            ranking: vec![Ranked { name: name.to_string(), confidence: 1.0 }],
            entities: brain.nlu.entities(&inbound.text),
            sentiment: None,
            knowledge: None,
            tool: None,
        },
        None => inner.nlu.parse(Arc::clone(&brain), inbound.text.clone()).await?,
    };
    let by_button = payload.is_some();
    if !by_button && dialogue::wants_knowledge(&brain.domain, &tracker, &parse) {
        parse.knowledge = look_up(inner, &inbound.text).await?;
    }
    if let Some(tool) = dialogue::wants_tool(&brain.domain, &tracker, &parse) {
        parse.tool = run_tool(inner, tool, &inbound.text, &inbound.conversation).await?;
    }
    let msg = Message { text: &inbound.text, payload };
    let (was_human, fallbacks_before) = (tracker.with_human(), tracker.fallbacks);
    let replies = dialogue::decide(&brain.domain, &mut tracker, msg, &parse);
    let handoff = match tracker.handoff {
        Handoff::Waiting { reason, .. } if !was_human => Some(NewTicket::new(reason, parse.sentiment)),
        _ => None,
    };
    let unanswered = parse.intent.name == OUT_OF_SCOPE && !parse.knowledge.as_ref().is_some_and(|a| a.confident);
    let fallback = !was_human
        && (tracker.fallbacks > fallbacks_before
            || handoff.is_some_and(|t| t.reason == Reason::Fallbacks)
            || (unanswered && !by_button));
    let record = TurnRecord {
        conversation: &inbound.conversation,
        inbound_id,
        nlu: serde_json::to_value(&parse)?,
        replies: &replies,
        tracker: &tracker,
        fallback,
        handoff,
    };
    let ids = inner.store.complete_turn(record).await?;
    let outbound: Vec<Outbound> = ids
        .into_iter()
        .zip(replies)
        .map(|(id, parts)| Outbound {
            conversation: inbound.conversation.clone(),
            channel: inbound.channel.clone(),
            id,
            parts,
        })
        .collect();
    Ok((Turn { inbound_id, parse, replies: outbound }, handoff.is_some()))
}

/// A creative tool's output, on the blocking pool under the inference
/// semaphore; `None` when no toolset is attached or it lacks the tool.
async fn run_tool(
    inner: &Inner,
    tool: &str,
    text: &str,
    conversation: &ConversationId,
) -> Result<Option<crate::creative::tools::ToolOutput>, Error> {
    let tools = inner.tools.read().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(tools) = tools else {
        return Ok(None);
    };
    let _permit = inner.inference.acquire().await.map_err(|_| Error::ShuttingDown)?;
    let (tool, text, conversation) = (tool.to_string(), text.to_string(), conversation.to_string());
    tokio::task::spawn_blocking(move || tools.run(&tool, &text, &conversation))
        .await
        .map_err(|e| Error::Model(format!("tool task failed: {e}")))
}

/// The knowledge base's answer, if one is attached; a failed lookup is
/// logged and treated as no answer.
async fn look_up(inner: &Inner, text: &str) -> Result<Option<crate::knowledge::Answer>, Error> {
    let kb = inner.knowledge.read().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(kb) = kb else {
        return Ok(None);
    };
    let _permit = inner.inference.acquire().await.map_err(|_| Error::ShuttingDown)?;
    match kb.answer(text).await {
        Ok(answer) => Ok(answer),
        Err(e) => {
            tracing::warn!(error = %e, "knowledge lookup failed");
            Ok(None)
        }
    }
}
