//! Workspace and project roles: each is written as a policy file (AW3),
//! system roles are pinned (AW2), exactly one project role is the default
//! (PR4).

use std::collections::{BTreeMap, BTreeSet};

use super::Item;
use crate::domain::RoleFiles;
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

/// Checks one `Role` entity.
pub fn check_role(item: &Item<'_>, files: &RoleFiles, problems: &mut Vec<Problem>) {
    let system = item.entity.bool_attr("system") == Some(true);
    problems.extend(
        role_problems(item.entity.id(), system, files)
            .into_iter()
            .map(|m| item.problem(m)),
    );
}

/// Checks one `ProjectRole` entity; returns whether it is the default.
pub fn check_project_role(item: &Item<'_>, files: &RoleFiles, problems: &mut Vec<Problem>) -> bool {
    if let Some(m) = project_role_problem(item.entity.id(), files) {
        problems.push(item.problem(m));
    }
    item.entity.bool_attr("isDefault") == Some(true)
}

/// PR4: with any project role, exactly one is the default (counting the
/// `outside` defaults when the checked entities are added over stored data).
pub fn check_one_default(
    entities: &[Item<'_>],
    project_roles: usize,
    defaults: &[usize],
    outside_defaults: usize,
    problems: &mut Vec<Problem>,
) {
    // Outside data is sound on its own: nothing added, nothing to check.
    let total = defaults.len() + outside_defaults;
    if project_roles == 0 || total == 1 {
        return;
    }
    let msg = format!(
        "exactly one project role must be the default (isDefault: true), found {total} (PR4)"
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
    pub fn add_role(&mut self, id: &str, system: bool) {
        self.roles.insert(id.to_string(), system);
    }

    /// Records a project role entity.
    pub fn add_project_role(&mut self, id: &str) {
        self.project_roles.insert(id.to_string());
    }

    /// These role ids without `removed` (type name, id) entities, with `added`'s.
    pub fn changed<'a>(
        &self,
        removed: impl IntoIterator<Item = (&'a str, &'a str)>,
        added: &RoleIds,
    ) -> RoleIds {
        let mut out = self.clone();
        for (ty, id) in removed {
            match ty {
                crate::domain::types::ROLE => {
                    out.roles.remove(id);
                }
                crate::domain::types::PROJECT_ROLE => {
                    out.project_roles.remove(id);
                }
                _ => {}
            }
        }
        out.roles
            .extend(added.roles.iter().map(|(k, v)| (k.clone(), *v)));
        out.project_roles
            .extend(added.project_roles.iter().cloned());
        out
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
