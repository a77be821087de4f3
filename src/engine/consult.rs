//! The consult step: each [`Need`] the policy plans goes to the [`Source`]
//! that answers it (the knowledge base, the creative tools, a backend
//! action), under that source's timeout. CPU-bound sources run on the blocking pool and under
//! the engine's inference semaphore; a source that is missing, fails or
//! times out is recorded as unavailable and the policy decides without it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use usher_channel::ConversationId;

use super::Inner;
use crate::actions::{idempotency_key, Actions, RasaCall, Values};
use crate::creative::tools::Toolset;
use crate::dialogue::{Called, Found, Need, Passage, Produced};
use crate::intents::{ActionSpec, Domain};
use crate::knowledge::KnowledgeBase;
use crate::nlu::Embedding;
use crate::Error;

/// The turn a need belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    /// The conversation.
    pub conversation: &'a ConversationId,
    /// The channel the message came on.
    pub channel: &'a str,
    /// The stored inbound message's id.
    pub inbound_id: i64,
    /// The turn's request id: the HTTP request's `x-request-id`, or one
    /// made for the turn.
    pub request_id: &'a str,
    /// The intent files the turn runs on (actions' specs).
    pub domain: &'a Domain,
    /// The message's text and its sentence embedding from the NLU step:
    /// a knowledge lookup of that text searches with it, encoding nothing.
    pub embedded: Option<(&'a str, &'a Embedding)>,
}

impl<'a> Asker<'a> {
    /// What a backend call of `action` for this turn fills its placeholders
    /// with: `slots`, the conversation, the channel, the message and its
    /// idempotency key.
    fn values(&self, slots: &'a BTreeMap<String, String>, action: &str) -> Values<'a> {
        let conversation = self.conversation.as_str();
        Values {
            slots,
            conversation,
            channel: self.channel,
            message_id: self.inbound_id,
            key: idempotency_key(conversation, self.inbound_id, action),
            request_id: self.request_id,
        }
    }
}

/// Something the engine can consult for the policy.
#[async_trait]
pub trait Source: Send + Sync {
    /// How long a turn waits for it.
    fn timeout(&self) -> Duration;
    /// Whether its work is CPU-heavy (a forward pass, an index search): it
    /// then runs under the inference semaphore, on the blocking pool.
    fn cpu_bound(&self) -> bool;
    /// What it finds for `need`.
    async fn consult(&self, need: &Need, asker: Asker<'_>) -> Result<Found, Error>;
}

#[async_trait]
impl Source for KnowledgeBase {
    fn timeout(&self) -> Duration {
        KnowledgeBase::timeout(self)
    }

    fn cpu_bound(&self) -> bool {
        true
    }

    async fn consult(&self, need: &Need, asker: Asker<'_>) -> Result<Found, Error> {
        let Need::Knowledge { query } = need else { return Err(mismatch(need, "knowledge")) };
        let embedding = asker.embedded.filter(|(text, _)| text == query).map(|(_, e)| e);
        let answer = self.answer_with(query, embedding).await?;
        Ok(Found::Passage(answer.map(|a| Passage {
            citation: a.citation(),
            text: a.text,
            path: a.path,
            similarity: a.similarity,
            confident: a.confident,
            runners_up: a.runners_up,
        })))
    }
}

/// The creative tools, shared with the blocking pool.
struct Tools(Arc<Toolset>);

#[async_trait]
impl Source for Tools {
    fn timeout(&self) -> Duration {
        self.0.timeout()
    }

    fn cpu_bound(&self) -> bool {
        true
    }

