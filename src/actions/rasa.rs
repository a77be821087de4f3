//! The bridge to a Rasa action server: `call: rasa.NAME` posts Rasa's
//! webhook request (`next_action`, `sender_id`, `tracker` with the slots,
//! the latest message and events, `domain`, `version`) to `actions.rasa`'s
//! URL, and turns the answer's `events` (`slot`, `reset_slots`,
//! `followup`) and `responses` (text, buttons, images) into a [`Called`].
//! A team leaving Rasa keeps its actions code.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Value};
use usher_channel::Button;

use super::{finish, Actions};
use crate::dialogue::evidence::{Called, Said};
use crate::intents::{Domain, Method};
use crate::nlu::{EntityMatch, Ranked};

/// The Rasa version whose protocol the request follows.
const RASA_VERSION: &str = "3.6.0";

/// What a Rasa action is called with.
#[derive(Debug, Clone, Copy)]
pub struct RasaCall<'a> {
    /// The action's name on the server.
    pub action: &'a str,
    /// The conversation (Rasa's `sender_id`).
    pub conversation: &'a str,
    /// The channel (`latest_input_channel`).
    pub channel: &'a str,
    /// The slots.
    pub slots: &'a BTreeMap<String, String>,
    /// The fan's message.
    pub text: &'a str,
    /// The intent ranking, best first.
    pub ranking: &'a [Ranked],
    /// The entities.
    pub entities: &'a [EntityMatch],
    /// The idempotency key.
    pub key: &'a str,
    /// The turn's request id (`X-Request-Id`).
    pub request_id: &'a str,
}

/// The webhook request body.
pub(super) fn request(call: &RasaCall<'_>, domain: &Domain) -> Value {
    let now = crate::util::now_ms() as f64 / 1000.0;
    let intent = |r: &Ranked| json!({"name": r.name, "confidence": r.confidence});
    let entities: Vec<Value> = call
        .entities
        .iter()
        .map(|e| {
            json!({"entity": e.entity, "value": e.value, "start": e.start, "end": e.end,
                   "extractor": e.extractor, "text": e.text})
        })
        .collect();
    let latest = json!({
        "text": call.text,
        "intent": call.ranking.first().map(intent).unwrap_or(json!({})),
        "intent_ranking": call.ranking.iter().map(intent).collect::<Vec<_>>(),
        "entities": entities,
    });
    let mut events: Vec<Value> = vec![json!({"event": "action", "timestamp": now, "name": "action_session_start"})];
    events.extend(call.slots.iter().map(|(k, v)| json!({"event": "slot", "timestamp": now, "name": k, "value": v})));
    events.push(json!({"event": "user", "timestamp": now, "text": call.text, "parse_data": latest,
                       "input_channel": call.channel}));
    let mut slots: BTreeMap<String, Value> =
        domain.flows.values().flat_map(|f| f.collected().map(|s| (s.name.clone(), Value::Null))).collect();
    slots.extend(call.slots.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))));
    let domain_slots: BTreeMap<&String, Value> =
        slots.keys().map(|k| (k, json!({"type": "any", "influence_conversation": false, "mappings": []}))).collect();
    json!({
        "next_action": call.action,
        "sender_id": call.conversation,
        "version": RASA_VERSION,
        "tracker": {
            "sender_id": call.conversation,
            "slots": slots,
            "latest_message": latest,
            "latest_event_time": now,
            "followup_action": null,
            "paused": false,
            "events": events,
            "latest_input_channel": call.channel,
            "active_loop": {},
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        },
        "domain": {
            "version": "3.1",
            "intents": domain.intents.iter().map(|i| i.name.clone()).collect::<Vec<_>>(),
            "entities": domain.entities.keys().collect::<Vec<_>>(),
            "slots": domain_slots,
            "responses": {},
            "actions": [call.action],
            "forms": {},
        },
    })
}

