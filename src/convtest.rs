//! Conversation tests (`usher test conversations`): YAML files of fan turns
//! and what must follow each (the intent, text the replies contain, the
//! buttons offered, the actions called and with what, slot values, a
//! handoff, the flow under way), run in-process on the real engine with
//! every backend call answered by the stubs the file declares, so the
//! tests need no backend. A failing turn is reported as expected against
//! actual, field by field.
//!
//! # Layout
//! - [`load`]: reading a file or a directory of files (YAML errors name the
//!   file, line and column).
//! - [`Scratch`]: an engine over a throwaway store, for the tests only.
//! - [`run`]: each conversation on the engine, under its own id.
//! - [`Report`]: what passed and failed, as text and as JUnit XML.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use usher_channel::{render_plain, ConversationId, Inbound, Part};

use crate::dialogue::Called;
use crate::engine::consult::ActionStubs;
use crate::engine::Engine;
use crate::Error;

/// One file of conversations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    conversations: Vec<Conversation>,
}

/// One test conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    /// What it checks.
    pub name: String,
    /// Canned answers by action name (`rasa.NAME` for Rasa actions); an
    /// action without one ends in `error`, as an unreachable backend does.
    #[serde(default)]
    pub stubs: BTreeMap<String, Stub>,
    /// The fan's turns, in order.
    pub turns: Vec<Expect>,
    /// Its place in its file's `conversations:` list.
    #[serde(skip)]
    pub index: usize,
}

/// A canned backend answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stub {
    /// The outcome (`ok`, `not_found`, `refused`, `error`, `timeout` or a
    /// staff outcome). Default `ok`.
    #[serde(default = "ok")]
    pub outcome: String,
    /// The fields the answer saves into slots.
    #[serde(default)]
    pub save: BTreeMap<String, String>,
}

fn ok() -> String {
    "ok".into()
}

/// One fan turn and what must follow it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// What the fan types.
    #[serde(default)]
    pub fan: Option<String>,
    /// A button payload the fan presses instead (`/talk_to_human`).
    #[serde(default)]
    pub press: Option<String>,
    /// The intent the message must be read as.
    #[serde(default)]
    pub intent: Option<String>,
    /// Text each of which some reply must contain, in order.
    #[serde(default)]
    pub says: Vec<String>,
    /// Text no reply may contain.
    #[serde(default)]
    pub never_says: Vec<String>,
    /// Button payloads the replies must offer.
    #[serde(default)]
    pub buttons: Vec<String>,
    /// The named responses sent this turn, in order (exactly these; built-in
    /// ones such as `clarify` and `handoff` included; a flow's questions are
    /// text, checked with `says`).
    #[serde(default)]
    pub responds: Option<Vec<String>>,
    /// The actions called this turn, in order (exactly these).
    #[serde(default)]
    pub calls: Option<Vec<CallExpect>>,
    /// Slot values after the turn (`null`: not set).
    #[serde(default)]
    pub slots: BTreeMap<String, Option<String>>,
    /// Whether the conversation is with a person after the turn.
    #[serde(default)]
    pub handoff: Option<bool>,
    /// The flow under way after the turn (`""`: none).
    #[serde(default)]
    pub flow: Option<String>,
}

/// An expected call: the action's name, or the name and values it must
/// have been called with (those given; others may be there too).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CallExpect {
    /// Just the name.
    Name(String),
    /// The name and some of its values.
    With {
        /// The action.
        action: String,
        /// Values it must have been called with.
        #[serde(default)]
        with: BTreeMap<String, String>,
    },
}

impl CallExpect {
    fn action(&self) -> &str {
        match self {
            Self::Name(a) | Self::With { action: a, .. } => a,
        }
    }
}

/// Reads `path`: one file, or every `.yaml`/`.yml` file in a directory, in
/// name order. Each conversation comes with its file.
pub fn load(path: &Path) -> Result<Vec<(PathBuf, Conversation)>, Error> {
    let mut files = Vec::new();
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
        for entry in entries {
            let p = entry.map_err(|e| Error::io(path, e))?.path();
            if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        // serde_yaml's message carries the line and column.
        let parsed: File = serde_yaml::from_str(&text)
            .map_err(|e| Error::ConversationTest { file: file.clone(), message: e.to_string() })?;
        for (index, mut c) in parsed.conversations.into_iter().enumerate() {
            c.index = index;
            if c.turns.iter().any(|t| t.fan.is_some() == t.press.is_some()) {
                let message = format!("{:?}: every turn needs `fan:` (text) or `press:` (a payload), not both", c.name);
                return Err(Error::ConversationTest { file: file.clone(), message });
            }
            out.push((file.clone(), c));
        }
    }
    Ok(out)
}

