//! The `usher` binary: validate, train and serve's start-up errors.

use crate::common;

use std::process::Command;

fn usher() -> Command {
    Command::new(env!("CARGO_BIN_EXE_usher"))
}

#[test]
fn validate_accepts_the_shipped_intents() {
    let out = usher().args(["validate", "intents"]).current_dir(common::repo()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("ok: 37 intents"), "{stdout}");
}

#[test]
fn validate_lists_every_error_of_a_broken_copy_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let intents = common::shipped_intents(dir.path());
    let tickets = intents.join("tickets.yaml");
    let src = std::fs::read_to_string(&tickets).unwrap();
    let broken = src.replacen("    respond: lost_ticket\n", "    respond: lost_tikcet\n", 1).replacen(
        "    respond: seat_change\n",
        "    respnd: seat_change\n",
        1,
    );
    std::fs::write(&tickets, broken).unwrap();
    let out = usher().arg("validate").arg(&intents).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = tickets.display().to_string();
    assert!(stderr.contains("2 error(s)"), "{stderr}");
    assert!(
        stderr.contains(&format!("{file}:"))
            && stderr.contains("intent \"lost_ticket\": no response named \"lost_tikcet\""),
        "{stderr}"
    );
    assert!(stderr.contains("intent \"seat_change\": unknown field `respnd`"), "{stderr}");
    let line_of = |needle: &str| src.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert!(stderr.contains(&format!("{file}:{}:", line_of("respond: lost_ticket"))), "{stderr}");
    assert!(stderr.contains(&format!("{file}:{}:", line_of("respond: seat_change"))), "{stderr}");
}

#[test]
fn serve_names_a_missing_config_file() {
    let out = usher().args(["serve", "--config", "/nonexistent/usher.yaml"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/usher.yaml") && stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn serve_refuses_broken_intents_with_exit_1_and_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let intents = dir.path().join("intents");
    std::fs::create_dir(&intents).unwrap();
    std::fs::write(intents.join("bad.yaml"), "intents:\n  - name: greet\n    examples: [hi]\n    colour: red\n")
        .unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "intents: intents\ndata_dir: data\nnlu: {encoder: null}\n").unwrap();
    let out = usher().arg("serve").arg("--config").arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml:4:5: error: intent \"greet\": unknown field `colour`"), "{stderr}");
}

#[test]
fn train_prints_training_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let intents = common::repo().join("intents");
    std::fs::write(
        &config,
        format!("intents: {}\ndata_dir: {}\nnlu: {{encoder: null}}\n", intents.display(), dir.path().display()),
    )
    .unwrap();
    let out = usher().arg("train").arg("--config").arg(&config).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let accuracy: f32 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("training accuracy: "))
        .and_then(|l| l.split('%').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(accuracy > 95.0, "{stdout}");
}

#[test]
fn test_nlu_reports_metrics_a_confusion_matrix_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "nlu: {encoder: null, sentiment: null}\ndata_dir: data\n").unwrap();
    let report = dir.path().join("report");
    let out = usher()
        .args(["test", "nlu", "--format", "yaml", "--json", "--data"])
        .arg(common::repo().join("intents"))
        .arg("--report")
        .arg(&report)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("refund_request") && stdout.contains("macro-F1:"), "{stdout}");
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    for key in ["accuracy", "macro_f1", "train_seconds", "n_test"] {
        assert!(last[key].is_number(), "{key} in {last}");
    }
    assert!(last["accuracy"].as_f64().unwrap() > 0.5, "{last}");
    let png = std::fs::read(report.join("confusion.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["metrics"]["labels"].as_array().unwrap().len(), 37);
}

#[test]
fn test_nlu_fine_tunes_the_encoder_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let encoder = common::repo().join("models/all-MiniLM-L6-v2");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, format!("nlu: {{encoder: {}, sentiment: null}}\ndata_dir: data\n", encoder.display()))
        .unwrap();
    let run = |layers: &str| {
        let out = usher()
            .args([
                "test",
                "nlu",
                "--format",
                "yaml",
                "--json",
                "--fine-tune-layers",
                layers,
                "--fine-tune-epochs",
                "1",
                "--fine-tune-min-steps",
                "0",
            ])
            .arg("--data")
            .arg(common::repo().join("intents"))
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        serde_json::from_str::<serde_json::Value>(stdout.lines().last().unwrap()).unwrap()
    };
    let (frozen, tuned) = (run("0"), run("1"));
    assert_eq!((frozen["fine_tuned_layers"].as_u64(), tuned["fine_tuned_layers"].as_u64()), (Some(0), Some(1)));
    assert_ne!(frozen["features"], tuned["features"], "a tuned encoder has its own id");
    assert!(tuned["accuracy"].as_f64().unwrap() > 0.5, "{tuned}");
    let weights = tuned["weights"].as_array().unwrap();
    assert_eq!(weights.len(), 20, "each pair of cosine and vote weights is measured: {tuned}");
    // With no minimum of steps the demo is not a small set: its accuracy is
    // at the default weights, cosine 0.75 and vote 0.5.
    let at_defaults = weights.iter().find(|w| w[0].as_f64() == Some(0.75) && w[1].as_f64() == Some(0.5)).unwrap();
    assert_eq!(at_defaults[2].as_f64(), tuned["accuracy"].as_f64(), "{tuned}");
    assert!(frozen["weights"].as_array().unwrap().is_empty(), "nothing tuned, no cosine classifier or vote");
}

