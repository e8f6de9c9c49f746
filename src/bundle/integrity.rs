//! Integrity checks on entity JSON that the schema cannot express: every
//! reference resolves, every user has exactly one existing workspace role
//! (AW1), project tags name existing users and project roles and agree with
//! the users' `memberOf`, exactly one default project role exists (PR4), and
//! every role has its policy file (AW3) and system roles are pinned (AW2).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::PolicyPack;
use crate::Problem;

/// One entity's JSON and where it was read.
#[derive(Debug, Clone)]
pub struct Located {
    /// The entity JSON.
    pub value: Value,
    /// File it came from (or a label).
    pub file: String,
    /// Index in that file's array.
    pub index: usize,
    /// 1-based line where it starts, when read from a file.
    pub line: Option<usize>,
}

impl Located {
    /// A problem about this entity.
    pub fn problem(&self, message: impl Into<String>) -> Problem {
        self.problem_at("", message)
    }

    /// A problem about `suffix` (a JSON path below the entity, e.g. `.attrs.role`).
    pub fn problem_at(&self, suffix: &str, message: impl Into<String>) -> Problem {
        let uid = uid_of(&self.value)
            .map(|(t, i)| format!("{t}::{i:?} "))
            .unwrap_or_default();
        Problem::in_file(
            std::path::Path::new(&self.file),
            format!("{uid}{}", message.into()),
        )
        .with_line(self.line)
        .with_json_path(format!("$[{}]{suffix}", self.index))
    }
}

/// Licenses a user can hold (TC1, vocabulary).
pub const LICENSES: [&str; 4] = ["full", "guest", "collaborator", "client"];

type Uid = (String, String);

fn uid_of(v: &Value) -> Option<Uid> {
    let u = v.get("uid")?;
    let u = u.get("__entity").unwrap_or(u);
    Some((
        u.get("type")?.as_str()?.to_string(),
        u.get("id")?.as_str()?.to_string(),
    ))
}

/// An entity reference written as `{"__entity": {...}}` or `{"type", "id"}`.
fn as_ref(v: &Value) -> Option<Uid> {
    let obj = v.as_object()?;
    let inner = match obj.get("__entity") {
        Some(e) => e.as_object()?,
        None if obj.len() == 2 && obj.contains_key("type") && obj.contains_key("id") => obj,
        None => return None,
    };
    Some((
        inner.get("type")?.as_str()?.to_string(),
        inner.get("id")?.as_str()?.to_string(),
    ))
}

