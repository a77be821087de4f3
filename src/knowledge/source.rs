//! Reading `knowledge/`: Markdown documents with YAML front matter and
//! YAML Q&A files. Symlinks, paths escaping the directory and files over
//! the size limit are refused; a malformed file is reported with its path
//! and line and skipped while the rest are read.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::Error;

/// Bump when parsing or chunking changes, so every document re-indexes.
const FORMAT: &str = "v1";

/// One document, split into sections.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Path relative to the knowledge directory, `/`-separated.
    pub path: String,
    /// From the front matter.
    pub title: String,
    /// Where fans can read the whole page.
    pub url: Option<String>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Heading → text, in order.
    pub sections: Vec<Section>,
    /// Content hash: unchanged files are not re-indexed.
    pub hash: String,
}

/// A heading and the text under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The heading (for Q&A files: the question).
    pub heading: String,
    /// Plain text.
    pub text: String,
}

/// A file that was not indexed, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Path relative to the knowledge directory.
    pub path: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Everything readable in the directory, plus what was skipped.
#[derive(Debug, Default)]
pub struct Corpus {
    /// Parsed documents, sorted by path.
    pub documents: Vec<Document>,
    /// Files skipped, with reasons.
    pub problems: Vec<Problem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QaFile {
    title: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    qa: Vec<QaEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QaEntry {
    q: String,
    a: String,
}

/// Reads every `.md`, `.yaml` and `.yml` file under `dir` (hidden files and
/// other extensions are ignored). Fails only when `dir` itself is unreadable.
pub fn read_dir(dir: &Path, max_bytes: u64) -> Result<Corpus, Error> {
    let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let mut corpus = Corpus::default();
    let mut pending = vec![root.clone()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| Error::io(&current, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&current, e))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let rel = relative(&root, &path);
            let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if kind.is_symlink() {
                corpus.problems.push(problem(&rel, None, "symbolic links are not indexed"));
            } else if kind.is_dir() {
                pending.push(path);
            } else if is_document(&name) {
                match read_file(&root, &rel, max_bytes) {
                    Ok(doc) => corpus.documents.push(doc),
                    Err(p) => corpus.problems.push(p),
                }
            }
        }
    }
    corpus.documents.sort_by(|a, b| a.path.cmp(&b.path));
    corpus.problems.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(corpus)
}

fn is_document(name: &str) -> bool {
    [".md", ".yaml", ".yml"].iter().any(|ext| name.ends_with(ext))
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn problem(path: &str, line: Option<usize>, message: impl Into<String>) -> Problem {
    Problem { path: path.to_string(), line, message: message.into() }
}

/// `rel` inside `root`, refusing absolute paths, `..`, symlinks and
/// anything that resolves outside `root`.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, Problem> {
    let refuse = |m: &str| problem(rel, None, m);
    let candidate = Path::new(rel);
    if rel.is_empty() || candidate.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(refuse("path escapes the knowledge directory"));
    }
    let full = root.join(candidate);
    let meta = std::fs::symlink_metadata(&full).map_err(|e| refuse(&format!("cannot read: {e}")))?;
    if meta.file_type().is_symlink() {
        return Err(refuse("symbolic links are not indexed"));
    }
    let canonical = full.canonicalize().map_err(|e| refuse(&format!("cannot read: {e}")))?;
    let root = root.canonicalize().map_err(|e| refuse(&format!("cannot read the knowledge directory: {e}")))?;
    if !canonical.starts_with(&root) {
        return Err(refuse("path escapes the knowledge directory"));
    }
    Ok(canonical)
}

/// Reads and parses one file given relative to `root`.
pub fn read_file(root: &Path, rel: &str, max_bytes: u64) -> Result<Document, Problem> {
    let path = resolve(root, rel)?;
    let size = std::fs::metadata(&path).map_err(|e| problem(rel, None, format!("cannot read: {e}")))?.len();
    if size > max_bytes {
        return Err(problem(
            rel,
            None,
            format!("{size} bytes is over the {max_bytes}-byte limit (knowledge.max_file_bytes)"),
        ));
    }
    let bytes = std::fs::read(&path).map_err(|e| problem(rel, None, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        problem(rel, Some(line), "not valid UTF-8")
    })?;
    let hash = crate::util::sha256_hex(format!("{FORMAT}\n{text}").as_bytes())[..16].to_string();
    if rel.ends_with(".md") {
        parse_markdown(rel, &text, hash)
    } else {
        parse_qa(rel, &text, hash)
    }
}

fn yaml_problem(rel: &str, line_offset: usize, e: &serde_yaml::Error) -> Problem {
    let line = e.location().map(|l| l.line() + line_offset);
    problem(rel, line, e.to_string())
}

fn parse_markdown(rel: &str, text: &str, hash: String) -> Result<Document, Problem> {
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return Err(problem(
            rel,
            Some(1),
            "expected front matter: a first line `---`, then title (and url, tags), then `---`",
        ));
    }
    let front: Vec<&str> = lines.by_ref().take_while(|l| l.trim_end() != "---").collect();
    let body_start = front.len() + 3; // 1-based line after the closing `---`
    if text.lines().nth(front.len() + 1).map(str::trim_end) != Some("---") {
        return Err(problem(rel, Some(1), "front matter is not closed by a `---` line"));
    }
    let meta: FrontMatter = serde_yaml::from_str(&front.join("\n")).map_err(|e| yaml_problem(rel, 1, &e))?;
    if meta.title.trim().is_empty() {
        return Err(problem(rel, Some(2), "the title is empty"));
    }
    let sections = sections(lines, &meta.title);
    if sections.is_empty() {
        return Err(problem(rel, Some(body_start), "the document has no text"));
    }
    Ok(Document { path: rel.to_string(), title: meta.title, url: meta.url, tags: meta.tags, sections, hash })
}

