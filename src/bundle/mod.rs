//! Reading a bundle directory into a [`Snapshot`]: parse, validate, check
//! integrity, compute a version.
//!
//! A bundle is a directory with `schemas/` (`*.cedarschema`), `policies/`
//! (`*.cedar`, any depth) and `fixtures/` (`*.json`, Cedar entity JSON). The
//! policy side ([`PolicyPack`]) and the entity side ([`EntityData`]) load
//! separately, so a policy edit does not pay for parsing a large entity file.

mod cache;
mod change;
mod data;
mod entities;
mod limits;
mod manifest;
mod overlay;
mod pack;
mod snapshot;
mod source;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use cache::{decision_cache_counts, set_decision_cache};
pub use change::{Change, EntityRef};
pub use entities::release_free_memory;
pub(crate) use entities::EntityData;
pub use limits::{check_cedar_text, MAX_NESTING, MAX_OPERATORS};
pub(crate) use manifest::Manifest;
pub use manifest::{write_manifest, MANIFEST_FILE};
pub use overlay::{Overlay, OverlayBuilder};
pub use pack::{Effect, PolicyInfo, SYSTEM_ROLES_LOCK};
pub(crate) use pack::{PackSources, PolicyPack};
pub use snapshot::Snapshot;
pub(crate) use source::{hash_paths, list_dir_files, SourceFile};

use sha2::{Digest, Sha256};

use crate::error::{LoadError, Problem};

/// Where a bundle lives: its root and the standard layout below it.
///
/// ```
/// let bundle = teamgate::Bundle::new(".");
/// assert!(bundle.policies().ends_with("policies"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    root: PathBuf,
    schemas: PathBuf,
    policies: PathBuf,
    fixtures: PathBuf,
    manifest: bool,
}

impl Bundle {
    /// The standard layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Bundle {
            schemas: root.join("schemas"),
            policies: root.join("policies"),
            fixtures: root.join("fixtures"),
            root,
            manifest: false,
        }
    }

    /// Serve this bundle only when its files match its manifest
    /// ([`MANIFEST_FILE`], written by [`write_manifest`] after every other
    /// file): a deployment copied file by file is never served half-done.
    pub fn with_manifest(mut self, required: bool) -> Self {
        self.manifest = required;
        self
    }

    /// Whether the bundle is served only when it matches its manifest.
    pub fn requires_manifest(&self) -> bool {
        self.manifest
    }

    /// The bundle root (paths in messages are relative to it).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of `*.cedarschema` files.
    pub fn schemas(&self) -> &Path {
        &self.schemas
    }

    /// Directory of `*.cedar` files.
    pub fn policies(&self) -> &Path {
        &self.policies
    }

    /// Directory of `*.json` entity files.
    pub fn fixtures(&self) -> &Path {
        &self.fixtures
    }

    /// Loads and validates the whole bundle. Every problem is reported at once.
    pub fn load(&self) -> Result<Snapshot, LoadError> {
        load(self)
    }
}

/// Loads and validates a whole bundle. Every problem is reported at once.
pub(crate) fn load(bundle: &Bundle) -> Result<Snapshot, LoadError> {
    check_layout(bundle)?;
    let manifest = match bundle.requires_manifest() {
        true => Some(Manifest::read(bundle)?),
        false => None,
    };
    let pack = PolicyPack::load(bundle);
    // Entity data needs the schema; without a pack, still read the JSON so its
    // own syntax errors are reported in the same run.
    let data = match &pack {
        Ok(pack) => EntityData::load(bundle, pack).map(Some),
        Err(_) => match EntityData::syntax_problems(bundle) {
            p if p.is_empty() => Ok(None),
            p => Err(LoadError::new(p)),
        },
    };
    match (pack, data) {
        (Ok(pack), Ok(Some(data))) => {
            if let Some(m) = manifest {
                m.check(bundle, &pack.content_hash, &data.fixtures_hash)?;
            }
            Ok(Snapshot::new(Arc::new(pack), Arc::new(data)))
        }
        (pack, data) => {
            let mut all = Vec::new();
            if let Err(e) = pack {
                all.extend(e.into_problems());
            }
            if let Err(e) = data {
                all.extend(e.into_problems());
            }
            Err(LoadError::new(all))
        }
    }
}

fn check_layout(bundle: &Bundle) -> Result<(), LoadError> {
    let mut problems = Vec::new();
    for (dir, what) in [
        (&bundle.schemas, "schemas/ (*.cedarschema)"),
        (&bundle.policies, "policies/ (*.cedar)"),
        (&bundle.fixtures, "fixtures/ (*.json entity data)"),
    ] {
        if !dir.is_dir() {
            problems.push(Problem::in_file(
                dir,
                format!(
                    "no such directory: a bundle needs {what}; pass --bundle DIR pointing at a bundle such as the repository root"
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LoadError::new(problems))
    }
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hash of a list of source files (path and content), order-independent.
/// Paths are taken relative to `root`, so moving a bundle keeps its version.
pub(crate) fn hash_sources(files: &[SourceFile], root: &Path) -> String {
    let mut sorted: Vec<&SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut h = Sha256::new();
    for f in sorted {
        h.update(f.display_path(root).as_bytes());
        h.update([0]);
        h.update(f.text.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize())
}
