//! Workspaces: the domain (normalised at load, as every invitee address is,
//! CX2) and every domain exception must be usable domains; the counts the
//! plan limits read are never negative (GS7, CX10).

use super::Item;
use crate::domain::email::normalize_domain;
use crate::error::Problem;

/// Checks one (normalised) workspace.
pub fn check(item: &Item<'_>, problems: &mut Vec<Problem>) {
    let e = item.entity;
    if let Some(d) = e.str_attr("domain") {
        if normalize_domain(d).as_deref() != Some(d) {
            problems.push(item.problem_at(
                ".attrs.domain",
                format!("domain {d:?} is not a usable e-mail domain (CX2)"),
            ));
        }
    }
    for (i, d) in e
        .str_set_attr("connectionDomainExceptions")
        .into_iter()
        .enumerate()
    {
        if normalize_domain(d).as_deref() != Some(d) {
            problems.push(item.problem_at(
                &format!(".attrs.connectionDomainExceptions[{i}]"),
                format!("{d:?} is not a usable e-mail domain (CX2)"),
            ));
        }
    }
    for key in ["guestEmailsUsed", "ownProjects"] {
        if let Some(n) = e.long_attr(key).filter(|n| *n < 0) {
            problems.push(item.problem_at(
                &format!(".attrs.{key}"),
                format!("{key} is {n}: a count is never negative"),
            ));
        }
    }
}
