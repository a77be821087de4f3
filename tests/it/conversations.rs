//! The shipped conversation tests (`tests/conversations/`) through the
//! real `usher test conversations`, with the shipped config (MiniLM,
//! sentiment, knowledge base); and a failing conversation's report.

use crate::common;

use std::process::Command;

fn usher(data: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_usher"));
    cmd.current_dir(common::repo()).env("USHER_DATA_DIR", data);
    cmd
}

#[test]
fn the_shipped_conversations_pass() {
    // The shipped config fine-tunes the encoder before the tests answer
    // (minutes on 2 cores): its data dir, and so its model cache, outlives
    // the run, the way a restarted bot reuses its tuned model. The cache is
    // keyed by the intent files and the settings, so an edit retrains.
    let data = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shipped-conversations");
    std::fs::create_dir_all(&data).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let junit = out_dir.path().join("junit.xml");
    let out = usher(&data).args(["test", "conversations", "--junit"]).arg(&junit).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary = stdout.lines().last().unwrap();
    let count: usize = summary.split_whitespace().next().unwrap().parse().unwrap();
    assert!(count >= 30 && summary.contains(", 0 failed;"), "{summary}");
    // "…; P of T turns passed" with P = T.
    let words: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(words[words.len() - 5], words[words.len() - 3], "{summary}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(&format!("tests=\"{count}\" failures=\"0\"")), "{xml}");
}

#[test]
fn a_broken_expectation_fails_with_expected_against_actual() {
    let data = tempfile::tempdir().unwrap();
    // The n-gram classifier and no knowledge base: this test is about the report.
    let config = data.path().join("config.yaml");
    let yaml = format!(
        "intents: {}\ndata_dir: {}\nnlu: {{encoder: null, sentiment: null}}\nknowledge: {{enabled: false}}\n\
         actions: {{endpoints: {{encore: {{url: '{}'}}}}}}\n",
        common::repo().join("intents").display(),
        data.path().display(),
        common::NO_BACKEND
    );
    std::fs::write(&config, yaml).unwrap();
    let usher = |file: &std::path::Path| {
        let mut cmd = usher(data.path());
        cmd.args(["test", "conversations"]).arg(file).arg("--config").arg(&config);
        cmd.output().unwrap()
    };
    let file = data.path().join("broken.yaml");
    std::fs::write(
        &file,
        "conversations:\n  - name: greeting\n    turns:\n      - fan: hello\n        intent: goodbye\n        says: [Welcome aboard]\n",
    )
    .unwrap();
    let out = usher(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("FAIL") && stdout.contains("turn 1 (\"hello\")"), "{stdout}");
    assert!(stdout.contains("intent: expected goodbye, got greet"), "{stdout}");
    assert!(stdout.contains("says: expected \"Welcome aboard\""), "{stdout}");
    assert!(stdout.contains("why: intent – intent greet ("), "the failure says which rule decided: {stdout}");
    assert!(stdout.ends_with("1 conversations, 1 failed; 0 of 1 turns passed\n"), "{stdout}");

    // Names the intent files lack are refused with their place.
    std::fs::write(
        &file,
        "conversations:\n  - name: x\n    stubs: { nowhere: {} }\n    turns:\n      - fan: hi\n        intent: greeet\n\
         \x20       responds: [handoff, utter_nothing]\n        slots: { colour: red }\n",
    )
    .unwrap();
    let out = usher(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for line in [
        "broken.yaml:3:23: stub for unknown action \"nowhere\"",
        "broken.yaml:6:17: unknown intent \"greeet\"",
        "broken.yaml:7:29: unknown response \"utter_nothing\"",
        "broken.yaml:8:26: unknown slot \"colour\"",
    ] {
        assert!(stderr.contains(line), "{line}: {stderr}");
    }

    // A file that is not valid says where.
    std::fs::write(&file, "conversations:\n  - name: x\n    turns:\n      - fan: hi\n        intnet: greet\n").unwrap();
    let out = usher(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("broken.yaml") && stderr.contains("unknown field `intnet`") && stderr.contains("line 5"),
        "{stderr}"
    );
}
