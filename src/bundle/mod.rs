//! Reading a bundle directory into a [`Snapshot`]: parse, validate, check
//! integrity, compute a version.
//!
//! A bundle is a directory with `schemas/` (`*.cedarschema`), `policies/`
//! (`*.cedar`, any depth) and `fixtures/` (`*.json`, Cedar entity JSON). The
//! policy side ([`PolicyPack`]) and the entity side ([`EntityData`]) load
//! separately, so a policy edit does not pay for parsing a large entity file.

mod entities;
mod errors;
mod integrity;
mod pack;
mod source;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

pub(crate) use entities::error_chain;
pub use entities::{merge_entity_json, read_fixture_json, EntityData};
pub use errors::LoadErrors;
pub use pack::{PackSources, PolicyInfo, PolicyPack, SYSTEM_ROLES_LOCK};
pub use source::{read_dir_files, SourceFile};

use sha2::{Digest, Sha256};

/// Where the parts of a bundle live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlePaths {
    /// The bundle root (used to print paths relative to it).
    pub root: PathBuf,
    /// Directory of `*.cedarschema` files.
    pub schemas: PathBuf,
    /// Directory of `*.cedar` files.
    pub policies: PathBuf,
    /// Directory of `*.json` entity files.
    pub fixtures: PathBuf,
}

impl BundlePaths {
    /// The standard layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        BundlePaths {
            schemas: root.join("schemas"),
            policies: root.join("policies"),
            fixtures: root.join("fixtures"),
            root,
        }
    }
}

/// An immutable, validated view of one bundle: what every decision reads.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Schema, policies and the engine built from them.
    pub pack: Arc<PolicyPack>,
    /// Entity data checked against the pack's schema.
    pub data: Arc<EntityData>,
    /// Content hash of policies, schema and entity data (16 hex digits).
    pub version: String,
    /// When this snapshot was built.
    pub loaded_at: SystemTime,
}

impl Snapshot {
    /// Combines a pack and entity data that were checked against its schema.
    pub fn new(pack: Arc<PolicyPack>, data: Arc<EntityData>) -> Self {
        let mut h = Sha256::new();
        h.update(pack.content_hash.as_bytes());
        h.update(data.content_hash.as_bytes());
        let version = hex(&h.finalize())[..16].to_string();
        Snapshot {
            pack,
            data,
            version,
            loaded_at: SystemTime::now(),
        }
    }
}

/// Loads and validates a whole bundle. Every problem is reported at once.
pub fn load(paths: &BundlePaths) -> Result<Snapshot, LoadErrors> {
    check_layout(paths)?;
    let pack = PolicyPack::load(paths);
    // Entity data needs the schema; without a pack, still read the JSON so its
    // own syntax errors are reported in the same run.
    let (pack, data) = match pack {
        Ok(pack) => {
            let data = EntityData::load(paths, &pack);
            (Ok(pack), data)
        }
        Err(e) => (Err(e), Err(LoadErrors(Vec::new()))),
    };
    match (pack, data) {
        (Ok(pack), Ok(data)) => Ok(Snapshot::new(Arc::new(pack), Arc::new(data))),
        (pack, data) => {
            let mut all = Vec::new();
            if let Err(e) = pack {
                all.extend(e.0);
            }
            if let Err(e) = data {
                all.extend(e.0);
            }
            Err(LoadErrors(all))
        }
    }
}

fn check_layout(paths: &BundlePaths) -> Result<(), LoadErrors> {
    let mut problems = Vec::new();
    for (dir, what) in [
        (&paths.schemas, "schemas/ (*.cedarschema)"),
        (&paths.policies, "policies/ (*.cedar)"),
        (&paths.fixtures, "fixtures/ (*.json entity data)"),
    ] {
        if !dir.is_dir() {
            problems.push(crate::Problem::in_file(
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
        Err(LoadErrors(problems))
    }
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hash of a list of source files (path and content), order-independent.
/// Paths are taken relative to `root`, so moving a bundle keeps its version.
pub fn hash_sources(files: &[SourceFile], root: &Path) -> String {
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
