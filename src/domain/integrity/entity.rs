//! Checks every entity has: a uid, defined once; references that resolve.

use serde_json::Value;

use super::json::{as_ref, uid_of, walk_refs};
use super::{Index, Located};
use crate::domain::types;
use crate::error::Problem;

/// Entities without a uid, and uids defined twice.
pub fn check_uids(entities: &[Located], index: &mut Index, problems: &mut Vec<Problem>) {
    for (i, e) in entities.iter().enumerate() {
        match uid_of(&e.value) {
            Some((ty, id)) => {
                if let Some(prev) = index.by_uid.entry(ty).or_default().insert(id, i) {
                    let p = &entities[prev];
                    problems.push(e.problem(format!(
                        "is defined twice (first in {} at $[{}])",
                        p.file, p.index
                    )));
                }
            }
            None => problems.push(e.problem_at(".uid", "has no uid {\"type\": ..., \"id\": ...}")),
        }
    }
}

/// References in attributes, tags and parents that name no entity.
pub fn check_references(e: &Located, index: &Index, problems: &mut Vec<Problem>) {
    let mut report = |path: &str, (rt, rid): (String, String)| {
        if rt == types::ACTION || index.exists(&rt, &rid) {
            return;
        }
        let what = if rt == types::ROLE && path == ".attrs.role" {
            format!("names workspace role Role::{rid:?}, which does not exist (AW1)")
        } else if rt == types::PROJECT_ROLE {
            format!("names project role ProjectRole::{rid:?}, which does not exist")
        } else {
            format!("refers to {rt}::{rid:?}, which is not in the entity data")
        };
        problems.push(e.problem_at(path, what));
    };
    let mut path = String::with_capacity(64);
    for key in ["attrs", "tags"] {
        if let Some(v) = e.value.get(key) {
            path.clear();
            path.push('.');
            path.push_str(key);
            walk_refs(v, &mut path, &mut report);
        }
    }
    if let Some(Value::Array(parents)) = e.value.get("parents") {
        for (j, p) in parents.iter().enumerate() {
            let r = as_ref(p).or_else(|| uid_of(&serde_json::json!({ "uid": p })));
            if let Some(r) = r {
                report(&format!(".parents[{j}]"), r);
            }
        }
    }
}
