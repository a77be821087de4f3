//! Reading a Rasa project's training data and domain: the steps of rules
//! and stories, examples in both annotation forms, the NLU items and the
//! merged domain sections.

use indexmap::IndexMap;
use serde_yaml::Value;

use super::super::project::{key, scalar, Project};
use super::super::Notes;
use crate::intents::Seg;

/// One step of a rule or story, as read.
#[derive(Debug, Clone)]
pub(in crate::import) enum Step {
    /// The fan: the intents (several for `or:`) and the text, if given.
    User { intents: Vec<String>, text: Option<String> },
    /// An action.
    Action(String),
    /// `active_loop:` (`None`: the form ended).
    Loop(Option<String>),
    /// `slot_was_set:`.
    Slots(Vec<(String, Option<String>)>),
    /// Anything else (`checkpoint:`, …): its key.
    Other(String),
}

/// The steps of a story, rule or test story.
pub(in crate::import) fn steps(list: &Value) -> Vec<Step> {
    let Some(items) = list.as_sequence() else { return Vec::new() };
    let mut out = Vec::new();
    for item in items {
        if let Some(intent) = item.get("intent").map(scalar) {
            let text = item.get("user").map(scalar).map(|t| t.trim().to_string());
            out.push(Step::User { intents: vec![intent], text });
        } else if let Some(text) = item.get("user").map(scalar) {
            out.push(Step::User { intents: Vec::new(), text: Some(text.trim().to_string()) });
        } else if let Some(options) = item.get("or").and_then(Value::as_sequence) {
            let intents = options.iter().filter_map(|o| o.get("intent").map(scalar)).collect();
            out.push(Step::User { intents, text: None });
        } else if let Some(action) = item.get("action").map(scalar) {
            out.push(Step::Action(action));
        } else if let Some(active) = item.get("active_loop") {
            out.push(Step::Loop(Some(scalar(active)).filter(|s| !s.is_empty())));
        } else if let Some(slots) = item.get("slot_was_set") {
            out.push(Step::Slots(slot_values(slots)));
        } else {
            let k = item.as_mapping().and_then(|m| m.keys().next()).map(scalar).unwrap_or_default();
            out.push(Step::Other(k));
        }
    }
    out
}

/// `slot_was_set:` entries: `- name: value` or `- name` (set, any value),
/// in a list (stories) or one mapping (test cases).
pub(in crate::import) fn slot_values(v: &Value) -> Vec<(String, Option<String>)> {
    let pair = |(k, v): (&Value, &Value)| (scalar(k), Some(scalar(v)).filter(|_| !v.is_null()));
    match v {
        Value::Mapping(m) => m.iter().map(pair).collect(),
        _ => v
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|item| match item {
                Value::Mapping(m) => m.iter().map(pair).collect::<Vec<_>>(),
                other => vec![(scalar(other), None)],
            })
            .collect(),
    }
}

/// An example converted from Rasa's annotation forms to Usher's
/// `[text](entity)`, with each span's entity and value.
pub(in crate::import) struct Example {
    pub text: String,
    pub spans: Vec<(String, String, String)>,
    pub dropped: Vec<String>,
}

/// Converts `[text](entity)`, `[text](entity:value)` and
/// `[text]{"entity": …, "value": …, "role": …, "group": …}`.
pub(in crate::import) fn example(raw: &str) -> Example {
    static ANNOTATION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"\[([^\]]*)\](?:\(([^)]*)\)|(\{[^}]*\}))"#).expect("valid regex")
    });
    let mut out = Example { text: String::new(), spans: Vec::new(), dropped: Vec::new() };
    let mut last = 0;
    for c in ANNOTATION.captures_iter(raw) {
        let (whole, text) = (c.get(0).expect("match"), c[1].to_string());
        out.text.push_str(&raw[last..whole.start()]);
        last = whole.end();
        let (entity, value) = if let Some(short) = c.get(2) {
            match short.as_str().split_once(':') {
                Some((e, v)) => (e.trim().to_string(), v.trim().to_string()),
                None => (short.as_str().trim().to_string(), text.clone()),
            }
        } else {
            let json: serde_json::Value = serde_json::from_str(&c[3]).unwrap_or_default();
            let field = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_string);
            for extra in ["role", "group"].into_iter().filter(|k| json.get(k).is_some()) {
                out.dropped.push(format!("{extra} of [{text}]"));
            }
            (field("entity").unwrap_or_default(), field("value").unwrap_or_else(|| text.clone()))
        };
        if entity.is_empty() {
            out.text.push_str(&text);
            out.dropped.push(format!("annotation of [{text}] names no entity"));
            continue;
        }
        let entity = usher_name(&entity);
        out.text.push_str(&format!("[{text}]({entity})"));
        out.spans.push((entity, text, value));
    }
    out.text.push_str(&raw[last..]);
    out
}

/// The example's text with every annotation replaced by its text.
pub(in crate::import) fn plain(raw: &str) -> String {
    let converted = example(raw);
    let mut text = converted.text;
    for (entity, shown, _) in &converted.spans {
        text = text.replacen(&format!("[{shown}]({entity})"), shown, 1);
    }
    text
}

