//! Loader tests: the shipped files, broken files (every error with file,
//! line, column and intent), and warnings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

fn files(list: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
    list.iter().map(|(p, s)| (PathBuf::from(p), s.to_string())).collect()
}

/// The domain of one file that must load without errors or warnings.
fn clean(src: &str) -> Domain {
    let loaded = load_sources(&files(&[("a.yaml", src)])).unwrap_or_else(|r| panic!("{r}"));
    assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
    loaded.domain
}

fn errors(report: &Report) -> Vec<(String, usize, usize, Option<String>, String)> {
    report
        .errors()
        .map(|d| (d.file.display().to_string(), d.line, d.column, d.intent.clone(), d.message.clone()))
        .collect()
}

const GOOD: &str = r#"
intents:
  - name: greet
    examples: [hi, hello, hey, hiya, good morning]
  - name: refund_request
    examples: ["refund [A12345](order_id)", money back, refund please, I want a refund, give me a refund]
    form: refund
    respond: refund_done
entities:
  order_id: { pattern: '[A-Z]\d{5}' }
forms:
  refund:
    slots:
      order_id: { ask: "Order number?", entity: order_id }
responses:
  greet:
    - text: Hello!
  refund_done:
    - text: "Refunding {order_id}"
      buttons: [{ title: "Talk to a person", payload: "/talk_to_human" }]
"#;

#[test]
fn every_shipped_intent_file_loads_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../intents");
    let loaded = load(&dir).unwrap_or_else(|r| panic!("{r}"));
    let d = &loaded.domain;
    assert!(loaded.warnings.is_empty(), "warnings: {:#?}", loaded.warnings);
    assert!(d.intents.len() >= 25, "{} intents", d.intents.len());
    for i in &d.intents {
        assert!(i.examples.len() >= 15, "{} has {} examples", i.name, i.examples.len());
    }
    assert!(d.forms.contains_key("transfer"), "the transfer form");
    assert!(d.flows.contains_key("refund"), "the refund flow");
    for name in ["talk_to_human", "out_of_scope", "compose_melody", "write_poem", "analyze_text", "greet"] {
        assert!(d.intent(name).is_some(), "intent {name}");
    }
    assert_eq!(d.intent("talk_to_human").map(|i| &i.action), Some(&Action::Handoff));
    assert_eq!(d.intent("write_poem").map(|i| &i.action), Some(&Action::Tool("write_poem".into())));
}

#[test]
fn a_good_file_builds_a_linked_domain() {
    let loaded = load_sources(&files(&[("a.yaml", GOOD)])).unwrap_or_else(|r| panic!("{r}"));
    let d = loaded.domain;
    let refund = d.intent("refund_request").unwrap();
    assert_eq!(refund.action, Action::Flow("form:refund_request".into()));
    let flow = &d.flows["form:refund_request"];
    assert!(matches!(&flow.steps[0].kind, StepKind::Collect(s) if s.name == "order_id"), "{flow:?}");
    assert!(matches!(&flow.steps.last().unwrap().kind, StepKind::Respond(r) if r == "refund_done"), "{flow:?}");
    assert_eq!(refund.examples[0].text, "refund A12345");
    assert_eq!(refund.title, "Refund request");
    assert_eq!(d.responses["refund_done"][0].buttons[0].payload, "/talk_to_human");
    assert_eq!(d.policy, Policy::default());
    assert_eq!(d.fingerprint.len(), 64);
}

#[test]
fn a_syntax_error_names_file_line_and_column() {
    let report =
        load_sources(&files(&[("intents/bad.yaml", "intents:\n  - name: a\n    examples: [x, y\n")])).unwrap_err();
    let errs = errors(&report);
    assert_eq!(errs.len(), 1, "{report}");
    assert_eq!(errs[0].0, "intents/bad.yaml");
    assert!(errs[0].1 >= 3, "line {}", errs[0].1);
}

