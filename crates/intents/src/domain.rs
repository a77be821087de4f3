//! The validated intent set the engine runs on.

use regex::Regex;
use std::collections::BTreeMap;

/// Everything staff defined in the intent files, checked and cross-linked.
#[derive(Debug, Clone)]
pub struct Domain {
    /// Intents in file order (the classifier's label order).
    pub intents: Vec<Intent>,
    /// Entities by name.
    pub entities: BTreeMap<String, Entity>,
    /// Forms by name.
    pub forms: BTreeMap<String, Form>,
    /// Responses by name, each with its variations.
    pub responses: BTreeMap<String, Vec<Response>>,
    /// Dialogue policy settings.
    pub policy: Policy,
    /// Canned replies for agents in the console: title → text.
    pub canned: BTreeMap<String, String>,
    /// Backend calls by name (`actions:`).
    pub actions: BTreeMap<String, ActionSpec>,
    /// Flows by name: staff's (`flows:`) and one per intent with a form.
    pub flows: BTreeMap<String, Flow>,
    /// Staff's recommendation rules from the intent files (added to
    /// `config.yaml`'s).
    pub recommendations: Recommendations,
    /// SHA-256 of every file's name and contents: keys model caches.
    pub fingerprint: String,
}

/// What staff pin, boost or exclude among recommendations (`recommendations:`
/// in an intent file; catalogue ids).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Recommendations {
    /// Shown first whenever eligible.
    pub pin: Vec<String>,
    /// Moved up (positive) or down (negative).
    pub boost: BTreeMap<String, f32>,
    /// Never suggested.
    pub exclude: Vec<String>,
}

impl Domain {
    /// The intent named `name`.
    pub fn intent(&self, name: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.name == name)
    }
}

/// One intent.
#[derive(Debug, Clone)]
pub struct Intent {
    /// Its unique name, e.g. `refund_request`.
    pub name: String,
    /// A short human title for clarification buttons ("Refund a ticket").
    pub title: String,
    /// Training examples, annotations resolved.
    pub examples: Vec<Example>,
    /// What the bot does when it recognises this intent.
    pub action: Action,
    /// Where its `call:` is written, when it has one (for checks that need
    /// `config.yaml`).
    pub call_at: Option<Origin>,
    /// A follow-up's context (`after:`): it is recognised only right after
    /// one of these intents ("how long does that take" after a transfer).
    /// Empty: any time.
    pub after: Vec<String>,
    /// Look in the knowledge base first (`knowledge_first: true`): a
    /// passage that answers the message itself wins over this intent's
    /// response, which stays the answer when none does. For broad intents
    /// ("getting to the venue") whose documents hold the specifics.
    pub knowledge_first: bool,
    /// Where it is written: its item in a file's `intents:` list.
    pub origin: Origin,
    /// Its position in that list.
    pub index: usize,
}

impl Intent {
    /// Whether `name` is a valid intent name: `a-z`, `0-9` and `_`, not empty.
    pub fn valid_name(name: &str) -> bool {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }

    /// Where example `i` is written (read again from the intent's file;
    /// the intent's own position when the file has changed since).
    pub fn example_origin(&self, i: usize) -> Origin {
        let path = [
            crate::locate::Seg::Key("intents".into()),
            crate::locate::Seg::Index(self.index),
            crate::locate::Seg::Key("examples".into()),
            crate::locate::Seg::Index(i),
        ];
        std::fs::read_to_string(&self.origin.file)
            .ok()
            .and_then(|src| crate::locate::locate(&src, &path))
            .map(|pos| Origin { file: self.origin.file.clone(), line: pos.line, column: pos.column })
            .unwrap_or_else(|| self.origin.clone())
    }
}

/// What the bot does for an intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a response.
    Respond(String),
    /// Run a flow (`flow: NAME`; an intent's `form:` is a flow of its
    /// slots' collect steps and then its response or call, named
    /// `form:INTENT`).
    Flow(String),
    /// Call a backend action now (its values from slots and this message's
    /// entities) and answer with its outcome's response.
    Call(String),
    /// Hand the conversation to a human agent.
    Handoff,
    /// Answer from the knowledge base.
    Knowledge,
    /// Run a creative tool (`tool.compose_melody` → `compose_melody`).
    Tool(String),
}

