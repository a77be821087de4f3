//! Checking the `flows:` section: each step's kind and references, branch
//! conditions, targets, reachability, and loops that never wait for the fan.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::domain::*;
use super::load::{key, Checker};
use super::locate::{self, Seg};
use super::raw::{RawFlow, RawStep};

/// The variable a call step leaves for later branches.
pub const OUTCOME: &str = "outcome";

/// The target that ends a flow.
const END: &str = "end";

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// What flows may refer to, gathered before they are checked.
pub(super) struct Known<'a> {
    /// Slots, saved fields, entities and built-in values.
    pub values: &'a BTreeSet<String>,
    pub entities: &'a BTreeMap<String, Entity>,
    pub responses: &'a BTreeMap<String, Vec<Response>>,
    pub actions: &'a BTreeMap<String, ActionSpec>,
    /// Every flow's name.
    pub flows: &'a BTreeSet<String>,
    pub broken: &'a HashSet<String>,
}

/// The slot names raw flows collect or set.
pub(super) fn slot_names<'a>(flows: impl Iterator<Item = &'a RawFlow>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for flow in flows {
        for step in &flow.steps {
            out.extend(step.collect.iter().cloned());
            out.extend(step.set.iter().flat_map(|s| s.keys().cloned()));
        }
    }
    out
}

/// A step's kinds as written (one, when the step is right).
fn kinds(s: &RawStep) -> Vec<&'static str> {
    let set = [
        ("collect", s.collect.is_some()),
        ("call", s.call.is_some()),
        ("branch", s.branch.is_some()),
        ("respond", s.respond.is_some()),
        ("set", s.set.is_some()),
        ("handoff", s.handoff.is_some()),
        ("goto", s.goto.is_some()),
    ];
    set.into_iter().filter(|(_, on)| *on).map(|(kind, _)| kind).collect()
}