/// Checks the names the conversations use against `domain`: intents,
/// responses, actions (called and stubbed; `rasa.NAME` is the action
/// server's business) and slots. Every unknown name is listed with its
/// file, line and column.
pub fn check(conversations: &[(PathBuf, Conversation)], domain: &crate::intents::Domain) -> Result<(), Error> {
    use crate::intents::{Seg, StepKind};
    let mut slots: std::collections::BTreeSet<&str> = domain.entities.keys().map(String::as_str).collect();
    slots.extend(domain.actions.values().flat_map(|a| a.save.keys().map(String::as_str)));
    for step in domain.flows.values().flat_map(|f| &f.steps) {
        match &step.kind {
            StepKind::Collect(slot) => _ = slots.insert(&slot.name),
            StepKind::Set(pairs) => slots.extend(pairs.iter().map(|(k, _)| k.as_str())),
            _ => {}
        }
    }
    let response = |r: &str| domain.responses.contains_key(r) || crate::intents::SYSTEM_RESPONSES.contains(&r);
    let action = |a: &str| a.starts_with("rasa.") || domain.actions.contains_key(a);
    let mut problems = Vec::new();
    for (file, c) in conversations {
        let mut unknown = |path: Vec<Seg>, what: String| problems.push((file, c.index, path, what));
        let key = |k: &str| Seg::Key(k.into());
        for name in c.stubs.keys().filter(|a| !action(a)) {
            unknown(vec![key("stubs"), key(name)], format!("stub for unknown action {name:?}"));
        }
        let stubbed: Vec<&str> = c.stubs.values().flat_map(|s| s.save.keys().map(String::as_str)).collect();
        for (t, turn) in c.turns.iter().enumerate() {
            let at = |field: &str| vec![key("turns"), Seg::Index(t), key(field)];
            if let Some(i) = turn.intent.as_deref().filter(|i| domain.intent(i).is_none()) {
                unknown(at("intent"), format!("unknown intent {i:?}"));
            }
            for (n, r) in turn.responds.iter().flatten().enumerate().filter(|(_, r)| !response(r)) {
                unknown([at("responds"), vec![Seg::Index(n)]].concat(), format!("unknown response {r:?}"));
            }
            for (n, a) in turn.calls.iter().flatten().enumerate().filter(|(_, a)| !action(a.action())) {
                unknown([at("calls"), vec![Seg::Index(n)]].concat(), format!("unknown action {:?}", a.action()));
            }
            for s in turn.slots.keys().filter(|s| !slots.contains(s.as_str()) && !stubbed.contains(&s.as_str())) {
                unknown([at("slots"), vec![key(s)]].concat(), format!("unknown slot {s:?}"));
            }
        }
    }
    let Some((file, ..)) = problems.first() else { return Ok(()) };
    let file = file.to_path_buf();
    let mut lines = Vec::new();
    for (file, index, path, what) in problems {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let full = [vec![Seg::Key("conversations".into()), Seg::Index(index)], path].concat();
        let pos = crate::intents::locate(&text, &full).unwrap_or_default();
        lines.push(format!("{}:{}:{}: {what}", file.display(), pos.line, pos.column));
    }
    Err(Error::ConversationTest { file, message: format!("unknown names:\n{}", lines.join("\n")) })
}

/// A call a stub answered: the action and the values it was called with.
type Call = (String, BTreeMap<String, String>);

/// One conversation's stubs and the calls they answered.
type Stubbed = (BTreeMap<String, Stub>, Vec<Call>);

/// The stubs of every conversation under way, and the calls they answered.
#[derive(Default)]
struct Stubs {
    by_conversation: Mutex<BTreeMap<String, Stubbed>>,
}

impl ActionStubs for Stubs {
    fn call(&self, conversation: &ConversationId, action: &str, values: &BTreeMap<String, String>) -> Called {
        let mut called = Called::new(action, "stub");
        let mut all = self.by_conversation.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((stubs, calls)) = all.get_mut(conversation.as_str()) {
            calls.push((action.to_string(), values.clone()));
            match stubs.get(action) {
                Some(stub) => {
                    called.outcome = stub.outcome.clone();
                    called.saved = stub.save.clone();
                    called.status = Some(200);
                }
                None => called.detail = Some(format!("no stub for {action} in this conversation")),
            }
        }
        called
    }
}