/// Splits Markdown at headings (outside code fences); text before the first
/// heading, and under the top heading, belongs to the document title.
fn sections<'a>(lines: impl Iterator<Item = &'a str>, title: &str) -> Vec<Section> {
    let mut out = Vec::new();
    let mut heading = title.to_string();
    let mut text = String::new();
    let mut fenced = false;
    let mut flush = |heading: &str, text: &mut String| {
        let t = text.trim();
        if !t.is_empty() {
            out.push(Section { heading: heading.to_string(), text: t.to_string() });
        }
        text.clear();
    };
    for line in lines {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced && line.starts_with('#') {
            flush(&heading, &mut text);
            heading = line.trim_start_matches('#').trim().to_string();
            if heading.is_empty() {
                heading = title.to_string();
            }
            continue;
        }
        let plain = line.trim().trim_start_matches("- ").replace("**", "");
        if !plain.is_empty() {
            text.push_str(&plain);
            text.push('\n');
        }
    }
    flush(&heading, &mut text);
    out
}

fn parse_qa(rel: &str, text: &str, hash: String) -> Result<Document, Problem> {
    let file: QaFile = serde_yaml::from_str(text).map_err(|e| yaml_problem(rel, 0, &e))?;
    let sections: Vec<Section> = file
        .qa
        .into_iter()
        .filter(|e| !e.q.trim().is_empty() && !e.a.trim().is_empty())
        .map(|e| Section { heading: e.q.trim().to_string(), text: e.a.trim().to_string() })
        .collect();
    if sections.is_empty() {
        return Err(problem(rel, None, "no questions with answers under `qa`"));
    }
    Ok(Document { path: rel.to_string(), title: file.title, url: file.url, tags: file.tags, sections, hash })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn markdown_sections_and_front_matter() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a/doc.md", "---\ntitle: Refunds\nurl: https://x/r\ntags: [a]\n---\n# Refunds\nIntro **bold**.\n\n## When\n- one\n```\n# not a heading\n```\n## Empty\n");
        let d = read_file(dir.path(), "a/doc.md", 1000).unwrap();
        assert_eq!(d.title, "Refunds");
        assert_eq!(d.url.as_deref(), Some("https://x/r"));
        let heads: Vec<_> = d.sections.iter().map(|s| (s.heading.as_str(), s.text.as_str())).collect();
        assert_eq!(heads, vec![("Refunds", "Intro bold."), ("When", "one\n# not a heading")]);
    }

    #[test]
    fn malformed_files_name_path_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "bad.md", "---\ntitle: X\nurl: [unclosed\n---\ntext\n");
        write(dir.path(), "nofront.md", "# Hello\n");
        write(dir.path(), "unknown.md", "---\ntitle: X\nauthor: me\n---\ntext\n");
        write(dir.path(), "qa.yaml", "title: Q\nqa:\n  - q: hi\n    answer: no\n");
        write(dir.path(), "good.md", "---\ntitle: Good\n---\nSome text.\n");
        write(dir.path(), "notes.txt", "ignored");
        let c = read_dir(dir.path(), 1000).unwrap();
        assert_eq!(c.documents.len(), 1);
        let shown: Vec<String> = c.problems.iter().map(ToString::to_string).collect();
        assert!(shown[0].starts_with("bad.md:3:"), "{shown:?}");
        assert!(shown[1].starts_with("nofront.md:1: expected front matter"), "{shown:?}");
        assert!(shown[2].starts_with("qa.yaml:4:") && shown[2].contains("answer"), "{shown:?}");
        assert!(shown[3].starts_with("unknown.md:3:") && shown[3].contains("author"), "{shown:?}");
    }

    #[test]
    fn escapes_symlinks_and_size_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.md", "---\ntitle: S\n---\nsecret\n");
        write(dir.path(), "big.md", &format!("---\ntitle: B\n---\n{}\n", "x".repeat(2000)));
        std::os::unix::fs::symlink(outside.path().join("secret.md"), dir.path().join("link.md")).unwrap();
        for rel in ["../secret.md", "/etc/passwd", "a/../../x.md", ""] {
            assert!(read_file(dir.path(), rel, 1000).unwrap_err().message.contains("escapes"), "{rel}");
        }
        let c = read_dir(dir.path(), 1000).unwrap();
        assert!(c.documents.is_empty());
        let shown: Vec<String> = c.problems.iter().map(ToString::to_string).collect();
        assert!(shown[0].starts_with("big.md: ") && shown[0].contains("1000-byte limit"), "{shown:?}");
        assert_eq!(shown[1], "link.md: symbolic links are not indexed");
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.md"), b"---\ntitle: X\n---\nok\n\xff\n").unwrap();
        let p = read_file(dir.path(), "x.md", 1000).unwrap_err();
        assert_eq!(p.to_string(), "x.md:5: not valid UTF-8");
    }
}
