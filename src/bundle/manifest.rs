//! The bundle manifest: the hashes of a complete bundle, written last by a
//! deployment, so that a bundle copied file by file (rsync, `git pull`,
//! `cp -r`) is never served half-done.
//!
//! `teamgate.manifest` in the bundle root names the hash of the policy pack
//! (schemas and policies) and of the entity files. A bundle opened with
//! [`crate::Bundle::with_manifest`] is served only when what was read hashes
//! to exactly that: the hashes are of the very text parsed, so a file that
//! changes while it is read cannot slip through.

use std::path::PathBuf;

use super::{hash_paths, list_dir_files, Bundle, PackSources};
use crate::error::Problem;

/// The manifest's file name, in the bundle root.
pub const MANIFEST_FILE: &str = "teamgate.manifest";

/// The hashes a manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    policies: String,
    entities: String,
}

impl Manifest {
    /// Reads the bundle's manifest.
    pub fn read(bundle: &Bundle) -> Result<Manifest, Problem> {
        let path = bundle.root().join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Problem::in_file(
                &path,
                format!("cannot read the bundle manifest ({e}): write it with `teamgate manifest` once the bundle is complete"),
            )
        })?;
        let mut policies = None;
        let mut entities = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(char::is_whitespace) {
                Some(("policies", h)) => policies = Some(h.trim().to_string()),
                Some(("entities", h)) => entities = Some(h.trim().to_string()),
                _ => {
                    return Err(Problem::in_file(
                        &path,
                        "expected `policies <hash>` or `entities <hash>`",
                    )
                    .with_line(Some(i + 1)))
                }
            }
        }
        match (policies, entities) {
            (Some(policies), Some(entities)) => Ok(Manifest { policies, entities }),
            _ => Err(Problem::in_file(
                &path,
                "the manifest names `policies <hash>` and `entities <hash>`",
            )),
        }
    }

    /// Whether the pack and entity files read hash to the manifest's values.
    pub fn check(&self, bundle: &Bundle, policies: &str, entities: &str) -> Result<(), Problem> {
        let mut differs = Vec::new();
        if policies != self.policies {
            differs.push("schemas/ and policies/");
        }
        if entities != self.entities {
            differs.push("fixtures/");
        }
        if differs.is_empty() {
            return Ok(());
        }
        Err(Problem::in_file(
            &bundle.root().join(MANIFEST_FILE),
            format!(
                "{} on disk do not match the bundle manifest: a deployment in progress, or an \
                 edit without `teamgate manifest`; the last good snapshot keeps serving",
                differs.join(" and ")
            ),
        ))
    }
}

/// Writes the manifest of the bundle as it is on disk now; returns its path.
pub fn write_manifest(bundle: &Bundle) -> Result<PathBuf, Vec<Problem>> {
    let mut problems = Vec::new();
    let sources = PackSources::read(bundle, &mut problems);
    let fixtures = list_dir_files(bundle.fixtures(), "json", &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let entities = hash_paths(&fixtures, bundle.root()).map_err(|p| vec![p])?;
    let text = format!(
        "# teamgate bundle manifest: the bundle is served only when its files hash to these.\n\
         # Write it last, after every other file (`teamgate manifest --bundle DIR`).\n\
         policies {}\nentities {entities}\n",
        sources.hash(bundle.root())
    );
    let path = bundle.root().join(MANIFEST_FILE);
    // Written beside and renamed over, so a reader sees the old or the new one.
    let tmp = bundle.root().join(format!(".{MANIFEST_FILE}.tmp"));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| vec![Problem::in_file(&path, format!("cannot write: {e}"))])?;
    Ok(path)
}
