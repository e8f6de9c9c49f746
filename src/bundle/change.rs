//! [`Change`]: entities put in and taken out of the data in one atomic step,
//! checked by the same integrity rules as a load and applied over the
//! current data without rebuilding the rest.
//!
//! A change is checked as the entities it puts in, plus the stored entities
//! whose cross-entity rules it can break: the members of a changed project
//! and the projects of a changed user (tags and `memberOf` agree, CX1's
//! `connectedTo`), and, for a delete, every stored entity that refers to a
//! deleted one. Everything else is known sound and stays shared.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::data::{entries_of_json, labelled_refs, Entry, Key, View};
use super::{EntityData, PolicyPack};
use crate::domain::integrity::{self, EntityView, Item, Origin, Outside as _};
use crate::domain::types;
use crate::error::{LoadError, Problem};

/// One entity named by its type and id, as the data API's deletes take it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityRef {
    /// Entity type, e.g. `User`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Entity id.
    pub id: String,
}

/// A change to the entity data: applied whole or not at all.
///
/// ```
/// use teamgate::{Bundle, Change, Query};
/// use serde_json::json;
/// let snap = Bundle::new(env!("CARGO_MANIFEST_DIR")).load()?;
/// let q = Query::parse(r#"User::"bob""#, "managePermissions", r#"Workspace::"acme""#)?;
/// assert!(!snap.decide(&q, None).is_allowed());
/// // bob becomes an admin: one entity put in, the rest shared.
/// let mut bob = snap.entity_json(q.principal()).expect("stored");
/// bob["attrs"]["role"] = json!({"__entity": {"type": "Role", "id": "admin"}});
/// let next = snap.with_change(&Change::upsert(vec![bob]))?;
/// assert!(next.decide(&q, None).is_allowed());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Change {
    /// Whether the entities replace all data (the rest is deleted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    replace: bool,
    /// Entities put in (Cedar entity JSON), replacing stored ones with the same uid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    upserts: Vec<Json>,
    /// Entities taken out (an entity that is not stored is no change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    deletes: Vec<EntityRef>,
}

impl Change {
    /// Puts these entities in, replacing stored ones with the same uid.
    pub fn upsert(entities: Vec<Json>) -> Change {
        Change {
            upserts: entities,
            ..Change::default()
        }
    }

    /// Takes these entities out.
    pub fn delete(uids: Vec<EntityRef>) -> Change {
        Change {
            deletes: uids,
            ..Change::default()
        }
    }

    /// Puts in and takes out in one step.
    pub fn upsert_and_delete(entities: Vec<Json>, uids: Vec<EntityRef>) -> Change {
        Change {
            upserts: entities,
            deletes: uids,
            replace: false,
        }
    }

    /// Replaces all entity data with these entities.
    pub fn replace(entities: Vec<Json>) -> Change {
        Change {
            replace: true,
            upserts: entities,
            deletes: Vec::new(),
        }
    }

    /// The entities it puts in, taken out of it.
    pub(crate) fn into_upserts(self) -> Vec<Json> {
        self.upserts
    }

    /// Whether this change replaces all data.
    pub fn replaces_all(&self) -> bool {
        self.replace
    }

    /// The entities put in.
    pub fn upserts(&self) -> &[Json] {
        &self.upserts
    }

    /// The entities taken out.
    pub fn deletes(&self) -> &[EntityRef] {
        &self.deletes
    }

    /// The hash of a chain of changes: `previous` (empty for none) followed
    /// by this one.
    pub(crate) fn chain(&self, previous: &str) -> String {
        let mut h = Sha256::new();
        h.update(previous.as_bytes());
        h.update([0]);
        h.update(serde_json::to_vec(self).unwrap_or_default());
        super::hex(&h.finalize())
    }
}

/// The stored data less the entities a change replaces, deletes or
/// re-checks: what the checked entities may refer to.
struct Remaining<'a> {
    data: &'a EntityData,
    removed: &'a HashSet<Key>,
    removed_defaults: usize,
}

impl Remaining<'_> {
    fn gone(&self, type_name: &str, id: &str) -> bool {
        self.data
            .store
            .key_of(type_name, id)
            .is_some_and(|k| self.removed.contains(&k))
    }
}

