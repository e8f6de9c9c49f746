//! Checks every entity has: a uid defined once; references that resolve.

use super::{Index, Item};
use crate::domain::types;
use crate::error::Problem;

/// Uids defined twice.
pub fn check_uids(items: &[Item<'_>], index: &mut Index, problems: &mut Vec<Problem>) {
    for (i, item) in items.iter().enumerate() {
        let e = item.entity;
        let ids = index.by_uid.entry(e.type_name().to_string()).or_default();
        if let Some(prev) = ids.insert(e.id().to_string(), i) {
            let p = items[prev].origin;
            let at = p.index.map(|i| format!(" at $[{i}]")).unwrap_or_default();
            problems.push(item.problem(format!("is defined twice (first in {}{at})", p.file)));
        }
    }
}

/// References in attributes, tags and parents that name no entity.
pub fn check_references(item: &Item<'_>, index: &Index, problems: &mut Vec<Problem>) {
    item.entity.each_ref(&mut |path, rt, rid| {
        if rt == types::ACTION || index.exists(rt, rid) {
            return;
        }
        let path = path();
        let what = if rt == types::ROLE && path == ".attrs.role" {
            format!("names workspace role Role::{rid:?}, which does not exist (AW1)")
        } else if rt == types::PROJECT_ROLE {
            format!("names project role ProjectRole::{rid:?}, which does not exist")
        } else {
            format!("refers to {rt}::{rid:?}, which is not in the entity data")
        };
        problems.push(item.problem_at(&path, what));
    });
}
