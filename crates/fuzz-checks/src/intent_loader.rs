//! Intent files: any bytes either load into a consistent domain or give a
//! report whose every diagnostic points inside the files it names.

use std::path::PathBuf;
use usher_intents::{load_sources, Domain};

/// Splits `data` into up to four files at NUL bytes (so cross-file links
/// are reached) and loads them.
pub fn intent_loader(data: &[u8]) {
    let files: Vec<(PathBuf, String)> = data
        .splitn(4, |b| *b == 0)
        .enumerate()
        .map(|(i, bytes)| (PathBuf::from(format!("f{i}.yaml")), String::from_utf8_lossy(bytes).into_owned()))
        .collect();
    match load_sources(&files) {
        Ok(loaded) => {
            check_domain(&loaded.domain);
            let again = load_sources(&files).map(|l| l.domain.fingerprint);
            assert_eq!(again.as_ref().ok(), Some(&loaded.domain.fingerprint), "loading is not deterministic");
        }
        Err(report) => {
            assert!(report.errors().next().is_some(), "a refused load names no error");
            for d in &report.diagnostics {
                let (_, src) =
                    files.iter().find(|(p, _)| *p == d.file).expect("a diagnostic names a file that was not given");
                let lines = yaml_lines(src);
                assert!(d.line <= lines + 1, "{}: line {} of {lines}", d.file.display(), d.line);
                assert!(!d.message.trim().is_empty(), "an empty diagnostic message");
            }
            assert!(!report.to_string().is_empty());
        }
    }
}

/// Lines as YAML (and editors) count them: `\r\n`, a lone `\r`, `\n`, and
/// YAML 1.1's NEL, LS and PS all end a line (fuzzing found diagnostics on
/// "line 31 of 27" by `str::lines`, which only knows `\n`).
fn yaml_lines(src: &str) -> usize {
    let breaks = src
        .replace("\r\n", "\n")
        .chars()
        .filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
        .count();
    breaks + 1
}

fn check_domain(domain: &Domain) {
    for intent in &domain.intents {
        for example in &intent.examples {
            for span in &example.entities {
                assert!(span.start < span.end, "empty span in {:?}", example.text);
                assert!(
                    example.text.get(span.start..span.end).is_some(),
                    "span off a char boundary in {:?}",
                    example.text
                );
                assert!(domain.entities.contains_key(&span.entity), "span of an unknown entity {}", span.entity);
            }
        }
    }
}
