//! Finding and reading a Rasa 3.x project's files, and refusing the formats
//! of Rasa 1.x (Markdown training data, `templates:`) and 2.x (a domain of
//! version 2, forms with slot mappings) with what to do instead.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::intents::{locate, Seg};
use crate::Error;

/// One YAML file of the project.
pub(super) struct Source {
    /// Its path relative to the project.
    pub name: PathBuf,
    /// Its text.
    pub text: String,
    /// Its content.
    pub yaml: Value,
}

impl Source {
    /// `file:line:column` of the node at `path` (the file alone when the
    /// node cannot be found).
    pub fn at(&self, path: &[Seg]) -> String {
        match locate(&self.text, path) {
            Some(pos) => format!("{}:{}:{}", self.name.display(), pos.line, pos.column),
            None => self.name.display().to_string(),
        }
    }

    /// The top-level section `key`, if any.
    pub fn section(&self, key: &str) -> Option<&Value> {
        self.yaml.get(key)
    }
}

/// A `Seg::Key`.
pub(super) fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// The files of a Rasa project.
pub(super) struct Project {
    /// The domain (`domain.yml`, or every file under `domain/`).
    pub domain: Vec<Source>,
    /// Training data under `data/`: NLU, rules, stories.
    pub data: Vec<Source>,
    /// Test stories and test cases under `tests/`.
    pub tests: Vec<Source>,
    /// `config.yml`, if there is one.
    pub config: Option<Source>,
    /// `endpoints.yml`, if there is one.
    pub endpoints: Option<Source>,
}

/// Reads the project at `root`, refusing Rasa 1.x and 2.x formats.
pub(super) fn read(root: &Path) -> Result<Project, Error> {
    let refuse = |file: PathBuf, message: String| Error::Import { file, message };
    if !root.is_dir() {
        return Err(refuse(root.to_path_buf(), "not a directory (give the Rasa project's root)".into()));
    }
    let mut domain_files = Vec::new();
    for name in ["domain.yml", "domain.yaml"] {
        if root.join(name).is_file() {
            domain_files.push(root.join(name));
        }
    }
    if root.join("domain").is_dir() {
        domain_files.extend(yaml_files(&root.join("domain"))?);
    }
    if domain_files.is_empty() {
        let message = "no domain.yml (or domain/ directory): is this a Rasa project's root?".to_string();
        return Err(refuse(root.to_path_buf(), message));
    }
    for dir in ["data", "tests"] {
        if let Some(old) = files_with(&root.join(dir), &["md", "json"])?.first() {
            let message = format!(
                "Rasa 1.x training data ({}). Usher imports Rasa 3.x projects: with Rasa 2.x run \
                 `rasa data convert nlu -f yaml` and `rasa data convert core -f yaml`, then with Rasa 3.x \
                 `rasa data migrate`, and import again",
                old.strip_prefix(root).unwrap_or(old).display()
            );
            return Err(refuse(old.clone(), message));
        }
    }
    let read = |path: &Path| source(root, path);
    let domain = domain_files.iter().map(|p| read(p)).collect::<Result<Vec<_>, _>>()?;
    for d in &domain {
        check_domain_version(d).map_err(|message| refuse(root.join(&d.name), message))?;
    }
    let optional = |name: &str| -> Result<Option<Source>, Error> {
        let path =
            [format!("{name}.yml"), format!("{name}.yaml")].into_iter().map(|n| root.join(n)).find(|p| p.is_file());
        path.map(|p| read(&p)).transpose()
    };
    let data = yaml_files(&root.join("data"))?.iter().map(|p| read(p)).collect::<Result<_, _>>()?;
    let tests = yaml_files(&root.join("tests"))?.iter().map(|p| read(p)).collect::<Result<_, _>>()?;
    Ok(Project { domain, data, tests, config: optional("config")?, endpoints: optional("endpoints")? })
}

/// Refuses a domain in the format of Rasa 1.x or 2.x.
fn check_domain_version(d: &Source) -> Result<(), String> {
    let migrate = "run `rasa data migrate` with Rasa 3.x (it moves slot mappings into the domain \
                   and forms to `required_slots`), then import again";
    if d.section("templates").is_some() {
        return Err(format!("`templates:` is the Rasa 1.x domain format (renamed `responses:` in 2.0); {migrate}"));
    }
    let version = d.section("version").map(scalar).unwrap_or_default();
    if !version.is_empty() && !version.starts_with("3.") {
        return Err(format!("the domain declares version {version:?}; Usher imports version 3.x domains: {migrate}"));
    }
    // A 2.x form maps each slot to its mappings instead of listing required slots.
    if let Some(Value::Mapping(forms)) = d.section("forms") {
        for (name, form) in forms {
            let layout_2x = match form.get("required_slots") {
                Some(required) => !required.is_sequence(),
                None => form.as_mapping().is_some_and(|m| m.keys().any(|k| k.as_str() != Some("ignored_intents"))),
            };
            if layout_2x {
                let name = scalar(name);
                return Err(format!("form {name} has the Rasa 2.x layout (slot mappings inside the form); {migrate}"));
            }
        }
    }
    Ok(())
}

/// A scalar as text (`""` for anything else).
pub(super) fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn source(root: &Path, path: &Path) -> Result<Source, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let name = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let yaml = match text.trim().is_empty() {
        true => Value::Null,
        // serde_yaml's message names the line and column.
        false => serde_yaml::from_str(&text)
            .map_err(|e| Error::Import { file: path.to_path_buf(), message: format!("not valid YAML: {e}") })?,
    };
    Ok(Source { name, text, yaml })
}

/// The `.yml` and `.yaml` files under `dir` (recursively), in name order.
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    files_with(dir, &["yml", "yaml"])
}

fn files_with(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let path = entry.map_err(|e| Error::io(&d, e))?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions.contains(&e)) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
