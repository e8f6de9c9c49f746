//! `EntityData`: the entity JSON of a bundle, typed by the pack's schema,
//! integrity-checked, and kept in the compact entity store.

use serde_json::Value;

use super::data::{entries_of_json, read_entries, EntityStore, View};
use super::source::{read_dir_files, SourceFile};
use super::{hash_sources, Bundle, PolicyPack};
use crate::domain::directory::Addresses;
use crate::domain::integrity::{self, Item, RoleIds};
use crate::error::{LoadError, Problem};

/// Parsed entity data, ready for decisions.
#[derive(Debug)]
pub(crate) struct EntityData {
    /// The entities, compact; each request gets the few it can reach.
    pub store: EntityStore,
    /// Hash of the entity files.
    pub content_hash: String,
    /// Number of entities read.
    pub count: usize,
    /// The roles it names, to re-check against new policy files.
    pub roles: RoleIds,
    /// Who has which e-mail address (CX12).
    pub addresses: Addresses,
}

impl EntityData {
    /// Reads every `*.json` under `fixtures/` and checks it against `pack`.
    pub fn load(bundle: &Bundle, pack: &PolicyPack) -> Result<EntityData, LoadError> {
        let mut problems = Vec::new();
        let files = read_dir_files(bundle.fixtures(), "json", &mut problems);
        if !problems.is_empty() {
            return Err(LoadError::new(problems));
        }
        Self::from_files(bundle, &files, pack)
    }

    /// Reads the entity files of a bundle whose policies do not load, so
    /// their own syntax errors are reported in the same run.
    pub fn syntax_problems(bundle: &Bundle) -> Vec<Problem> {
        let mut problems = Vec::new();
        let files = read_dir_files(bundle.fixtures(), "json", &mut problems);
        for f in &files {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&f.text) {
                let rel = f.rel(bundle.root());
                let offset = crate::error::offset_of(&f.text, e.line(), e.column());
                problems.push(Problem::at_offset(
                    &rel,
                    &f.text,
                    offset,
                    format!("invalid JSON: {e}"),
                ));
            }
        }
        problems
    }

    /// Parses and checks entity files already read.
    pub fn from_files(
        bundle: &Bundle,
        files: &[SourceFile],
        pack: &PolicyPack,
    ) -> Result<EntityData, LoadError> {
        if files.is_empty() {
            return Err(Problem::in_file(
                bundle.fixtures(),
                "no *.json entity file in the fixtures directory",
            )
            .into());
        }
        let entries =
            read_entries(files, bundle.root(), &pack.store_schema).map_err(LoadError::new)?;
        let content_hash = hash_sources(files, bundle.root());
        Self::from_entries(entries, pack, content_hash)
    }

    /// Checks and parses entity JSON that is not from files (a request's
    /// entities, a scenario's); `label` names it in errors.
    pub fn from_json(
        json: Vec<Value>,
        pack: &PolicyPack,
        label: &str,
    ) -> Result<EntityData, LoadError> {
        let entries = entries_of_json(json, label, &pack.store_schema).map_err(LoadError::new)?;
        let hash = {
            use sha2::Digest;
            super::hex(&sha2::Sha256::digest(label.as_bytes()))
        };
        Self::from_entries(entries, pack, hash)
    }

    fn from_entries(
        entries: Vec<super::data::Entry>,
        pack: &PolicyPack,
        content_hash: String,
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
        let checked = integrity::check(&items, &pack.role_files);
        drop(items);
        drop(views);
        if !checked.problems.is_empty() {
            return Err(LoadError::new(checked.problems));
        }
        let count = entries.len();
        let store = EntityStore::from_entries(entries, schema.clone());
        release_free_memory();
        Ok(EntityData {
            store,
            content_hash,
            count,
            roles: checked.roles,
            addresses: checked.addresses,
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
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of glibc's heap; it takes
    // no pointer and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