/// A backend call staff declared under `actions:`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    /// Its name.
    pub name: String,
    /// The `config.yaml` endpoint it goes to (`actions.endpoints.NAME`).
    pub endpoint: String,
    /// The HTTP method.
    pub method: Method,
    /// The path after the endpoint's base URL, with `{slot}` placeholders
    /// (values are percent-encoded).
    pub path: String,
    /// The JSON body, with `{slot}` placeholders inside strings (values are
    /// JSON-encoded); none for GET and HEAD.
    pub body: Option<serde_json::Value>,
    /// Slot → JSON pointer into the response (`/event/doors_at`).
    pub save: BTreeMap<String, String>,
    /// Status codes staff map to an outcome, over the defaults.
    pub statuses: BTreeMap<u16, String>,
    /// Outcome → response name, over the defaults.
    pub respond: BTreeMap<String, String>,
    /// Where `endpoint:` is written, for checks that need `config.yaml`.
    pub origin: Origin,
}

/// A place in an intent file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The file.
    pub file: std::path::PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// The outcomes every action can end in.
pub const OUTCOMES: &[&str] = &["ok", "not_found", "refused", "error", "timeout"];

/// Placeholders every action may use besides slots and entities.
pub const BUILTIN_VALUES: &[&str] = &["conversation", "channel", "message_id"];

impl ActionSpec {
    /// The outcome of an answer with `status`: staff's mapping, else 2xx
    /// `ok`, 404 `not_found`, 409 and 422 `refused`, anything else `error`.
    pub fn outcome_for(&self, status: u16) -> &str {
        if let Some(outcome) = self.statuses.get(&status) {
            return outcome;
        }
        match status {
            200..=299 => "ok",
            404 => "not_found",
            409 | 422 => "refused",
            _ => "error",
        }
    }

    /// The response for `outcome`: staff's, else the built-in one
    /// (`action_not_found`, `action_refused`, and `action_failed` for
    /// errors and timeouts, which apologises and offers a person).
    pub fn response_for(&self, outcome: &str) -> &str {
        self.respond.get(outcome).map_or_else(|| default_response_for(outcome), String::as_str)
    }
}

/// The built-in response for an action's `outcome`: `action_not_found`,
/// `action_refused`, else `action_failed` (errors and timeouts, which
/// apologises and offers a person; never a success).
pub fn default_response_for(outcome: &str) -> &'static str {
    match outcome {
        "not_found" => "action_not_found",
        "refused" => "action_refused",
        _ => "action_failed",
    }
}

/// The `{name}` placeholders of a template, with their byte ranges
/// (braces included); names use a-z, 0-9 and _.
pub fn placeholders(template: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = template[rest..].find('{').map(|i| i + rest) {
        let Some(close) = template[open..].find('}').map(|i| i + open) else { break };
        let name = &template[open + 1..close];
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            out.push((open..close + 1, name));
            rest = close + 1;
        } else {
            rest = open + 1;
        }
    }
    out
}

/// HTTP methods an action may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET (safe: retried).
    Get,
    /// HEAD (safe: retried).
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// Parses a method name, any case.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            _ => return None,
        })
    }

    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    /// Safe methods change nothing on the server, so they may be retried.
    pub fn is_safe(self) -> bool {
        matches!(self, Self::Get | Self::Head)
    }
}

/// A training example: plain text plus the entity spans marked inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The text with the `[..](..)` markup removed.
    pub text: String,
    /// Marked entities (byte offsets into `text`).
    pub entities: Vec<Span>,
}

/// An entity occurrence in an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// The entity name.
    pub entity: String,
}

