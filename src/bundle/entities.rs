//! `EntityData`: the entity JSON of a bundle, integrity-checked and parsed
//! against a pack's schema.

use std::path::Path;

use serde_json::Value;

use super::source::{read_dir_files, SourceFile};
use super::data::EntityStore;
use super::{hash_sources, Bundle, PolicyPack};
use crate::domain::directory::Addresses;
use crate::domain::integrity::{self, Located, RoleIds};
use crate::error::{offset_of, LoadError, Problem};

/// Parsed entity data, ready for decisions.
#[derive(Debug)]
pub(crate) struct EntityData {
    /// The entities, compact; each request gets the few it can reach.
    pub store: EntityStore,
    /// Hash of the entity files.
    pub content_hash: String,
    /// Number of entities read from the files.
    pub count: usize,
    /// The roles it names, to re-check against new policy files.
    pub roles: RoleIds,
    /// Who has which e-mail address (CX12).
    pub addresses: Addresses,
}

impl EntityData {
    /// Reads every `*.json` under `fixtures/` and checks it against `pack`.
    pub fn load(bundle: &Bundle, pack: &PolicyPack) -> Result<EntityData, LoadError> {
        let mut problems = Vec::new();
        let files = read_dir_files(bundle.fixtures(), "json", &mut problems);
        if !problems.is_empty() {
            return Err(LoadError::new(problems));
        }
        Self::from_files(bundle, &files, pack)
    }

    /// The entity JSON of a bundle's `fixtures/` as one array, with syntax
    /// errors located (for a run whose policies do not load).
    pub fn read_json(bundle: &Bundle) -> Result<Vec<Value>, LoadError> {
        let mut problems = Vec::new();
        let files = read_dir_files(bundle.fixtures(), "json", &mut problems);
        let located = parse_files(&files, bundle.root(), &mut problems);
        if problems.is_empty() {
            Ok(located.into_iter().map(|l| l.value).collect())
        } else {
            Err(LoadError::new(problems))
        }
    }

    /// Parses and checks entity files already read.
    pub fn from_files(
        bundle: &Bundle,
        files: &[SourceFile],
        pack: &PolicyPack,
    ) -> Result<EntityData, LoadError> {
        let mut problems = Vec::new();
        if files.is_empty() {
            problems.push(Problem::in_file(
                bundle.fixtures(),
                "no *.json entity file in the fixtures directory",
            ));
        }
        let t = std::time::Instant::now();
        let located = parse_files(files, bundle.root(), &mut problems);
        if !problems.is_empty() {
            return Err(LoadError::new(problems));
        }
        eprintln!("TIMING parse {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let content_hash = hash_sources(files, bundle.root());
        eprintln!("TIMING hash {:?}", t.elapsed());
        Self::from_located(located, pack, content_hash)
    }

    /// Checks and parses entity JSON that is not from files (a request's
    /// entities, a scenario's); `label` names it in errors.
    pub fn from_json(
        json: Vec<Value>,
        pack: &PolicyPack,
        label: &str,
    ) -> Result<EntityData, LoadError> {
        let located = json
            .into_iter()
            .enumerate()
            .map(|(i, value)| Located {
                value,
                file: label.to_string(),
                index: i,
                line: None,
            })
            .collect();
        let hash = {
            use sha2::Digest;
            super::hex(&sha2::Sha256::digest(label.as_bytes()))
        };
        Self::from_located(located, pack, hash)
    }

    fn from_located(
        mut located: Vec<Located>,
        pack: &PolicyPack,
        content_hash: String,
    ) -> Result<EntityData, LoadError> {
        let t = std::time::Instant::now();
        integrity::normalize(&mut located);
        let checked = integrity::check_all(&located, &pack.role_files);
        if !checked.problems.is_empty() {
            return Err(LoadError::new(checked.problems));
        }
        eprintln!("TIMING integrity {:?}", t.elapsed());
        let (roles, addresses) = (checked.roles, checked.addresses);
        let t = std::time::Instant::now();
        let store = EntityStore::build(&located, pack.store_schema.clone()).map_err(LoadError::new)?;
        eprintln!("TIMING store {:?}", t.elapsed());
        let t = std::time::Instant::now();
        drop(located);
        release_free_memory();
        eprintln!("TIMING drop json {:?}", t.elapsed());
        Ok(EntityData {
            count: store.len(),
            store,
            content_hash,
            roles,
            addresses,
        })
    }

    /// The stored entities as entity JSON (action entities left out), for
    /// building an overlay over them.
    pub fn to_json(&self) -> Vec<Value> {
        self.store.to_json()
    }
}

fn parse_files(files: &[SourceFile], root: &Path, problems: &mut Vec<Problem>) -> Vec<Located> {
    let mut out = Vec::new();
    for f in files {
        let rel = f.rel(root);
        let value: Value = match serde_json::from_str(&f.text) {
            Ok(v) => v,
            Err(e) => {
                let offset = offset_of(&f.text, e.line(), e.column());
                problems.push(Problem::at_offset(
                    &rel,
                    &f.text,
                    offset,
                    format!("invalid JSON: {e}"),
                ));
                continue;
            }
        };
        let Value::Array(items) = value else {
            problems.push(
                Problem::in_file(&rel, "entity data must be a JSON array of entities")
                    .with_json_path("$"),
            );
            continue;
        };
        let lines = line_numbers(&f.text, &element_offsets(&f.text));
        for (i, value) in items.into_iter().enumerate() {
            let line = lines.get(i).copied();
            out.push(Located {
                value,
                file: rel.display().to_string(),
                index: i,
                line,
            });
        }
    }
    out
}

/// 1-based line of each of `offsets` (ascending), in one pass over the text:
/// counting from the start for every entity was quadratic in the file size.
fn line_numbers(text: &str, offsets: &[usize]) -> Vec<usize> {
    let bytes = text.as_bytes();
    let (mut line, mut pos) = (1, 0);
    offsets
        .iter()
        .map(|&off| {
            let off = off.min(bytes.len()).max(pos);
            line += bytes[pos..off].iter().filter(|b| **b == b'\n').count();
            pos = off;
            line
        })
        .collect()
}

/// Byte offsets where the elements of a top-level JSON array start.
fn element_offsets(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut expect_element = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if depth == 1 && expect_element && c != ']' {
            out.push(i);
            expect_element = false;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                if depth == 1 {
                    expect_element = true;
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expect_element = true,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_offsets_skip_strings_and_nesting() {
        let text = "[\n {\"a\": \"],{\\\"\",\n  \"b\": [1, {\"c\": 2}]},\n {\"d\": 3}\n]";
        let offs = element_offsets(text);
        assert_eq!(offs.len(), 2);
        assert_eq!(line_numbers(text, &offs), vec![2, 4]);
        assert_eq!(crate::error::line_col(text, offs[0]).0, 2);
        assert_eq!(crate::error::line_col(text, offs[1]).0, 4);
    }
}

/// Hands memory freed after a large load back to the system: glibc keeps
/// freed heap pages of the parsed JSON otherwise, and the resident size of a
/// sidecar would stay at its load-time peak.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of glibc's heap; it takes
    // no pointer and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
