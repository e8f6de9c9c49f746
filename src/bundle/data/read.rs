//! Reading entity files into entries: each top-level array element is
//! parsed and typed on its own, on every core, so the whole file is never
//! held as a JSON tree (a 100,000-user file is 40-80 MB of text and would be
//! several hundred MB of `serde_json::Value`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use serde_json::Value as Json;

use super::{convert, EntityStore, Entry, StoreSchema};
use crate::domain::integrity::Origin;
use crate::error::{offset_of, Problem};

/// At most this many problems are collected from one file before stopping.
const MAX_PROBLEMS: usize = 20;

/// Every entity of the entity files at `paths` (sorted), typed by the
/// schema, and the hash of the files (as [`crate::bundle::hash_sources`]
/// computes it); every problem, located. Each file is read as a stream of
/// blocks, never held whole. Entries unchanged since `previous` share its
/// stored values.
pub(crate) fn read_entries(
    paths: &[PathBuf],
    root: &Path,
    schema: &StoreSchema,
    previous: Option<&EntityStore>,
) -> Result<(Vec<Entry>, String), Vec<Problem>> {
    let previous = previous.filter(|p| p.same_schema(schema));
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let mut hash = Sha256::new();
    for path in paths {
        match read_file(path, root, schema, previous, &mut hash, BLOCK) {
            Ok(mut e) => entries.append(&mut e),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok((entries, crate::bundle::hex(&hash.finalize())))
    } else {
        Err(problems)
    }
}

/// Entity JSON that is not from a file (a request's, a scenario's), each
/// value with where it came from.
pub(crate) fn entries_of_json<V: std::borrow::Borrow<Json>>(
    values: impl IntoIterator<Item = (V, Origin)>,
    schema: &StoreSchema,
) -> Result<Vec<Entry>, Vec<Problem>> {
    let values = values.into_iter();
    let mut entries = Vec::with_capacity(values.size_hint().0);
    let mut problems = Vec::new();
    for (v, origin) in values {
        if !gather(
            convert(v.borrow(), origin, schema),
            &mut entries,
            &mut problems,
        ) {
            break;
        }
    }
    finish(entries, problems)
}

/// Borrowed values labelled `label`, each at its index in the list (a
/// change's entities are read without copying them).
pub(crate) fn labelled_refs<'a>(
    values: &'a [Json],
    label: &str,
) -> impl Iterator<Item = (&'a Json, Origin)> + 'a {
    let file: Arc<str> = Arc::from(label);
    values.iter().enumerate().map(move |(index, v)| {
        (
            v,
            Origin {
                file: file.clone(),
                index: Some(index),
                line: None,
            },
        )
    })
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

/// Bytes read from an entity file at a time.
const BLOCK: usize = 4 << 20;

fn read_file(
    path: &Path,
    root: &Path,
    schema: &StoreSchema,
    previous: Option<&EntityStore>,
    hash: &mut Sha256,
    block: usize,
) -> Result<Vec<Entry>, Vec<Problem>> {
    let rel = PathBuf::from(
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string(),
    );
    let cannot = |e: std::io::Error| vec![Problem::in_file(path, format!("cannot read: {e}"))];
    let mut reader = std::fs::File::open(path).map_err(cannot)?;
    hash.update(rel.display().to_string().as_bytes());
    hash.update([0]);
    let file: Arc<str> = Arc::from(rel.display().to_string());
    let mut scanner = Scanner::new();
    // The bytes from the start of the element being read (or of the last
    // block) on; `base` is their offset in the file.
    let mut carry: Vec<u8> = Vec::new();
    let mut base = 0usize;
    let mut index = 0usize;
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let mut spans = Vec::new();
    loop {
        let old_len = carry.len();
        carry.resize(old_len + block, 0);
        let n = read_some(&mut reader, &mut carry[old_len..]).map_err(cannot)?;
        carry.truncate(old_len + n);
        if n == 0 {
            break;
        }
        hash.update(&carry[old_len..]);
        spans.clear();
        scanner.feed(&carry[old_len..], &mut spans);
        let local: Vec<(usize, usize, usize)> = spans
            .iter()
            .map(|&(s, e, l)| (s - base, e - base, l))
            .collect();
        match convert_block(&carry, &local, index, &file, schema, previous) {
            Ok(mut e) => entries.append(&mut e),
            Err(p) if p.is_empty() => return Err(vec![whole_file_problem_at(path, &rel)]),
            Err(mut p) => {
                problems.append(&mut p);
                if problems.len() >= MAX_PROBLEMS {
                    break;
                }
            }
        }
        index += local.len();
        // Keep only the element still being read.
        let keep_from = scanner.pending().map_or(carry.len(), |s| s - base);
        carry.drain(..keep_from);
        base += keep_from;
    }
    hash.update([0]);
    if problems.is_empty() && !scanner.finished() {
        return Err(vec![whole_file_problem_at(path, &rel)]);
    }
    problems.truncate(MAX_PROBLEMS);
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    }
}

/// Fills as much of `buf` as the reader gives before its end.
fn read_some(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Parses and types the elements of one block, on every core. `Err` with
/// no problem: an element is not well-formed JSON.
fn convert_block(
    text: &[u8],
    spans: &[(usize, usize, usize)],
    first_index: usize,
    file: &Arc<str>,
    schema: &StoreSchema,
    previous: Option<&EntityStore>,
) -> Result<Vec<Entry>, Vec<Problem>> {
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
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    let mut problems = Vec::new();
                    for (j, &(start, end, line)) in part.iter().enumerate() {
                        let value: Json = match serde_json::from_slice(&text[start..end]) {
                            Ok(v) => v,
                            // Not splittable as it looked: let the whole-file
                            // parse say where the syntax error is.
                            Err(_) => return Err(Vec::new()),
                        };
                        let origin = Origin {
                            file: file.clone(),
                            index: Some(first_index + c * chunk + j),
                            line: Some(line),
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
            Err(p) if p.is_empty() => return Err(Vec::new()),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(entries)
    } else {
        Err(problems)
    }
}

/// The syntax problem of a file that does not read as an array of
/// entities: the file is read whole once more to say where.
fn whole_file_problem_at(path: &Path, rel: &Path) -> Problem {
    match std::fs::read(path) {
        Ok(bytes) => whole_file_problem(rel, &String::from_utf8_lossy(&bytes)),
        Err(e) => Problem::in_file(path, format!("cannot read: {e}")),
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

/// Finds the elements of a top-level JSON array in text fed to it in
/// pieces: their byte ranges (offsets from the start of the text) and the
/// 1-based line each starts on.
#[derive(Debug)]
struct Scanner {
    /// Offset of the next byte fed.
    offset: usize,
    line: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    start: Option<(usize, usize)>,
    opened: bool,
    closed: bool,
    /// After a comma another element must come (no trailing comma).
    after_comma: bool,
    /// The text is not a JSON array (or its brackets do not balance).
    broken: bool,
}

impl Scanner {
    fn new() -> Self {
        Scanner {
            offset: 0,
            line: 1,
            depth: 0,
            in_string: false,
            escaped: false,
            start: None,
            opened: false,
            closed: false,
            after_comma: false,
            broken: false,
        }
    }

    /// Feeds the next bytes; pushes (start, end, line) of each element
    /// that ends in them.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<(usize, usize, usize)>) {
        for &b in bytes {
            let i = self.offset;
            self.offset += 1;
            if self.broken {
                continue;
            }
            if b == b'\n' {
                self.line += 1;
            }
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            if self.closed || !self.opened {
                if b.is_ascii_whitespace() {
                    continue;
                }
                if !self.closed && b == b'[' {
                    self.opened = true;
                    self.depth = 1;
                } else {
                    self.broken = true;
                }
                continue;
            }
            let begin = |s: &mut Scanner| {
                if s.depth == 1 && s.start.is_none() {
                    s.start = Some((i, s.line));
                    s.after_comma = false;
                }
            };
            match b {
                b'"' => {
                    begin(self);
                    self.in_string = true;
                }
                b'[' | b'{' => {
                    begin(self);
                    self.depth += 1;
                }
                b']' | b'}' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        if self.after_comma && self.start.is_none() || b != b']' {
                            self.broken = true;
                            continue;
                        }
                        if let Some((s, l)) = self.start.take() {
                            out.push((s, i, l));
                        }
                        self.closed = true;
                    }
                }
                b',' if self.depth == 1 => match self.start.take() {
                    Some((s, l)) => {
                        out.push((s, i, l));
                        self.after_comma = true;
                    }
                    None => self.broken = true,
                },
                _ if b.is_ascii_whitespace() => {}
                _ => begin(self),
            }
        }
    }

    /// Whether the whole text was one well-formed array.
    fn finished(&self) -> bool {
        !self.broken && self.closed && !self.in_string
    }

    /// Where the element being read started, if one is.
    fn pending(&self) -> Option<usize> {
        self.start.map(|(s, _)| s)
    }
}

/// Byte ranges of the elements of a top-level JSON array, or `None` when
/// the text is not an array (or its brackets do not balance).
#[cfg(test)]
fn element_spans(text: &str) -> Option<Vec<(usize, usize)>> {
    let mut scanner = Scanner::new();
    let mut out = Vec::new();
    scanner.feed(text.as_bytes(), &mut out);
    scanner
        .finished()
        .then(|| out.into_iter().map(|(s, e, _)| (s, e)).collect())
}

/// 1-based line of each span's start, in one pass over the text.
#[cfg(test)]
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
    fn any_block_size_reads_the_same_entries_lines_and_hash() {
        let bundle = crate::Bundle::new(env!("CARGO_MANIFEST_DIR"));
        let pack = crate::bundle::PolicyPack::load(&bundle).expect("shipped pack");
        let path = bundle.fixtures().join("entities.json");
        let read = |block| {
            let mut h = Sha256::new();
            let entries = read_file(
                &path,
                bundle.root(),
                &pack.store_schema,
                None,
                &mut h,
                block,
            )
            .expect("reads");
            let seen: Vec<(super::super::Key, Option<usize>, Option<usize>)> = entries
                .into_iter()
                .map(|e| (e.key, e.origin.index, e.origin.line))
                .collect();
            (seen, crate::bundle::hex(&h.finalize()))
        };
        let whole = read(BLOCK);
        assert!(whole.0.len() > 30);
        for block in [1, 7, 64, 1000] {
            assert_eq!(read(block), whole, "block of {block} bytes");
        }
        // A syntax error found across blocks is still located in the file.
        let dir = tempfile::tempdir().expect("tempdir");
        let broken = dir.path().join("broken.json");
        let text = std::fs::read_to_string(&path).expect("demo");
        std::fs::write(&broken, text.replacen("\"attrs\"", "\"attrs\" 1", 3)).expect("write");
        let mut h = Sha256::new();
        let e = read_file(&broken, dir.path(), &pack.store_schema, None, &mut h, 64)
            .expect_err("broken");
        assert!(e[0].line().is_some(), "{e:?}");
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
