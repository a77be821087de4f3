//! Dynamic batching of NLU across conversations. One dedicated thread
//! (never an async worker) takes every message waiting for NLU at that
//! moment and runs them as one batch, so under load the encoder sees
//! batches (length-sorted inside `Nlu::parse_batch`) instead of one
//! forward pass per message, and an idle server adds no delay: a lone
//! message is a batch of one.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use super::Brain;
use crate::metrics::Metrics;
use crate::nlu::{Context, Parse};
use crate::Error;

/// Largest batch.
const MAX_BATCH: usize = 64;

struct Request {
    brain: Arc<Brain>,
    text: String,
    context: Context,
    reply: oneshot::Sender<Result<Parse, Error>>,
}

/// The way into the NLU thread.
pub(crate) struct Batcher {
    tx: mpsc::Sender<Request>,
}

impl Batcher {
    /// Starts the NLU thread; it ends when the batcher is dropped.
    pub(crate) fn start(metrics: Arc<Metrics>) -> Result<Self, Error> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("usher-nlu".into())
            .spawn(move || run(&rx, &metrics))
            .map_err(|e| Error::Model(format!("cannot start the NLU thread: {e}")))?;
        Ok(Self { tx })
    }

    /// Understands `text` in `context` with `brain`, batched with whatever
    /// else waits.
    pub(crate) async fn parse(&self, brain: Arc<Brain>, text: String, context: Context) -> Result<Parse, Error> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request { brain, text, context, reply }).map_err(|_| Error::ShuttingDown)?;
        answer.await.map_err(|_| Error::ShuttingDown)?
    }
}

fn run(rx: &mpsc::Receiver<Request>, metrics: &Metrics) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        // A reload may have swapped the brain mid-queue: one batch per brain.
        while !batch.is_empty() {
            let brain = Arc::clone(&batch[0].brain);
            let (same, rest): (Vec<Request>, Vec<Request>) =
                batch.into_iter().partition(|r| Arc::ptr_eq(&r.brain, &brain));
            batch = rest;
            let texts: Vec<&str> = same.iter().map(|r| r.text.as_str()).collect();
            let contexts: Vec<Context> = same.iter().map(|r| r.context.clone()).collect();
            let started = Instant::now();
            let parsed = brain.nlu.parse_batch_in(&texts, &contexts);
            metrics.inference.observe(started.elapsed());
            metrics.batch_size.observe_value(same.len() as f64);
            match parsed {
                Ok(parses) => {
                    for (r, p) in same.into_iter().zip(parses) {
                        let _ = r.reply.send(Ok(p));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for r in same {
                        let _ = r.reply.send(Err(Error::Model(message.clone())));
                    }
                }
            }
        }
    }
}