#[test]
fn all_errors_are_reported_at_once() {
    let a = r#"intents:
  - name: greet
    examples: [hi, hello, hey, hiya, yo]
  - name: refund
    exmples: [refund please]
  - name: lost_ticket
    examples: [lost my ticket, where is my ticket, no ticket, ticket gone, help ticket]
    respond: lost_answer
  - name: bad_action
    examples: [one, two, three, four, five]
    action: teleport
  - name: marked
    examples: ["refund [A1](order_number)", a, b, c, d]
entities:
  order_id: { pattern: '[A-Z' }
responses:
  greet:
    - text: Hi
  marked:
    - text: ok
"#;
    let b = "intents:\n  - name: greet\n    examples: [hello there]\ncolour: blue\n";
    let report = load_sources(&files(&[("a.yaml", a), ("b.yaml", b)])).unwrap_err();
    let errs = errors(&report);
    let find = |needle: &str| {
        errs.iter().find(|e| e.4.contains(needle)).unwrap_or_else(|| panic!("no error with {needle:?} in\n{report}"))
    };
    let unknown_key = find("unknown field `exmples`");
    assert_eq!((unknown_key.0.as_str(), unknown_key.1, unknown_key.3.as_deref()), ("a.yaml", 5, Some("refund")));
    let missing = find("no response named \"lost_answer\"");
    assert_eq!((missing.1, missing.2, missing.3.as_deref()), (8, 14, Some("lost_ticket")));
    let action = find("unknown action \"teleport\"");
    assert_eq!((action.1, action.3.as_deref()), (11, Some("bad_action")));
    let entity = find("unknown entity \"order_number\"");
    assert_eq!((entity.1, entity.3.as_deref()), (13, Some("marked")));
    let regex = find("invalid regular expression");
    assert_eq!(regex.1, 15);
    let top = find("unknown field `colour`");
    assert_eq!((top.0.as_str(), top.1), ("b.yaml", 4));
    let dup = find("intent is defined twice");
    assert_eq!((dup.0.as_str(), dup.1, dup.3.as_deref()), ("b.yaml", 2, Some("greet")));
    assert!(errs.len() >= 7, "{report}");
    for line in report.to_string().lines().skip(1) {
        assert!(line.trim_start().starts_with("a.yaml:") || line.trim_start().starts_with("b.yaml:"), "{line}");
    }
}

#[test]
fn wrong_types_and_bad_policy_are_located() {
    let src = "intents:\n  - name: greet\n    examples: hello\npolicy:\n  fallback_threshold: 1.5\nresponses:\n  greet:\n    - text: hi\n";
    let report = load_sources(&files(&[("p.yaml", src)])).unwrap_err();
    let errs = errors(&report);
    assert!(
        errs.iter().any(|e| e.1 == 3 && e.3.as_deref() == Some("greet") && e.4.contains("invalid type")),
        "{report}"
    );
    let src = "intents:\n  - name: greet\n    examples: [a, b, c, d, e]\npolicy:\n  fallback_threshold: 1.5\nresponses:\n  greet:\n    - text: hi\n";
    let report = load_sources(&files(&[("p.yaml", src)])).unwrap_err();
    assert!(errors(&report).iter().any(|e| e.1 == 5 && e.4.contains("between 0 and 1")), "{report}");
    let policy = |p: &str| {
        format!("intents:\n  - name: greet\n    examples: [a, b, c, d, e]\npolicy:\n{p}responses:\n  greet:\n    - text: hi\n")
    };
    let report = load_sources(&files(&[("p.yaml", &policy("  digression_threshold: 2\n"))])).unwrap_err();
    assert!(
        errors(&report).iter().any(|e| e.1 == 5 && e.4.contains("digression_threshold must be between 0 and 1")),
        "{report}"
    );
    // Never below the fallback threshold: a lower one is raised to it.
    let both = policy("  fallback_threshold: 0.6\n  digression_threshold: 0.5\n");
    let d = load_sources(&files(&[("p.yaml", &both)])).unwrap().domain;
    assert_eq!((d.policy.fallback_threshold, d.policy.digression_threshold), (0.6, 0.6));
    let d = load_sources(&files(&[("p.yaml", &policy("  digression_threshold: 0.95\n"))])).unwrap().domain;
    assert_eq!(d.policy.digression_threshold, 0.95);
}

