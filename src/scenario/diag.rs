//! Diagnostics: every problem found in user input, with its file, line, column and YAML path.
//!
//! Invariant: loading never stops at the first problem; every stage pushes into a [`Diagnostics`]
//! list, and only at the end does the caller decide whether errors were found.

use std::fmt;
use std::sync::Arc;

/// Where a value sits in a source file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: u64,
    pub col: u64,
}

impl Loc {
    pub fn new(file: Arc<str>, line: u64, col: u64) -> Self {
        Loc { file, line, col }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, printed as `FILE:LINE:COL: yaml.path: message`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub severity: Severity,
    pub loc: Loc,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(document)"
        } else {
            &self.path
        };
        let warn = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{}:{}:{}: {}: {}{}",
            self.loc.file, self.loc.line, self.loc.col, path, warn, self.message
        )
    }
}

/// The collected problems of one load, each once (a hash of each kept: pushing is O(1), so
/// hundreds of thousands of problems are reported in seconds, not minutes).
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    seen: std::collections::HashSet<Diagnostic>,
}

impl Diagnostics {
    /// An error at `loc` (`message`: a string, or any error the readers return).
    pub fn error(&mut self, loc: &Loc, path: &str, message: impl std::fmt::Display) {
        self.push(Severity::Error, loc, path, message.to_string());
    }

    pub fn warning(&mut self, loc: &Loc, path: &str, message: impl std::fmt::Display) {
        self.push(Severity::Warning, loc, path, message.to_string());
    }

    fn push(&mut self, severity: Severity, loc: &Loc, path: &str, message: String) {
        let d = Diagnostic {
            severity,
            loc: loc.clone(),
            path: path.to_string(),
            message,
        };
        if self.seen.insert(d.clone()) {
            self.items.push(d);
        }
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// Sorted by file, line, column, so output reads top to bottom.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut v: Vec<&Diagnostic> = self.items.iter().collect();
        v.sort_by(|a, b| a.loc.cmp(&b.loc).then(a.severity.cmp(&b.severity)));
        v
    }
}