    async fn consult(&self, need: &Need, asker: Asker<'_>) -> Result<Found, Error> {
        let Need::Tool { tool, text, .. } = need else { return Err(mismatch(need, "tool")) };
        let (tools, tool, text, conversation) =
            (Arc::clone(&self.0), tool.clone(), text.clone(), asker.conversation.to_string());
        let output = tokio::task::spawn_blocking(move || tools.run(&tool, &text, &conversation))
            .await
            .map_err(|e| Error::Model(format!("tool task failed: {e}")))?;
        Ok(Found::Produced(output.map(|o| Produced {
            tool: o.tool,
            text: o.text,
            attachments: o.attachments,
            buttons: Vec::new(),
            slots: BTreeMap::new(),
            made_by: o.provenance.map(|p| p.text()),
        })))
    }
}

/// The recommender (`tool.recommend`), with the backend action that
/// fetches a fan's history (`fan_history`, when the intent files declare it
/// and the values fill its path).
struct Recommend {
    rec: Arc<crate::recs::Recommender>,
    history: Option<(Arc<Actions>, ActionSpec)>,
}

/// The action whose saved `history` (comma-separated catalogue ids) is the fan's history.
pub const HISTORY_ACTION: &str = "fan_history";

#[async_trait]
impl Source for Recommend {
    fn timeout(&self) -> Duration {
        let call = self.history.as_ref().map(|(a, s)| a.budget(&s.endpoint)).unwrap_or_default();
        call + Duration::from_secs(2)
    }

    fn cpu_bound(&self) -> bool {
        false // the backend call is I/O; the ranking goes to the blocking pool below
    }

    async fn consult(&self, need: &Need, asker: Asker<'_>) -> Result<Found, Error> {
        let Need::Tool { text, payload, values, .. } = need else { return Err(mismatch(need, "tool")) };
        // What an earlier turn fetched, unless the backend answers now.
        let mut history = crate::recs::chat::ids(values.get("history").map_or("", String::as_str));
        if let Some((actions, spec)) = &self.history {
            let call = asker.values(values, &spec.name);
            if call.fill_path(spec) {
                let called = actions.call(spec, &call).await;
                match called.saved.get("history") {
                    Some(h) if called.outcome == "ok" => history = crate::recs::chat::ids(h),
                    _ => tracing::info!(outcome = %called.outcome, "no history for the fan; suggesting popular items"),
                }
            }
        }
        let (rec, text, payload, values) = (Arc::clone(&self.rec), text.clone(), payload.clone(), values.clone());
        let rules = asker.domain.recommendations.clone();
        let reply = tokio::task::spawn_blocking(move || {
            crate::recs::chat::reply(&rec, &text, payload.as_deref(), &values, &history, Some(&rules))
        })
        .await
        .map_err(|e| Error::Model(format!("recommendation task failed: {e}")))??;
        Ok(Found::Produced(Some(Produced {
            tool: "recommend".into(),
            text: reply.text,
            attachments: Vec::new(),
            buttons: reply.buttons,
            slots: reply.slots,
            made_by: None,
        })))
    }
}

/// One backend action, with its spec from the turn's domain.
struct Backend {
    actions: Arc<Actions>,
    spec: ActionSpec,
}

#[async_trait]
impl Source for Backend {
    fn timeout(&self) -> Duration {
        // The call keeps its own per-attempt timeouts; this only bounds it.
        self.actions.budget(&self.spec.endpoint)
    }

    fn cpu_bound(&self) -> bool {
        false
    }

    async fn consult(&self, need: &Need, asker: Asker<'_>) -> Result<Found, Error> {
        let Need::Action { values, .. } = need else { return Err(mismatch(need, "action")) };
        Ok(Found::Called(self.actions.call(&self.spec, &asker.values(values, &self.spec.name)).await))
    }
}

/// A Rasa action server.
struct Rasa(Arc<Actions>);

#[async_trait]
impl Source for Rasa {
    fn timeout(&self) -> Duration {
        self.0.rasa_budget()
    }

    fn cpu_bound(&self) -> bool {
        false
    }

