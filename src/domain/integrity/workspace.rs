//! Workspaces: the domain is normalised at load (as every invitee address
//! is, CX2) and must be a usable domain, and so must every domain exception;
//! the counts the plan limits read are never negative (GS7, CX10).

use serde_json::Value;

use super::Located;
use crate::domain::email::normalize_domain;
use crate::error::Problem;

/// Puts the domain and the domain exceptions of a workspace in normal form;
/// values that cannot be normalised are left for [`check`] to report.
pub fn normalize(value: &mut Value) {
    let Some(attrs) = value.get_mut("attrs").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(Value::String(d)) = attrs.get_mut("domain") {
        if let Some(n) = normalize_domain(d) {
            *d = n;
        }
    }
    if let Some(Value::Array(items)) = attrs.get_mut("connectionDomainExceptions") {
        for item in items {
            if let Value::String(d) = item {
                if let Some(n) = normalize_domain(d) {
                    *d = n;
                }
            }
        }
    }
}

/// Checks one (normalised) workspace.
pub fn check(e: &Located, problems: &mut Vec<Problem>) {
    let attr = |k: &str| e.value.get("attrs").and_then(|a| a.get(k));
    if let Some(Value::String(d)) = attr("domain") {
        if normalize_domain(d).as_deref() != Some(d.as_str()) {
            problems.push(e.problem_at(
                ".attrs.domain",
                format!("domain {d:?} is not a usable e-mail domain (CX2)"),
            ));
        }
    }
    if let Some(Value::Array(items)) = attr("connectionDomainExceptions") {
        for (i, item) in items.iter().enumerate() {
            if let Value::String(d) = item {
                if normalize_domain(d).as_deref() != Some(d.as_str()) {
                    problems.push(e.problem_at(
                        &format!(".attrs.connectionDomainExceptions[{i}]"),
                        format!("{d:?} is not a usable e-mail domain (CX2)"),
                    ));
                }
            }
        }
    }
    for key in ["guestEmailsUsed", "ownProjects"] {
        if let Some(n) = attr(key).and_then(Value::as_i64).filter(|n| *n < 0) {
            problems.push(e.problem_at(
                &format!(".attrs.{key}"),
                format!("{key} is {n}: a count is never negative"),
            ));
        }
    }
}
