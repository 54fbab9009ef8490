//! Errors of the functional core.
//!
//! The core only fails in one way a user can act on: a spec that does not validate. Validation collects every problem
//! it finds as a [`Diagnostic`] (where, what, how to fix it) so the form, the REST API and the CLI can show all of them
//! at once instead of making the user fix one error per round trip.

use std::fmt;

/// One problem found in a spec, tied to the place in the source where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line of the offending key or value; 0 when the problem is not tied to a location.
    pub line: u32,
    /// 1-based column of the offending key or value; 0 when the problem is not tied to a location.
    pub column: u32,
    /// Dotted path of the field, such as `resources.memory` or `ports[1].public`; empty for the whole document.
    pub path: String,
    /// What is wrong, as a sentence.
    pub message: String,
    /// How to fix it, as a sentence the user can follow.
    pub fix: String,
    /// The file the problem is in, for sources of several files (a lab); `None` for a single spec.
    pub file: Option<String>,
    /// The 1-based document of a multi-document YAML file (`---` separated) the problem is in; `None` when the
    /// source is one document. `line` counts from the start of the file, not of the document.
    pub document: Option<u32>,
}

impl Diagnostic {
    /// Builds a diagnostic from its parts.
    pub fn new(
        line: u32,
        column: u32,
        path: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self { line, column, path: path.into(), message: message.into(), fix: fix.into(), file: None, document: None }
    }

    /// The same diagnostic, placed in `file`.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    /// `[file: ][document 2: ]line 3, column 11: resources.memory: <message> (fix: <fix>)`, leaving out the parts that
    /// are empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        if let Some(document) = self.document {
            write!(f, "document {document}: ")?;
        }
        if self.line > 0 {
            write!(f, "line {}, column {}: ", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if !self.fix.is_empty() {
            write!(f, " (fix: {})", self.fix)?;
        }
        Ok(())
    }
}

/// Failures of the functional core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The spec did not validate; every problem found is listed, in source order.
    #[error("the spec is not valid:\n{}", render(.0))]
    InvalidSpec(Vec<Diagnostic>),
}

/// Result of the core's fallible operations.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Vec<Diagnostic>> for Error {
    fn from(diagnostics: Vec<Diagnostic>) -> Self {
        Error::InvalidSpec(diagnostics)
    }
}

/// Renders diagnostics one per line, for terminals and logs.
pub fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n")
}