    async fn consult(&self, need: &Need, asker: Asker<'_>) -> Result<Found, Error> {
        let Need::Rasa { action, slots, text, ranking, entities } = need else { return Err(mismatch(need, "rasa")) };
        let conversation = asker.conversation.as_str();
        let key = idempotency_key(conversation, asker.inbound_id, &format!("rasa.{action}"));
        let call = RasaCall {
            action,
            conversation,
            channel: asker.channel,
            slots,
            text,
            ranking,
            entities,
            key: &key,
            request_id: asker.request_id,
        };
        Ok(Found::Called(self.0.call_rasa(&call, asker.domain).await))
    }
}

/// Canned answers for backend calls, for conversation tests: while set on
/// the engine they stand in for every action and Rasa call.
pub trait ActionStubs: Send + Sync {
    /// What the call of `action` (`rasa.NAME` for a Rasa action) with
    /// `values` comes to for `conversation`.
    fn call(&self, conversation: &ConversationId, action: &str, values: &BTreeMap<String, String>) -> Called;
}

struct Stubbed(Arc<dyn ActionStubs>);

#[async_trait]
impl Source for Stubbed {
    fn timeout(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn cpu_bound(&self) -> bool {
        false
    }

    async fn consult(&self, need: &Need, asker: Asker<'_>) -> Result<Found, Error> {
        let called = match need {
            Need::Action { action, values } => self.0.call(asker.conversation, action, values),
            Need::Rasa { action, slots, .. } => self.0.call(asker.conversation, &format!("rasa.{action}"), slots),
            _ => return Err(mismatch(need, "stubbed action")),
        };
        Ok(Found::Called(called))
    }
}

fn mismatch(need: &Need, source: &str) -> Error {
    Error::Model(format!("the {source} source cannot answer a {} need", need.kind()))
}

impl Inner {
    /// The source that answers `need`, when one is attached.
    fn source(&self, need: &Need, asker: Asker<'_>) -> Option<Arc<dyn Source>> {
        if matches!(need, Need::Action { .. } | Need::Rasa { .. }) {
            if let Some(stubs) = self.stubs.read().unwrap_or_else(|p| p.into_inner()).clone() {
                return Some(Arc::new(Stubbed(stubs)));
            }
        }
        match need {
            Need::Knowledge { .. } => {
                let kb = self.knowledge.read().unwrap_or_else(|p| p.into_inner()).clone();
                kb.map(|kb| kb as Arc<dyn Source>)
            }
            Need::Tool { tool, .. } if tool == "recommend" => {
                let rec = self.recommender.read().unwrap_or_else(|p| p.into_inner()).clone()?;
                let actions = self.actions.read().unwrap_or_else(|p| p.into_inner()).clone();
                let spec = asker.domain.actions.get(HISTORY_ACTION).cloned();
                Some(Arc::new(Recommend { rec, history: actions.zip(spec) }))
            }
            Need::Tool { .. } => {
                let tools = self.tools.read().unwrap_or_else(|p| p.into_inner()).clone();
                tools.map(|t| Arc::new(Tools(t)) as Arc<dyn Source>)
            }
            Need::Action { action, .. } => {
                let actions = self.actions.read().unwrap_or_else(|p| p.into_inner()).clone()?;
                let spec = asker.domain.actions.get(action)?.clone();
                Some(Arc::new(Backend { actions, spec }))
            }
            Need::Rasa { .. } => {
                let actions = self.actions.read().unwrap_or_else(|p| p.into_inner()).clone()?;
                Some(Arc::new(Rasa(actions)))
            }
        }
    }

    /// Consults the source for `need`; never fails the turn: a missing,
    /// failing or slow source is [`Found::Unavailable`].
    #[tracing::instrument(skip_all, fields(need = need.kind()))]
    pub(super) async fn consult(&self, need: &Need, asker: Asker<'_>) -> Result<Found, Error> {
        let Some(source) = self.source(need, asker) else {
            return Ok(Found::Unavailable { why: format!("no {} source is attached", need.kind()) });
        };
        let _permit = match source.cpu_bound() {
            true => Some(self.inference.acquire().await.map_err(|_| Error::ShuttingDown)?),
            false => None,
        };
        let limit = source.timeout();
        let found = match tokio::time::timeout(limit, source.consult(need, asker)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "consulting failed; deciding without it");
                Found::Unavailable { why: e.to_string() }
            }
            Err(_) => {
                tracing::warn!(timeout_ms = limit.as_millis() as u64, "consulting timed out; deciding without it");
                Found::Unavailable { why: format!("no answer within {} ms", limit.as_millis()) }
            }
        };
        if let Found::Called(called) = &found {
            self.metrics.actions.observe(called);
            tracing::info!(
                action = %called.action,
                outcome = %called.outcome,
                status = called.status,
                ms = called.duration_ms,
                attempts = called.attempts,
                detail = called.detail.as_deref().unwrap_or(""),
                "action called"
            );
        }
        Ok(found)
    }
}
