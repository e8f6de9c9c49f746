//! Users: exactly one workspace role (AW1), a known license (TC1), a
//! `userId` equal to the entity id; their memberships are collected for the
//! project checks.

use serde_json::Value;

use super::json::{as_ref, ref_ids};
use super::{Index, Located};
use crate::domain::LICENSES;
use crate::error::Problem;

/// Checks one user and records its memberships and connections in `index`.
pub fn check(i: usize, id: &str, e: &Located, index: &mut Index, problems: &mut Vec<Problem>) {
    let attr = |k: &str| e.value.get("attrs").and_then(|a| a.get(k));
    if attr("role").is_none() {
        problems.push(e.problem_at(
            ".attrs",
            "has no workspace role: every user has exactly one (AW1)",
        ));
    }
    match attr("userId").and_then(Value::as_str) {
        Some(u) if u == id => {}
        Some(u) => problems.push(e.problem_at(
            ".attrs.userId",
            format!("userId {u:?} differs from the entity id {id:?}"),
        )),
        None => {}
    }
    if let Some(email) = attr("email").and_then(Value::as_str) {
        match index.parser.parse(email) {
            Some(a) => index.addresses.push((i, id.to_string(), a.to_string())),
            None => problems.push(e.problem_at(
                ".attrs.email",
                format!("email {email:?} is not a usable e-mail address"),
            )),
        }
    }
    if let Some(l) = attr("license").and_then(Value::as_str) {
        if !LICENSES.contains(&l) {
            problems.push(e.problem_at(
                ".attrs.license",
                format!("unknown license {l:?}: one of {}", LICENSES.join(", ")),
            ));
        }
    }
    index
        .member_of
        .insert(id.to_string(), (i, ref_ids(attr("memberOf"))));
    let home = attr("workspace")
        .and_then(as_ref)
        .map(|(_, w)| w)
        .unwrap_or_default();
    index
        .connected
        .insert(id.to_string(), (home, ref_ids(attr("connectedTo"))));
}

/// An address names one person: no two users share a (normalised) e-mail
/// address, so an invitation by address finds exactly one (CX12).
pub fn check_addresses(entities: &[Located], index: &Index, problems: &mut Vec<Problem>) {
    let mut seen: std::collections::HashMap<&str, &str> = Default::default();
    let mut sorted: Vec<&(usize, String, String)> = index.addresses.iter().collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    for (i, id, address) in sorted {
        if let Some(other) = seen.insert(address, id) {
            problems.push(entities[*i].problem_at(
                ".attrs.email",
                format!("has the same e-mail address as User::{other:?} ({address}): an address names one person"),
            ));
        }
    }
}
