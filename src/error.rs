//! Errors as types. Every error is a [`miette::Diagnostic`]; where it points
//! into a file it carries the file's text and a span, so the edge that shows
//! it (the CLI, an HTTP error body, a log line) decides how to render it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use serde::Serialize;

/// One thing wrong with a bundle, entity data or a scenario file, with where
/// it is: file, line and column, or a JSON path for entity data.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// File the problem is in, relative to the bundle where possible.
    file: Option<String>,
    /// 1-based line, where known.
    line: Option<usize>,
    /// 1-based column, where known.
    column: Option<usize>,
    /// JSON path of the offending value, for entity data (e.g. `$[3].attrs.role`).
    #[serde(skip_serializing_if = "Option::is_none")]
    json_path: Option<String>,
    /// One-line description.
    message: String,
    /// The file's text and the span the problem is about, for a snippet.
    #[serde(skip)]
    snippet: Option<Snippet>,
}

/// Source text and the span a [`Problem`] points at.
#[derive(Debug, Clone)]
struct Snippet {
    source: NamedSource<Arc<str>>,
    span: SourceSpan,
    label: Option<String>,
}

impl PartialEq for Snippet {
    fn eq(&self, other: &Self) -> bool {
        self.span == other.span && self.label == other.label
    }
}
impl Eq for Snippet {}

impl Problem {
    /// A problem with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            file: None,
            line: None,
            column: None,
            json_path: None,
            message: message.into(),
            snippet: None,
        }
    }

    /// A problem in `file`.
    pub fn in_file(file: &Path, message: impl Into<String>) -> Self {
        let mut p = Problem::new(message);
        p.file = Some(file.display().to_string());
        p
    }

    /// A problem at a byte offset of a file's text: line and column are
    /// computed, and the text is kept for a snippet.
    pub fn at_offset(file: &Path, text: &str, offset: usize, message: impl Into<String>) -> Self {
        Self::at_span(file, text, offset, 0, None, message)
    }

    fn at_span(
        file: &Path,
        text: &str,
        offset: usize,
        len: usize,
        label: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        let offset = offset.min(text.len());
        let (line, column) = line_col(text, offset);
        let name = file.display().to_string();
        Problem {
            file: Some(name.clone()),
            line: Some(line),
            column: Some(column),
            json_path: None,
            message: message.into(),
            snippet: Some(Snippet {
                source: NamedSource::new(name, Arc::from(text)),
                span: SourceSpan::new(offset.into(), len.min(text.len() - offset)),
                label,
            }),
        }
    }

    /// A problem from a Cedar (or any miette) diagnostic about `text`, the
    /// content of `file`: its first label gives the span, line and column.
    pub fn from_diagnostic(file: &Path, text: &str, diag: &dyn Diagnostic) -> Self {
        let first = diag.labels().and_then(|mut labels| labels.next());
        let mut message = diag.to_string();
        if let Some(help) = diag.help() {
            message = format!("{message} (help: {help})");
        }
        match first {
            Some(label) => Self::at_span(
                file,
                text,
                label.offset(),
                label.len(),
                label.label().map(str::to_string),
                message,
            ),
            None => Self::in_file(file, message),
        }
    }

    /// Sets the JSON path.
    pub fn with_json_path(mut self, path: impl Into<String>) -> Self {
        self.json_path = Some(path.into());
        self
    }

    /// Sets the line (1-based) without a column, for data problems.
    pub fn with_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    /// File the problem is in, relative to the bundle where possible.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// 1-based line, where known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// 1-based column, where known.
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// JSON path of the offending value, for entity data (e.g. `$[3].attrs.role`).
    pub fn json_path(&self) -> Option<&str> {
        self.json_path.as_deref()
    }

    /// The entity a problem about entity data is about, e.g. `User::"dan"`
    /// (its message starts with the uid), if any.
    pub fn entity(&self) -> Option<&str> {
        let message = self.message.as_str();
        let sep = message.find("::\"")?;
        let head = &message[..sep];
        if head.is_empty() || head.contains(' ') {
            return None;
        }
        let rest = &message[sep + 3..];
        let end = rest
            .find("\" ")
            .or_else(|| rest.strip_suffix('"').map(str::len))?;
        Some(&message[..sep + 3 + end + 1])
    }

    /// One-line description, without the location.
    pub fn message(&self) -> &str {
        &self.message
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
    /// One line: `file:line:column: message`, or `file:line: $.path: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = self.location();
        if !location.is_empty() {
            write!(f, "{location}: ")?;
        }
        if let Some(path) = &self.json_path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.snippet.as_ref().map(|s| &s.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let s = self.snippet.as_ref()?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            s.label.clone(),
            s.span,
        ))))
    }
}