/// What one conversation came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The file it is in.
    pub file: PathBuf,
    /// Its name.
    pub name: String,
    /// For each failed turn: the turn (1-based), what the fan sent, and the
    /// differences as `field: expected …, got …` lines, then a `why: RULE –
    /// detail` line naming the policy rule that decided the turn.
    pub failures: Vec<(usize, String, Vec<String>)>,
    /// Its turns.
    pub turns: usize,
    /// Seconds it took.
    pub seconds: f64,
}

impl Outcome {
    /// Turns that passed: those before the first failure.
    pub fn passed_turns(&self) -> usize {
        self.failures.first().map_or(self.turns, |f| f.0 - 1)
    }
}

/// Every conversation's outcome.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// In the order run.
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// Conversations that failed.
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.failures.is_empty()).count()
    }

    /// A readable account: one line per conversation, then each failed
    /// turn's differences.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for o in &self.outcomes {
            let mark = if o.failures.is_empty() { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "{mark} {}: {}", o.file.display(), o.name);
            for (turn, sent, diffs) in &o.failures {
                let _ = writeln!(out, "     turn {turn} ({sent:?}):");
                for d in diffs {
                    let _ = writeln!(out, "       {d}");
                }
            }
        }
        let (passed, turns) = self.turns();
        let _ = writeln!(
            out,
            "{} conversations, {} failed; {passed} of {turns} turns passed",
            self.outcomes.len(),
            self.failed()
        );
        out
    }

    /// Turns that passed and turns in all (a failed turn's later turns
    /// count as not passed: they build on it).
    pub fn turns(&self) -> (usize, usize) {
        self.outcomes.iter().fold((0, 0), |(p, t), o| (p + o.passed_turns(), t + o.turns))
    }

    /// JUnit XML, one test case per conversation.
    pub fn junit(&self) -> String {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
        let total: f64 = self.outcomes.iter().map(|o| o.seconds).sum();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuite name=\"conversations\" tests=\"{}\" failures=\"{}\" time=\"{total:.3}\">",
            self.outcomes.len(),
            self.failed()
        );
        for o in &self.outcomes {
            let class = esc(&o.file.display().to_string());
            let _ =
                write!(out, "  <testcase classname=\"{class}\" name=\"{}\" time=\"{:.3}\"", esc(&o.name), o.seconds);
            if o.failures.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            let mut body = String::new();
            for (turn, sent, diffs) in &o.failures {
                let _ = writeln!(body, "turn {turn} ({sent:?}):");
                for d in diffs {
                    let _ = writeln!(body, "  {d}");
                }
            }
            let first = o.failures.first().map(|f| f.0).unwrap_or_default();
            let _ = writeln!(
                out,
                ">\n    <failure message=\"turn {first} differs\">{}</failure>\n  </testcase>",
                esc(&body)
            );
        }
        out.push_str("</testsuite>\n");
        out
    }
}

/// An engine over a throwaway SQLite store under `data_dir`, removed when
/// dropped: the tests never touch the bot's own conversations.
pub struct Scratch {
    /// The engine the tests run on.
    pub engine: Engine,
    dir: PathBuf,
}

impl Scratch {
    /// A scratch engine answering with `brain`.
    pub async fn new(data_dir: &Path, brain: Arc<crate::engine::Brain>) -> Result<Self, Error> {
        let dir = data_dir.join(format!("conversation-tests-{}", crate::util::random_hex(4)));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let store = crate::store::SqliteStore::open(&dir.join("tests.db")).await?;
        Ok(Self { engine: Engine::with_brain(Arc::new(store), brain), dir })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs each conversation on `engine`, under its own conversation id, with
/// backend calls answered by its stubs.
pub async fn run(engine: &Engine, conversations: &[(PathBuf, Conversation)]) -> Result<Report, Error> {
    let stubs = Arc::new(Stubs::default());
    engine.set_action_stubs(Arc::clone(&stubs) as Arc<dyn ActionStubs>);
    let run_id = crate::util::random_hex(4);
    let mut report = Report::default();
    for (i, (file, c)) in conversations.iter().enumerate() {
        let started = std::time::Instant::now();
        let id = ConversationId::new(format!("test-{run_id}-{i}"))
            .map_err(|e| Error::ConversationTest { file: file.clone(), message: e.to_string() })?;
        stubs
            .by_conversation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), (c.stubs.clone(), Vec::new()));
        let mut failures = Vec::new();
        for (n, expect) in c.turns.iter().enumerate() {
            let sent = expect.fan.clone().or_else(|| expect.press.clone()).unwrap_or_default();
            let mut inbound = Inbound::text(id.clone(), "test", sent.clone());
            if expect.press.is_some() {
                inbound.payload = Some(sent.clone());
            }
            let before = calls_of(&stubs, &id).len();
            let turn = engine.handle(inbound).await?;
            let calls: Vec<Call> = calls_of(&stubs, &id).split_off(before);
            let tracker = engine.transcript(&id).await?.map(|t| t.tracker).unwrap_or_default();
            let parts: Vec<&Part> = turn.replies.iter().flat_map(|r| &r.parts).collect();
            let texts: Vec<String> = turn.replies.iter().map(|r| render_plain(&r.parts)).collect();
            let said = Said {
                intent: &turn.parse.intent.name,
                texts: &texts,
                parts: &parts,
                responses: &turn.explanation.responses,
            };
            let mut diffs = compare(expect, &said, &calls, &tracker);
            if !diffs.is_empty() {
                // Why the bot did what it did, so the failure explains itself.
                let rule = &turn.explanation.rule;
                diffs.push(format!("why: {} – {}", rule.name, rule.detail));
                failures.push((n + 1, sent, diffs));
                break; // later turns build on this one
            }
        }
        stubs.by_conversation.lock().unwrap_or_else(|p| p.into_inner()).remove(id.as_str());
        let seconds = started.elapsed().as_secs_f64();
        let (file, name, turns) = (file.clone(), c.name.clone(), c.turns.len());
        report.outcomes.push(Outcome { file, name, failures, turns, seconds });
    }
    Ok(report)
}

