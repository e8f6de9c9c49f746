//! `Problem`: one thing wrong with a bundle or a request, with where it is.
//!
//! Cedar's errors are `miette` diagnostics; a `Problem` keeps their message,
//! the file, line and column of their first label, and the rendered report
//! (source snippet with the span underlined) so it can be printed, sent as
//! JSON or kept for a status endpoint without holding on to the source.

use std::fmt;
use std::path::Path;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use serde::Serialize;

/// One error found while loading a bundle or reading a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// File the problem is in, relative to the bundle where possible.
    pub file: Option<String>,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// JSON path of the offending value, for entity data (e.g. `$[3].attrs.role`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    /// One-line description.
    pub message: String,
    /// The full report with source snippet, as a reviewer reads it.
    #[serde(skip)]
    pub rendered: String,
}

impl Problem {
    /// A problem with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        Problem {
            file: None,
            line: None,
            column: None,
            json_path: None,
            rendered: message.clone(),
            message,
        }
    }

    /// A problem in `file`.
    pub fn in_file(file: &Path, message: impl Into<String>) -> Self {
        let mut p = Problem::new(message);
        p.file = Some(file.display().to_string());
        p.rendered = format!("{}: {}", file.display(), p.message);
        p
    }

    /// A problem at a byte offset of a file's text: line and column are computed,
    /// the rendered form shows the line with a caret.
    pub fn at_offset(file: &Path, text: &str, offset: usize, message: impl Into<String>) -> Self {
        let message = message.into();
        let (line, column) = line_col(text, offset);
        let src_line = text.lines().nth(line - 1).unwrap_or("");
        let rendered = format!(
            "{}:{}:{}: {}\n  | {}\n  | {}^",
            file.display(),
            line,
            column,
            message,
            src_line,
            " ".repeat(column.saturating_sub(1))
        );
        Problem {
            file: Some(file.display().to_string()),
            line: Some(line),
            column: Some(column),
            json_path: None,
            message,
            rendered,
        }
    }

    /// A problem from a Cedar (or any miette) diagnostic about `text`, the
    /// content of `file`. The first label gives line and column; the snippet
    /// comes from the diagnostic's own source where it carries one.
    pub fn from_diagnostic(file: &Path, text: &str, diag: &dyn Diagnostic) -> Self {
        let offset = diag
            .labels()
            .and_then(|mut labels| labels.next())
            .map(|label| label.offset());
        let mut message = diag.to_string();
        if let Some(help) = diag.help() {
            message = format!("{message} (help: {help})");
        }
        let (line, column) = match offset {
            Some(off) => {
                let (l, c) = line_col(text, off);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        let mut p = match offset {
            Some(off) => Problem::at_offset(file, text, off, message.clone()),
            None => Problem::in_file(file, message.clone()),
        };
        if diag.source_code().is_some() {
            let mut snippet = String::new();
            let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
                .with_width(100);
            if handler.render_report(&mut snippet, diag).is_ok() {
                p.rendered = format!("{}\n{snippet}", p.rendered);
            }
        }
        p.line = line;
        p.column = column;
        p.message = message;
        p
    }

    /// Sets the JSON path.
    pub fn with_json_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.rendered = match &self.file {
            Some(f) => match self.line {
                Some(l) => format!("{f}:{l}: {path}: {}", self.message),
                None => format!("{f}: {path}: {}", self.message),
            },
            None => format!("{path}: {}", self.message),
        };
        self.json_path = Some(path);
        self
    }

    /// Sets the line (1-based) without a column, for data problems.
    pub fn with_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    /// `file:line:column` as far as known.
    pub fn location(&self) -> String {
        let mut s = self.file.clone().unwrap_or_default();
        if let Some(l) = self.line {
            s.push_str(&format!(":{l}"));
            if let Some(c) = self.column {
                s.push_str(&format!(":{c}"));
            }
        }
        s
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered)
    }
}

/// Byte offset of a 1-based line and column (as serde_json reports them).
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut off = 0;
    for (n, l) in text.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            return off + column.saturating_sub(1).min(l.len());
        }
        off += l.len();
    }
    text.len()
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}
