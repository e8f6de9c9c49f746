//! Checks every entity has: a uid, defined once; references that resolve.

use serde_json::Value;

use super::json::{as_ref, refs_in, uid_of};
use super::{Index, Located};
use crate::domain::types;
use crate::error::Problem;

/// Entities without a uid, and uids defined twice.
pub fn check_uids(entities: &[Located], index: &mut Index, problems: &mut Vec<Problem>) {
    for (i, e) in entities.iter().enumerate() {
        match uid_of(&e.value) {
            Some(uid) => {
                if let Some(prev) = index.by_uid.insert(uid, i) {
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
    let mut refs = Vec::new();
    if let Some(a) = e.value.get("attrs") {
        refs_in(a, ".attrs".into(), &mut refs);
    }
    if let Some(t) = e.value.get("tags") {
        refs_in(t, ".tags".into(), &mut refs);
    }
    if let Some(Value::Array(parents)) = e.value.get("parents") {
        for (j, p) in parents.iter().enumerate() {
            let r = as_ref(p).or_else(|| uid_of(&serde_json::json!({ "uid": p })));
            if let Some(r) = r {
                refs.push((format!(".parents[{j}]"), r));
            }
        }
    }
    for (path, (rt, rid)) in &refs {
        if rt == types::ACTION || index.exists(rt, rid) {
            continue;
        }
        let what = if rt == types::ROLE && path == ".attrs.role" {
            format!("names workspace role Role::{rid:?}, which does not exist (AW1)")
        } else if rt == types::PROJECT_ROLE {
            format!("names project role ProjectRole::{rid:?}, which does not exist")
        } else {
            format!("refers to {rt}::{rid:?}, which is not in the entity data")
        };
        problems.push(e.problem_at(path, what));
    }
}
