//! `EntityData`: the entity JSON of a bundle, typed by the pack's schema,
//! integrity-checked, and kept in the compact entity store.

use serde_json::Value;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::data::{
    entries_of_json, labelled, read_entries, whole_file_problem, EntityStore, Entry, Key, View,
};
use super::source::{list_dir_files, read_dir_files};
use super::{Bundle, PolicyPack};
use crate::domain::directory::Addresses;
use crate::domain::integrity::{self, Item, Origin, RoleIds};
use crate::error::{LoadError, Problem};

/// Parsed entity data, ready for decisions.
#[derive(Debug)]
pub(crate) struct EntityData {
    /// The entities, compact; each request gets the few it can reach.
    pub store: EntityStore,
    /// The data's version: the hash of the entity files, chained with every
    /// change applied since.
    pub content_hash: String,
    /// Hash of the entity files it was built from (a reload compares it).
    pub fixtures_hash: String,
    /// Changes applied over the files' data (the data API's, replayed).
    pub changes: u64,
    /// The chain hash of those changes (empty for none).
    pub updates_digest: String,
    /// Number of entities read.
    pub count: usize,
    /// The roles it names, to re-check against new policy files.
    pub roles: RoleIds,
    /// Who has which e-mail address (CX12).
    pub addresses: Addresses,
    /// How many project roles are the default (PR4: one, when there are any).
    pub default_project_roles: usize,
}

impl integrity::Outside for EntityData {
    fn exists(&self, type_name: &str, id: &str) -> bool {
        self.store.view(type_name, id).is_some()
    }

    fn tagged(&self, project: &str) -> Option<Vec<String>> {
        use integrity::EntityView;
        let v = self.store.view(crate::domain::types::PROJECT, project)?;
        Some(v.tag_keys().into_iter().map(str::to_string).collect())
    }

    fn member_of(&self, user: &str) -> Option<Vec<String>> {
        use integrity::EntityView;
        let v = self.store.view(crate::domain::types::USER, user)?;
        Some(
            v.ref_set_attr("memberOf")
                .into_iter()
                .map(|(_, p)| p.to_string())
                .collect(),
        )
    }

    fn project_workspace(&self, project: &str) -> Option<String> {
        use integrity::EntityView;
        let v = self.store.view(crate::domain::types::PROJECT, project)?;
        v.ref_attr("workspace").map(|(_, w)| w.to_string())
    }

    fn default_project_roles(&self) -> usize {
        self.default_project_roles
    }

    fn user_by_address(&self, address: &str) -> Option<String> {
        use crate::domain::context::Directory;
        self.addresses.user_by_address(address).map(str::to_string)
    }
}

impl EntityData {
    /// Reads every `*.json` under `fixtures/` and checks it against `pack`.
    pub fn load(bundle: &Bundle, pack: &PolicyPack) -> Result<EntityData, LoadError> {
        let mut problems = Vec::new();
        let paths = list_dir_files(bundle.fixtures(), "json", &mut problems);
        if !problems.is_empty() {
            return Err(LoadError::new(problems));
        }
        Self::from_files(bundle, &paths, pack, None)
    }

    /// Reads the entity files of a bundle whose policies do not load, so
    /// their own syntax errors are reported in the same run.
    pub fn syntax_problems(bundle: &Bundle) -> Vec<Problem> {
        let mut problems = Vec::new();
        let files = read_dir_files(bundle.fixtures(), "json", &mut problems);
        for f in &files {
            if serde_json::from_str::<serde::de::IgnoredAny>(&f.text).is_err() {
                problems.push(whole_file_problem(&f.rel(bundle.root()), &f.text));
            }
        }
        problems
    }

