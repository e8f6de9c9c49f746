//! Reading entity files into entries: each top-level array element is
//! parsed and typed on its own, on every core, so the whole file is never
//! held as a JSON tree (a 100,000-user file is 40-80 MB of text and would be
//! several hundred MB of `serde_json::Value`).

use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;

use super::{convert, EntityStore, Entry, StoreSchema};
use crate::bundle::SourceFile;
use crate::domain::integrity::Origin;
use crate::error::{offset_of, Problem};

/// At most this many problems are collected from one file before stopping.
const MAX_PROBLEMS: usize = 20;

/// Every entity of `files`, typed by the schema; every problem, located.
/// Entries unchanged since `previous` share its stored values.
pub(crate) fn read_entries(
    files: &[SourceFile],
    root: &Path,
    schema: &StoreSchema,
    previous: Option<&EntityStore>,
) -> Result<Vec<Entry>, Vec<Problem>> {
    let previous = previous.filter(|p| p.same_schema(schema));
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for f in files {
        match read_file(f, root, schema, previous) {
            Ok(mut e) => entries.append(&mut e),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    }
}

/// Entity JSON that is not from a file (a request's, a scenario's), each
/// value with where it came from.
pub(crate) fn entries_of_json(
    values: Vec<(Json, Origin)>,
    schema: &StoreSchema,
) -> Result<Vec<Entry>, Vec<Problem>> {
    let mut entries = Vec::with_capacity(values.len());
    let mut problems = Vec::new();
    for (v, origin) in values {
        if !gather(convert(&v, origin, schema), &mut entries, &mut problems) {
            break;
        }
    }
    finish(entries, problems)
}

/// Values labelled `label`, each at its index in the list.
pub(crate) fn labelled(values: Vec<Json>, label: &str) -> Vec<(Json, Origin)> {
    let file: Arc<str> = Arc::from(label);
    values
        .into_iter()
        .enumerate()
        .map(|(index, v)| {
            let origin = Origin {
                file: file.clone(),
                index: Some(index),
                line: None,
            };
            (v, origin)
        })
        .collect()
}

/// Adds a converted entity (or its problem); false once enough problems
/// were found to stop.
fn gather(
    converted: Result<Option<Entry>, Problem>,
    entries: &mut Vec<Entry>,
    problems: &mut Vec<Problem>,
) -> bool {
    match converted {
        Ok(Some(e)) => entries.push(e),
        Ok(None) => {}
        Err(p) => problems.push(p),
    }
    problems.len() < MAX_PROBLEMS
}

fn finish(entries: Vec<Entry>, problems: Vec<Problem>) -> Result<Vec<Entry>, Vec<Problem>> {
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    }
}

fn read_file(
    f: &SourceFile,
    root: &Path,
    schema: &StoreSchema,
    previous: Option<&EntityStore>,
) -> Result<Vec<Entry>, Vec<Problem>> {
    let rel = f.rel(root);
    let file: Arc<str> = Arc::from(rel.display().to_string());
    let text = f.text.as_str();
    let Some(spans) = element_spans(text) else {
        return Err(vec![whole_file_problem(&rel, text)]);
    };
    let lines = line_numbers(text, &spans);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = spans.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Entry>, Vec<Problem>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = spans
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                let file = file.clone();
                let lines = &lines;
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    let mut problems = Vec::new();
                    for (j, &(start, end)) in part.iter().enumerate() {
                        let index = c * chunk + j;
                        let value: Json = match serde_json::from_str(&text[start..end]) {
                            Ok(v) => v,
                            // Not splittable as it looked: let the whole-file
                            // parse say where the syntax error is.
                            Err(_) => return Err(Vec::new()),
                        };
                        let origin = Origin {
                            file: file.clone(),
                            index: Some(index),
                            line: lines.get(index).copied(),
                        };
                        let mut converted = convert(&value, origin, schema);
                        if let (Some(p), Ok(Some(e))) = (previous, converted.as_mut()) {
                            p.share(e);
                        }
                        if !gather(converted, &mut out, &mut problems) {
                            break;
                        }
                    }
                    finish(out, problems)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(vec![Problem::new("a reader thread failed")]))
            })
            .collect()
    });
    let mut entries = Vec::with_capacity(spans.len());
    let mut problems = Vec::new();
    for r in results {
        match r {
            Ok(mut e) => entries.append(&mut e),
            Err(p) if p.is_empty() => return Err(vec![whole_file_problem(&rel, text)]),
            Err(mut p) => problems.append(&mut p),
        }
    }
    problems.truncate(MAX_PROBLEMS);
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    }
}