#[test]
fn test_nlu_names_file_and_row_of_bad_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train.csv"), "text,category\nhi,greet\n").unwrap();
    std::fs::write(dir.path().join("test.csv"), "text,category\nhello,greet\nbye,goodbye\n").unwrap();
    let out = usher().args(["test", "nlu", "--format", "csv", "--data"]).arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("test.csv row 3") && stderr.contains("\"goodbye\""), "{stderr}");
}

#[test]
fn kb_index_search_stats_and_eval() {
    let data = tempfile::tempdir().unwrap();
    let kb = |args: &[&str]| {
        let out = usher()
            .arg("kb")
            .args(args)
            .env("USHER_DATA_DIR", data.path())
            .current_dir(common::repo())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let indexed = kb(&["index"]);
    assert!(indexed.contains("27 documents: 27 added, 0 updated, 0 removed, 0 unchanged, 0 skipped"), "{indexed}");
    let again = kb(&["index"]);
    assert!(again.contains("27 unchanged") && again.contains("0 chunks embedded"), "{again}");

    let hits: serde_json::Value =
        serde_json::from_str(&kb(&["search", "my stream keeps buffering", "--json"])).unwrap();
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0]["passage"]["path"], "streaming/buffering.md", "{hits:?}");
    assert!(hits[0]["passage"]["url"].as_str().unwrap().starts_with("https://"));
    let text = kb(&["search", "wheelchair spaces", "--mode", "bm25", "--limit", "2"]);
    assert!(text.starts_with("1. [") && text.contains("Accessibility and access tickets"), "{text}");

    let stats: serde_json::Value = serde_json::from_str(&kb(&["stats", "--json"])).unwrap();
    assert_eq!(stats["documents"], 27);
    assert!(stats["chunks"].as_u64().unwrap() > 100);
    assert!(stats["store"].as_str().unwrap().starts_with("qdrant-edge shard at"));

    let eval = kb(&["eval", "--json"]);
    let last: serde_json::Value = serde_json::from_str(eval.lines().last().unwrap()).unwrap();
    for mode in ["dense", "bm25", "hybrid"] {
        for metric in ["recall@1", "recall@5", "mrr"] {
            let v = last[mode][metric].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{mode} {metric} {v}");
        }
    }
    assert!(eval.contains("calibrated answer threshold"), "{eval}");
}

