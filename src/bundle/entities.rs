//! `EntityData`: the entity JSON of a bundle, integrity-checked and parsed
//! against a pack's schema.

use std::path::Path;

use cedar_policy::{Entities, Schema};
use serde_json::Value;

use super::integrity::{self, Located, RoleIds};
use super::source::{read_dir_files, SourceFile};
use super::{hash_sources, BundlePaths, LoadErrors, PolicyPack};
use crate::Problem;

/// Parsed entity data, ready for decisions.
#[derive(Debug)]
pub struct EntityData {
    /// The entities, with the schema's action entities.
    pub entities: Entities,
    /// Hash of the entity files.
    pub content_hash: String,
    /// Number of entities read from the files.
    pub count: usize,
    /// The roles it names, to re-check against new policy files.
    pub roles: RoleIds,
}

impl EntityData {
    /// Reads every `*.json` under `fixtures/` and checks it against `pack`.
    pub fn load(paths: &BundlePaths, pack: &PolicyPack) -> Result<EntityData, LoadErrors> {
        let mut problems = Vec::new();
        let files = read_dir_files(&paths.fixtures, "json", &mut problems);
        if !problems.is_empty() {
            return Err(LoadErrors(problems));
        }
        Self::from_files(paths, &files, pack)
    }

    /// Parses and checks entity files already read.
    pub fn from_files(
        paths: &BundlePaths,
        files: &[SourceFile],
        pack: &PolicyPack,
    ) -> Result<EntityData, LoadErrors> {
        let mut problems = Vec::new();
        if files.is_empty() {
            problems.push(Problem::in_file(
                &paths.fixtures,
                "no *.json entity file in the fixtures directory",
            ));
        }
        let located = parse_files(files, &paths.root, &mut problems);
        if !problems.is_empty() {
            return Err(LoadErrors(problems));
        }
        let content_hash = hash_sources(files, &paths.root);
        Self::from_located(located, pack, content_hash)
    }

    /// Checks and parses entity JSON that is not from files (a request's
    /// entities, a scenario's); `label` names it in errors.
    pub fn from_json(
        json: Vec<Value>,
        pack: &PolicyPack,
        label: &str,
    ) -> Result<EntityData, LoadErrors> {
        let source = SourceFile {
            path: label.into(),
            text: String::new(),
        };
        let located = json
            .into_iter()
            .enumerate()
            .map(|(i, value)| Located {
                value,
                file: source.path.display().to_string(),
                index: i,
                line: None,
            })
            .collect();
        let hash = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(label.as_bytes());
            super::hex(&h.finalize())
        };
        Self::from_located(located, pack, hash)
    }

    fn from_located(
        located: Vec<Located>,
        pack: &PolicyPack,
        content_hash: String,
    ) -> Result<EntityData, LoadErrors> {
        let mut problems = integrity::check(&located, pack);
        if !problems.is_empty() {
            return Err(LoadErrors(problems));
        }
        let roles = RoleIds::of(&located);
        // Move the values out (a large workspace should not be held twice);
        // keep where each came from for error messages.
        let mut json = Vec::with_capacity(located.len());
        let mut origin = Vec::with_capacity(located.len());
        for l in located {
            json.push(l.value);
            origin.push((l.file, l.index, l.line));
        }
        let count = json.len();
        match Entities::from_json_value(Value::Array(json.clone()), Some(&pack.schema)) {
            Ok(entities) => Ok(EntityData {
                entities,
                content_hash,
                count,
                roles,
            }),
            Err(whole) => {
                let located: Vec<Located> = json
                    .into_iter()
                    .zip(origin)
                    .map(|(value, (file, index, line))| Located {
                        value,
                        file,
                        index,
                        line,
                    })
                    .collect();
                locate_schema_errors(&located, &pack.schema, &mut problems);
                if problems.is_empty() {
                    problems.push(Problem::new(format!("entity data: {whole}")));
                }
                Err(LoadErrors(problems))
            }
        }
    }
}

/// Cedar reports what is wrong but not where; find the entities that fail on
/// their own (at most 20) so each error names a file and JSON path.
fn locate_schema_errors(located: &[Located], schema: &Schema, problems: &mut Vec<Problem>) {
    for l in located {
        if problems.len() >= 20 {
            break;
        }
        if let Err(e) = Entities::from_json_value(Value::Array(vec![l.value.clone()]), Some(schema))
        {
            problems.push(l.problem(format!("does not match the schema: {}", error_chain(&e))));
        }
    }
}

/// The entity JSON of a bundle's `fixtures/` as one array (for tools that
/// merge entities over it), with syntax errors located.
pub fn read_fixture_json(paths: &BundlePaths) -> Result<Vec<Value>, LoadErrors> {
    let mut problems = Vec::new();
    let files = read_dir_files(&paths.fixtures, "json", &mut problems);
    let located = parse_files(&files, &paths.root, &mut problems);
    if problems.is_empty() {
        Ok(located.into_iter().map(|l| l.value).collect())
    } else {
        Err(LoadErrors(problems))
    }
}

/// An error and its sources, joined: Cedar's entity errors put the detail in
/// the source chain.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
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

fn parse_files(files: &[SourceFile], root: &Path, problems: &mut Vec<Problem>) -> Vec<Located> {
    let mut out = Vec::new();
    for f in files {
        let rel = f.rel(root);
        let value: Value = match serde_json::from_str(&f.text) {
            Ok(v) => v,
            Err(e) => {
                let offset = crate::problem::offset_of(&f.text, e.line(), e.column());
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

/// Entity JSON with `overlay` merged over `base`: an overlay entity replaces
/// the base entity with the same uid, others are added.
pub fn merge_entity_json(base: &[Value], overlay: Vec<Value>) -> Vec<Value> {
    let key = |v: &Value| {
        v.get("uid")
            .map(|u| (u.get("type").cloned(), u.get("id").cloned()))
    };
    let mut out: Vec<Value> = base.to_vec();
    let mut pos: std::collections::HashMap<_, usize> = out
        .iter()
        .enumerate()
        .filter_map(|(i, v)| key(v).map(|k| (k, i)))
        .collect();
    for v in overlay {
        match key(&v).and_then(|k| pos.get(&k).copied()) {
            Some(i) => out[i] = v,
            None => {
                if let Some(k) = key(&v) {
                    pos.insert(k, out.len());
                }
                out.push(v);
            }
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
        assert_eq!(crate::problem::line_col(text, offs[0]).0, 2);
        assert_eq!(crate::problem::line_col(text, offs[1]).0, 4);
    }

    #[test]
    fn merge_replaces_by_uid_and_appends_new() {
        let base = vec![
            serde_json::json!({"uid": {"type": "User", "id": "a"}, "attrs": {"x": 1}}),
            serde_json::json!({"uid": {"type": "User", "id": "b"}, "attrs": {}}),
        ];
        let merged = merge_entity_json(
            &base,
            vec![
                serde_json::json!({"uid": {"type": "User", "id": "a"}, "attrs": {"x": 2}}),
                serde_json::json!({"uid": {"type": "User", "id": "c"}, "attrs": {}}),
            ],
        );
        assert_eq!(merged.len(), 3);
        assert_eq!(merged[0]["attrs"]["x"], 2);
        assert_eq!(merged[2]["uid"]["id"], "c");
    }
}