/// Every problem found in one attempt to load a bundle, entity data or
/// request entities. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem{} found", .problems.len(), if .problems.len() == 1 { "" } else { "s" })]
pub struct LoadError {
    problems: Vec<Problem>,
}

impl LoadError {
    /// An error of these problems.
    pub fn new(problems: Vec<Problem>) -> Self {
        LoadError { problems }
    }

    /// The problems, in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The problems, owned.
    pub fn into_problems(self) -> Vec<Problem> {
        self.problems
    }
}

impl Diagnostic for LoadError {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.problems.iter().map(|p| p as &dyn Diagnostic)))
    }
}

impl From<Problem> for LoadError {
    fn from(p: Problem) -> Self {
        LoadError { problems: vec![p] }
    }
}

/// The request field an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Field {
    /// Who asks.
    Principal,
    /// What they want to do.
    Action,
    /// On what.
    Resource,
    /// The context record.
    Context,
}

impl Field {
    /// The field's name in requests: `principal`, `action`, ...
    pub fn name(self) -> &'static str {
        match self {
            Field::Principal => "principal",
            Field::Action => "action",
            Field::Resource => "resource",
            Field::Context => "context",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a query could not be put to Cedar. Every kind decides a deny; a
/// server answers the malformed ones ([`RequestError::is_malformed`]) with a
/// 400 naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Diagnostic)]
#[non_exhaustive]
pub enum RequestError {
    /// Not an entity reference such as `User::"erin"`.
    #[error("{field} {text:?} is not an entity uid such as User::\"erin\": {reason}")]
    #[diagnostic(code(teamgate::request::bad_uid))]
    BadUid {
        /// The field.
        field: Field,
        /// What was given.
        text: String,
        /// Cedar's parse error.
        reason: String,
    },
    /// The action is not a requestable action of the schema.
    #[error("unknown action {action}: not an action of the schema")]
    #[diagnostic(code(teamgate::request::unknown_action))]
    UnknownAction {
        /// The action as given.
        action: String,
    },
    /// The principal or resource is of a type the schema does not know.
    #[error("unknown entity type {type_name}")]
    #[diagnostic(code(teamgate::request::unknown_type))]
    UnknownType {
        /// The field.
        field: Field,
        /// The type.
        type_name: String,
    },
    /// The principal type does not fit the action.
    #[error(
        "request does not match the schema: {action} is not for a principal of type {type_name}"
    )]
    #[diagnostic(code(teamgate::request::wrong_principal_type))]
    WrongPrincipalType {
        /// The action.
        action: String,
        /// The principal's type.
        type_name: String,
    },
    /// The resource type does not fit the action.
    #[error("request does not match the schema: {action} does not apply to a resource of type {type_name}")]
    #[diagnostic(code(teamgate::request::wrong_resource_type))]
    WrongResourceType {
        /// The action.
        action: String,
        /// The resource's type.
        type_name: String,
    },
    /// The principal or resource is not in the entity data.
    #[error("unknown {field} {uid}: no such entity in the entity data")]
    #[diagnostic(code(teamgate::request::unknown_entity))]
    UnknownEntity {
        /// The field.
        field: Field,
        /// The uid.
        uid: String,
    },
    /// Cedar refused to build the request from these parts.
    #[error("request does not match the schema: {message}")]
    #[diagnostic(code(teamgate::request::schema_mismatch))]
    SchemaMismatch {
        /// Cedar's reason.
        message: String,
    },
    /// The context is not an object, or does not match the action's context type.
    #[error("{message}")]
    #[diagnostic(code(teamgate::request::bad_context))]
    BadContext {
        /// Says why.
        message: String,
    },
}

impl RequestError {
    /// The request field at fault.
    pub fn field(&self) -> Field {
        match self {
            RequestError::BadUid { field, .. }
            | RequestError::UnknownType { field, .. }
            | RequestError::UnknownEntity { field, .. } => *field,
            RequestError::UnknownAction { .. } | RequestError::SchemaMismatch { .. } => {
                Field::Action
            }
            RequestError::WrongPrincipalType { .. } => Field::Principal,
            RequestError::WrongResourceType { .. } => Field::Resource,
            RequestError::BadContext { .. } => Field::Context,
        }
    }

    /// True when the request itself is malformed (a client error), false
    /// when it is well-formed but names an entity the data does not hold
    /// (then it is an ordinary deny).
    pub fn is_malformed(&self) -> bool {
        !matches!(self, RequestError::UnknownEntity { .. })
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

/// An error and its sources, joined: Cedar's entity errors put the detail in
/// the source chain.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entity_is_read_from_a_problem_message() {
        let m = "User::\"dan\" names workspace role Role::\"x\", which does not exist (AW1)";
        assert_eq!(Problem::new(m).entity(), Some("User::\"dan\""));
        assert_eq!(
            Problem::new("request body: the change deletes (PR4)").entity(),
            None
        );
    }
}