impl integrity::Outside for Remaining<'_> {
    fn exists(&self, type_name: &str, id: &str) -> bool {
        !self.gone(type_name, id) && self.data.exists(type_name, id)
    }

    fn tagged(&self, project: &str) -> Option<Vec<String>> {
        (!self.gone(types::PROJECT, project))
            .then(|| self.data.tagged(project))
            .flatten()
    }

    fn member_of(&self, user: &str) -> Option<Vec<String>> {
        (!self.gone(types::USER, user))
            .then(|| self.data.member_of(user))
            .flatten()
    }

    fn project_workspace(&self, project: &str) -> Option<String> {
        (!self.gone(types::PROJECT, project))
            .then(|| self.data.project_workspace(project))
            .flatten()
    }

    fn default_project_roles(&self) -> usize {
        self.data.default_project_roles - self.removed_defaults
    }

    fn user_by_address(&self, address: &str) -> Option<String> {
        self.data
            .user_by_address(address)
            .filter(|u| !self.gone(types::USER, u))
    }
}

impl EntityData {
    /// This data with `change` applied, or every problem the change would
    /// bring (nothing applied). `label` names the change's input in
    /// messages; `digest` is the chain of every change applied over the
    /// files' data, this one included (see [`Change::chain`]), and `changes`
    /// how many there are.
    pub(crate) fn apply(
        &self,
        change: &Change,
        pack: &PolicyPack,
        label: &str,
        digest: String,
        changes: u64,
    ) -> Result<EntityData, LoadError> {
        let schema = &pack.store_schema;
        let entries = entries_of_json(labelled_refs(&change.upserts, label), schema)
            .map_err(LoadError::new)?;
        let mut data = if change.replace {
            Self::from_entries(entries, pack, String::new(), None)?
        } else {
            let deleted = self.deleted_keys(&entries, &change.deletes, label)?;
            self.patch(entries, deleted, pack, &|_| None)?
        };
        data.fixtures_hash = self.fixtures_hash.clone();
        data.content_hash = data_version(&data.fixtures_hash, &digest);
        data.updates_digest = digest;
        data.changes = changes;
        Ok(data)
    }