/// The problem with a file that is not a well-formed JSON array, as
/// `serde_json` reports it on the whole text.
pub(crate) fn whole_file_problem(rel: &Path, text: &str) -> Problem {
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Err(e) => {
            let offset = offset_of(text, e.line(), e.column());
            Problem::at_offset(rel, text, offset, format!("invalid JSON: {e}"))
        }
        Ok(_) => Problem::in_file(rel, "entity data must be a JSON array of entities")
            .with_json_path("$"),
    }
}

/// Byte ranges of the elements of a top-level JSON array, or `None` when
/// the text is not an array (or its brackets do not balance).
fn element_spans(text: &str) -> Option<Vec<(usize, usize)>> {
    let bytes = text.as_bytes();
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    if bytes[first] != b'[' {
        return None;
    }
    let mut spans = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut start: Option<usize> = None;
    let mut closed = false;
    // After a comma another element must come (no trailing comma).
    let mut after_comma = false;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if closed {
            if !b.is_ascii_whitespace() {
                return None;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                if depth == 1 && start.is_none() {
                    start = Some(i);
                    after_comma = false;
                }
            }
            b'[' | b'{' => {
                if depth == 1 && start.is_none() {
                    start = Some(i);
                    after_comma = false;
                }
                depth += 1;
            }
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    if after_comma && start.is_none() {
                        return None;
                    }
                    if let Some(s) = start.take() {
                        spans.push((s, i));
                    }
                    closed = true;
                }
            }
            b',' if depth == 1 => {
                spans.push((start.take()?, i));
                after_comma = true;
            }
            _ if b.is_ascii_whitespace() => {}
            _ => {
                if depth == 1 && start.is_none() {
                    start = Some(i);
                    after_comma = false;
                }
            }
        }
    }
    (closed && !in_string).then_some(spans)
}

/// 1-based line of each span's start, in one pass over the text.
fn line_numbers(text: &str, spans: &[(usize, usize)]) -> Vec<usize> {
    let bytes = text.as_bytes();
    let (mut line, mut pos) = (1, 0);
    spans
        .iter()
        .map(|&(off, _)| {
            let off = off.min(bytes.len()).max(pos);
            line += bytes[pos..off].iter().filter(|b| **b == b'\n').count();
            pos = off;
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::line_col;

    #[test]
    fn spans_skip_strings_and_nesting() {
        let text = "[\n {\"a\": \"],{\\\"\",\n  \"b\": [1, {\"c\": 2}]},\n {\"d\": 3}\n]";
        let spans = element_spans(text).expect("an array");
        assert_eq!(spans.len(), 2);
        assert_eq!(line_numbers(text, &spans), vec![2, 4]);
        assert_eq!(line_col(text, spans[1].0).0, 4);
        assert!(serde_json::from_str::<Json>(&text[spans[0].0..spans[0].1]).is_ok());
        assert!(serde_json::from_str::<Json>(&text[spans[1].0..spans[1].1]).is_ok());
    }

    #[test]
    fn not_an_array_or_unbalanced() {
        assert_eq!(element_spans("{}"), None);
        assert_eq!(element_spans("[1, 2"), None);
        assert_eq!(element_spans("[1] x"), None);
        assert_eq!(element_spans("[1,]"), None);
        assert_eq!(element_spans("[,1]"), None);
        assert_eq!(element_spans("[]"), Some(vec![]));
        assert_eq!(element_spans(" [ 1 , 2 ] ").map(|s| s.len()), Some(2));
    }
}
