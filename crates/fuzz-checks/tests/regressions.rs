//! Replays every input fuzzing found (and the seeds that cover each
//! decoder's edge cases) through the same checks the fuzz targets run.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails its check again", path.display());
        n += 1;
    }
    n
}

#[test]
fn intent_loader_regressions_stay_fixed() {
    assert!(replay("intent_loader", usher_fuzz_checks::intent_loader) > 0);
}

#[test]
fn inbound_regressions_stay_fixed() {
    assert!(replay("inbound", usher_fuzz_checks::inbound) > 0);
}

#[test]
fn the_shipped_intents_load_through_the_checked_path() {
    // The target splits files at NUL: four shipped files joined so must load
    // (the domain checks run, not only the report checks).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../intents");
    let files: Vec<Vec<u8>> = ["account", "conversation", "streaming", "tickets"]
        .iter()
        .map(|f| std::fs::read(dir.join(format!("{f}.yaml"))).unwrap())
        .collect();
    let joined = files.join(&0u8);
    let sources: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("f{i}.yaml").into(), String::from_utf8(b.clone()).unwrap()))
        .collect();
    let loaded = usher_intents::load_sources(&sources).unwrap_or_else(|r| panic!("{r}"));
    assert!(loaded.domain.intents.iter().any(|i| i.examples.iter().any(|e| !e.entities.is_empty())));
    usher_fuzz_checks::intent_loader(&joined);
}

#[test]
fn a_report_pointing_outside_its_file_is_a_finding() {
    // The report check is not vacuous: a YAML error is reported in range.
    let report = usher_intents::load_sources(&[("f0.yaml".into(), "intents:\n  - name: [\n".into())]).unwrap_err();
    let d = report.errors().next().unwrap();
    assert_eq!(d.file.to_str(), Some("f0.yaml"));
    assert!((1..=3).contains(&d.line), "{d}");
    usher_fuzz_checks::intent_loader(b"intents:\n  - name: [\n");
}