fn calls_of(stubs: &Stubs, id: &ConversationId) -> Vec<Call> {
    let all = stubs.by_conversation.lock().unwrap_or_else(|p| p.into_inner());
    all.get(id.as_str()).map(|(_, calls)| calls.clone()).unwrap_or_default()
}

/// What the bot made of a turn and said.
struct Said<'a> {
    intent: &'a str,
    texts: &'a [String],
    parts: &'a [&'a Part],
    responses: &'a [String],
}

/// The differences between what a turn must do and what it did.
fn compare(expect: &Expect, turn: &Said<'_>, calls: &[Call], tracker: &crate::dialogue::Tracker) -> Vec<String> {
    let Said { intent, texts, parts, responses } = *turn;
    let mut diffs = Vec::new();
    let said = texts.join(" | ");
    if let Some(want) = expect.intent.as_deref().filter(|w| *w != intent) {
        diffs.push(format!("intent: expected {want}, got {intent}"));
    }
    // Each expected text in order, each found after the previous one.
    let mut rest = said.as_str();
    for want in &expect.says {
        match rest.find(want.as_str()) {
            Some(at) => rest = &rest[at + want.len()..],
            None => diffs.push(format!("says: expected {want:?} (in order), got {said:?}")),
        }
    }
    for never in expect.never_says.iter().filter(|n| said.contains(n.as_str())) {
        diffs.push(format!("never_says: {never:?} is in {said:?}"));
    }
    let offered: Vec<&str> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Buttons { buttons } => Some(buttons.iter().map(|b| b.payload.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    for want in expect.buttons.iter().filter(|b| !offered.contains(&b.as_str())) {
        diffs.push(format!("buttons: expected {want}, got {offered:?}"));
    }
    if let Some(want) = expect.responds.as_ref().filter(|w| w.as_slice() != responses) {
        diffs.push(format!("responds: expected {want:?}, got {responses:?}"));
    }
    if let Some(want) = &expect.calls {
        let names: Vec<&str> = calls.iter().map(|(a, _)| a.as_str()).collect();
        let wanted: Vec<&str> = want.iter().map(CallExpect::action).collect();
        if names != wanted {
            diffs.push(format!("calls: expected {wanted:?}, got {names:?}"));
        } else {
            for (w, (action, values)) in want.iter().zip(calls) {
                let CallExpect::With { with, .. } = w else { continue };
                for (k, v) in with.iter().filter(|(k, v)| values.get(*k) != Some(*v)) {
                    diffs.push(format!("calls: {action} expected {k} = {v:?}, got {:?}", values.get(k)));
                }
            }
        }
    }
    for (slot, want) in &expect.slots {
        let got = tracker.slots.get(slot);
        if got != want.as_ref() {
            diffs.push(format!("slots: expected {slot} = {want:?}, got {got:?}"));
        }
    }
    let handed = tracker.with_human() || parts.iter().any(|p| matches!(p, Part::Handoff { .. }));
    if let Some(want) = expect.handoff.filter(|w| *w != handed) {
        diffs.push(format!("handoff: expected {want}, got {handed}"));
    }
    if let Some(want) = &expect.flow {
        let got = tracker.flow().map(|f| f.name.as_str()).unwrap_or("");
        if got != want {
            diffs.push(format!("flow: expected {want:?}, got {got:?}"));
        }
    }
    diffs
}
