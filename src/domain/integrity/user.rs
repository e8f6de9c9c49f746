//! Users: exactly one workspace role (AW1), a known license (TC1), a
//! `userId` equal to the entity id, a usable e-mail address that no other
//! user has (CX12); their memberships are collected for the project checks.

use super::{Index, Item};
use crate::domain::LICENSES;
use crate::error::Problem;

/// The problem of a user without a workspace role, named before the schema
/// (which only knows a required attribute is missing) speaks: AW1.
pub fn before_schema(
    type_name: &str,
    attrs: &serde_json::Map<String, serde_json::Value>,
) -> Option<(String, String)> {
    (type_name == crate::domain::types::USER && !attrs.contains_key("role")).then(|| {
        (
            ".attrs".to_string(),
            "has no workspace role: every user has exactly one (AW1)".to_string(),
        )
    })
}

/// Checks one user and records its memberships, connections and address in `index`.
pub fn check(i: usize, item: &Item<'_>, index: &mut Index, problems: &mut Vec<Problem>) {
    let e = item.entity;
    let id = e.id();
    if !e.has_attr("role") {
        problems.push(item.problem_at(
            ".attrs",
            "has no workspace role: every user has exactly one (AW1)",
        ));
    }
    match e.str_attr("userId") {
        Some(u) if u == id => {}
        Some(u) => problems.push(item.problem_at(
            ".attrs.userId",
            format!("userId {u:?} differs from the entity id {id:?}"),
        )),
        None => {}
    }
    if let Some(email) = e.str_attr("email") {
        match index.parser.parse(email) {
            Some(a) => index.addresses.push((i, id.to_string(), a.to_string())),
            None => problems.push(item.problem_at(
                ".attrs.email",
                format!("email {email:?} is not a usable e-mail address"),
            )),
        }
    }
    if let Some(l) = e.str_attr("license") {
        if !LICENSES.contains(&l) {
            problems.push(item.problem_at(
                ".attrs.license",
                format!("unknown license {l:?}: one of {}", LICENSES.join(", ")),
            ));
        }
    }
    index
        .member_of
        .insert(id.to_string(), (i, ids_of(e, "memberOf")));
    let home = e
        .ref_attr("workspace")
        .map(|(_, w)| w.to_string())
        .unwrap_or_default();
    index
        .connected
        .insert(id.to_string(), (home, ids_of(e, "connectedTo")));
}

/// The ids the references of a set attribute name.
fn ids_of(e: &dyn super::EntityView, attr: &str) -> std::collections::BTreeSet<String> {
    e.ref_set_attr(attr)
        .into_iter()
        .map(|(_, id)| id.to_string())
        .collect()
}

/// An address names one person: no two users share a (normalised) e-mail
/// address, so an invitation by address finds exactly one (CX12).
pub fn check_addresses(items: &[Item<'_>], index: &Index, problems: &mut Vec<Problem>) {
    let mut seen: std::collections::HashMap<&str, &str> = Default::default();
    let mut sorted: Vec<&(usize, String, String)> = index.addresses.iter().collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    for (i, id, address) in sorted {
        let stored = index.outside.and_then(|o| o.user_by_address(address));
        if let Some(other) = seen.insert(address, id) {
            problems.push(items[*i].problem_at(
                ".attrs.email",
                format!("has the same e-mail address as User::{other:?} ({address}): an address names one person"),
            ));
        } else if let Some(other) = stored.filter(|o| o != id) {
            problems.push(items[*i].problem_at(
                ".attrs.email",
                format!("has the same e-mail address as the stored User::{other:?} ({address}): an address names one person"),
            ));
        }
    }
}