    /// Parses and checks entity files already read (their text is dropped
    /// as soon as it is parsed). A reload over `previous` (the data it
    /// replaces, with the same schema) is a change to it: the entities whose
    /// JSON did not change are shared, and only the changed ones, with the
    /// stored entities they can break, are checked again (unless most of
    /// the data changed, or a uid is defined twice: then all of it is).
    pub fn from_files(
        bundle: &Bundle,
        paths: &[PathBuf],
        pack: &PolicyPack,
        previous: Option<&EntityData>,
    ) -> Result<EntityData, LoadError> {
        if paths.is_empty() {
            return Err(Problem::in_file(
                bundle.fixtures(),
                "no *.json entity file in the fixtures directory",
            )
            .into());
        }
        let previous = previous.filter(|p| p.store.same_schema(&pack.store_schema));
        let (entries, content_hash) = read_entries(
            paths,
            bundle.root(),
            &pack.store_schema,
            previous.map(|p| &p.store),
        )
        .map_err(LoadError::new)?;
        let data = match previous {
            Some(p) => p.reloaded(entries, pack, content_hash),
            None => Self::from_entries(entries, pack, content_hash, None),
        };
        // A file load parsed megabytes of JSON: give the freed pages back.
        release_free_memory();
        data
    }

    /// The data of entity files read again over this data: a change to it
    /// when few entities changed, else a whole new build.
    fn reloaded(
        &self,
        entries: Vec<Entry>,
        pack: &PolicyPack,
        content_hash: String,
    ) -> Result<EntityData, LoadError> {
        let mut seen: HashSet<&Key> = HashSet::with_capacity(entries.len());
        let mut duplicate = false;
        let mut changed = 0;
        for e in &entries {
            if !seen.insert(&e.key) {
                duplicate = true;
                break;
            }
            changed += usize::from(!self.store.holds_same(e));
        }
        let deleted: HashSet<Key> = if duplicate {
            HashSet::new()
        } else {
            self.store
                .keys()
                .filter(|k| !seen.contains(k))
                .cloned()
                .collect()
        };
        drop(seen);
        if duplicate || changed + deleted.len() > entries.len() / 4 {
            return Self::from_entries(entries, pack, content_hash, None);
        }
        let (upserts, unchanged): (Vec<Entry>, Vec<Entry>) =
            entries.into_iter().partition(|e| !self.store.holds_same(e));
        let origins: HashMap<&Key, &Origin> =
            unchanged.iter().map(|e| (&e.key, &e.origin)).collect();
        let mut data = self.patch(upserts, deleted, pack, &|k| {
            origins.get(k).map(|o| (*o).clone())
        })?;
        data.fixtures_hash = content_hash.clone();
        data.content_hash = content_hash;
        Ok(data)
    }

    /// Checks and parses entity JSON that is not from files (a request's
    /// entities, a scenario's), each value with where it came from (so a
    /// problem names the caller's own list, not a merged one).
    pub fn from_json(
        json: Vec<(Value, Origin)>,
        pack: &PolicyPack,
        label: &str,
    ) -> Result<EntityData, LoadError> {
        let entries = entries_of_json(json, &pack.store_schema).map_err(LoadError::new)?;
        Self::from_entries(entries, pack, label_hash(label), None)
    }

    /// Entities added over `base` (none of them may be stored there): checked
    /// with references resolving in `base` and the cross-entity rules holding
    /// across both.
    pub fn added_over(
        json: Vec<Value>,
        pack: &PolicyPack,
        label: &str,
        base: &EntityData,
    ) -> Result<EntityData, LoadError> {
        use crate::domain::integrity::EntityView;
        let entries =
            entries_of_json(labelled(json, label), &pack.store_schema).map_err(LoadError::new)?;
        let stored: Vec<Problem> = entries
            .iter()
            .filter(|e| base.store.holds(&e.key))
            .map(|e| {
                let v = View::new(e, &pack.store_schema);
                e.origin.problem(
                    Some((v.type_name(), v.id())),
                    "",
                    "is already stored: request entities may only add entities \
                     (a sidecar started with --request-entities override replaces stored ones)",
                )
            })
            .collect();
        if !stored.is_empty() {
            return Err(LoadError::new(stored));
        }
        Self::from_entries(entries, pack, label_hash(label), Some(base))
    }

    pub(super) fn from_entries(
        entries: Vec<super::data::Entry>,
        pack: &PolicyPack,
        content_hash: String,
        outside: Option<&EntityData>,
    ) -> Result<EntityData, LoadError> {
        let schema = &pack.store_schema;
        let views: Vec<View<'_>> = entries.iter().map(|e| View::new(e, schema)).collect();
        let items: Vec<Item<'_>> = views
            .iter()
            .zip(&entries)
            .map(|(v, e)| Item {
                entity: v,
                origin: &e.origin,
            })
            .collect();
        let checked = integrity::check_with(
            &items,
            &pack.role_files,
            outside.map(|o| o as &dyn integrity::Outside),
        );
        drop(items);
        drop(views);
        if !checked.problems.is_empty() {
            return Err(LoadError::new(checked.problems));
        }
        let count = entries.len();
        let store = EntityStore::from_entries(entries, schema.clone());
        Ok(EntityData {
            store,
            fixtures_hash: content_hash.clone(),
            changes: 0,
            updates_digest: String::new(),
            content_hash,
            count,
            roles: checked.roles,
            addresses: checked.addresses,
            default_project_roles: checked.default_project_roles,
        })
    }