#[test]
fn warnings_flag_risky_but_valid_files() {
    let src = r#"intents:
  - name: greet
    examples: [hi, hello, hey]
  - name: hello_again
    examples: [Hi, a, b, c, d]
    respond: greet
forms:
  f:
    slots:
      x: { ask: "x?", entity: nowhere }
responses:
  greet:
    - text: Hello
  orphan:
    - text: never said
"#;
    let loaded = load_sources(&files(&[("w.yaml", src)])).unwrap_or_else(|r| panic!("{r}"));
    let msgs: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    let has = |needle: &str| msgs.iter().any(|m| m.contains(needle));
    assert!(has("w.yaml:3:15: warning: intent \"greet\": only 3 examples"), "{msgs:#?}");
    assert!(has("is also an example of intent \"greet\""), "{msgs:#?}");
    assert!(has("response \"orphan\" is never used"), "{msgs:#?}");
    assert!(has("names unknown entity \"nowhere\""), "{msgs:#?}");
}

#[test]
fn yaml_bombs_are_refused() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nintents: [*g]\n";
    let report = load_sources(&files(&[("bomb.yaml", bomb)])).unwrap_err();
    assert!(report.errors().count() >= 1);
}

#[test]
fn canned_replies_and_escalation_load_and_duplicates_are_errors() {
    let extra = "canned_replies:\n  Wrap up: \"Anything else?\"\npolicy:\n  escalation: handoff\n";
    let loaded = load_sources(&files(&[("a.yaml", GOOD), ("b.yaml", extra)])).unwrap_or_else(|r| panic!("{r}"));
    assert_eq!(loaded.domain.canned.get("Wrap up").map(String::as_str), Some("Anything else?"));
    assert_eq!(loaded.domain.policy.escalation, Escalation::Handoff);

    let twice = "canned_replies:\n  Wrap up: \"Bye\"\n";
    let report = load_sources(&files(&[("a.yaml", GOOD), ("b.yaml", extra), ("c.yaml", twice)])).unwrap_err();
    let errs = errors(&report);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!((errs[0].0.as_str(), errs[0].1), ("c.yaml", 2));
    assert!(errs[0].4.contains("canned reply \"Wrap up\" is defined twice"), "{errs:?}");

    let bad = "policy:\n  escalation: shout\n";
    let report = load_sources(&files(&[("a.yaml", GOOD), ("d.yaml", bad)])).unwrap_err();
    let errs = errors(&report);
    assert_eq!((errs[0].0.as_str(), errs[0].1), ("d.yaml", 2), "{errs:?}");
    assert!(errs[0].4.contains("shout"), "{errs:?}");
}

#[test]
fn absurd_flow_nesting_is_refused_before_parsing_with_its_position() {
    // 1.9 MB of `[`: libyaml alone would spend over an hour on it.
    let src = format!("intents: {}\n", "[".repeat(1_900_000));
    let report = load_sources(&[(PathBuf::from("deep.yaml"), src)]).unwrap_err();
    let d = report.errors().next().unwrap();
    assert_eq!((d.line, d.column), (1, 110), "{d}");
    assert!(d.message.contains("nested more than 100 deep"), "{d}");
}