#[test]
fn analyze_reports_sentiment_style_rhyme_and_emotion() {
    let out = usher()
        .current_dir(common::repo())
        .args([
            "analyze",
            "--json",
            "The band began to play\nWe danced the night away\nA wonderful, beautiful night\nI loved it, a true delight",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sentiment"]["label"], "positive", "{v}");
    assert!(v["sentiment"]["score"].as_f64().unwrap() > 0.2);
    assert_eq!(v["rhyme_scheme"], "AABB");
    assert_eq!(v["style"]["lines"], 4);
    assert_eq!(v["style"]["sentences"], 4);
    assert_eq!(v["dominant_emotion"], "joy");
    assert!(v["summary"].as_str().unwrap().contains("rhyme scheme AABB"));

    let out = usher()
        .current_dir(common::repo())
        .args(["analyze", "This was a terrible, boring waste of money."])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("It reads negative"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = usher().current_dir(common::repo()).args(["analyze", "   "]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no text to analyse"));
}

#[test]
fn analyze_names_a_corrupt_lexicon() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("emotions")).unwrap();
    std::fs::write(dir.path().join("emotions/lexicon.json"), "not json").unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "nlu: {sentiment: null}\ncreative: {emotions: emotions}\n").unwrap();
    let out = usher().current_dir(dir.path()).args(["analyze", "--config", "config.yaml", "hello"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lexicon.json") && stderr.contains("corrupt"), "{stderr}");
}

#[test]
fn create_poem_is_deterministic_and_refuses_bad_themes() {
    let run = |args: &[&str]| usher().current_dir(common::repo()).args(args).output().unwrap();
    let a = run(&["create", "poem", "--theme", "love", "--seed", "3"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let poem = String::from_utf8_lossy(&a.stdout).to_string();
    let lines = poem.lines().count();
    assert!((2..=4).contains(&lines), "{poem}");
    assert!(poem.starts_with("Love"), "the theme seeds the poem: {poem}");
    assert_eq!(run(&["create", "poem", "--theme", "love", "--seed", "3"]).stdout, a.stdout, "same seed, same poem");
    assert_ne!(run(&["create", "poem", "--theme", "love", "--seed", "4"]).stdout, a.stdout);
    let emoji = run(&["create", "poem", "--theme", "🎸🎶"]);
    assert!(emoji.status.success());
    assert!(String::from_utf8_lossy(&emoji.stdout).starts_with("Night"), "emoji fall back to the default theme");
    let long = "x".repeat(10_000);
    let refused = run(&["create", "poem", "--theme", &long]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at most 40 characters"));
    let rude = run(&["create", "poem", "--theme", "Fuck"]);
    assert_eq!(rude.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&rude.stderr).contains("another theme"));
}

#[test]
fn create_melody_writes_midi_wav_and_png_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let run = |seed: &str, out: &std::path::Path| {
        usher()
            .current_dir(common::repo())
            .args(["create", "melody", "--seed", seed, "--out"])
            .arg(out)
            .output()
            .unwrap()
    };
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    let first = run("7", &a);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains("notes over 4 bars"));
    let sad = usher()
        .current_dir(common::repo())
        .args(["create", "melody", "--mood", "something sad in D minor", "--out"])
        .arg(dir.path().join("sad"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&sad.stdout);
    assert!(sad.status.success() && said.contains("notes over 4 bars in D minor"), "{said}");
    assert!(run("7", &b).status.success());
    assert!(run("8", &c).status.success());
    for name in ["melody.mid", "melody.wav", "melody.png"] {
        let bytes = std::fs::read(a.join(name)).unwrap();
        assert!(bytes.len() > 50, "{name} is {} bytes", bytes.len());
    }
    // Same seed, same music (the files differ only in the time they say they were made).
    let samples = |dir: &std::path::Path| -> Vec<i16> {
        hound::WavReader::open(dir.join("melody.wav")).unwrap().into_samples().map(Result::unwrap).collect()
    };
    assert_eq!(samples(&a), samples(&b), "same seed, same audio");
    assert_ne!(samples(&a), samples(&c));
    // Each file says what made it.
    let made = |text: &str| usher::creative::provenance::Provenance::parse(text).unwrap_or_else(|| panic!("{text}"));
    let wav = std::fs::read(a.join("melody.wav")).unwrap();
    let said = made(&usher::creative::provenance::wav_comment(&wav).expect("a WAV INFO comment"));
    assert_eq!((said.generator.as_str(), said.seed, said.model.len()), ("usher melody-dcgan", 7, 16));
    let png = std::fs::read(a.join("melody.png")).unwrap();
    let texts = usher::creative::provenance::png_texts(&png);
    assert_eq!(made(&texts.iter().find(|(k, _)| k == "Comment").expect("a PNG Comment").1).model, said.model);
    let midi = std::fs::read(a.join("melody.mid")).unwrap();
    let text = String::from_utf8_lossy(&midi).to_string();
    assert!(text.contains(&format!("model={}; seed=7", said.model)), "MIDI text event");

    // `usher create verify` finds the watermark, and says what else it got.
    let verify = |file: &std::path::Path| {
        usher().current_dir(common::repo()).args(["create", "verify"]).arg(file).output().unwrap()
    };
    let found = verify(&a.join("melody.wav"));
    let out = String::from_utf8_lossy(&found.stdout).to_string();
    assert_eq!(found.status.code(), Some(0), "{out}");
    assert!(out.contains("watermark: found") && out.contains("seed=7"), "{out}");
    let plain = dir.path().join("plain.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&plain, spec).unwrap();
    for i in 0..88_200 {
        w.write_sample(((i as f32 * 0.0627).sin() * 9000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    let not_marked = verify(&plain);
    assert_eq!(not_marked.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_marked.stdout).contains("watermark: not found"));
    let truncated = dir.path().join("truncated.wav");
    std::fs::write(&truncated, &wav[..wav.len() / 2]).unwrap();
    for (file, why) in [(a.join("melody.png"), "not a WAV file"), (truncated, "truncated")] {
        let refused = verify(&file);
        let stderr = String::from_utf8_lossy(&refused.stderr).to_string();
        assert_eq!(refused.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(why) && stderr.contains(&file.display().to_string()), "{stderr}");
    }
    // An --out that cannot be a directory (a file is in the way) is a clear error.
    let blocked = dir.path().join("file");
    std::fs::write(&blocked, "x").unwrap();
    let refused = run("7", &blocked.join("sub"));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("cannot write the melody") && stderr.contains("file"), "{stderr}");
}
