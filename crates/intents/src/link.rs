//! The second loading phase: cross-linking the parsed items of every file
//! into a [`Domain`], reporting references that do not resolve and
//! warnings about risky content.

use indexmap::IndexMap;
use regex::Regex;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::annotation;
use super::diagnostic::Severity;
use super::domain::*;
use super::flows;
use super::load::{humanize, key, Checker, Parsed, SYSTEM_RESPONSES};
use super::locate::{self, Seg};
use super::raw::*;

impl Checker<'_> {
    /// Cross-links the parsed files into a domain, reporting what does not fit.
    pub(super) fn build(&mut self, parsed: Vec<Parsed>) -> Option<Domain> {
        let broken: HashSet<String> = parsed.iter().flat_map(|p| p.broken.iter().cloned()).collect();
        let mut entities = BTreeMap::new();
        let mut forms = BTreeMap::new();
        let mut responses = BTreeMap::new();
        let mut policy: Option<(usize, Policy)> = None;
        let mut canned = BTreeMap::new();
        let mut raw_actions = BTreeMap::new();
        let mut raw_flows = BTreeMap::new();
        let mut raw_intents = Vec::new();
        let mut recommendations = crate::domain::Recommendations::default();
        for (file, p) in parsed.into_iter().enumerate() {
            if let Some(r) = p.recommendations {
                recommendations.pin.extend(r.pin);
                recommendations.exclude.extend(r.exclude);
                for (id, weight) in r.boost {
                    if recommendations.boost.insert(id.clone(), weight).is_some() {
                        let msg = format!("a boost for {id:?} is given twice");
                        self.error(file, &[key("recommendations"), key("boost"), key(&id)], None, msg);
                    }
                }
            }
            for (name, raw) in p.entities {
                if let Some(e) = self.entity(file, &name, raw) {
                    if entities.insert(name.clone(), e).is_some() {
                        let msg = format!("entity {name:?} is defined twice");
                        self.error(file, &[key("entities"), key(&name)], None, msg);
                    }
                }
            }
            for (name, raw) in p.responses {
                if let Some(r) = self.response(file, &name, raw) {
                    if responses.insert(name.clone(), r).is_some() {
                        let msg = format!("response {name:?} is defined twice");
                        self.error(file, &[key("responses"), key(&name)], None, msg);
                    }
                }
            }
            for (title, text) in p.canned {
                if text.trim().is_empty() {
                    self.error(file, &[key("canned_replies"), key(&title)], None, "a canned reply needs text".into());
                } else if canned.insert(title.clone(), text).is_some() {
                    let msg = format!("canned reply {title:?} is defined twice");
                    self.error(file, &[key("canned_replies"), key(&title)], None, msg);
                }
            }
            for (name, raw) in p.forms {
                forms.insert(name.clone(), (file, raw));
            }
            for (name, raw) in p.flows {
                if raw_flows.insert(name.clone(), (file, raw)).is_some() {
                    let msg = format!("flow {name:?} is defined twice");
                    self.error(file, &[key("flows"), key(&name)], None, msg);
                }
            }
            for (name, raw) in p.actions {
                if raw_actions.insert(name.clone(), (file, raw)).is_some() {
                    let msg = format!("action {name:?} is defined twice");
                    self.error(file, &[key("actions"), key(&name)], None, msg);
                }
            }
            if let Some(raw) = p.policy {
                if let Some((first, _)) = &policy {
                    let first = self.files[*first].0.display().to_string();
                    self.error(file, &[key("policy")], None, format!("policy is already set in {first}"));
                } else if let Some(settled) = self.policy(file, raw) {
                    policy = Some((file, settled));
                }
            }
            raw_intents.extend(p.intents.into_iter().map(|(i, raw)| (file, i, raw)));
        }
        let forms = self.forms(forms, &entities);
        let flow_slots = flows::slot_names(raw_flows.values().map(|(_, f)| f));
        let actions = self.actions(raw_actions, &forms, &entities, &responses, &flow_slots, &broken);
        let values: BTreeSet<String> = forms
            .values()
            .flat_map(|f| f.slots.iter().map(|s| s.name.clone()))
            .chain(flow_slots)
            .chain(actions.values().flat_map(|a| a.save.keys().cloned()))
            .chain(entities.keys().cloned())
            .chain(BUILTIN_VALUES.iter().map(|s| s.to_string()))
            .collect();
        let flow_names: BTreeSet<String> = raw_flows.keys().cloned().collect();
        let known = flows::Known {
            values: &values,
            entities: &entities,
            responses: &responses,
            actions: &actions,
            flows: &flow_names,
            broken: &broken,
        };
        let mut flows = self.flows(raw_flows, &known);
        let intents = self.intents(raw_intents, &known, &forms, &mut flows);
        self.unused_responses(&intents, &flows, &actions, &responses);
        let failed_files = self.diagnostics.iter().any(|d| d.severity == Severity::Error);
        if intents.is_empty() && broken.is_empty() && !failed_files && !self.files.is_empty() {
            self.error(0, &[], None, "no intents defined: add an `intents:` list".into());
        }
        Some(Domain {
            intents,
            entities,
            forms,
            responses,
            policy: policy.map(|(_, p)| p).unwrap_or_default(),
            canned,
            actions,
            flows,
            recommendations,
            fingerprint: self.fingerprint(),
        })
    }

    fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        for (path, src) in self.files {
            hash.update(path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
            hash.update([0]);
            hash.update(src.as_bytes());
            hash.update([0]);
        }
        format!("{:x}", hash.finalize())
    }

    pub(super) fn regex(&mut self, file: usize, path: &[Seg], pattern: &str) -> Option<Regex> {
        match Regex::new(pattern) {
            Ok(r) => Some(r),
            Err(e) => {
                let text = e.to_string();
                let why = text.lines().last().unwrap_or_default().trim_start_matches("error: ");
                self.error(file, path, None, format!("invalid regular expression {pattern:?}: {why}"));
                None
            }
        }
    }

    fn entity(&mut self, file: usize, name: &str, raw: RawEntity) -> Option<Entity> {
        let path = [key("entities"), key(name)];
        if raw.pattern.is_none() && raw.values.is_empty() && raw.synonyms.is_empty() {
            self.error(file, &path, None, format!("entity {name:?} needs a pattern, values or synonyms"));
            return None;
        }
        let pattern = match &raw.pattern {
            Some(p) => Some(self.regex(file, &[key("entities"), key(name), key("pattern")], p)?),
            None => None,
        };
        let mut lookup = BTreeMap::new();
        for v in &raw.values {
            lookup.insert(v.to_lowercase(), v.clone());
        }
        for (alias, canonical) in &raw.synonyms {
            lookup.insert(alias.to_lowercase(), canonical.clone());
            lookup.entry(canonical.to_lowercase()).or_insert_with(|| canonical.clone());
        }
        Some(Entity { name: name.to_string(), pattern, lookup, sensitive: raw.sensitive })
    }

    fn response(&mut self, file: usize, name: &str, raw: Vec<RawResponse>) -> Option<Vec<Response>> {
        if raw.is_empty() {
            self.error(file, &[key("responses"), key(name)], None, format!("response {name:?} has no variations"));
            return None;
        }
        let mut ok = true;
        for (i, v) in raw.iter().enumerate() {
            let path = [key("responses"), key(name), Seg::Index(i)];
            if v.text.trim().is_empty() {
                self.error(file, &path, None, "response text is empty".into());
                ok = false;
            }
            if v.buttons.iter().any(|b| b.title.trim().is_empty() || b.payload.trim().is_empty()) {
                self.error(file, &path, None, "every button needs a title and a payload".into());
                ok = false;
            }
        }
        ok.then(|| {
            raw.into_iter()
                .map(|v| Response {
                    text: v.text,
                    buttons: v
                        .buttons
                        .into_iter()
                        .map(|b| usher_channel::Button { title: b.title, payload: b.payload })
                        .collect(),
                })
                .collect()
        })
    }

    fn policy(&mut self, file: usize, raw: RawPolicy) -> Option<Policy> {
        let defaults = Policy::default();
        let threshold = raw.fallback_threshold.unwrap_or(defaults.fallback_threshold);
        if !(0.0..=1.0).contains(&threshold) {
            let path = [key("policy"), key("fallback_threshold")];
            self.error(file, &path, None, format!("fallback_threshold must be between 0 and 1, not {threshold}"));
            return None;
        }
        let prefer = raw.prefer_knowledge_below.unwrap_or(defaults.prefer_knowledge_below);
        let wins = raw.knowledge_wins_at.unwrap_or(defaults.knowledge_wins_at);
        let digression = raw.digression_threshold.unwrap_or(defaults.digression_threshold);
        for (name, value) in
            [("prefer_knowledge_below", prefer), ("knowledge_wins_at", wins), ("digression_threshold", digression)]
        {
            if !(0.0..=1.0).contains(&value) {
                let path = [key("policy"), key(name)];
                self.error(file, &path, None, format!("{name} must be between 0 and 1, not {value}"));
                return None;
            }
        }
        let mut policy = Policy {
            fallback_threshold: threshold,
            prefer_knowledge_below: prefer,
            knowledge_wins_at: wins,
            handoff_after_fallbacks: raw.handoff_after_fallbacks.unwrap_or(defaults.handoff_after_fallbacks).max(1),
            form_max_attempts: raw.form_max_attempts.unwrap_or(defaults.form_max_attempts).max(1),
            digression_threshold: digression,
            handoff_keywords: raw.handoff_keywords.iter().map(|k| k.to_lowercase()).collect(),
            negative_sentiment: raw
                .handoff_on_negative_sentiment
                .map(|r| SentimentRule { score_below: r.score_below.clamp(-1.0, 1.0), turns: r.turns.max(1) }),
            escalation: raw.escalation.unwrap_or_default(),
        };
        policy.set_digression_threshold(digression);
        Some(policy)
    }

    fn forms(
        &mut self,
        raw: BTreeMap<String, (usize, RawForm)>,
        entities: &BTreeMap<String, Entity>,
    ) -> BTreeMap<String, Form> {
        let mut forms = BTreeMap::new();
        for (name, (file, form)) in raw {
            if form.slots.is_empty() {
                self.error(file, &[key("forms"), key(&name)], None, format!("form {name:?} has no slots"));
                continue;
            }
            let mut slots = Vec::new();
            for (slot_name, s) in form.slots {
                let path = [key("forms"), key(&name), key("slots"), key(&slot_name)];
                if let Some(e) = &s.entity {
                    if !entities.contains_key(e) {
                        let msg = format!("slot {slot_name:?} of form {name:?} names unknown entity {e:?}; any answer matching its pattern (or any text) will be accepted");
                        self.warn(file, &path, None, msg);
                    }
                }
                let pattern = match &s.pattern {
                    Some(p) => {
                        let mut ppath = path.to_vec();
                        ppath.push(key("pattern"));
                        match self.regex(file, &ppath, p) {
                            Some(r) => Some(r),
                            None => continue,
                        }
                    }
                    None => None,
                };
                slots.push(Slot {
                    name: slot_name,
                    ask: s.ask,
                    entity: s.entity,
                    pattern,
                    invalid: s.invalid.unwrap_or_else(|| DEFAULT_INVALID.into()),
                });
            }
            let cancel = cancel_phrases(form.cancel);
            forms.insert(name.clone(), Form { name, slots, cancel });
        }
        forms
    }

    fn intents(
        &mut self,
        raw: Vec<(usize, usize, RawIntent)>,
        known: &flows::Known<'_>,
        forms: &BTreeMap<String, Form>,
        flows: &mut BTreeMap<String, Flow>,
    ) -> Vec<Intent> {
        let (entities, broken) = (known.entities, known.broken);
        let mut intents: Vec<Intent> = Vec::new();
        let mut seen_examples: HashMap<String, String> = HashMap::new();
        let mut seen_names: IndexMap<String, ()> = IndexMap::new();
        let mut afters = Vec::new();
        for (file, index, r) in raw {
            let path = [key("intents"), Seg::Index(index)];
            let name = r.name.clone();
            let at = |field: &str| [key("intents"), Seg::Index(index), key(field)];
            if !Intent::valid_name(&name) {
                self.error(file, &at("name"), Some(&name), "intent names use a-z, 0-9 and _ only".into());
                continue;
            }
            if seen_names.insert(name.clone(), ()).is_some() {
                self.error(file, &path, Some(&name), "intent is defined twice".into());
                continue;
            }
            let mut examples = Vec::new();
            for (i, raw_ex) in r.examples.iter().enumerate() {
                let ex_path = [key("intents"), Seg::Index(index), key("examples"), Seg::Index(i)];
                match annotation::parse(raw_ex) {
                    Err(msg) => self.error(file, &ex_path, Some(&name), msg),
                    Ok(ex) => {
                        for span in &ex.entities {
                            if !entities.contains_key(&span.entity) && !broken.contains(&span.entity) {
                                let msg = format!("example marks unknown entity {:?}", span.entity);
                                self.error(file, &ex_path, Some(&name), msg);
                            }
                        }
                        let norm = ex.text.to_lowercase();
                        match seen_examples.get(&norm) {
                            Some(other) if other != &name => {
                                let msg = format!("example {:?} is also an example of intent {other:?}", ex.text);
                                self.warn(file, &ex_path, Some(&name), msg);
                            }
                            _ => {
                                seen_examples.insert(norm, name.clone());
                            }
                        }
                        examples.push(ex);
                    }
                }
            }
            if r.examples.is_empty() {
                self.error(file, &at("examples"), Some(&name), "an intent needs examples".into());
                continue;
            } else if r.examples.len() < 5 {
                let msg = format!("only {} examples: give at least 5 for reliable recognition", r.examples.len());
                self.warn(file, &at("examples"), Some(&name), msg);
            }
            let Some(action) = self.action(file, index, &r, known, forms, flows) else {
                continue;
            };
            let title = r.title.unwrap_or_else(|| humanize(&name));
            let call_at = r.call.as_ref().map(|_| {
                let pos = locate::locate(&self.files[file].1, &at("call")).unwrap_or_default();
                Origin { file: self.files[file].0.clone(), line: pos.line, column: pos.column }
            });
            if r.knowledge_first && !matches!(action, Action::Respond(_)) {
                let msg = "`knowledge_first:` only goes with an intent that sends a response".into();
                self.error(file, &at("knowledge_first"), Some(&name), msg);
                continue;
            }
            let (after, knowledge_first) = (r.after.clone(), r.knowledge_first);
            let pos = locate::locate(&self.files[file].1, &path).unwrap_or_default();
            let origin = Origin { file: self.files[file].0.clone(), line: pos.line, column: pos.column };
            intents.push(Intent { name, title, examples, action, call_at, after, knowledge_first, origin, index });
            afters.push((file, index));
        }
        // Follow-ups may name intents defined after them, so they are checked last.
        for (intent, (file, index)) in intents.iter().zip(afters) {
            for (i, prior) in intent.after.iter().enumerate() {
                if prior == &intent.name {
                    let msg = "an intent cannot follow itself: list the intents it follows up on".into();
                    self.error(
                        file,
                        &[key("intents"), Seg::Index(index), key("after"), Seg::Index(i)],
                        Some(&intent.name),
                        msg,
                    );
                } else if !seen_names.contains_key(prior) && !broken.contains(prior) {
                    let msg = format!("`after:` names unknown intent {prior:?}");
                    self.error(
                        file,
                        &[key("intents"), Seg::Index(index), key("after"), Seg::Index(i)],
                        Some(&intent.name),
                        msg,
                    );
                }
            }
        }
        intents
    }

    fn action(
        &mut self,
        file: usize,
        index: usize,
        r: &RawIntent,
        known: &flows::Known<'_>,
        forms: &BTreeMap<String, Form>,
        flows: &mut BTreeMap<String, Flow>,
    ) -> Option<Action> {
        let at = |field: &str| [key("intents"), Seg::Index(index), key(field)];
        let name = r.name.as_str();
        let broken = known.broken;
        let kind = r.action.as_deref().unwrap_or("respond");
        let other = match kind {
            "respond" => None,
            "handoff" => Some(Action::Handoff),
            "knowledge" => Some(Action::Knowledge),
            t if t.starts_with("tool.") && t.len() > 5 => Some(Action::Tool(t[5..].to_string())),
            unknown => {
                let msg = format!("unknown action {unknown:?}: use respond, handoff, knowledge or tool.<name>");
                self.error(file, &at("action"), Some(name), msg);
                return None;
            }
        };
        let fields = [("form", r.form.is_some()), ("respond", r.respond.is_some()), ("call", r.call.is_some())];
        if let Some(action) = other {
            for (field, set) in fields.into_iter().chain([("flow", r.flow.is_some())]) {
                if set {
                    let msg = format!("`{field}:` only goes with the respond action, not {kind:?}");
                    self.error(file, &at(field), Some(name), msg);
                }
            }
            return Some(action);
        }
        if let Some(flow) = &r.flow {
            for (field, set) in fields {
                if set {
                    let msg = format!("`{field}:` and `flow:` cannot both be set: the flow's steps say what happens");
                    self.error(file, &at(field), Some(name), msg);
                }
            }
            if !known.flows.contains(flow) && !broken.contains(flow) {
                self.error(file, &at("flow"), Some(name), format!("no flow named {flow:?}: add it under `flows:`"));
                return None;
            }
            return Some(Action::Flow(flow.clone()));
        }
        // What the intent (or its form, once complete) finishes with.
        let finish = if let Some(call) = &r.call {
            if r.respond.is_some() {
                let msg = "`respond:` and `call:` cannot both be set: the action's outcomes choose the response".into();
                self.error(file, &at("respond"), Some(name), msg);
                return None;
            }
            if !self.call_target(file, &at("call"), Some(name), call, known) {
                return None;
            }
            (StepKind::Call { action: call.clone(), say: true }, "call")
        } else {
            let respond = r.respond.clone().unwrap_or_else(|| name.to_string());
            if !known.responses.contains_key(&respond) && !broken.contains(&respond) {
                let field = if r.respond.is_some() { "respond" } else { "name" };
                let msg = format!("no response named {respond:?}: add it under `responses:` or set `respond:`");
                self.error(file, &at(field), Some(name), msg);
                return None;
            }
            (StepKind::Respond(respond), if r.respond.is_some() { "respond" } else { "name" })
        };
        let Some(form_name) = &r.form else {
            return Some(match finish.0 {
                StepKind::Call { action, .. } => Action::Call(action),
                StepKind::Respond(respond) => Action::Respond(respond),
                _ => unreachable!("an intent finishes with a call or a response"),
            });
        };
        let Some(form) = forms.get(form_name) else {
            if !broken.contains(form_name) {
                self.error(file, &at("form"), Some(name), format!("no form named {form_name:?}"));
            }
            return None;
        };
        // The form is a flow: collect each slot, then finish.
        let origin = self.origin(file, &at("form"));
        let count = form.slots.len() + 1;
        let step = |i: usize, kind: StepKind, origin: Origin| Step {
            id: None,
            kind,
            next: if i + 1 < count { Target::Step(i + 1) } else { Target::End },
            origin,
        };
        let mut steps: Vec<Step> =
            form.slots.iter().enumerate().map(|(i, s)| step(i, StepKind::Collect(s.clone()), origin.clone())).collect();
        steps.push(step(count - 1, finish.0, self.origin(file, &at(finish.1))));
        let flow = format!("form:{name}");
        flows.insert(
            flow.clone(),
            Flow {
                name: flow.clone(),
                description: format!("the {form_name} form"),
                steps,
                cancel: form.cancel.clone(),
            },
        );
        Some(Action::Flow(flow))
    }

    fn unused_responses(
        &mut self,
        intents: &[Intent],
        flows: &BTreeMap<String, Flow>,
        actions: &BTreeMap<String, ActionSpec>,
        responses: &BTreeMap<String, Vec<Response>>,
    ) {
        let used: HashSet<&str> = intents
            .iter()
            .filter_map(|i| match &i.action {
                Action::Respond(r) => Some(r.as_str()),
                _ => None,
            })
            .chain(flows.values().flat_map(|f| f.steps.iter()).filter_map(|s| match &s.kind {
                StepKind::Respond(r) => Some(r.as_str()),
                _ => None,
            }))
            .chain(actions.values().flat_map(|a| a.respond.values().map(String::as_str)))
            .chain(SYSTEM_RESPONSES.iter().copied())
            .collect();
        for name in responses.keys() {
            if used.contains(name.as_str()) {
                continue;
            }
            let path = [key("responses"), key(name)];
            let file = (0..self.files.len()).find(|&f| locate::locate(&self.files[f].1, &path).is_some());
            if let Some(file) = file {
                self.warn(file, &path, None, format!("response {name:?} is never used"));
            }
        }
    }
}