/// A Rasa name as an Usher name (`a-z`, `0-9`, `_`).
pub(in crate::import) fn usher_name(name: &str) -> String {
    name.trim().to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// The lines of an `examples:` block (`- text` each) or list.
fn example_lines(v: &Value) -> Vec<String> {
    match v {
        Value::String(block) => block
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix('-'))
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|i| match i.get("text") {
                Some(t) => scalar(t),
                None => scalar(i),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What the NLU data holds.
#[derive(Default)]
pub(super) struct Nlu {
    /// Examples by intent, in file order.
    pub(super) examples: IndexMap<String, Vec<String>>,
    pub(super) regexes: IndexMap<String, Vec<(String, String)>>,
    pub(super) lookups: IndexMap<String, Vec<String>>,
    /// Synonym value → the texts that mean it, with where it is written.
    pub(super) synonyms: Vec<(String, Vec<String>, String)>,
    /// Annotated (entity, text, value).
    pub(super) spans: Vec<(String, String, String)>,
}

pub(super) fn read_nlu(project: &Project, notes: &mut Notes) -> Nlu {
    let mut nlu = Nlu::default();
    for source in &project.data {
        let Some(items) = source.section("nlu").and_then(Value::as_sequence) else { continue };
        for (i, item) in items.iter().enumerate() {
            let at = source.at(&[key("nlu"), Seg::Index(i)]);
            let lines = item.get("examples").map(example_lines).unwrap_or_default();
            if let Some(intent) = item.get("intent").map(scalar) {
                if intent.contains('/') {
                    notes.skip(at, format!("retrieval intent {intent}: Usher has no response selector; put these answers in the knowledge base"));
                    continue;
                }
                let name = usher_name(&intent);
                let list = nlu.examples.entry(name).or_default();
                for line in lines {
                    let ex = example(&line);
                    for d in &ex.dropped {
                        notes
                            .skip(at.clone(), format!("intent {intent}: {d} (Usher entities have no roles or groups)"));
                    }
                    nlu.spans.extend(ex.spans);
                    list.push(ex.text);
                }
            } else if let Some(name) = item.get("synonym").map(scalar) {
                nlu.synonyms.push((name, lines, at));
            } else if let Some(name) = item.get("regex").map(scalar) {
                nlu.regexes.entry(usher_name(&name)).or_default().extend(lines.into_iter().map(|l| (l, at.clone())));
            } else if let Some(name) = item.get("lookup").map(scalar) {
                nlu.lookups.entry(usher_name(&name)).or_default().extend(lines);
            } else {
                notes.skip(at, "an nlu item that is not an intent, synonym, regex or lookup".into());
            }
        }
    }
    nlu
}

/// The merged domain sections.
#[derive(Default)]
pub(super) struct Domain {
    pub(super) intents: Vec<(String, String)>,
    pub(super) entities: Vec<String>,
    pub(super) slots: IndexMap<String, (Value, String)>,
    pub(super) responses: IndexMap<String, (Value, String)>,
    pub(super) forms: IndexMap<String, (Value, String)>,
    pub(super) actions: Vec<(String, String)>,
}

pub(super) fn read_domain(project: &Project) -> Domain {
    let mut d = Domain::default();
    for source in &project.domain {
        let name_of = |v: &Value| match v {
            Value::Mapping(m) => m.keys().next().map(scalar).unwrap_or_default(),
            other => scalar(other),
        };
        for (section, list) in [("intents", &mut d.intents), ("actions", &mut d.actions)] {
            for (i, v) in source.section(section).and_then(Value::as_sequence).into_iter().flatten().enumerate() {
                list.push((name_of(v), source.at(&[key(section), Seg::Index(i)])));
            }
        }
        for v in source.section("entities").and_then(Value::as_sequence).into_iter().flatten() {
            d.entities.push(name_of(v));
        }
        for (section, map) in [("slots", &mut d.slots), ("responses", &mut d.responses), ("forms", &mut d.forms)] {
            for (k, v) in source.section(section).and_then(Value::as_mapping).into_iter().flatten() {
                let k = scalar(k);
                let at = source.at(&[key(section), key(&k)]);
                map.insert(k, (v.clone(), at));
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_in_every_rasa_form_become_usher_annotations() {
        let ex = example(r#"open an [urgent]{"entity": "priority", "value": "high"} issue for [bob@x.org](email)"#);
        assert_eq!(ex.text, "open an [urgent](priority) issue for [bob@x.org](email)");
        assert_eq!(ex.spans[0], ("priority".into(), "urgent".into(), "high".into()));
        assert_eq!(ex.spans[1], ("email".into(), "bob@x.org".into(), "bob@x.org".into()));
        let short = example("fly to [NYC](city:New York)");
        assert_eq!((short.text.as_str(), short.spans[0].2.as_str()), ("fly to [NYC](city)", "New York"));
        let role = example(r#"from [Paris]{"entity": "city", "role": "departure"}"#);
        assert_eq!(role.text, "from [Paris](city)");
        assert_eq!(role.dropped, vec!["role of [Paris]".to_string()]);
        assert_eq!(plain(r#"it's [really important]{"entity": "priority", "value": "high"}"#), "it's really important");
        assert_eq!(usher_name("Ask-Weather"), "ask_weather");
    }

    #[test]
    fn steps_read_users_or_actions_loops_and_slots() {
        let yaml: Value = serde_yaml::from_str(
            "- or: [{intent: a}, {intent: b}]\n- action: f\n- active_loop: f\n- active_loop: null\n\
             - slot_was_set: [{x: '1'}]\n- user: hi\n  intent: c\n- checkpoint: z\n",
        )
        .unwrap();
        let s = steps(&yaml);
        assert!(matches!(&s[0], Step::User { intents, text: None } if intents == &["a", "b"]));
        assert!(matches!(&s[2], Step::Loop(Some(f)) if f == "f"));
        assert!(matches!(&s[3], Step::Loop(None)));
        assert!(matches!(&s[4], Step::Slots(v) if v == &[("x".to_string(), Some("1".to_string()))]));
        assert!(matches!(&s[5], Step::User { text: Some(t), .. } if t == "hi"));
        assert!(matches!(&s[6], Step::Other(k) if k == "checkpoint"));
    }
}
