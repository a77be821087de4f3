//! `usher import rasa` on two public Rasa 3.x projects (`tests/fixtures/rasa/`:
//! the project `rasa init` creates and RasaHQ/helpdesk-assistant): the
//! imported bots validate, train with MiniLM and pass at least 90 % of the
//! turns of their own converted test stories; what did not map is listed
//! with file:line:column. Rasa 1.x and 2.x projects are refused with the
//! version found and what to do.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

fn usher(data: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_usher"));
    cmd.current_dir(common::repo()).env("USHER_DATA_DIR", data).args(args);
    cmd.output().unwrap()
}

/// The imported `config.yaml` with the encoder kept frozen: these tests
/// are about what the import makes, and fine-tuning a small domain takes
/// minutes on 2 cores (`conversations.rs` runs the shipped bot tuned).
fn frozen(config: &Path) {
    let yaml = std::fs::read_to_string(config).unwrap();
    assert!(yaml.contains("\nnlu:\n"), "{yaml}");
    std::fs::write(config, yaml.replacen("\nnlu:\n", "\nnlu:\n  fine_tune_layers: 0\n", 1)).unwrap();
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Imports `fixture`, validates it and runs its converted tests: the
/// import report and the tests' turns passed and in all.
fn import_and_test(fixture: &str) -> (String, usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("bot");
    let project = common::repo().join("tests/fixtures/rasa").join(fixture);
    let data = dir.path().join("data");
    let out = usher(&data, &["import", "rasa", project.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    let config = out_dir.join("config.yaml");
    frozen(&config);
    let validate = usher(&data, &["--config", config.to_str().unwrap(), "validate"]);
    assert!(validate.status.success(), "the imported project validates: {}", text(&validate));
    let tests = out_dir.join("tests/conversations");
    let run = usher(&data, &["--config", config.to_str().unwrap(), "test", "conversations", tests.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    let summary = stdout.lines().last().unwrap_or_default().to_string();
    // "N conversations, F failed; P of T turns passed"
    let words: Vec<&str> = summary.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "of").unwrap_or_else(|| panic!("{stdout}{}", text(&run)));
    let passed: usize = words[at - 1].parse().unwrap();
    let total: usize = words[at + 1].parse().unwrap();
    println!("{fixture}: {summary}\n{stdout}");
    (report, passed, total)
}

#[test]
fn the_rasa_init_project_imports_and_passes_its_test_stories() {
    let (report, passed, total) = import_and_test("init");
    // 7 intents, 6 responses; greet → utter_greet; mood_unhappy → a flow of two responses.
    assert!(
        report.contains(
            "Converted: 7 intents, 68 examples, 0 entities, 6 responses, 1 flows, 7 test conversations, 16 test turns"
        ),
        "{report}"
    );
    assert!(report.contains("utter_cheer_up: the image is sent as a link"), "{report}");
    assert_eq!(total, 16);
    assert!(passed * 10 >= total * 9, "{passed} of {total} turns passed\n{report}");
}

#[test]
fn the_helpdesk_assistant_imports_and_passes_its_test_stories() {
    let (report, passed, total) = import_and_test("helpdesk-assistant");
    // Forms become flows, custom actions rasa.NAME calls, and what does not
    // map is named with its place.
    assert!(report.contains("flows"), "{report}");
    assert!(report.contains("domain.yml:") && report.contains("slot confirm: a from_intent mapping"), "{report}");
    assert!(report.contains("Duckling's email dimension"), "{report}");
    assert!(report.contains("action validate_open_incident_form: form validation actions are not called"), "{report}");
    assert!(
        report.contains("test \"open incident\": the form open_incident_form is filled without fan turns"),
        "{report}"
    );
    assert!(report.contains("test \"Test fallback\" has no fan turn"), "{report}");
    assert!(total >= 15, "{total} turns");
    assert!(passed * 10 >= total * 9, "{passed} of {total} turns passed\n{report}");
}

#[test]
fn the_imported_files_keep_the_rasa_content() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("bot");
    let project = common::repo().join("tests/fixtures/rasa/helpdesk-assistant");
    let out = usher(dir.path(), &["import", "rasa", project.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let intents = std::fs::read_to_string(out_dir.join("intents/intents.yaml")).unwrap();
    let flows = std::fs::read_to_string(out_dir.join("intents/flows.yaml")).unwrap();
    let responses = std::fs::read_to_string(out_dir.join("intents/responses.yaml")).unwrap();
    let config = std::fs::read_to_string(out_dir.join("config.yaml")).unwrap();
    // `[urgent]{"entity": "priority", "value": "high"}` is an annotation and a synonym.
    assert!(intents.contains("open an [urgent](priority) issue"), "{intents}");
    assert!(intents.contains("urgent: high"), "{intents}");
    // The form: a collect per required slot, asked with utter_ask_ text, then the submission call.
    assert!(flows.contains("collect: email") && flows.contains("ask: What is your email address?"), "{flows}");
    assert!(flows.contains("call: rasa.action_open_incident"), "{flows}");
    // from_trigger_intent: password_reset sets the title, then goes to the form.
    assert!(
        flows.contains("incident_title: Problem resetting password") && flows.contains("goto: open_incident_form"),
        "{flows}"
    );
    // Buttons with Rasa's entity payloads survive.
    assert!(responses.contains("/inform{\"priority\":\"low\"}"), "{responses}");
    assert!(config.contains("url: \"http://localhost:5055/webhook\""), "{config}");
    // Rasa's entity payloads fill the form: `/inform{"priority":"high"}`.
    let extra = dir.path().join("extra.yaml");
    std::fs::write(
        &extra,
        "conversations:\n  - name: a priority button fills the slot\n    turns:\n\
         \x20     - fan: I need to open an incident\n        flow: open_incident_form\n\
         \x20     - fan: my address is sam@example.com\n        slots: { email: sam@example.com }\n        says: [priority]\n\
         \x20     - press: '/inform{\"priority\": \"high\"}'\n        slots: { priority: high }\n        says: [problem description]\n",
    )
    .unwrap();
    let config = out_dir.join("config.yaml");
    frozen(&config);
    let run =
        usher(dir.path(), &["--config", config.to_str().unwrap(), "test", "conversations", extra.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run));
    // A second import into the same place is refused rather than overwriting.
    let again = usher(dir.path(), &["import", "rasa", project.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert!(!again.status.success() && text(&again).contains("already holds intent files"), "{}", text(&again));
}

#[test]
fn rasa_1_and_2_projects_are_refused_with_the_version_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    for (fixture, says) in
        [("rasa2", "the domain declares version \"2.0\""), ("rasa1", "Rasa 1.x training data (data/nlu.md)")]
    {
        let project = common::repo().join("tests/fixtures/rasa").join(fixture);
        let out_dir = dir.path().join(fixture);
        let out = usher(dir.path(), &["import", "rasa", project.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
        let message = text(&out);
        assert!(!out.status.success(), "{message}");
        assert!(message.contains(says) && message.contains("rasa data"), "{fixture}: {message}");
        assert!(!out_dir.join("intents").exists(), "nothing is written for a refused project");
    }
}
