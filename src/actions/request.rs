//! Building one call from an [`ActionSpec`]: the URL with percent-encoded
//! values, the JSON body with JSON-encoded values, the idempotency key, and
//! the fields saved from the answer.

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::intents::{placeholders, ActionSpec};

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// What a call's placeholders may use.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    /// Slots, then the message's entities by entity name.
    pub slots: &'a BTreeMap<String, String>,
    /// `{conversation}`.
    pub conversation: &'a str,
    /// `{channel}`.
    pub channel: &'a str,
    /// `{message_id}`: the inbound message's store id.
    pub message_id: i64,
    /// The call's `Idempotency-Key`.
    pub key: String,
    /// The turn's request id, sent as `X-Request-Id` so the backend's logs
    /// and Usher's meet.
    pub request_id: &'a str,
}

impl Values<'_> {
    /// Whether every placeholder of `spec`'s path has a value (a call
    /// without one fails before it is sent).
    pub fn fill_path(&self, spec: &ActionSpec) -> bool {
        placeholders(&spec.path).iter().all(|(_, name)| self.get(name).is_some())
    }

    fn get(&self, name: &str) -> Option<String> {
        match name {
            "conversation" => Some(self.conversation.to_string()),
            "channel" => Some(self.channel.to_string()),
            "message_id" => Some(self.message_id.to_string()),
            _ => self.slots.get(name).cloned(),
        }
    }
}

/// The `Idempotency-Key` of `action` for one inbound message: the same
/// after a crash and a restart, different for every message and action.
pub fn idempotency_key(conversation: &str, inbound_id: i64, action: &str) -> String {
    let digest = crate::util::sha256_hex(format!("usher-action\0{conversation}\0{inbound_id}\0{action}").as_bytes());
    digest[..32].to_string()
}

/// The URL (`base` followed by the rendered path) and the rendered body.
pub(super) fn build(
    base: &reqwest::Url,
    spec: &ActionSpec,
    values: &Values<'_>,
) -> Result<(reqwest::Url, Option<serde_json::Value>), String> {
    let mut path = String::new();
    let mut last = 0;
    for (range, name) in placeholders(&spec.path) {
        let value = values.get(name).ok_or_else(|| format!("no value for {{{name}}} in the path"))?;
        path.push_str(&spec.path[last..range.start]);
        path.extend(utf8_percent_encode(&value, SEGMENT));
        last = range.end;
    }
    path.push_str(&spec.path[last..]);
    let joined = format!("{}{path}", base.as_str().trim_end_matches('/'));
    let url = reqwest::Url::parse(&joined).map_err(|e| format!("the URL {joined:?} is not valid: {e}"))?;
    if url.host_str() != base.host_str() || url.port_or_known_default() != base.port_or_known_default() {
        return Err(format!("the path would leave the endpoint's host ({joined})"));
    }
    let body = spec.body.as_ref().map(|b| fill(b, values)).transpose()?;
    Ok((url, body))
}

/// `template` with placeholders in its strings replaced; a string that is
/// only a placeholder without a value becomes null.
fn fill(template: &serde_json::Value, values: &Values<'_>) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match template {
        Value::String(s) => {
            let found = placeholders(s);
            if let [(range, name)] = found.as_slice() {
                if range.start == 0 && range.end == s.len() {
                    return Ok(values.get(name).map_or(Value::Null, Value::String));
                }
            }
            let mut out = String::new();
            let mut last = 0;
            for (range, name) in found {
                let value = values.get(name).ok_or_else(|| format!("no value for {{{name}}} in the body"))?;
                out.push_str(&s[last..range.start]);
                out.push_str(&value);
                last = range.end;
            }
            out.push_str(&s[last..]);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, values)).collect::<Result<_, _>>()?),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| Ok((k.clone(), fill(v, values)?))).collect::<Result<_, String>>()?)
        }
        other => other.clone(),
    })
}

/// The fields `spec` saves from a successful answer, as slot values.
pub(super) fn saved(spec: &ActionSpec, answer: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    let Some(answer) = answer else { return BTreeMap::new() };
    spec.save
        .iter()
        .filter_map(|(slot, pointer)| {
            let value = match answer.pointer(pointer)? {
                serde_json::Value::Null => return None,
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((slot.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intents::{Method, Origin};

    fn spec(path: &str, body: Option<serde_json::Value>) -> ActionSpec {
        ActionSpec {
            name: "t".into(),
            endpoint: "e".into(),
            method: Method::Post,
            path: path.into(),
            body,
            save: BTreeMap::from([("doors".into(), "/event/doors".into()), ("n".into(), "/n".into())]),
            statuses: BTreeMap::new(),
            respond: BTreeMap::new(),
            origin: Origin::default(),
        }
    }

    #[test]
    fn values_are_encoded_not_concatenated() {
        let slots = BTreeMap::from([("order_id".to_string(), "A1/../x?y=\"z\"".to_string())]);
        let values = Values {
            slots: &slots,
            conversation: "web-1",
            channel: "web",
            message_id: 7,
            key: "k".into(),
            request_id: "r",
        };
        let base = reqwest::Url::parse("http://127.0.0.1:9/api/").unwrap();
        let body =
            serde_json::json!({"order": "{order_id}", "note": "for {conversation}", "missing": "{email}", "n": 3});
        let (url, body) = build(&base, &spec("/orders/{order_id}/refund", Some(body)), &values).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9/api/orders/A1%2F..%2Fx%3Fy%3D%22z%22/refund");
        assert_eq!(
            body.unwrap(),
            serde_json::json!({"order": "A1/../x?y=\"z\"", "note": "for web-1", "missing": null, "n": 3})
        );
        let err = build(&base, &spec("/x/{email}", None), &values).unwrap_err();
        assert!(err.contains("{email}"), "{err}");
    }

    #[test]
    fn keys_are_stable_per_message_and_action() {
        assert_eq!(idempotency_key("c", 1, "refund"), idempotency_key("c", 1, "refund"));
        assert_ne!(idempotency_key("c", 1, "refund"), idempotency_key("c", 2, "refund"));
        assert_ne!(idempotency_key("c", 1, "refund"), idempotency_key("c", 1, "status"));
        assert_eq!(idempotency_key("c", 1, "refund").len(), 32);
    }

    #[test]
    fn saved_fields_follow_pointers() {
        let answer = serde_json::json!({"event": {"doors": "19:00"}, "n": 2});
        let saved = saved(&spec("/", None), Some(&answer));
        assert_eq!(saved, BTreeMap::from([("doors".into(), "19:00".into()), ("n".into(), "2".into())]));
    }
}
