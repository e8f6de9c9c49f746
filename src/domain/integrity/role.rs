//! Workspace and project roles: each is written as a policy file (AW3),
//! system roles are pinned (AW2), exactly one project role is the default
//! (PR4).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::json::uid_of;
use super::Located;
use crate::domain::{types, RoleFiles};
use crate::error::Problem;

/// Problems of a workspace role against the policy files.
pub fn role_problems(id: &str, system: bool, files: &RoleFiles) -> Vec<String> {
    let mut out = Vec::new();
    if !files.roles.contains(id) {
        out.push(format!(
            "has no policy file policies/roles/{id}.cedar: a workspace role is written as a policy file (AW3)"
        ));
    }
    if system && !files.system_roles.contains(id) {
        out.push(format!(
            "is a system role but policies/roles/{id}.cedar is not pinned in policies/system-roles.lock (AW2)"
        ));
    }
    out
}

/// The problem of a project role without its policy file.
pub fn project_role_problem(id: &str, files: &RoleFiles) -> Option<String> {
    (!files.project_roles.contains(id)).then(|| {
        format!("has no policy file policies/project-roles/{id}.cedar: a project role is written as a policy file")
    })
}

fn is_system(e: &Located) -> bool {
    e.value
        .get("attrs")
        .and_then(|a| a.get("system"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// Checks one `Role` entity.
pub fn check_role(id: &str, e: &Located, files: &RoleFiles, problems: &mut Vec<Problem>) {
    problems.extend(
        role_problems(id, is_system(e), files)
            .into_iter()
            .map(|m| e.problem(m)),
    );
}

/// Checks one `ProjectRole` entity; returns whether it is the default.
pub fn check_project_role(
    id: &str,
    e: &Located,
    files: &RoleFiles,
    problems: &mut Vec<Problem>,
) -> bool {
    if let Some(m) = project_role_problem(id, files) {
        problems.push(e.problem(m));
    }
    e.value
        .get("attrs")
        .and_then(|a| a.get("isDefault"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// PR4: with any project role, exactly one is the default.
pub fn check_one_default(
    entities: &[Located],
    project_roles: usize,
    defaults: &[usize],
    problems: &mut Vec<Problem>,
) {
    if project_roles == 0 || defaults.len() == 1 {
        return;
    }
    let msg = format!(
        "exactly one project role must be the default (isDefault: true), found {} (PR4)",
        defaults.len()
    );
    match defaults.get(1).or(defaults.first()) {
        Some(&i) => problems.push(entities[i].problem_at(".attrs.isDefault", msg)),
        None => problems.push(Problem::new(msg)),
    }
}

/// The roles named in entity data, kept so that a policy-only reload can
/// re-check them against the new policy files without re-reading entities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleIds {
    /// Workspace role ids, with whether each is a system role.
    roles: BTreeMap<String, bool>,
    /// Project role ids.
    project_roles: BTreeSet<String>,
}

impl RoleIds {
    /// Records a workspace role entity.
    pub fn add_role(&mut self, id: &str, e: &Located) {
        self.roles.insert(id.to_string(), is_system(e));
    }

    /// Records a project role entity.
    pub fn add_project_role(&mut self, id: &str) {
        self.project_roles.insert(id.to_string());
    }

    /// Collects the role ids of entity JSON.
    pub fn of(entities: &[Located]) -> RoleIds {
        let mut ids = RoleIds::default();
        for e in entities {
            match uid_of(&e.value) {
                Some((t, id)) if t == types::ROLE => {
                    ids.roles.insert(id, is_system(e));
                }
                Some((t, id)) if t == types::PROJECT_ROLE => {
                    ids.project_roles.insert(id);
                }
                _ => {}
            }
        }
        ids
    }

    /// Problems of these roles against new policy files.
    pub fn check(&self, files: &RoleFiles) -> Vec<Problem> {
        let mut out = Vec::new();
        for (id, system) in &self.roles {
            for m in role_problems(id, *system, files) {
                out.push(Problem::new(format!("Role::{id:?} {m}")));
            }
        }
        for id in &self.project_roles {
            if let Some(m) = project_role_problem(id, files) {
                out.push(Problem::new(format!("ProjectRole::{id:?} {m}")));
            }
        }
        out
    }
}
