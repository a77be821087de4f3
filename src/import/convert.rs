//! A Rasa project's NLU data, domain, rules and stories as one Usher intent
//! file set: intents with their examples, entities (regexes, lookups,
//! synonyms, annotated values), responses, forms as flows, and what
//! follows each intent in the rules and stories as its `respond:`,
//! `call: rasa.NAME`, `flow:` or a flow of several steps.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use serde::Serialize;
use serde_yaml::Value;

use super::project::{key, scalar, Project, Source};
use super::Notes;
use crate::intents::Seg;

/// The intent files to write.
#[derive(Debug, Default, Serialize)]
pub(super) struct OutFile {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intents: Vec<OutIntent>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub entities: IndexMap<String, OutEntity>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub responses: IndexMap<String, Vec<OutResponse>>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub flows: IndexMap<String, OutFlow>,
}

#[derive(Debug, Serialize)]
pub(super) struct OutIntent {
    pub name: String,
    pub examples: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub respond: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct OutEntity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub synonyms: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct OutResponse {
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<OutButton>,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct OutButton {
    pub title: String,
    pub payload: String,
}

#[derive(Debug, Serialize)]
pub(super) struct OutFlow {
    pub description: String,
    pub steps: Vec<OutStep>,
}

#[derive(Debug, Default, Serialize)]
pub(super) struct OutStep {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<IndexMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collect: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub respond: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goto: Option<String>,
}

/// Rasa's own actions, which have no Usher counterpart to call.
const BUILTIN_ACTIONS: &[&str] = &[
    "action_listen",
    "action_restart",
    "action_session_start",
    "action_default_fallback",
    "action_deactivate_loop",
    "action_two_stage_fallback",
    "action_default_ask_affirmation",
    "action_default_ask_rephrase",
    "action_back",
    "action_unlikely_intent",
    "action_extract_slots",
    "action_revert_fallback_events",
];

/// Regular expressions for Duckling's dimensions, as entities of the same name.
const DUCKLING: &[(&str, &str)] = &[
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    ("phone-number", r"\+?\d[\d ()-]{6,}\d"),
    ("url", r"https?://\S+"),
    ("number", r"-?\d+(?:[.,]\d+)?"),
];

/// What follows a fan's message in a rule or story.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Act {
    /// A response (`utter_…`).
    Say(String),
    /// A form starts.
    Form(String),
    /// A custom action on the action server.
    Call(String),
}

/// One step of a rule or story, as read.
#[derive(Debug, Clone)]
pub(super) enum Step {
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
pub(super) fn steps(list: &Value) -> Vec<Step> {
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

/// `slot_was_set:` entries: `- name: value` or `- name` (set, any value).
fn slot_values(v: &Value) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for item in v.as_sequence().into_iter().flatten() {
        match item {
            Value::Mapping(m) => {
                out.extend(m.iter().map(|(k, v)| (scalar(k), Some(scalar(v)).filter(|_| !v.is_null()))))
            }
            other => out.push((scalar(other), None)),
        }
    }
    out
}

/// An example converted from Rasa's annotation forms to Usher's
/// `[text](entity)`, with each span's entity and value.
pub(super) struct Example {
    pub text: String,
    pub spans: Vec<(String, String, String)>,
    pub dropped: Vec<String>,
}

/// Converts `[text](entity)`, `[text](entity:value)` and
/// `[text]{"entity": …, "value": …, "role": …, "group": …}`.
pub(super) fn example(raw: &str) -> Example {
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
pub(super) fn plain(raw: &str) -> String {
    let converted = example(raw);
    let mut text = converted.text;
    for (entity, shown, _) in &converted.spans {
        text = text.replacen(&format!("[{shown}]({entity})"), shown, 1);
    }
    text
}

/// A Rasa name as an Usher name (`a-z`, `0-9`, `_`).
pub(super) fn usher_name(name: &str) -> String {
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
struct Nlu {
    /// Examples by intent, in file order.
    examples: IndexMap<String, Vec<String>>,
    regexes: IndexMap<String, Vec<(String, String)>>,
    lookups: IndexMap<String, Vec<String>>,
    /// Synonym value → the texts that mean it, with where it is written.
    synonyms: Vec<(String, Vec<String>, String)>,
    /// Annotated (entity, text, value).
    spans: Vec<(String, String, String)>,
}

fn read_nlu(project: &Project, notes: &mut Notes) -> Nlu {
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
struct Domain {
    intents: Vec<(String, String)>,
    entities: Vec<String>,
    slots: IndexMap<String, (Value, String)>,
    responses: IndexMap<String, (Value, String)>,
    forms: IndexMap<String, (Value, String)>,
    actions: Vec<(String, String)>,
}

fn read_domain(project: &Project) -> Domain {
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

/// The converted intent files and what the tests need to know.
pub(super) struct Converted {
    pub file: OutFile,
    /// Response names as written in Usher (`utter_default` may stand
    /// as `clarify` after `nlu_fallback`).
    pub fallback_response: Option<String>,
    /// Form names.
    pub forms: BTreeSet<String>,
    /// Custom actions.
    pub custom: BTreeSet<String>,
}

/// Converts the project's domain and training data.
pub(super) fn convert(project: &Project, notes: &mut Notes) -> Converted {
    let nlu = read_nlu(project, notes);
    let domain = read_domain(project);
    let mut out = OutFile::default();
    let forms: BTreeSet<String> = domain.forms.keys().cloned().collect();
    let custom: BTreeSet<String> = domain
        .actions
        .iter()
        .map(|(a, _)| a.clone())
        .filter(|a| !a.starts_with("utter_") && !forms.contains(a) && !BUILTIN_ACTIONS.contains(&a.as_str()))
        .collect();

    responses(&domain, &mut out, notes);
    entities(project, &nlu, &domain, &mut out, notes);

    // What follows each intent, and what each form ends with.
    let episodes = Episodes::read(project, &forms, notes);
    let mut fallback_response = None;
    if let Some((acts, at)) = episodes.by_intent.get("nlu_fallback").and_then(|v| v.first()) {
        if let [Act::Say(r)] = acts.as_slice() {
            if let Some(found) = out.responses.get(r).cloned() {
                out.responses.insert("clarify".into(), found);
                fallback_response = Some(r.clone());
                notes.done(format!("the nlu_fallback rule ({at}) answers with {r}'s text as Usher's `clarify` (with \"did you mean\" buttons), below policy.fallback_threshold"));
            }
        }
    }
    for (form, (spec, at)) in &domain.forms {
        let flow = form_flow(form, spec, &domain, &out, episodes.submit.get(form), notes, at);
        out.flows.insert(usher_name(form), flow);
    }

    let mut declared: BTreeSet<String> = BTreeSet::new();
    for (intent, at) in &domain.intents {
        let name = usher_name(intent);
        if !declared.insert(name.clone()) {
            continue;
        }
        if name != *intent {
            notes.done(format!("intent {intent} is named {name} (Usher names are a-z, 0-9 and _) ({at})"));
        }
        let examples = nlu.examples.get(&name).cloned().unwrap_or_default();
        if examples.is_empty() {
            notes.skip(at.clone(), format!("intent {intent} has no examples in the NLU data: not converted"));
            continue;
        }
        let mut intent_out = OutIntent { name: name.clone(), examples, respond: None, call: None, flow: None };
        let acts = episodes.choose(intent, notes);
        match acts.as_slice() {
            [] => {
                let fallback = if out.responses.contains_key("utter_default") { "utter_default" } else { "continue" };
                notes.skip(
                    at.clone(),
                    format!("intent {intent}: no rule or story says what follows it; it answers {fallback}"),
                );
                intent_out.respond = Some(fallback.into());
            }
            [Act::Say(r)] => intent_out.respond = Some(usher_name(r)),
            [Act::Call(a)] => intent_out.call = Some(format!("rasa.{a}")),
            [Act::Form(f)] => intent_out.flow = Some(form_entry(f, &name, &domain, &mut out)),
            many => {
                let steps = many
                    .iter()
                    .map(|act| match act {
                        Act::Say(r) => OutStep { respond: Some(usher_name(r)), ..Default::default() },
                        Act::Call(a) => OutStep { call: Some(format!("rasa.{a}")), ..Default::default() },
                        Act::Form(f) => {
                            OutStep { goto: Some(form_entry(f, &name, &domain, &mut out)), ..Default::default() }
                        }
                    })
                    .collect();
                let flow = format!("{name}_steps");
                let description = format!("What follows {intent} in the Rasa rules and stories.");
                out.flows.insert(flow.clone(), OutFlow { description, steps });
                intent_out.flow = Some(flow);
            }
        }
        out.intents.push(intent_out);
    }
    for (intent, _) in nlu.examples.iter().filter(|(i, _)| !declared.contains(*i)) {
        notes.skip(
            project.domain[0].name.display().to_string(),
            format!("intent {intent} has examples but is not in the domain: not converted"),
        );
    }
    slots(&domain, notes);
    for (action, at) in &domain.actions {
        if custom.contains(action) && !episodes.used.contains(action) {
            let why = match action {
                a if a.starts_with("validate_") => {
                    "form validation actions are not called (Usher validates slots with entities and patterns)"
                }
                a if a.starts_with("action_ask_") => "the form asks the utter_ask_ response's text instead",
                _ => "no rule or story runs it",
            };
            notes.skip(at.clone(), format!("action {action}: {why}"));
        }
    }
    Converted { file: out, fallback_response, forms, custom }
}

fn responses(domain: &Domain, out: &mut OutFile, notes: &mut Notes) {
    for (name, (variations, at)) in &domain.responses {
        let mut kept = Vec::new();
        for v in variations.as_sequence().into_iter().flatten() {
            if v.get("channel").is_some() || v.get("condition").is_some() {
                notes.skip(
                    at.clone(),
                    format!("{name}: a variation for one channel or condition (Usher rotates all variations)"),
                );
                continue;
            }
            let mut text = v.get("text").map(scalar).unwrap_or_default();
            if let Some(image) = v.get("image").map(scalar) {
                text = if text.is_empty() { image } else { format!("{text}\n{image}") };
                notes.done(format!("{name}: the image is sent as a link ({at})"));
            }
            if v.get("custom").is_some() {
                notes.skip(at.clone(), format!("{name}: a custom payload (Usher responses are text and buttons)"));
            }
            let buttons: Vec<OutButton> = v
                .get("buttons")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .map(|b| OutButton {
                    title: b.get("title").map(scalar).unwrap_or_default(),
                    payload: b.get("payload").map(scalar).unwrap_or_default(),
                })
                .collect();
            if !text.is_empty() {
                kept.push(OutResponse { text, buttons });
            }
        }
        if kept.is_empty() {
            notes.skip(at.clone(), format!("response {name} has no variation Usher can send: not converted"));
            continue;
        }
        out.responses.insert(usher_name(name), kept);
    }
}

fn entities(project: &Project, nlu: &Nlu, domain: &Domain, out: &mut OutFile, notes: &mut Notes) {
    let duckling = duckling_dimensions(project);
    let mut names: Vec<String> = domain.entities.iter().map(|e| usher_name(e)).collect();
    names.extend(nlu.spans.iter().map(|(e, ..)| e.clone()));
    let mut seen = BTreeSet::new();
    for name in names.into_iter().filter(|n| seen.insert(n.clone())) {
        let mut e = OutEntity::default();
        if let Some(patterns) = nlu.regexes.get(&name) {
            let valid: Vec<String> = patterns
                .iter()
                .filter(|(p, at)| {
                    let ok = regex::Regex::new(p).is_ok();
                    if !ok {
                        notes.skip(at.clone(), format!("regex {name}: {p:?} is not a regular expression Usher's engine reads (look-arounds and back-references are not supported)"));
                    }
                    ok
                })
                .map(|(p, _)| format!("(?:{p})"))
                .collect();
            e.pattern = Some(valid.join("|")).filter(|p| !p.is_empty());
        }
        let mut values: Vec<String> = nlu.lookups.get(&name).cloned().unwrap_or_default();
        for (_, text, value) in nlu.spans.iter().filter(|(entity, ..)| *entity == name) {
            if !values.contains(value) {
                values.push(value.clone());
            }
            if !text.eq_ignore_ascii_case(value) {
                e.synonyms.insert(text.to_lowercase(), value.clone());
            }
        }
        for (value, texts, _) in nlu.synonyms.iter().filter(|(v, ..)| values.contains(v)) {
            e.synonyms.extend(
                texts.iter().filter(|t| !t.eq_ignore_ascii_case(value)).map(|t| (t.to_lowercase(), value.clone())),
            );
        }
        if e.pattern.is_none() {
            if let Some((dim, pattern)) = DUCKLING.iter().find(|(d, _)| usher_name(d) == name && duckling.contains(*d))
            {
                e.pattern = Some((*pattern).to_string());
                notes.done(format!("entity {name}: Duckling's {dim} dimension as a regular expression"));
            }
        }
        // With a pattern, annotated values add nothing; a lookup table stays.
        if e.pattern.is_some() && !nlu.lookups.contains_key(&name) {
            values.clear();
        }
        e.values = values.into_iter().filter(|v| !e.synonyms.contains_key(&v.to_lowercase())).collect();
        if e.pattern.is_none() && e.values.is_empty() && e.synonyms.is_empty() {
            notes.skip(
                project.domain[0].name.display().to_string(),
                format!(
                    "entity {name}: no regex, lookup table or annotated example says what it looks like: not converted"
                ),
            );
            continue;
        }
        out.entities.insert(name, e);
    }
    for (value, _, at) in nlu
        .synonyms
        .iter()
        .filter(|(v, ..)| !out.entities.values().any(|e| e.values.contains(v) || e.synonyms.values().any(|s| s == v)))
    {
        notes.skip(
            at.clone(),
            format!("synonym {value}: no entity has this value, so Usher cannot tell which entity it belongs to"),
        );
    }
    for (name, patterns) in nlu.regexes.iter().filter(|(n, _)| !out.entities.contains_key(*n)) {
        let at = patterns.first().map(|(_, at)| at.clone()).unwrap_or_default();
        notes.skip(
            at,
            format!(
                "regex {name} names no entity: Rasa uses it only as a feature, which Usher's encoder does not need"
            ),
        );
    }
}

/// The dimensions `DucklingEntityExtractor` extracts, from `config.yml`.
fn duckling_dimensions(project: &Project) -> BTreeSet<String> {
    let pipeline = project.config.as_ref().and_then(|c| c.section("pipeline")).and_then(Value::as_sequence);
    pipeline
        .into_iter()
        .flatten()
        .filter(|c| c.get("name").map(scalar).as_deref() == Some("DucklingEntityExtractor"))
        .flat_map(|c| c.get("dimensions").and_then(Value::as_sequence).cloned().unwrap_or_default())
        .map(|d| scalar(&d))
        .collect()
}

/// A form as a flow: a `collect` per required slot (asked with the
/// `utter_ask_` response's text), then what the form's submission runs.
fn form_flow(
    form: &str,
    spec: &Value,
    domain: &Domain,
    out: &OutFile,
    submit: Option<&Vec<Act>>,
    notes: &mut Notes,
    at: &str,
) -> OutFlow {
    let mut steps = Vec::new();
    let required = spec.get("required_slots").and_then(Value::as_sequence).cloned().unwrap_or_default();
    for slot in required.iter().map(scalar) {
        let ask_name = [format!("utter_ask_{form}_{slot}"), format!("utter_ask_{slot}")]
            .into_iter()
            .find(|r| domain.responses.contains_key(r));
        let ask = match ask_name.as_ref().and_then(|r| out.responses.get(&usher_name(r))).and_then(|v| v.first()) {
            Some(r) => {
                if !r.buttons.is_empty() {
                    notes.skip(
                        at.to_string(),
                        format!("form {form}: the buttons of the question for {slot} (a flow's question is text)"),
                    );
                }
                r.text.clone()
            }
            None => {
                notes.skip(
                    at.to_string(),
                    format!("form {form}: no utter_ask_{slot} response; the question is \"What is the {slot}?\""),
                );
                format!("What is the {}?", slot.replace('_', " "))
            }
        };
        let entity = slot_entity(&slot, form, domain, out, notes);
        steps.push(OutStep { collect: Some(usher_name(&slot)), ask: Some(ask), entity, ..Default::default() });
    }
    for act in submit.into_iter().flatten() {
        steps.push(match act {
            Act::Say(r) => OutStep { respond: Some(usher_name(r)), ..Default::default() },
            Act::Call(a) => OutStep { call: Some(format!("rasa.{a}")), ..Default::default() },
            Act::Form(f) => OutStep { goto: Some(usher_name(f)), ..Default::default() },
        });
    }
    if let Some(ignored) = spec.get("ignored_intents").and_then(Value::as_sequence).filter(|i| !i.is_empty()) {
        let names: Vec<String> = ignored.iter().map(scalar).collect();
        notes.skip(
            at.to_string(),
            format!("form {form}: ignored_intents {names:?} (a flow reads every answer as its answer first)"),
        );
    }
    let description = format!("The Rasa form {form}.");
    OutFlow { description, steps }
}

/// The entity a form's slot takes its value from, noting mappings Usher
/// does not have.
fn slot_entity(slot: &str, form: &str, domain: &Domain, out: &OutFile, notes: &mut Notes) -> Option<String> {
    let Some((spec, at)) = domain.slots.get(slot) else {
        notes.skip(domain.forms[form].1.clone(), format!("form {form}: slot {slot} is not in the domain's slots"));
        return None;
    };
    let mut entity = None;
    for m in spec.get("mappings").and_then(Value::as_sequence).into_iter().flatten() {
        match m.get("type").map(scalar).as_deref() {
            Some("from_entity") => {
                let name = usher_name(&m.get("entity").map(scalar).unwrap_or_default());
                if entity.is_none() && out.entities.contains_key(&name) {
                    entity = Some(name);
                }
            }
            Some("from_text") | Some("from_trigger_intent") => {}
            Some(other) => {
                let detail = match other {
                    "from_intent" => "a value chosen by the intent (the slot takes the fan's answer as text)",
                    _ => "filled by custom code (the slot takes the fan's answer as text)",
                };
                notes.skip(at.clone(), format!("slot {slot}: a {other} mapping: {detail}"));
            }
            None => {}
        }
    }
    entity
}

/// The flow an intent starts a form with: the form's own, or one that
/// first sets the slots the form fills `from_trigger_intent` this intent.
fn form_entry(form: &str, intent: &str, domain: &Domain, out: &mut OutFile) -> String {
    let mut set = IndexMap::new();
    for (slot, (spec, _)) in &domain.slots {
        for m in spec.get("mappings").and_then(Value::as_sequence).into_iter().flatten() {
            let trigger = m.get("type").map(scalar).as_deref() == Some("from_trigger_intent")
                && m.get("intent").map(|i| usher_name(&scalar(i))).as_deref() == Some(intent);
            if trigger && !set.contains_key(slot) {
                set.insert(usher_name(slot), m.get("value").map(scalar).unwrap_or_default());
            }
        }
    }
    let form = usher_name(form);
    if set.is_empty() {
        return form;
    }
    let name = format!("{form}_from_{intent}");
    let steps = vec![
        OutStep { set: Some(set), ..Default::default() },
        OutStep { goto: Some(form.clone()), ..Default::default() },
    ];
    let description = format!("{form} started by {intent}, with the slots it fills from_trigger_intent.");
    out.flows.insert(name.clone(), OutFlow { description, steps });
    name
}

/// Notes the domain slots no form collects: Usher keeps slots within flows.
fn slots(domain: &Domain, notes: &mut Notes) {
    let collected: BTreeSet<String> = domain
        .forms
        .values()
        .flat_map(|(f, _)| f.get("required_slots").and_then(Value::as_sequence).cloned().unwrap_or_default())
        .map(|s| scalar(&s))
        .collect();
    for (slot, (spec, at)) in &domain.slots {
        if spec.get("initial_value").is_some_and(|v| !v.is_null()) {
            notes.skip(at.clone(), format!("slot {slot}: its initial_value (slots start empty)"));
        }
        if collected.contains(slot) {
            continue;
        }
        let why = match slot.as_str() {
            "requested_slot" => "Rasa's own record of the form question; a flow keeps its own".to_string(),
            _ => "Usher fills slots in flows (forms, `set:` and action results), not from every message".to_string(),
        };
        notes.skip(at.clone(), format!("slot {slot} outside any form: {why}"));
    }
}

/// What follows each intent across the rules and stories.
struct Episodes {
    /// Intent → each sequence seen, with where.
    by_intent: BTreeMap<String, Vec<(Vec<Act>, String)>>,
    /// Intent → sequences that came from rules.
    from_rules: BTreeMap<String, Vec<Vec<Act>>>,
    /// Form → what its submission runs.
    submit: BTreeMap<String, Vec<Act>>,
    /// Custom actions some rule or story runs.
    used: BTreeSet<String>,
}

impl Episodes {
    fn read(project: &Project, forms: &BTreeSet<String>, notes: &mut Notes) -> Self {
        let mut e = Episodes {
            by_intent: BTreeMap::new(),
            from_rules: BTreeMap::new(),
            submit: BTreeMap::new(),
            used: BTreeSet::new(),
        };
        for source in &project.data {
            for section in ["rules", "stories"] {
                let Some(items) = source.section(section).and_then(Value::as_sequence) else { continue };
                for (i, item) in items.iter().enumerate() {
                    let at = source.at(&[key(section), Seg::Index(i)]);
                    e.read_one(source, item, section == "rules", forms, &at, notes);
                }
            }
        }
        e
    }

    fn read_one(
        &mut self,
        _source: &Source,
        item: &Value,
        rule: bool,
        forms: &BTreeSet<String>,
        at: &str,
        notes: &mut Notes,
    ) {
        let name = item.get("rule").or_else(|| item.get("story")).map(scalar).unwrap_or_default();
        for flag in ["conversation_start", "wait_for_user_input"].into_iter().filter(|f| item.get(*f).is_some()) {
            notes.skip(at.to_string(), format!("{name:?}: `{flag}` (Usher's replies do not depend on it)"));
        }
        let mut active: Option<String> = item
            .get("condition")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .find_map(|c| c.get("active_loop").map(scalar));
        if item
            .get("condition")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .any(|c| c.get("slot_was_set").is_some())
        {
            notes.skip(
                at.to_string(),
                format!("{name:?}: its slot_was_set condition (the rule's reply is used whatever the slots)"),
            );
        }
        let steps = steps(item.get("steps").unwrap_or(&Value::Null));
        let mut current: Option<(Vec<String>, Vec<Act>)> = None;
        let mut submitting: Option<(String, Vec<Act>)> = None;
        let flush = |current: &mut Option<(Vec<String>, Vec<Act>)>, this: &mut Self| {
            if let Some((intents, acts)) = current.take() {
                for intent in intents {
                    this.by_intent.entry(intent.clone()).or_default().push((acts.clone(), at.to_string()));
                    if rule {
                        this.from_rules.entry(intent).or_default().push(acts.clone());
                    }
                }
            }
        };
        for (n, step) in steps.iter().enumerate() {
            match step {
                Step::User { intents, .. } => {
                    flush(&mut current, self);
                    submitting = None;
                    current = Some((intents.iter().map(|i| usher_name(i)).collect(), Vec::new()));
                }
                Step::Action(a) if a == "action_listen" => {}
                Step::Action(a) if forms.contains(a) => {
                    let starts = matches!(steps.get(n + 1), Some(Step::Loop(Some(l))) if l == a);
                    if starts && active.as_deref() != Some(a) {
                        if let Some((_, acts)) = current.as_mut() {
                            acts.push(Act::Form(a.clone()));
                        }
                    }
                    active = Some(a.clone());
                }
                Step::Loop(None) => {
                    if let Some(form) = active.take() {
                        submitting = Some((form, Vec::new()));
                    }
                }
                Step::Loop(Some(f)) => active = Some(f.clone()),
                Step::Action(a) => {
                    let act = match a.starts_with("utter_") {
                        true => Act::Say(a.clone()),
                        false if BUILTIN_ACTIONS.contains(&a.as_str()) => {
                            notes.skip(at.to_string(), format!("{name:?}: Rasa's {a} (no Usher counterpart)"));
                            continue;
                        }
                        false => {
                            self.used.insert(a.clone());
                            Act::Call(a.clone())
                        }
                    };
                    match submitting.as_mut() {
                        Some((_, acts)) => acts.push(act),
                        None => {
                            if let Some((_, acts)) = current.as_mut() {
                                acts.push(act)
                            }
                        }
                    }
                }
                Step::Slots(_) => {}
                Step::Other(k) => notes.skip(at.to_string(), format!("{name:?}: a `{k}` step (not converted)")),
            }
        }
        flush(&mut current, self);
        if let Some((form, acts)) = submitting.filter(|(_, acts)| !acts.is_empty()) {
            self.submit.entry(form).or_insert(acts);
        }
    }

    /// The sequence to use for `intent`: a rule's, else the most common in
    /// the stories. Alternatives are noted.
    fn choose(&self, intent: &str, notes: &mut Notes) -> Vec<Act> {
        let name = usher_name(intent);
        let seen = self.by_intent.get(&name).cloned().unwrap_or_default();
        let chosen = match self.from_rules.get(&name).and_then(|r| r.first()) {
            Some(rule) => rule.clone(),
            None => {
                let mut counts: BTreeMap<&Vec<Act>, usize> = BTreeMap::new();
                for (acts, _) in &seen {
                    *counts.entry(acts).or_default() += 1;
                }
                // Most common; ties go to the first seen.
                let best = counts.values().copied().max().unwrap_or(0);
                seen.iter().map(|(a, _)| a).find(|a| counts[a] == best).cloned().unwrap_or_default()
            }
        };
        for (acts, at) in seen.iter().filter(|(a, _)| *a != chosen && !a.is_empty()) {
            notes.skip(at.clone(), format!("intent {intent}: here it is followed by {} instead of {} (Usher answers an intent the same way wherever it comes)", show(acts), show(&chosen)));
        }
        chosen
    }
}

fn show(acts: &[Act]) -> String {
    let names: Vec<&str> = acts
        .iter()
        .map(|a| match a {
            Act::Say(n) | Act::Form(n) | Act::Call(n) => n.as_str(),
        })
        .collect();
    format!("[{}]", names.join(", "))
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
