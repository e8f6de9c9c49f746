//! The store's files: read the bundle once, see by content hash what changed
//! since the serving snapshot, and rebuild only that part.

use std::sync::Arc;

use crate::bundle::{
    hash_paths, list_dir_files, Bundle, EntityData, Manifest, PackSources, PolicyPack, Snapshot,
};
use crate::error::Problem;

/// The parts of a new snapshot.
pub(super) struct Rebuilt {
    pack: Arc<PolicyPack>,
    data: Arc<EntityData>,
}

impl Rebuilt {
    pub(super) fn into_snapshot(self) -> Snapshot {
        Snapshot::new(self.pack, self.data)
    }

    /// Whether the entity data was read again (not `old`'s, reused).
    pub(super) fn reread_entities(&self, old: &Snapshot) -> bool {
        !Arc::ptr_eq(&self.data, old.data())
    }

    /// The rebuilt policies over `current`'s entity data instead (it changed
    /// while they were built): see [`combine`].
    pub(super) fn over(self, current: &Snapshot) -> Result<Snapshot, Vec<Problem>> {
        combine(&self.pack, current)
    }
}

/// `pack` over the entity data of `current` (built and checked with
/// `current`'s pack): allowed when both packs have the same schema and
/// every role the data names still has its policy file.
pub(super) fn combine(
    pack: &Arc<PolicyPack>,
    current: &Snapshot,
) -> Result<Snapshot, Vec<Problem>> {
    if pack.schema_hash != current.pack().schema_hash {
        return Err(vec![Problem::new(
            "the schema changed while the entity data changed; reload again",
        )]);
    }
    let problems = current.data().roles.check(&pack.role_files);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Snapshot::new(pack.clone(), current.data().clone()))
}

/// Reads the bundle; `Ok(None)` when nothing changed since `old`. A policy
/// edit reuses `old`'s entity data (after re-checking that every role it
/// names still has its policy file); a schema or entity edit re-reads the
/// entity files. With `policies_only` (the watcher saw changes under
/// `policies/` alone) the entity files are taken as unchanged, not hashed.
pub(super) fn rebuild(
    bundle: &Bundle,
    old: &Snapshot,
    policies_only: bool,
) -> Result<Option<Rebuilt>, Vec<Problem>> {
    // Every file is read once: hashed to see what changed, then built from.
    let mut problems = Vec::new();
    let manifest = match bundle.requires_manifest() {
        true => Some(Manifest::read(bundle).map_err(|p| vec![p])?),
        false => None,
    };
    let sources = PackSources::read(bundle, &mut problems);
    // The entity files are hashed as a stream, and read only if they changed.
    let fixtures = list_dir_files(bundle.fixtures(), "json", &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let (old_pack, old_data) = (old.pack(), old.data());
    let pack_changed = sources.hash(bundle.root()) != old_pack.content_hash;
    let data_changed = !policies_only
        && hash_paths(&fixtures, bundle.root()).map_err(|p| vec![p])? != old_data.fixtures_hash;
    if !pack_changed && !data_changed {
        return Ok(None);
    }
    let pack = if pack_changed {
        Arc::new(
            PolicyPack::from_sources_over(bundle, sources, Some(old_pack))
                .map_err(|e| e.into_problems())?,
        )
    } else {
        old_pack.clone()
    };
    let reload_entities = data_changed || pack.schema_hash != old_pack.schema_hash;
    let data = if reload_entities {
        Arc::new(
            EntityData::from_files(bundle, &fixtures, &pack, Some(old_data))
                .map_err(|e| e.into_problems())?,
        )
    } else {
        let problems = old_data.roles.check(&pack.role_files);
        if !problems.is_empty() {
            return Err(problems);
        }
        old_data.clone()
    };
    // What was read, not only what was hashed before, matches the manifest.
    if let Some(m) = &manifest {
        m.check(bundle, &pack.content_hash, &data.fixtures_hash)
            .map_err(|p| vec![p])?;
    }
    Ok(Some(Rebuilt { pack, data }))
}