#[test]
fn thousands_of_broken_items_give_a_capped_report() {
    // Every intent lacks `examples`: each is an error, located by re-reading
    // the file, so the report stops at MAX_DIAGNOSTICS and counts the rest.
    let src: String = (0..3000).map(|i| format!("  - name: i{i}\n    respond: r\n")).collect();
    let src = format!("intents:\n{src}responses:\n  r:\n    - text: hi\n");
    let report = load_sources(&[(PathBuf::from("big.yaml"), src)]).unwrap_err();
    assert_eq!(report.diagnostics.len(), load::MAX_DIAGNOSTICS + 1);
    let last = report.diagnostics.last().unwrap();
    assert!(last.message.ends_with("more problems not shown: fix the ones above first"), "{last}");
    assert_eq!(last.severity, Severity::Error);
    let first = report.errors().next().unwrap();
    assert_eq!(first.line, 2, "{first}");
}

const ACTIONS: &str = r#"
intents:
  - name: refund_request
    examples: ["refund [A12345](order_id)", money back, refund please, I want a refund, give me a refund]
    form: refund
    call: start_refund
  - name: doors
    examples: [when do doors open, doors time, what time are doors, doors open when, door times please]
    call: doors_for_order
entities:
  order_id: { pattern: '[A-Z]\d{5}' }
forms:
  refund:
    slots:
      order_id: { ask: "Order number?", entity: order_id }
actions:
  start_refund:
    endpoint: encore
    method: POST
    path: /orders/{order_id}/refund
    body: { order: "{order_id}", from: "{channel}", note: "via {conversation}" }
    save: { refund_id: /refund_id }
    outcomes: { 422: resale }
    respond: { ok: refund_done, resale: offer_resale }
  doors_for_order:
    endpoint: encore
    path: /orders/{order_id}
    save: { doors_at: /event/doors_at }
    respond: { ok: doors }
responses:
  refund_done:
    - text: "Refund {refund_id} started"
  offer_resale:
    - text: "The show is on: resell instead"
  doors:
    - text: "Doors at {doors_at}"
"#;

#[test]
fn actions_load_with_their_calls() {
    let d = &clean(ACTIONS);
    assert_eq!(d.intent("refund_request").map(|i| &i.action), Some(&Action::Flow("form:refund_request".into())));
    let last = &d.flows["form:refund_request"].steps.last().unwrap().kind;
    assert!(matches!(last, StepKind::Call { action, say: true } if action == "start_refund"), "{last:?}");
    assert_eq!(d.intent("doors").map(|i| &i.action), Some(&Action::Call("doors_for_order".into())));
    let refund = &d.actions["start_refund"];
    assert_eq!(refund.method, Method::Post);
    assert_eq!(refund.outcome_for(201), "ok");
    assert_eq!(refund.outcome_for(422), "resale");
    assert_eq!(refund.outcome_for(404), "not_found");
    assert_eq!(refund.outcome_for(503), "error");
    assert_eq!(refund.response_for("resale"), "offer_resale");
    assert_eq!(refund.response_for("timeout"), "action_failed", "errors never default to a success");
    assert_eq!((refund.origin.line, refund.origin.column), (18, 15), "{:?}", refund.origin);
    assert_eq!(d.actions["doors_for_order"].method, Method::Get);
}

#[test]
fn broken_actions_are_reported_where_they_are_written() {
    let cases: &[(&str, &str, &str)] = &[
        ("    path: /orders/{order_id}\n", "    path: /orders/{ticket}\n", "{ticket} is not a slot"),
        ("    path: /orders/{order_id}\n", "    path: orders/{order_id}\n", "must start with /"),
        ("    respond: { ok: doors }\n", "    respond: { okay: doors }\n", "\"okay\" is not an outcome"),
        ("    respond: { ok: doors }\n", "    respond: { ok: nowhere }\n", "no response named \"nowhere\""),
        ("    respond: { ok: doors }\n", "    respond: {}\n", "which response follows success"),
        ("    outcomes: { 422: resale }\n", "    outcomes: { 422: gone }\n", "outcome \"gone\" has no response"),
        ("    method: POST\n", "    method: FETCH\n", "unknown method \"FETCH\""),
        ("    call: doors_for_order\n", "    call: doors_for_orders\n", "no action named \"doors_for_orders\""),
        ("    save: { doors_at: /event/doors_at }\n", "    save: { doors_at: event.doors }\n", "not a JSON pointer"),
        (
            "    path: /orders/{order_id}\n    save",
            "    path: /orders/{order_id}\n    body: { a: 1 }\n    save",
            "a GET request has no body",
        ),
    ];
    // A missing success response is reported on the action itself.
    each_is_reported(ACTIONS, cases, |expected| expected.contains("follows success"));
}