/// Reads a webhook answer into `called`.
pub(super) fn read(answer: &Value, called: &mut Called) {
    for event in answer.get("events").and_then(Value::as_array).into_iter().flatten() {
        match event.get("event").and_then(Value::as_str) {
            Some("slot") => {
                let Some(name) = event.get("name").and_then(Value::as_str) else { continue };
                let value = match event.get("value") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                };
                called.saved.insert(name.to_string(), value);
            }
            Some("reset_slots") => {
                called.reset_slots = true;
                called.saved.clear();
            }
            Some("followup") => called.followup = event.get("name").and_then(Value::as_str).map(str::to_string),
            _ => {}
        }
    }
    for r in answer.get("responses").and_then(Value::as_array).into_iter().flatten() {
        let text = r.get("text").and_then(Value::as_str).unwrap_or_default().to_string();
        let buttons: Vec<Button> = r
            .get("buttons")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|b| {
                let title = b.get("title").and_then(Value::as_str)?.to_string();
                let payload = b.get("payload").and_then(Value::as_str).unwrap_or(&title).to_string();
                Some(Button { title, payload })
            })
            .collect();
        let image = r.get("image").and_then(Value::as_str).map(str::to_string);
        if !text.is_empty() || !buttons.is_empty() || image.is_some() {
            called.said.push(Said { text, buttons, image });
        }
    }
}

impl Actions {
    /// Calls a Rasa action; never fails: every problem is an outcome. The
    /// server answers 404 for an action it does not have (`not_found`) and
    /// 400 when the action rejected the call (`refused`).
    #[tracing::instrument(skip_all, fields(action = %call.action, key = %call.key, request_id = %call.request_id))]
    pub async fn call_rasa(&self, call: &RasaCall<'_>, domain: &Domain) -> Called {
        let started = Instant::now();
        let mut called = Called::new(&format!("rasa.{}", call.action), "rasa");
        let Some(endpoint) = &self.rasa else {
            called.detail = Some("no Rasa action server: set actions.rasa.url in config.yaml".into());
            return called;
        };
        let body = serde_json::to_vec(&request(call, domain)).unwrap_or_default();
        let answer = self
            .exchange(endpoint, Method::Post, &endpoint.base, Some(&body), (call.key, call.request_id), &mut called)
            .await;
        if let Some((status, json)) = answer {
            called.outcome = match status {
                200..=299 => "ok",
                404 => "not_found",
                400 => "refused",
                _ => "error",
            }
            .to_string();
            match (&json, status) {
                (Some(json), 200..=299) => read(json, &mut called),
                (Some(json), _) => called.detail = json.get("error").and_then(Value::as_str).map(str::to_string),
                _ => {}
            }
        }
        finish(called, started)
    }

    /// The longest a Rasa call may take.
    pub fn rasa_budget(&self) -> std::time::Duration {
        self.rasa.as_ref().map_or(std::time::Duration::from_secs(1), super::Endpoint::budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_slots_messages_and_followups() {
        let answer = json!({
            "events": [
                {"event": "slot", "name": "order_status", "value": "cancelled"},
                {"event": "slot", "name": "count", "value": 2},
                {"event": "followup", "name": "action_next"},
            ],
            "responses": [
                {"text": "Order A12345 is cancelled.", "buttons": [{"title": "Refund it", "payload": "/refund_request"}]},
                {"text": null, "image": "https://example.com/x.png"},
                {"custom": {"anything": 1}},
            ],
        });
        let mut called = Called::new("rasa.x", "rasa");
        read(&answer, &mut called);
        assert_eq!(called.saved.get("order_status").map(String::as_str), Some("cancelled"));
        assert_eq!(called.saved.get("count").map(String::as_str), Some("2"));
        assert_eq!(called.followup.as_deref(), Some("action_next"));
        assert_eq!(called.said.len(), 2, "{:?}", called.said);
        assert_eq!(called.said[0].buttons[0].payload, "/refund_request");
        assert_eq!(called.said[1].image.as_deref(), Some("https://example.com/x.png"));
    }
}