/// How an entity is recognised.
#[derive(Debug, Clone)]
pub struct Entity {
    /// Its name.
    pub name: String,
    /// A regular expression (whole match is the value).
    pub pattern: Option<Regex>,
    /// Lower-cased surface form → canonical value (values map to themselves).
    pub lookup: BTreeMap<String, String>,
    /// Personal data (`sensitive: true`): stored transcripts show the
    /// entity's name in place of its value.
    pub sensitive: bool,
}

/// A slot-filling form.
#[derive(Debug, Clone)]
pub struct Form {
    /// Its name.
    pub name: String,
    /// Slots in the order they are asked.
    pub slots: Vec<Slot>,
    /// Lower-cased phrases that cancel the form.
    pub cancel: Vec<String>,
}

/// One slot of a form.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Its name (also the `{placeholder}` in responses).
    pub name: String,
    /// The question asking for it.
    pub ask: String,
    /// An entity whose match fills it.
    pub entity: Option<String>,
    /// A regular expression the value must match (searched in the message).
    pub pattern: Option<Regex>,
    /// What to say when the answer is not valid.
    pub invalid: String,
}

/// One variation of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Text with `{slot}` placeholders.
    pub text: String,
    /// Buttons.
    pub buttons: Vec<usher_channel::Button>,
}

/// Dialogue policy settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Below this confidence the bot asks for clarification.
    pub fallback_threshold: f32,
    /// Below this confidence an intent that sends a template looks in the
    /// knowledge base first, and a passage that answers the message itself
    /// wins over the template.
    pub prefer_knowledge_below: f32,
    /// A passage this similar to the message wins over the response of a
    /// confident `knowledge_first` intent (a passage that answers the
    /// question itself, not one merely on its topic).
    pub knowledge_wins_at: f32,
    /// After this many consecutive fallbacks the bot offers a human.
    pub handoff_after_fallbacks: u32,
    /// Invalid answers to one slot before the bot offers a human.
    pub form_max_attempts: u32,
    /// Mid-flow, a message that fills no slot changes the subject (the
    /// flow pauses beneath the other intent) when its intent is at least
    /// this sure; below, it counts as an invalid answer. At least
    /// `fallback_threshold`. Follow-ups recognised in their context need
    /// only `fallback_threshold`.
    pub digression_threshold: f32,
    /// Lower-cased words that hand the conversation to a human at once.
    pub handoff_keywords: Vec<String>,
    /// Hand over after this many consecutive messages scoring below a sentiment.
    pub negative_sentiment: Option<SentimentRule>,
    /// After repeated fallbacks or a failing form: offer a person, or hand over.
    pub escalation: Escalation,
}

/// What repeated failure (fallbacks, a form slot failing) leads to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Escalation {
    /// Ask whether the fan wants a person ("Talk to a person" button).
    #[default]
    Offer,
    /// Hand the conversation to a person at once.
    Handoff,
}

/// "Upset for K turns": sentiment below `score_below` for `turns` messages in a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SentimentRule {
    /// Threshold in [-1, 1].
    pub score_below: f32,
    /// Consecutive messages.
    pub turns: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            fallback_threshold: 0.45,
            prefer_knowledge_below: 0.6,
            knowledge_wins_at: 0.65,
            handoff_after_fallbacks: 2,
            form_max_attempts: 3,
            digression_threshold: 0.8,
            handoff_keywords: Vec::new(),
            negative_sentiment: None,
            escalation: Escalation::Offer,
        }
    }
}

impl Policy {
    /// Sets `digression_threshold` to `t`, raised to `fallback_threshold`
    /// if below it (a change of subject is never easier to make than a
    /// message is to understand). The loader sets it so.
    pub fn set_digression_threshold(&mut self, t: f32) {
        self.digression_threshold = t.max(self.fallback_threshold);
    }
}

/// What a slot's question says before asking again when `invalid:` is not given.
pub const DEFAULT_INVALID: &str = "Sorry, that doesn't look right.";

/// Phrases that cancel a form when its `cancel:` list is not given.
pub const DEFAULT_CANCEL: &[&str] = &["cancel", "stop", "never mind", "nevermind", "forget it", "quit"];