/// Breaks `base` by each case's replacement (`from` → `to`) and checks the
/// error naming `expected` is in a.yaml, on the changed line unless
/// `on_item(expected)` says it is reported on the item as a whole.
fn each_is_reported(base: &str, cases: &[(&str, &str, &str)], on_item: impl Fn(&str) -> bool) {
    for (from, to, expected) in cases {
        assert!(base.contains(from), "{from:?}");
        let broken = base.replacen(from, to, 1);
        let report = load_sources(&files(&[("a.yaml", &broken)])).expect_err(expected);
        let errs = errors(&report);
        let found = errs.iter().find(|e| e.4.contains(expected));
        let (file, line, column, _, _) = found.unwrap_or_else(|| panic!("{expected:?} not in {errs:#?}"));
        assert_eq!(file, "a.yaml");
        assert!(*line > 0 && *column > 0, "{expected}: {errs:?}");
        let changed = broken.lines().position(|l| to.lines().any(|t| t == l && !from.contains(t))).map(|i| i + 1);
        if let Some(changed) = changed.filter(|_| !on_item(expected)) {
            assert_eq!(*line, changed, "{expected} is reported on the changed line: {errs:?}");
        }
    }
}

#[test]
fn placeholders_are_found_in_templates() {
    let found: Vec<&str> = placeholders("/a/{order_id}/{x}/{ bad }/{}/{Upper}").into_iter().map(|(_, n)| n).collect();
    assert_eq!(found, ["order_id", "x"]);
}

const FLOWS: &str = r#"
intents:
  - name: refund_request
    examples: ["refund [A12345](order_id)", money back, refund please, I want a refund, give me a refund]
    flow: refund
  - name: talk
    examples: [a person please, human, agent, talk to someone, real person]
    flow: escalate
entities:
  order_id: { pattern: '[A-Z]\d{5}' }
flows:
  refund:
    description: Refund when the show is off.
    steps:
      - collect: order_id
        ask: "Order number?"
        entity: order_id
      - call: check_order
        say: false
      - id: check
        branch:
          - if: outcome == "not_found"
            then: unknown
          - if: status in ["cancelled", "postponed"]
            then: refund
          - else: resale
      - id: refund
        call: start_refund
        next: end
      - id: resale
        respond: offer_resale
        next: end
      - id: unknown
        set: { order_id: "" }
        next: again
      - id: again
        goto: escalate
  escalate:
    steps:
      - respond: sorry
      - handoff: true
actions:
  check_order:
    endpoint: encore
    path: /orders/{order_id}
    save: { status: /event/status }
    respond: { ok: sorry }
  start_refund:
    endpoint: encore
    method: POST
    path: /orders/{order_id}/refund
    respond: { ok: refund_done }
responses:
  refund_done:
    - text: "Refunded"
  offer_resale:
    - text: "Resell instead"
  sorry:
    - text: "Sorry"
"#;

#[test]
fn flows_load_with_their_steps() {
    let d = &clean(FLOWS);
    assert_eq!(d.intent("refund_request").map(|i| &i.action), Some(&Action::Flow("refund".into())));
    let refund = &d.flows["refund"];
    assert_eq!(refund.steps.len(), 7);
    let StepKind::Branch(cases) = &refund.steps[2].kind else { panic!("{:?}", refund.steps[2]) };
    assert_eq!(cases.iter().map(|c| c.target).collect::<Vec<_>>(), [Target::Step(5), Target::Step(3), Target::Step(4)]);
    assert_eq!(refund.steps[3].next, Target::End);
    let vars = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let off = cases[1].when.as_ref().unwrap();
    assert!(off.holds(&vars(&[("status", "postponed")])));
    assert!(!off.holds(&vars(&[("status", "on sale")])));
    assert!(!off.holds(&vars(&[])), "an unset slot is in no list");
    // A step's origin is its kind's value: here the first case.
    let first_case = FLOWS.lines().position(|l| l.contains("if: outcome")).unwrap() + 1;
    assert_eq!((refund.steps[2].origin.line, refund.steps[2].origin.column), (first_case, 11));
}

