//! Integrity rules of entity data that the schema cannot express, one
//! checker per entity type: every reference resolves ([`entity`]), every
//! user has exactly one existing workspace role, a known license and an
//! address of their own ([`user`]), project tags name existing users and
//! agree with `memberOf` ([`project`]), roles have their policy files and
//! exactly one project role is the default ([`role`]), workspace domains
//! are usable ([`workspace`]).
//!
//! The checks read entities through [`EntityView`], so they run on the
//! entity store's compact form, after the schema has typed every value.

pub mod entity;
pub mod json;
pub mod project;
pub mod role;
pub mod user;
pub mod workspace;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

pub use role::RoleIds;

use super::{types, RoleFiles};
use crate::error::Problem;

/// An entity as the checks read it (its values already typed by the schema).
pub trait EntityView {
    /// Entity type name, e.g. `User`.
    fn type_name(&self) -> &str;
    /// Entity id.
    fn id(&self) -> &str;
    /// A string attribute.
    fn str_attr(&self, name: &str) -> Option<&str>;
    /// A boolean attribute.
    fn bool_attr(&self, name: &str) -> Option<bool>;
    /// A whole-number attribute.
    fn long_attr(&self, name: &str) -> Option<i64>;
    /// An entity-reference attribute: (type, id).
    fn ref_attr(&self, name: &str) -> Option<(&str, &str)>;
    /// The entity references of a set attribute.
    fn ref_set_attr(&self, name: &str) -> Vec<(&str, &str)>;
    /// Whether the attribute is present.
    fn has_attr(&self, name: &str) -> bool;
    /// The string elements of a set attribute.
    fn str_set_attr(&self, name: &str) -> Vec<&str>;
    /// The keys of the entity's tags.
    fn tag_keys(&self) -> Vec<&str>;
    /// Every entity reference in attributes, tags and parents, with a
    /// function giving its JSON path (built only when asked).
    fn each_ref(&self, f: &mut RefVisitor<'_>);
}

/// Called with each entity reference: a function giving its JSON path, its
/// type and its id.
pub type RefVisitor<'a> = dyn FnMut(&dyn Fn() -> String, &str, &str) + 'a;

/// Entity data outside the checked set that it may refer to: the stored
/// data under a request's added entities. The checks look there for what is
/// not among the checked entities.
pub trait Outside {
    /// Whether the outside data holds this entity.
    fn exists(&self, type_name: &str, id: &str) -> bool;
    /// The user ids a stored project's tags name, if it is stored.
    fn tagged(&self, project: &str) -> Option<Vec<String>>;
    /// The project ids a stored user's `memberOf` lists, if the user is stored.
    fn member_of(&self, user: &str) -> Option<Vec<String>>;
    /// A stored project's workspace id.
    fn project_workspace(&self, project: &str) -> Option<String>;
    /// How many stored project roles are the default.
    fn default_project_roles(&self) -> usize;
    /// The stored user with this normalised address.
    fn user_by_address(&self, address: &str) -> Option<String>;
}

/// Where an entity was read: file (or a label) and position.
#[derive(Debug, Clone)]
pub struct Origin {
    /// File it came from (or a label such as `additional_entities`).
    pub file: Arc<str>,
    /// Index in that file's (or list's) array; `None` for an entity of the
    /// stored data, named by its uid alone.
    pub index: Option<usize>,
    /// 1-based line where it starts, when read from a file.
    pub line: Option<usize>,
}

impl Origin {
    /// An entity of the stored data (not of the input being checked).
    pub fn stored(label: Arc<str>) -> Origin {
        Origin {
            file: label,
            index: None,
            line: None,
        }
    }

    /// A problem about the entity `(ty, id)` read here, at `suffix` (a JSON
    /// path below the entity, e.g. `.attrs.role`).
    pub fn problem(
        &self,
        uid: Option<(&str, &str)>,
        suffix: &str,
        message: impl Into<String>,
    ) -> Problem {
        let uid = uid.map(|(t, i)| format!("{t}::{i:?} ")).unwrap_or_default();
        Problem::in_file(
            std::path::Path::new(&*self.file),
            format!("{uid}{}", message.into()),
        )
        .with_line(self.line)
        .with_json_path(match self.index {
            Some(i) => format!("$[{i}]{suffix}"),
            None => suffix.trim_start_matches('.').to_string(),
        })
    }
}

/// One entity to check and where it was read.
pub struct Item<'a> {
    /// The entity.
    pub entity: &'a dyn EntityView,
    /// Where it was read.
    pub origin: &'a Origin,
}

impl Item<'_> {
    /// A problem about this entity.
    pub fn problem(&self, message: impl Into<String>) -> Problem {
        self.problem_at("", message)
    }

    /// A problem about `suffix` (a JSON path below the entity).
    pub fn problem_at(&self, suffix: &str, message: impl Into<String>) -> Problem {
        self.origin.problem(
            Some((self.entity.type_name(), self.entity.id())),
            suffix,
            message,
        )
    }
}

/// What the checkers learn about the whole set while going over it.
#[derive(Default)]
pub struct Index<'o> {
    /// Data outside the set that references may resolve to.
    pub outside: Option<&'o dyn Outside>,
    /// Type -> id -> position in the entity list.
    pub by_uid: HashMap<String, HashMap<String, usize>>,
    /// Project id -> user ids named in its tags.
    pub tagged: BTreeMap<String, BTreeSet<String>>,
    /// Project id -> its position in the entity list.
    pub project_at: HashMap<String, usize>,
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