/// A form's or flow's cancel phrases, lower-cased: staff's, else [`DEFAULT_CANCEL`].
pub(crate) fn cancel_phrases(written: Option<Vec<String>>) -> Vec<String> {
    match written {
        Some(c) => c.iter().map(|w| w.to_lowercase()).collect(),
        None => DEFAULT_CANCEL.iter().map(|s| s.to_string()).collect(),
    }
}

/// A named, ordered list of steps staff wrote under `flows:`.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Its name (`form:INTENT` for the flow an intent's form stands for).
    pub name: String,
    /// What it is for, in staff's words.
    pub description: String,
    /// The steps, run in order unless a step says where to go.
    pub steps: Vec<Step>,
    /// Lower-cased phrases that cancel the flow while it waits for an answer.
    pub cancel: Vec<String>,
}

impl Flow {
    /// The slots its collect steps fill, in order.
    pub fn collected(&self) -> impl Iterator<Item = &Slot> {
        self.steps.iter().filter_map(|s| match &s.kind {
            StepKind::Collect(slot) => Some(slot),
            _ => None,
        })
    }
}

/// One step of a flow.
#[derive(Debug, Clone)]
pub struct Step {
    /// The name `branch` and `next` use for it, if it has one.
    pub id: Option<String>,
    /// What it does.
    pub kind: StepKind,
    /// Where the step runs on to when it is done (the next step unless
    /// `next:` says otherwise).
    pub next: Target,
    /// Where it is written.
    pub origin: Origin,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// Ask for a slot unless it is filled, and wait for the answer (with
    /// the re-ask, validation, cancel and digression rules of forms).
    Collect(Slot),
    /// Call an action; its outcome is `outcome` for later branches.
    Call {
        /// The action (`rasa.NAME` for a Rasa action server's).
        action: String,
        /// Whether to send the outcome's response (`say: false` leaves
        /// answering to later steps; `error` and `timeout` always answer
        /// and end the flow).
        say: bool,
    },
    /// Go to the first case whose condition holds.
    Branch(Vec<Case>),
    /// Send a response filled from the slots.
    Respond(String),
    /// Set slots to templates filled from the slots (an empty value clears).
    Set(Vec<(String, String)>),
    /// Hand the conversation to a person; the flow ends.
    Handoff,
    /// Go on in another flow; this one ends.
    Goto(String),
}

/// One case of a branch.
#[derive(Debug, Clone)]
pub struct Case {
    /// The condition (`else` has none).
    pub when: Option<Condition>,
    /// Where to go when it holds.
    pub target: Target,
}

/// Where a flow goes on to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The step with this index.
    Step(usize),
    /// The flow ends.
    End,
}

/// A condition in the expression language of MiniJinja (Jinja2's
/// expressions: `outcome == "ok" and event_status in ["cancelled",
/// "postponed"]`, `weeks | int > 4`, `email is defined`); slots and
/// `outcome` are its variables. Expressions read values; they cannot
/// run code or reach anything outside the slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The expression as written.
    pub source: String,
}

fn expressions() -> &'static minijinja::Environment<'static> {
    static ENV: std::sync::LazyLock<minijinja::Environment<'static>> = std::sync::LazyLock::new(|| {
        let mut env = minijinja::Environment::new();
        // Bound the work one condition can do (`range(10**9)`-style input).
        env.set_fuel(Some(10_000));
        env
    });
    &ENV
}

impl Condition {
    /// Compiles `source`, returning the variables it reads, or why it is
    /// not a valid expression.
    pub fn parse(source: &str) -> Result<(Self, std::collections::BTreeSet<String>), String> {
        let expr = expressions().compile_expression(source).map_err(|e| match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        })?;
        let vars = expr.undeclared_variables(false).into_iter().collect();
        Ok((Self { source: source.to_string() }, vars))
    }

    /// Whether the condition holds for these variables; an expression that
    /// fails at run time (a filter on a missing value) does not.
    pub fn holds(&self, vars: &BTreeMap<String, String>) -> bool {
        expressions().compile_expression(&self.source).and_then(|e| e.eval(vars)).is_ok_and(|v| v.is_true())
    }
}