#[test]
fn conditions_cannot_run_code_or_spin() {
    for src in ["range(100000000) | length > 1", "cycler(1) is defined and status.__class__"] {
        let (c, _) = Condition::parse(src).unwrap();
        assert!(!c.holds(&BTreeMap::new()), "{src}");
    }
    assert!(Condition::parse("status ==").is_err());
}

#[test]
fn broken_flows_are_reported_where_they_are_written() {
    let cases: &[(&str, &str, &str)] = &[
        ("        call: start_refund\n", "        call: start_refunds\n", "no action named \"start_refunds\""),
        ("        respond: offer_resale\n", "        respond: offer_resell\n", "no response named \"offer_resell\""),
        ("        goto: escalate\n", "        goto: escalation\n", "no flow named \"escalation\""),
        ("            then: unknown\n", "            then: unknowns\n", "no step with id \"unknowns\""),
        ("          - if: status in", "          - if: state in", "reads state, which no step collects"),
        ("          - if: outcome == \"not_found\"\n", "          - if: outcome == = 1\n", "invalid condition"),
        ("      - collect: order_id\n        ask: \"Order number?\"\n", "      - collect: order_id\n", "needs `ask:`"),
        ("        entity: order_id\n", "        entity: order\n", "no entity named \"order\""),
        (
            "        respond: offer_resale\n",
            "        respond: offer_resale\n        call: start_refund\n",
            "a step does one thing",
        ),
        (
            "        next: end\n      - id: resale\n",
            "        next: nowhere\n      - id: resale\n",
            "no step with id \"nowhere\"",
        ),
        ("    flow: escalate\n", "    flow: escalating\n", "no flow named \"escalating\""),
        ("          - else: resale\n", "          - else: refund\n", "step 5 can never run"),
        (
            "        call: start_refund\n        next: end\n",
            "        call: start_refund\n        next: check\n",
            "no collect step on the way",
        ),
        ("      - handoff: true\n", "      - goto: escalate\n", "no collect step on the way"),
    ];
    // Steps that cannot run, or do two things, are reported on the step.
    each_is_reported(FLOWS, cases, |expected| expected.contains("can never run") || expected.contains("one thing"));
}

#[test]
fn follow_ups_name_the_intents_they_follow() {
    let yaml = r#"
intents:
  - name: transfer_time
    examples: [how long does that take, when will it arrive, how long until they get it, is it quick, how fast is that]
    after: [ticket_transfer]
    respond: transfer_time
  - name: ticket_transfer
    examples: [transfer my ticket, send my ticket to a friend, give my ticket away, move my ticket, pass my ticket on]
    respond: transfer_time
responses:
  transfer_time:
    - text: "Minutes."
"#;
    let d = load_sources(&files(&[("a.yaml", yaml)])).unwrap_or_else(|r| panic!("{r}")).domain;
    assert_eq!(d.intent("transfer_time").unwrap().after, ["ticket_transfer"]);
    assert!(d.intent("ticket_transfer").unwrap().after.is_empty());
    let broken = yaml.replace("after: [ticket_transfer]", "after: [ticket_transfers]");
    let errs = errors(&load_sources(&files(&[("a.yaml", &broken)])).unwrap_err());
    let line = broken.lines().position(|l| l.contains("after:")).unwrap() + 1;
    assert!(errs.iter().any(|e| e.1 == line && e.4.contains("unknown intent \"ticket_transfers\"")), "{errs:?}");
}