impl Checker<'_> {
    /// The position of `path` in `file`, as an origin.
    pub(super) fn origin(&self, file: usize, path: &[Seg]) -> Origin {
        let pos = locate::locate(&self.files[file].1, path).unwrap_or_default();
        Origin { file: self.files[file].0.clone(), line: pos.line, column: pos.column }
    }

    /// Checks staff's flows, then the loops they form together.
    pub(super) fn flows(
        &mut self,
        raw: BTreeMap<String, (usize, RawFlow)>,
        known: &Known<'_>,
    ) -> BTreeMap<String, Flow> {
        let mut out = BTreeMap::new();
        let mut files = BTreeMap::new();
        for (name, (file, flow)) in raw {
            if let Some(f) = self.flow(file, &name, flow, known) {
                files.insert(name.clone(), file);
                out.insert(name, f);
            }
        }
        self.loops(&out, &files);
        out
    }

    fn flow(&mut self, file: usize, name: &str, raw: RawFlow, known: &Known<'_>) -> Option<Flow> {
        let before = self.diagnostics.len();
        let at = [key("flows"), key(name)];
        if !valid_name(name) {
            self.error(file, &at, None, "flow names use a-z, 0-9 and _ only".into());
        }
        if raw.steps.is_empty() {
            self.error(file, &at, None, format!("flow {name:?} has no steps"));
            return None;
        }
        // Step ids first: branches and `next:` may point forward.
        let mut ids: BTreeMap<String, usize> = BTreeMap::new();
        for (i, step) in raw.steps.iter().enumerate() {
            let Some(id) = &step.id else { continue };
            let path = step_path(name, i, Some("id"));
            if !valid_name(id) || id == END {
                self.error(file, &path, None, format!("step ids use a-z, 0-9 and _ only, and `end` is taken: {id:?}"));
            } else if let Some(first) = ids.insert(id.clone(), i) {
                self.error(file, &path, None, format!("step id {id:?} is already used by step {}", first + 1));
            }
        }
        let count = raw.steps.len();
        let mut steps = Vec::new();
        for (i, step) in raw.steps.into_iter().enumerate() {
            if let Some(s) = self.step(file, name, i, step, count, &ids, known) {
                steps.push(s);
            }
        }
        if self.diagnostics.len() > before {
            return None;
        }
        self.reachable(file, name, &steps);
        if self.diagnostics.len() > before {
            return None;
        }
        let cancel = cancel_phrases(raw.cancel);
        Some(Flow { name: name.to_string(), description: raw.description.unwrap_or_default(), steps, cancel })
    }

    /// `target` (a step id or `end`) as a target, or an error at `path`.
    fn target(&mut self, file: usize, path: &[Seg], target: &str, ids: &BTreeMap<String, usize>) -> Option<Target> {
        if target == END {
            return Some(Target::End);
        }
        match ids.get(target) {
            Some(&i) => Some(Target::Step(i)),
            None => {
                let have: Vec<&str> = ids.keys().map(String::as_str).collect();
                let msg = format!("no step with id {target:?} in this flow (ids: {}; or `end`)", have.join(", "));
                self.error(file, path, None, msg);
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        file: usize,
        flow: &str,
        i: usize,
        s: RawStep,
        count: usize,
        ids: &BTreeMap<String, usize>,
        known: &Known<'_>,
    ) -> Option<Step> {
        let before = self.diagnostics.len();
        let at = |field: Option<&str>| step_path(flow, i, field);
        let kinds = kinds(&s);
        match kinds.as_slice() {
            [_] => {}
            [] => {
                let msg = "a step needs one of collect, call, branch, respond, set, handoff or goto".into();
                self.error(file, &at(None), None, msg);
                return None;
            }
            many => {
                let msg = format!("a step does one thing, not {}: split it into steps", many.join(" and "));
                self.error(file, &at(None), None, msg);
                return None;
            }
        }
        let kind = kinds[0];
        let extras = [
            ("ask", s.ask.is_some()),
            ("entity", s.entity.is_some()),
            ("pattern", s.pattern.is_some()),
            ("invalid", s.invalid.is_some()),
        ];
        for (field, set) in extras {
            if set && kind != "collect" {
                self.error(file, &at(Some(field)), None, format!("`{field}:` only goes with `collect:`"));
            }
        }
        if s.say.is_some() && kind != "call" {
            self.error(file, &at(Some("say")), None, "`say:` only goes with `call:`".into());
        }
        let ends = matches!(kind, "branch" | "handoff" | "goto");
        let next = match &s.next {
            Some(_) if ends => {
                self.error(
                    file,
                    &at(Some("next")),
                    None,
                    format!("a {kind} step says itself where it goes: drop `next:`"),
                );
                Target::End
            }
            Some(t) => self.target(file, &at(Some("next")), t, ids).unwrap_or(Target::End),
            None if i + 1 < count => Target::Step(i + 1),
            None => Target::End,
        };
        let step_kind = match kind {
            "collect" => StepKind::Collect(self.collect(file, flow, i, &s, known)?),
            "call" => {
                let action = s.call.clone().unwrap_or_default();
                self.call_target(file, &at(Some("call")), None, &action, known);
                StepKind::Call { action, say: s.say.unwrap_or(true) }
            }
            "branch" => {
                let raw_cases = s.branch.unwrap_or_default();
                if raw_cases.is_empty() {
                    self.error(file, &at(Some("branch")), None, "a branch needs at least one case".into());
                }
                let mut cases = Vec::new();
                let last = raw_cases.len().saturating_sub(1);
                for (c, case) in raw_cases.into_iter().enumerate() {
                    let mut path = at(Some("branch"));
                    path.push(Seg::Index(c));
                    let (when, then) = match (case.when, case.then, case.otherwise) {
                        (Some(w), Some(t), None) => (Some(w), t),
                        (None, None, Some(t)) if c == last => (None, t),
                        (None, None, Some(_)) => {
                            self.error(file, &path, None, "`else:` must be the last case".into());
                            continue;
                        }
                        _ => {
                            let msg = "each case is `if: CONDITION` with `then: STEP`, or a last `else: STEP`".into();
                            self.error(file, &path, None, msg);
                            continue;
                        }
                    };
                    let when = match when {
                        Some(src) => {
                            let mut cpath = path.clone();
                            cpath.push(key("if"));
                            self.condition(file, &cpath, &src, known)
                        }
                        None => None,
                    };
                    let mut tpath = path.clone();
                    tpath.push(key(if when.is_some() { "then" } else { "else" }));
                    if let Some(target) = self.target(file, &tpath, &then, ids) {
                        cases.push(Case { when, target });
                    }
                }
                StepKind::Branch(cases)
            }
            "respond" => {
                let r = s.respond.clone().unwrap_or_default();
                if !known.responses.contains_key(&r) && !known.broken.contains(&r) {
                    self.error(file, &at(Some("respond")), None, format!("no response named {r:?}"));
                }
                StepKind::Respond(r)
            }
            "set" => {
                let mut out = Vec::new();
                for (slot, value) in s.set.clone().unwrap_or_default() {
                    let mut path = at(Some("set"));
                    path.push(key(&slot));
                    if !valid_name(&slot) {
                        self.error(file, &path, None, format!("slot names use a-z, 0-9 and _ only, not {slot:?}"));
                    }
                    for (_, p) in placeholders(&value) {
                        if !known.values.contains(p) && p != OUTCOME {
                            self.error(file, &path, None, format!("{{{p}}} is not a slot, a saved field or an entity"));
                        }
                    }
                    out.push((slot, value));
                }
                StepKind::Set(out)
            }
            "handoff" => {
                if s.handoff == Some(false) {
                    self.error(file, &at(Some("handoff")), None, "write `handoff: true`, or drop the step".into());
                }
                StepKind::Handoff
            }
            _ => {
                let target = s.goto.clone().unwrap_or_default();
                if !known.flows.contains(&target) && !known.broken.contains(&target) {
                    let have: Vec<&str> = known.flows.iter().map(String::as_str).collect();
                    let msg = format!("no flow named {target:?} (flows: {})", have.join(", "));
                    self.error(file, &at(Some("goto")), None, msg);
                }
                StepKind::Goto(target)
            }
        };
        if self.diagnostics.len() > before {
            return None;
        }
        let field = match kind {
            "collect" | "call" | "branch" | "respond" | "set" | "handoff" | "goto" => Some(kind),
            _ => None,
        };
        let origin = self.origin(file, &at(field));
        Some(Step { id: s.id, kind: step_kind, next, origin })
    }

    /// Whether `call` names an action under `actions:` or a Rasa action
    /// (`rasa.NAME`); reports it at `path` when not.
    pub(super) fn call_target(
        &mut self,
        file: usize,
        path: &[Seg],
        intent: Option<&str>,
        call: &str,
        known: &Known<'_>,
    ) -> bool {
        let msg = match call.strip_prefix("rasa.") {
            Some(n) if n.is_empty() || n.contains(char::is_whitespace) => {
                format!("{call:?} names no Rasa action: write rasa.ACTION_NAME")
            }
            None if !known.actions.contains_key(call) && !known.broken.contains(call) => {
                format!("no action named {call:?}: add it under `actions:` (or call rasa.NAME)")
            }
            _ => return true,
        };
        self.error(file, path, intent, msg);
        false
    }

    fn collect(&mut self, file: usize, flow: &str, i: usize, s: &RawStep, known: &Known<'_>) -> Option<Slot> {
        let name = s.collect.clone().unwrap_or_default();
        let at = |field: &str| step_path(flow, i, Some(field));
        if !valid_name(&name) {
            self.error(file, &at("collect"), None, format!("slot names use a-z, 0-9 and _ only, not {name:?}"));
            return None;
        }
        let Some(ask) = s.ask.clone().filter(|a| !a.trim().is_empty()) else {
            self.error(file, &at("collect"), None, format!("collect {name:?} needs `ask:`, the question"));
            return None;
        };
        if let Some(e) = &s.entity {
            if !known.entities.contains_key(e) && !known.broken.contains(e) {
                self.error(file, &at("entity"), None, format!("no entity named {e:?}"));
                return None;
            }
        }
        let pattern = match &s.pattern {
            Some(p) => Some(self.regex(file, &at("pattern"), p)?),
            None => None,
        };
        Some(Slot {
            name,
            ask,
            entity: s.entity.clone(),
            pattern,
            invalid: s.invalid.clone().unwrap_or_else(|| DEFAULT_INVALID.into()),
        })
    }

    fn condition(&mut self, file: usize, path: &[Seg], src: &str, known: &Known<'_>) -> Option<Condition> {
        match Condition::parse(src) {
            Err(why) => {
                self.error(file, path, None, format!("invalid condition {src:?}: {why}"));
                None
            }
            Ok((cond, vars)) => {
                let unknown: Vec<&str> =
                    vars.iter().map(String::as_str).filter(|v| *v != OUTCOME && !known.values.contains(*v)).collect();
                if unknown.is_empty() {
                    return Some(cond);
                }
                let msg = format!(
                    "condition {src:?} reads {}, which no step collects or sets and no action saves (nor an entity, `outcome` or one of {})",
                    unknown.join(", "),
                    BUILTIN_VALUES.join(", ")
                );
                self.error(file, path, None, msg);
                None
            }
        }
    }

    /// Reports each step nothing leads to.
    fn reachable(&mut self, file: usize, flow: &str, steps: &[Step]) {
        let mut seen = vec![false; steps.len()];
        let mut todo = vec![0];
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            todo.extend(successors(&steps[i]).filter_map(|t| match t {
                Target::Step(j) => Some(j),
                Target::End => None,
            }));
        }
        for (i, _) in seen.iter().enumerate().filter(|(_, s)| !**s) {
            let msg =
                format!("step {} can never run: no step before it goes on to it, and no branch leads to it", i + 1);
            self.error(file, &step_path(flow, i, None), None, msg);
        }
    }

    /// Reports every loop, within a flow or through `goto`, that runs
    /// without a collect step: the bot would go round it forever.
    fn loops(&mut self, flows: &BTreeMap<String, Flow>, files: &BTreeMap<String, usize>) {
        // Nodes are (flow, step); collect steps wait for the fan, so they cut loops.
        let edges = |(flow, i): (&str, usize)| -> Vec<(String, usize)> {
            let step = &flows[flow].steps[i];
            let mut out: Vec<(String, usize)> = successors(step)
                .filter_map(|t| match t {
                    Target::Step(j) => Some((flow.to_string(), j)),
                    Target::End => None,
                })
                .collect();
            if let StepKind::Goto(other) = &step.kind {
                if flows.contains_key(other) {
                    out.push((other.clone(), 0));
                }
            }
            out.retain(|(f, j)| !matches!(flows[f].steps[*j].kind, StepKind::Collect(_)));
            out
        };
        // Iterative depth-first search with colours: 1 on the stack, 2 done.
        let mut colour: BTreeMap<(String, usize), u8> = BTreeMap::new();
        let mut reported = BTreeSet::new();
        for (name, flow) in flows {
            for start in 0..flow.steps.len() {
                if colour.contains_key(&(name.clone(), start)) || matches!(flow.steps[start].kind, StepKind::Collect(_))
                {
                    continue;
                }
                let mut stack = vec![((name.clone(), start), edges((name, start)).into_iter())];
                colour.insert((name.clone(), start), 1);
                while let Some((node, iter)) = stack.last_mut() {
                    let node = node.clone();
                    match iter.next() {
                        Some(next) => match colour.get(&next) {
                            None => {
                                colour.insert(next.clone(), 1);
                                let it = edges((&next.0, next.1)).into_iter();
                                stack.push((next, it));
                            }
                            Some(1) if reported.insert(node.clone()) => {
                                let (f, i) = &node;
                                let msg = format!(
                                    "this step goes back to step {} of flow {:?} with no collect step on the way: the bot would loop forever",
                                    next.1 + 1,
                                    next.0
                                );
                                let field = match &flows[f].steps[*i].kind {
                                    StepKind::Branch(_) => Some("branch"),
                                    StepKind::Goto(_) => Some("goto"),
                                    _ => Some("next"),
                                };
                                self.error(files[f], &step_path(f, *i, field), None, msg);
                            }
                            Some(_) => {}
                        },
                        None => {
                            colour.insert(node, 2);
                            stack.pop();
                        }
                    }
                }
            }
        }
    }
}

/// Where a step can go on to within its flow.
fn successors(step: &Step) -> impl Iterator<Item = Target> + '_ {
    let (cases, next): (&[Case], Option<Target>) = match &step.kind {
        StepKind::Branch(cases) => {
            // Without an `else`, a branch whose cases all fail goes on.
            let fallthrough = cases.last().is_none_or(|c| c.when.is_some()).then_some(step.next);
            (cases, fallthrough)
        }
        StepKind::Handoff | StepKind::Goto(_) => (&[], None),
        _ => (&[], Some(step.next)),
    };
    cases.iter().map(|c| c.target).chain(next)
}

fn step_path(flow: &str, i: usize, field: Option<&str>) -> Vec<Seg> {
    let mut path = vec![key("flows"), key(flow), key("steps"), Seg::Index(i)];
    path.extend(field.map(key));
    path
}