    /// The stored entities as entity JSON (action entities left out), for
    /// building an overlay over them.
    pub fn to_json(&self) -> Vec<Value> {
        self.store.to_json()
    }
}

/// Hands memory freed after a large load back to the system: glibc keeps
/// freed heap pages otherwise, and the resident size of a sidecar would stay
/// at its load-time peak.
/// Gives the heap's free pages back to the system (glibc), e.g. after a
/// large load whose transient memory is freed.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of glibc's heap; it takes
    // no pointer and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn label_hash(label: &str) -> String {
    use sha2::Digest;
    super::hex(&sha2::Sha256::digest(label.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped pack, and its demo entity file copied to a scratch
    /// directory: (directory, bundle there, the file, its text, pack).
    fn scratch() -> (tempfile::TempDir, Bundle, PathBuf, String, PolicyPack) {
        let shipped = Bundle::new(env!("CARGO_MANIFEST_DIR"));
        let pack = PolicyPack::load(&shipped).expect("shipped pack");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("entities.json");
        let text = std::fs::read_to_string(shipped.fixtures().join("entities.json")).expect("demo");
        std::fs::write(&file, &text).expect("write");
        let bundle = Bundle::new(dir.path());
        (dir, bundle, file, text, pack)
    }

    #[test]
    fn a_reload_shares_the_entities_that_did_not_change() {
        let (_dir, bundle, file, text, pack) = scratch();
        let paths = vec![file.clone()];
        let first = EntityData::from_files(&bundle, &paths, &pack, None).expect("loads");
        // bob's e-mail changes; nothing else does.
        std::fs::write(&file, text.replace("bob@acme.com", "robert@acme.com")).expect("write");
        let second = EntityData::from_files(&bundle, &paths, &pack, Some(&first)).expect("loads");
        assert_eq!(second.store.shared_with(&first.store), first.count - 1);
        assert_ne!(second.content_hash, first.content_hash);
        // Without the previous data nothing is shared.
        let third = EntityData::from_files(&bundle, &paths, &pack, None).expect("loads");
        assert_eq!(third.store.shared_with(&first.store), 0);
        assert_eq!(third.content_hash, second.content_hash);
    }

    #[test]
    fn a_reload_names_the_file_line_of_an_unchanged_entity_it_breaks() {
        let (_dir, bundle, file, text, pack) = scratch();
        let paths = vec![file.clone()];
        let first = EntityData::from_files(&bundle, &paths, &pack, None).expect("loads");
        // The website project no longer tags frank; frank (unchanged) still
        // lists it in memberOf.
        let tag = "   \"frank\": {\n    \"__entity\": {\n     \"type\": \"ProjectRole\",\n     \"id\": \"member\"\n    }\n   }\n";
        assert!(text.contains(tag));
        let edited = text.replace(&format!(",\n{tag}"), "\n");
        assert_ne!(edited, text);
        std::fs::write(&file, &edited).expect("write");
        let frank_line = edited
            .lines()
            .position(|l| l.contains("\"id\": \"frank\""))
            .expect("frank is there")
            // 1-based, less the three lines above it ("{", "\"uid\": {", "\"type\"")
            + 1
            - 3;
        let e = EntityData::from_files(&bundle, &paths, &pack, Some(&first)).expect_err("breaks");
        let p = e
            .problems()
            .iter()
            .find(|p| p.message().contains("User::\"frank\""))
            .unwrap_or_else(|| panic!("{e:?}"));
        assert_eq!(p.file(), Some("entities.json"), "{p:?}");
        assert_eq!(p.line(), Some(frank_line), "{p:?}");
        assert!(p.json_path().is_some_and(|j| j.starts_with("$[")), "{p:?}");
    }
}