    /// The stored keys a change's deletes name (an entity that is not
    /// stored is no change), or the problems of deletes that name no
    /// entity type or an entity the change also puts in.
    fn deleted_keys(
        &self,
        entries: &[Entry],
        deletes: &[EntityRef],
        label: &str,
    ) -> Result<HashSet<Key>, LoadError> {
        let store = &self.store;
        let mut problems = Vec::new();
        let upserted: HashSet<&Key> = entries.iter().map(|e| &e.key).collect();
        let mut deleted: HashSet<Key> = HashSet::new();
        for (i, r) in deletes.iter().enumerate() {
            let origin = delete_origin(label, i);
            match store.key_of(&r.type_name, &r.id) {
                None => problems.push(origin.problem(
                    Some((&r.type_name, &r.id)),
                    ".type",
                    format!("entity type {} is not declared in the schema", r.type_name),
                )),
                Some(k) if upserted.contains(&k) => problems.push(origin.problem(
                    Some((&r.type_name, &r.id)),
                    "",
                    "is both put in and taken out by one change",
                )),
                Some(k) => {
                    if store.holds(&k) {
                        deleted.insert(k);
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(deleted)
        } else {
            Err(LoadError::new(problems))
        }
    }

    /// This data with `entries` put in and `deleted` taken out, checked:
    /// the entries, and the stored entities the change can break (labelled
    /// by `origin_of` when it knows where they were read, else as stored).
    pub(super) fn patch(
        &self,
        entries: Vec<Entry>,
        deleted: HashSet<Key>,
        pack: &PolicyPack,
        origin_of: &dyn Fn(&Key) -> Option<Origin>,
    ) -> Result<EntityData, LoadError> {
        let store = &self.store;
        // Stored entities that go: replaced or deleted.
        let mut removed: HashSet<Key> = entries
            .iter()
            .map(|e| e.key.clone())
            .filter(|k| store.holds(k))
            .chain(deleted.iter().cloned())
            .collect();
        // Stored entities whose cross-entity rules the change can break.
        let mut affected: HashSet<Key> = HashSet::new();
        for k in &removed {
            if let Some(v) = store.view_key(k) {
                self.neighbours(&v, &mut affected);
            }
        }
        if !deleted.is_empty() {
            affected.extend(store.referrers(&deleted, &removed));
        }
        affected.retain(|k| !removed.contains(k) && store.holds(k));
        let stored_label: Arc<str> = Arc::from("stored entity");
        let rechecked: Vec<Entry> = affected
            .iter()
            .filter_map(|k| {
                let origin = origin_of(k).unwrap_or_else(|| Origin::stored(stored_label.clone()));
                store.entry(k, origin)
            })
            .collect();
        removed.extend(affected.iter().cloned());
        let is_default = |k: &Key| {
            store.view_key(k).is_some_and(|v| {
                v.type_name() == types::PROJECT_ROLE && v.bool_attr("isDefault") == Some(true)
            })
        };
        let remaining = Remaining {
            data: self,
            removed: &removed,
            removed_defaults: removed.iter().filter(|k| is_default(k)).count(),
        };
        let schema = &pack.store_schema;
        let views: Vec<View<'_>> = entries
            .iter()
            .chain(&rechecked)
            .map(|e| View::new(e, schema))
            .collect();
        let items: Vec<Item<'_>> = views
            .iter()
            .zip(entries.iter().chain(&rechecked))
            .map(|(v, e)| Item {
                entity: v,
                origin: &e.origin,
            })
            .collect();
        let checked = integrity::check_with(&items, &pack.role_files, Some(&remaining));
        let mut problems = checked.problems;
        let defaults = remaining.default_project_roles() + checked.default_project_roles;
        if deleted.iter().any(is_default) && defaults != 1 && project_roles_left(self, &deleted) {
            problems.push(Problem::new(format!(
                "the change deletes the default project role and leaves {defaults} \
                 defaults: exactly one project role must be the default (isDefault: true) (PR4)"
            )));
        }
        if !problems.is_empty() {
            return Err(LoadError::new(problems));
        }
        let gone_ids: Vec<(&str, &str)> = removed
            .iter()
            .filter_map(|k| store.view_key(k))
            .map(|v| v.uid_names())
            .collect();
        let users = gone_ids
            .iter()
            .filter(|(t, _)| *t == types::USER)
            .map(|(_, id)| *id);
        let addresses = self.addresses.changed(users, &checked.addresses);
        let roles = self.roles.changed(gone_ids.iter().copied(), &checked.roles);
        drop(items);
        drop(views);
        let deleted: Vec<Key> = deleted.into_iter().collect();
        let new_store = store.changed(entries, &deleted);
        Ok(EntityData {
            count: new_store.len(),
            store: new_store,
            content_hash: String::new(),
            fixtures_hash: String::new(),
            updates_digest: String::new(),
            changes: 0,
            roles,
            addresses,
            default_project_roles: defaults,
        })
    }

    /// The stored entities that must agree with `v`: a user's projects, a
    /// project's members.
    fn neighbours(&self, v: &View<'_>, out: &mut HashSet<Key>) {
        let store = &self.store;
        match v.type_name() {
            types::USER => out.extend(
                v.ref_set_attr("memberOf")
                    .into_iter()
                    .filter_map(|(t, id)| store.key_of(t, id)),
            ),
            types::PROJECT => out.extend(
                v.tag_keys()
                    .into_iter()
                    .filter_map(|u| store.key_of(types::USER, u)),
            ),
            _ => {}
        }
    }
}

/// The version of data built from files of hash `fixtures` with the
/// changes of chain `digest` applied.
fn data_version(fixtures: &str, digest: &str) -> String {
    if digest.is_empty() {
        return fixtures.to_string();
    }
    let mut h = Sha256::new();
    h.update(fixtures.as_bytes());
    h.update([0]);
    h.update(digest.as_bytes());
    super::hex(&h.finalize())
}

/// Whether any project role stays after `deleted` go.
fn project_roles_left(data: &EntityData, deleted: &HashSet<Key>) -> bool {
    data.store
        .keys_of_type(types::PROJECT_ROLE)
        .any(|k| !deleted.contains(k))
}

fn delete_origin(label: &str, index: usize) -> Origin {
    Origin {
        file: Arc::from(label),
        index: Some(index),
        line: None,
    }
}
