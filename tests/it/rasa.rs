//! The Rasa bridge against the real `rasa-sdk` from PyPI: the test starts
//! `python -m rasa_sdk --actions actions` over `tests/rasa/actions.py` and
//! talks to it through the engine with `call: rasa.NAME`. `scripts/test`
//! installs rasa-sdk into a virtualenv and points `USHER_RASA_PYTHON` at it.

use crate::common;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{payloads, text};

const INTENTS: &str = r#"
intents:
  - name: check_order
    examples: ["check order [A12345](order_id)", look up my order, order status, check my booking, where is my order]
    form: order
    call: rasa.action_check_order
  - name: forget
    examples: [forget everything, forget me, clear it all, start over, reset please]
    call: rasa.action_forget
  - name: explode
    examples: [explode, blow up, break it, crash it, boom]
    call: rasa.action_fails
  - name: ghost
    examples: [ghost, phantom, spooky, haunted, spectre]
    call: rasa.action_nobody_wrote
entities:
  order_id: { pattern: '[A-Z]\d{5}' }
forms:
  order:
    slots:
      order_id: { ask: "Which order?", entity: order_id }
"#;

/// The action server in a process group of its own, the whole group
/// killed on drop: rasa-sdk's sanic forks workers and a resource tracker
/// that outlive a killed parent.
struct ActionServer(Child);

impl Drop for ActionServer {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python() -> String {
    std::env::var("USHER_RASA_PYTHON").unwrap_or_else(|_| "python3".into())
}

async fn action_server() -> (ActionServer, u16) {
    let python = python();
    let check = Command::new(&python).args(["-c", "import rasa_sdk"]).status();
    assert!(
        check.is_ok_and(|s| s.success()),
        "rasa-sdk is not installed for {python}: run scripts/test (it installs rasa-sdk into a virtualenv and sets USHER_RASA_PYTHON)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&python)
        .args(["-m", "rasa_sdk", "--actions", "actions", "--port", &port.to_string()])
        .current_dir(common::repo().join("tests/rasa"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let server = ActionServer(child);
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/health")).await {
            if r.status().is_success() {
                return (server, port);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the rasa-sdk action server did not start on port {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rasa_actions_run_on_the_real_rasa_sdk() {
    let (_server, port) = action_server().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("intents")).unwrap();
    std::fs::write(dir.path().join("intents/rasa.yaml"), INTENTS).unwrap();
    let mut config = common::config(&dir.path().join("data"));
    config.intents = dir.path().join("intents");
    config.actions = serde_yaml::from_str(&format!("rasa: {{url: \"http://127.0.0.1:{port}/webhook\"}}")).unwrap();
    let cfg = config.clone();
    let (brain, _, _) = tokio::task::spawn_blocking(move || {
        usher::bootstrap::brain(&cfg, usher::nlu::Features::Ngrams, None, &mut |_, _, _| {})
    })
    .await
    .unwrap()
    .unwrap();
    let store = usher::store::SqliteStore::open(&dir.path().join("usher.db")).await.unwrap();
    let engine = usher::engine::Engine::new(Arc::new(store), brain);
    engine.set_actions(Arc::new(usher::actions::Actions::new(&config.actions).unwrap()));
    let mut fan = common::Fan::new(&engine, "rasa-fan").await;

    // Slots, the latest message and the channel reach the action; its
    // messages, buttons, slot events and followup come back.
    let r = fan.press("/check_order").await;
    assert_eq!(text(&r[0]), "Which order?");
    let r = fan.say("A12345").await;
    assert_eq!(r.len(), 2, "the action's message and its followup's: {r:?}");
    let first = text(&r[0]);
    assert!(
        first.starts_with("Order A12345 is cancelled (from rasa-fan on collect, intent ")
            && first.contains(", entities order_id)."),
        "{first}"
    );
    assert_eq!(payloads(&r[0]), ["/refund_request"]);
    assert_eq!(text(&r[1]), "Anything else about A12345?");
    let t = fan.transcript().await;
    assert_eq!(t.tracker.slots.get("order_status").map(String::as_str), Some("cancelled"));

    // reset_slots clears them.
    let r = fan.press("/forget").await;
    assert_eq!(text(&r[0]), "Forgotten 2 slots.");
    assert!(fan.transcript().await.tracker.slots.is_empty());

    // An action that raises is an error: an apology and a person offered.
    let r = fan.press("/explode").await;
    assert!(text(&r[0]).contains("can't check that right now"), "{r:?}");
    assert!(payloads(&r[0]).contains(&"/talk_to_human".to_string()));
    // An action the server does not have is not found.
    let r = fan.press("/ghost").await;
    assert!(text(&r[0]).contains("couldn't find that"), "{r:?}");
    let t = fan.transcript().await;
    let outcomes: Vec<String> = t
        .messages
        .iter()
        .filter_map(|m| m.nlu.as_ref()?.get("actions")?.as_array().cloned())
        .flatten()
        .map(|c| format!("{}:{}", c["action"].as_str().unwrap(), c["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            "rasa.action_check_order:ok",
            "rasa.action_anything_else:ok",
            "rasa.action_forget:ok",
            "rasa.action_fails:error",
            "rasa.action_nobody_wrote:not_found"
        ]
    );
}

#[test]
fn a_rasa_call_without_a_server_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rasa.yaml"), INTENTS).unwrap();
    let mut config = common::config(dir.path());
    config.intents = dir.path().join("rasa.yaml");
    let err = match usher::bootstrap::brain(&config, usher::nlu::Features::Ngrams, None, &mut |_, _, _| {}) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("loaded without actions.rasa"),
    };
    assert!(err.contains("rasa.yaml:6:11") && err.contains("needs a Rasa action server"), "{err}");
}
