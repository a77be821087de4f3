//! The dependency rules of the brief, checked on the sources: adapters
//! depend only on `usher-channel` among our crates; `nlu` imports neither
//! `knowledge` nor `creative`; the policy in `dialogue` imports no engine,
//! store, source or I/O module.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every line under `dir` that names one of `modules` as `crate::M` or
/// `super::…::M` (doc comments and comments aside).
fn uses(dir: &str, modules: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = rust_files(&root.join(dir));
    assert!(!files.is_empty(), "no sources under {dir}");
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for m in modules {
                if code.contains(&format!("crate::{m}")) || code.contains(&format!("usher::{m}")) {
                    found.push(format!("{}:{}: {}", file.strip_prefix(root).unwrap().display(), n + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn nlu_imports_neither_knowledge_nor_creative() {
    let found = uses("src/nlu", &["knowledge", "creative", "dialogue", "engine"]);
    assert!(found.is_empty(), "nlu reaches upward:\n{}", found.join("\n"));
}

#[test]
fn the_policy_is_pure() {
    let found = uses(
        "src/dialogue",
        &["knowledge", "creative", "engine", "store", "http", "handoff", "console", "cluster", "actions"],
    );
    assert!(found.is_empty(), "dialogue reaches into I/O or sources:\n{}", found.join("\n"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in rust_files(&root.join("src/dialogue")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for banned in ["tokio::", "async fn", "std::fs", "reqwest", "sqlx"] {
            assert!(!text.contains(banned), "{} uses {banned}", file.display());
        }
    }
}

#[test]
fn adapters_depend_only_on_the_channel_contract() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for adapter in ["webchat", "telegram", "discord"] {
        let manifest = std::fs::read_to_string(root.join("adapters").join(adapter).join("Cargo.toml")).unwrap();
        // The [dependencies] table only (dev-dependencies may name the crate itself).
        let deps = manifest.split("[dependencies]").nth(1).unwrap().split("\n[").next().unwrap();
        let ours: Vec<&str> = deps
            .lines()
            .filter(|l| l.trim_start().starts_with("usher-"))
            .filter_map(|l| l.trim().split(['.', ' ', '=']).next())
            .collect();
        assert_eq!(ours, ["usher-channel"], "usher-{adapter} depends on {ours:?}");
    }
}