fn refs_in(v: &Value, path: String, out: &mut Vec<(String, Uid)>) {
    if let Some(r) = as_ref(v) {
        out.push((path, r));
        return;
    }
    match v {
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                refs_in(x, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                refs_in(x, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// The roles named in entity data, kept so that a policy-only reload can
/// re-check them against the new policy files without re-reading entities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleIds {
    /// Workspace role ids, with whether each is a system role.
    pub roles: BTreeMap<String, bool>,
    /// Project role ids.
    pub project_roles: BTreeSet<String>,
}

impl RoleIds {
    /// Collects the role ids of entity JSON.
    pub fn of(entities: &[Located]) -> RoleIds {
        let mut ids = RoleIds::default();
        for e in entities {
            match uid_of(&e.value) {
                Some((t, id)) if t == "Role" => {
                    let system = e
                        .value
                        .get("attrs")
                        .and_then(|a| a.get("system"))
                        .and_then(Value::as_bool)
                        == Some(true);
                    ids.roles.insert(id, system);
                }
                Some((t, id)) if t == "ProjectRole" => {
                    ids.project_roles.insert(id);
                }
                _ => {}
            }
        }
        ids
    }

    /// Problems of these roles against `pack`'s policy files.
    pub fn check(&self, pack: &PolicyPack) -> Vec<Problem> {
        let mut out = Vec::new();
        for (id, system) in &self.roles {
            for m in role_problems(id, *system, pack) {
                out.push(Problem::new(format!("Role::{id:?} {m}")));
            }
        }
        for id in &self.project_roles {
            if let Some(m) = project_role_problem(id, pack) {
                out.push(Problem::new(format!("ProjectRole::{id:?} {m}")));
            }
        }
        out
    }
}

fn role_problems(id: &str, system: bool, pack: &PolicyPack) -> Vec<String> {
    let mut out = Vec::new();
    if !pack.role_files.contains(id) {
        out.push(format!(
            "has no policy file policies/roles/{id}.cedar: a workspace role is written as a policy file (AW3)"
        ));
    }
    if system && !pack.system_roles.contains(id) {
        out.push(format!(
            "is a system role but policies/roles/{id}.cedar is not pinned in policies/system-roles.lock (AW2)"
        ));
    }
    out
}

fn project_role_problem(id: &str, pack: &PolicyPack) -> Option<String> {
    (!pack.project_role_files.contains(id)).then(|| {
        format!("has no policy file policies/project-roles/{id}.cedar: a project role is written as a policy file")
    })
}

/// Runs every check; returns all problems found.
pub fn check(entities: &[Located], pack: &PolicyPack) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut by_uid: HashMap<Uid, usize> = HashMap::new();
    for (i, e) in entities.iter().enumerate() {
        match uid_of(&e.value) {
            Some(uid) => {
                if let Some(prev) = by_uid.insert(uid.clone(), i) {
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
    let exists = |t: &str, id: &str| by_uid.contains_key(&(t.to_string(), id.to_string()));

    let mut default_roles = Vec::new();
    // project id -> user ids named in its tags
    let mut tagged: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // user id -> project ids in memberOf, with the entity
    let mut member_of: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
    // project id -> its workspace id
    let mut project_ws: HashMap<String, String> = HashMap::new();
    // user id -> (home workspace, connectedTo)
    let mut connected: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();

    for (i, e) in entities.iter().enumerate() {
        let Some((ty, id)) = uid_of(&e.value) else {
            continue;
        };
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
            if !exists(rt, rid) && rt != "Action" {
                let what = if rt == "Role" && path == ".attrs.role" {
                    format!("names workspace role Role::{rid:?}, which does not exist (AW1)")
                } else if rt == "ProjectRole" {
                    format!("names project role ProjectRole::{rid:?}, which does not exist")
                } else {
                    format!("refers to {rt}::{rid:?}, which is not in the entity data")
                };
                problems.push(e.problem_at(path, what));
            }
        }
        let attrs = e.value.get("attrs");
        let attr = |k: &str| attrs.and_then(|a| a.get(k));
        match ty.as_str() {
            "User" => {
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
                if let Some(l) = attr("license").and_then(Value::as_str) {
                    if !LICENSES.contains(&l) {
                        problems.push(e.problem_at(
                            ".attrs.license",
                            format!("unknown license {l:?}: one of {}", LICENSES.join(", ")),
                        ));
                    }
                }
                let projects: BTreeSet<String> = match attr("memberOf") {
                    Some(Value::Array(items)) => {
                        items.iter().filter_map(as_ref).map(|(_, p)| p).collect()
                    }
                    _ => BTreeSet::new(),
                };
                member_of.insert(id.clone(), (i, projects));
                let home = attr("workspace")
                    .and_then(as_ref)
                    .map(|(_, w)| w)
                    .unwrap_or_default();
                let to: BTreeSet<String> = match attr("connectedTo") {
                    Some(Value::Array(items)) => {
                        items.iter().filter_map(as_ref).map(|(_, w)| w).collect()
                    }
                    _ => BTreeSet::new(),
                };
                connected.insert(id.clone(), (home, to));
            }
            "Project" => {
                let mut users = BTreeSet::new();
                if let Some(Value::Object(tags)) = e.value.get("tags") {
                    for (user, _) in tags {
                        if !exists("User", user) {
                            problems.push(e.problem_at(
                                &format!(".tags.{user}"),
                                format!("names member {user:?}, but there is no User::{user:?}"),
                            ));
                        }
                        users.insert(user.clone());
                    }
                }
                tagged.insert(id.clone(), users);
                if let Some((_, w)) = attr("workspace").and_then(as_ref) {
                    project_ws.insert(id.clone(), w);
                }
            }
            "ProjectRole" => {
                if attr("isDefault").and_then(Value::as_bool) == Some(true) {
                    default_roles.push(i);
                }
                if let Some(m) = project_role_problem(&id, pack) {
                    problems.push(e.problem(m));
                }
            }
            "Role" => {
                let system = attr("system").and_then(Value::as_bool) == Some(true);
                problems.extend(
                    role_problems(&id, system, pack)
                        .into_iter()
                        .map(|m| e.problem(m)),
                );
            }
            _ => {}
        }
    }

    let project_roles = entities
        .iter()
        .filter(|e| uid_of(&e.value).is_some_and(|(t, _)| t == "ProjectRole"))
        .count();
    if project_roles > 0 && default_roles.len() != 1 {
        let msg = format!(
            "exactly one project role must be the default (isDefault: true), found {} (PR4)",
            default_roles.len()
        );
        match default_roles.get(1).or(default_roles.first()) {
            Some(&i) => problems.push(entities[i].problem_at(".attrs.isDefault", msg)),
            None => problems.push(Problem::new(msg)),
        }
    }

    // Project tags and users' memberOf must tell the same story.
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for (project, users) in &tagged {
        for user in users {
            seen.insert((user.clone(), project.clone()));
            if let Some((i, projects)) = member_of.get(user) {
                if !projects.contains(project) {
                    problems.push(entities[*i].problem_at(
                        ".attrs.memberOf",
                        format!("is a member of Project::{project:?} (its tags say so) but memberOf does not list it"),
                    ));
                }
            }
        }
    }
    for (user, (i, projects)) in &member_of {
        for project in projects {
            if tagged.contains_key(project) && !seen.contains(&(user.clone(), project.clone())) {
                problems.push(entities[*i].problem_at(
                    ".attrs.memberOf",
                    format!(
                        "lists Project::{project:?}, but that project's tags do not name {user:?}"
                    ),
                ));
            }
        }
    }
    // connectedTo lists exactly the other workspaces of a user's projects.
    for (user, (home, to)) in &connected {
        let Some((i, projects)) = member_of.get(user) else {
            continue;
        };
        let expected: BTreeSet<String> = projects
            .iter()
            .filter_map(|p| project_ws.get(p))
            .filter(|w| *w != home)
            .cloned()
            .collect();
        if &expected != to {
            problems.push(entities[*i].problem_at(
                ".attrs.connectedTo",
                format!(
                    "connectedTo is {to:?} but the projects in memberOf outside the home workspace are in {expected:?}"
                ),
            ));
        }
    }
    problems
}
