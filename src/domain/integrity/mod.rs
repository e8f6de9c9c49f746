//! Integrity rules of entity data that the schema cannot express, one
//! checker per entity type: every reference resolves ([`entity`]), every
//! user has exactly one existing workspace role and a known license
//! ([`user`]), project tags name existing users and agree with `memberOf`
//! ([`project`]), roles have their policy files and exactly one project role
//! is the default ([`role`]).

pub mod entity;
pub mod json;
pub mod project;
pub mod role;
pub mod user;
pub mod workspace;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

pub use role::RoleIds;

use super::{types, RoleFiles};
use crate::error::Problem;
use json::uid_of;

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

/// What the checkers learn about the whole set while going over it.
#[derive(Debug, Default)]
pub struct Index {
    /// Type -> id -> position in the entity list.
    pub by_uid: HashMap<String, HashMap<String, usize>>,
    /// Project id -> user ids named in its tags.
    pub tagged: BTreeMap<String, BTreeSet<String>>,
    /// User id -> (position, project ids in `memberOf`).
    pub member_of: BTreeMap<String, (usize, BTreeSet<String>)>,
    /// Project id -> its workspace id.
    pub project_ws: HashMap<String, String>,
    /// User id -> (home workspace, `connectedTo`).
    pub connected: BTreeMap<String, (String, BTreeSet<String>)>,
    /// Normalises e-mail domains, each once.
    pub parser: crate::domain::email::AddressParser,
    /// (position, user id, normalised address) of every user with a usable address.
    pub addresses: Vec<(usize, String, String)>,
    /// The role ids named in the data.
    pub roles: RoleIds,
}

impl Index {
    /// Whether an entity of this type and id is in the set.
    pub fn exists(&self, type_name: &str, id: &str) -> bool {
        self.by_uid
            .get(type_name)
            .is_some_and(|ids| ids.contains_key(id))
    }
}

/// Puts values teamgate compares (workspace domains) in normal form, before
/// the checks and before Cedar sees them.
pub fn normalize(entities: &mut [Located]) {
    for e in entities {
        if uid_of(&e.value).is_some_and(|(t, _)| t == types::WORKSPACE) {
            workspace::normalize(&mut e.value);
        }
    }
}

/// What the checks found: the problems, and what the data says that later
/// work needs (who has which address, which roles are named).
#[derive(Debug)]
pub struct Checked {
    /// Every problem, in file order (empty when the data is sound).
    pub problems: Vec<Problem>,
    /// Users by address and addresses by user.
    pub addresses: crate::domain::directory::Addresses,
    /// The role ids the data names.
    pub roles: RoleIds,
}

/// Runs every check; returns all problems found.
pub fn check(entities: &[Located], files: &RoleFiles) -> Vec<Problem> {
    check_all(entities, files).problems
}

/// Runs every check, and collects addresses and role ids on the way.
pub fn check_all(entities: &[Located], files: &RoleFiles) -> Checked {
    let mut problems = Vec::new();
    let mut index = Index::default();
    entity::check_uids(entities, &mut index, &mut problems);
    let mut defaults = Vec::new();
    let mut project_roles = 0;
    for (i, e) in entities.iter().enumerate() {
        let Some((ty, id)) = uid_of(&e.value) else {
            continue;
        };
        entity::check_references(e, &index, &mut problems);
        match ty.as_str() {
            types::USER => user::check(i, &id, e, &mut index, &mut problems),
            types::PROJECT => project::check(&id, e, &mut index, &mut problems),
            types::PROJECT_ROLE => {
                project_roles += 1;
                index.roles.add_project_role(&id);
                if role::check_project_role(&id, e, files, &mut problems) {
                    defaults.push(i);
                }
            }
            types::ROLE => {
                index.roles.add_role(&id, e);
                role::check_role(&id, e, files, &mut problems)
            }
            types::WORKSPACE => workspace::check(e, &mut problems),
            _ => {}
        }
    }
    role::check_one_default(entities, project_roles, &defaults, &mut problems);
    user::check_addresses(entities, &index, &mut problems);
    project::check_members(entities, &index, &mut problems);
    project::check_connections(entities, &index, &mut problems);
    let addresses = crate::domain::directory::Addresses::from_pairs(
        index.addresses.iter().map(|(_, id, a)| (id.clone(), a.clone())),
    );
    Checked {
        problems,
        addresses,
        roles: index.roles,
    }
}
