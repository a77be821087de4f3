//! Errors and warnings about intent files, each with file, line and column.

use std::fmt;
use std::path::PathBuf;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The files cannot be used.
    Error,
    /// The files work, but probably not as meant.
    Warning,
}

/// One problem in the intent files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the problem is the whole file).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The intent concerned, if any.
    pub intent: Option<String>,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}:{}: {kind}: ", self.file.display(), self.line, self.column)?;
        if let Some(intent) = &self.intent {
            write!(f, "intent {intent:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every diagnostic of a failed load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// All diagnostics, errors first, each group in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.errors().count();
        writeln!(f, "{errors} error(s) in the intent files:")?;
        for d in &self.diagnostics {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}