impl Index<'_> {
    /// Whether an entity of this type and id is in the set (or outside it).
    pub fn exists(&self, type_name: &str, id: &str) -> bool {
        self.by_uid
            .get(type_name)
            .is_some_and(|ids| ids.contains_key(id))
            || self.outside.is_some_and(|o| o.exists(type_name, id))
    }
}

/// The normal form of a string attribute value where teamgate compares it
/// (workspace domains, CX2), or `None` to keep it as it is.
pub fn normalize(type_name: &str, attr: &str, value: &str) -> Option<String> {
    if type_name == types::WORKSPACE && (attr == "domain" || attr == "connectionDomainExceptions") {
        crate::domain::email::normalize_domain(value).filter(|n| n != value)
    } else {
        None
    }
}

/// The rule a problem of these checks breaks, read from its message: the
/// rule id it ends with (`... (AW1)`), else the name of the loader's own
/// rule (`references-resolve`, `tags-agree-with-memberOf`,
/// `one-person-per-address`, `unique-uid`, `schema`, ...).
pub fn rule_of(message: &str) -> &str {
    if let Some(id) = trailing_rule_id(message) {
        return id;
    }
    const NAMED: [(&str, &str); 10] = [
        ("tags do not name", "tags-agree-with-memberOf"),
        ("does not match the schema", "schema"),
        ("is defined twice", "unique-uid"),
        ("which is not in the entity data", "references-resolve"),
        ("but there is no User::", "references-resolve"),
        ("memberOf", "tags-agree-with-memberOf"),
        ("e-mail address", "one-person-per-address"),
        ("has no policy file", "AW3"),
        ("userId", "userId-is-the-id"),
        ("unknown license", "TC1"),
    ];
    NAMED
        .iter()
        .find(|(needle, _)| message.contains(needle))
        .map_or("integrity", |(_, rule)| rule)
}

fn trailing_rule_id(message: &str) -> Option<&str> {
    let open = message.rfind('(')?;
    let inner = message[open + 1..].split(')').next()?;
    let letters = inner.trim_end_matches(|c: char| c.is_ascii_digit());
    let ok = !letters.is_empty()
        && letters.len() < inner.len()
        && letters.len() <= 2
        && letters.chars().all(|c| c.is_ascii_uppercase());
    ok.then_some(inner)
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
    /// How many of the checked project roles are the default.
    pub default_project_roles: usize,
}

/// Runs every check, and collects addresses and role ids on the way.
pub fn check(items: &[Item<'_>], files: &RoleFiles) -> Checked {
    check_with(items, files, None)
}

/// Like [`check`], for entities added over `outside` data (which is sound
/// on its own): references may resolve there, and the cross-entity rules
/// (tags and `memberOf`, one default project role, one person per address)
/// hold across both.
pub fn check_with(items: &[Item<'_>], files: &RoleFiles, outside: Option<&dyn Outside>) -> Checked {
    let mut problems = Vec::new();
    let mut index = Index {
        outside,
        ..Index::default()
    };
    entity::check_uids(items, &mut index, &mut problems);
    let mut defaults = Vec::new();
    let mut project_roles = 0;
    for (i, item) in items.iter().enumerate() {
        let e = item.entity;
        entity::check_references(item, &index, &mut problems);
        let id = e.id();
        match e.type_name() {
            types::USER => user::check(i, item, &mut index, &mut problems),
            types::PROJECT => project::check(i, item, &mut index, &mut problems),
            types::PROJECT_ROLE => {
                project_roles += 1;
                index.roles.add_project_role(id);
                if role::check_project_role(item, files, &mut problems) {
                    defaults.push(i);
                }
            }
            types::ROLE => {
                index
                    .roles
                    .add_role(id, e.bool_attr("system") == Some(true));
                role::check_role(item, files, &mut problems)
            }
            types::WORKSPACE => workspace::check(item, &mut problems),
            _ => {}
        }
    }
    let outside_defaults = outside.map_or(0, |o| o.default_project_roles());
    role::check_one_default(
        items,
        project_roles,
        &defaults,
        outside_defaults,
        &mut problems,
    );
    user::check_addresses(items, &index, &mut problems);
    project::check_members(items, &index, &mut problems);
    project::check_connections(items, &index, &mut problems);
    let addresses = crate::domain::directory::Addresses::from_pairs(
        index
            .addresses
            .iter()
            .map(|(_, id, a)| (id.clone(), a.clone())),
    );
    Checked {
        problems,
        addresses,
        roles: index.roles,
        default_project_roles: defaults.len(),
    }
}

#[cfg(test)]
mod rule_tests {
    use super::rule_of;

    #[test]
    fn every_problem_names_a_rule() {
        let m = "User::\"dan\" names workspace role Role::\"x\", which does not exist (AW1)";
        assert_eq!(rule_of(m), "AW1");
        assert_eq!(
            rule_of("File::\"f\" refers to Project::\"p\", which is not in the entity data"),
            "references-resolve"
        );
        assert_eq!(
            rule_of("User::\"u\" lists Project::\"p\", but that project's tags do not name \"u\""),
            "tags-agree-with-memberOf"
        );
        assert_eq!(rule_of("something else (first in f)"), "integrity");
    }
}
