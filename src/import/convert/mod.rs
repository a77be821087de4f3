//! A Rasa project's NLU data, domain, rules and stories as one Usher intent
//! file set: intents with their examples, entities (regexes, lookups,
//! synonyms, annotated values), responses, forms as flows, and what
//! follows each intent in the rules and stories as its `respond:`,
//! `call: rasa.NAME`, `flow:` or a flow of several steps.
//!
//! # Layout
//! - `read`: rules' and stories' steps, examples, NLU items, the domain.
//! - `episodes`: what follows each intent; what each form's submission runs.
//! - `out`: the intent files written.
//! - [`convert`]: the domain-level mapping (intents, responses, entities,
//!   forms as flows, slots).

mod episodes;
mod out;
mod read;

use std::collections::BTreeSet;

use indexmap::IndexMap;
use serde_yaml::Value;

use super::project::{scalar, Project};
use super::Notes;
pub(super) use episodes::Act;
use episodes::{Episodes, BUILTIN_ACTIONS};
pub(super) use out::{OutButton, OutEntity, OutFile, OutFlow, OutIntent, OutResponse, OutStep};
pub(super) use read::{plain, slot_values, steps, usher_name, Step};
use read::{read_domain, read_nlu, Domain, Nlu};

const DUCKLING: &[(&str, &str)] = &[
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    ("phone-number", r"\+?\d[\d ()-]{6,}\d"),
    ("url", r"https?://\S+"),
    ("number", r"-?\d+(?:[.,]\d+)?"),
];

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
