//! `PolicyPack`: the schema and policy files of a bundle, parsed, strictly
//! validated, indexed by `@id`, with the engine built from them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{
    Effect, PolicyId, PolicySet, Schema, SchemaFragment, ValidationMode, Validator,
};
use serde::Serialize;

use super::source::{read_dir_files, SourceFile};
use super::{hash_sources, BundlePaths, LoadErrors};
use crate::engine::Engine;
use crate::Problem;

/// Name of the file that pins the system roles' policy files (AW2).
pub const SYSTEM_ROLES_LOCK: &str = "system-roles.lock";

/// Where a policy comes from and what it is for.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PolicyInfo {
    /// The `@id` annotation, which is also the policy's id in the set.
    pub id: String,
    /// File, relative to the bundle root.
    pub file: String,
    /// 1-based line where the policy starts (its first annotation).
    pub line: usize,
    /// `permit` or `forbid`.
    pub effect: String,
    /// Rule ids from the `@rules` annotation.
    pub rules: Vec<String>,
    /// The policy's source text.
    pub text: String,
}

impl PolicyInfo {
    /// `file:line`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// Schema + policies + engine, immutable once built.
#[derive(Debug)]
pub struct PolicyPack {
    /// The validated schema.
    pub schema: Schema,
    /// Every policy, each with its `@id` as id.
    pub policies: PolicySet,
    /// Policy id -> where it is and what it implements.
    pub index: BTreeMap<String, PolicyInfo>,
    /// Decides requests against these policies.
    pub engine: Engine,
    /// Hash of the schema, policy and lock files.
    pub content_hash: String,
    /// Hash of the schema files alone: entity data stays valid while it holds.
    pub schema_hash: String,
    /// Validator warnings (not errors), rendered.
    pub warnings: Vec<Problem>,
    /// Ids `x` of files `policies/roles/x.cedar` (workspace roles, AW3).
    pub role_files: BTreeSet<String>,
    /// Ids `x` of files `policies/project-roles/x.cedar` (project roles).
    pub project_role_files: BTreeSet<String>,
    /// Role ids whose file is pinned in `system-roles.lock` (AW2).
    pub system_roles: BTreeSet<String>,
}

/// The files a policy pack is built from, read once: a reload hashes them to
/// see whether anything changed and builds from the same text.
#[derive(Debug, Clone)]
pub struct PackSources {
    /// `schemas/*.cedarschema`.
    pub schemas: Vec<SourceFile>,
    /// `policies/**/*.cedar`.
    pub policies: Vec<SourceFile>,
    /// `policies/system-roles.lock`, if present.
    pub lock: Option<SourceFile>,
}

impl PackSources {
    /// Reads the schema, policy and lock files of a bundle.
    pub fn read(paths: &BundlePaths, problems: &mut Vec<Problem>) -> PackSources {
        let lock_path = paths.policies.join(SYSTEM_ROLES_LOCK);
        PackSources {
            schemas: read_dir_files(&paths.schemas, "cedarschema", problems),
            policies: read_dir_files(&paths.policies, "cedar", problems),
            lock: std::fs::read_to_string(&lock_path)
                .ok()
                .map(|text| SourceFile {
                    path: lock_path,
                    text,
                }),
        }
    }

    /// Content hash of every file, the lock included (the pack's version).
    pub fn hash(&self, root: &Path) -> String {
        let mut all = self.schemas.clone();
        all.extend(self.policies.iter().cloned());
        all.extend(self.lock.iter().cloned());
        hash_sources(&all, root)
    }
}

impl PolicyPack {
    /// Reads, parses and validates `schemas/` and `policies/` of a bundle.
    pub fn load(paths: &BundlePaths) -> Result<PolicyPack, LoadErrors> {
        let mut problems = Vec::new();
        let sources = PackSources::read(paths, &mut problems);
        if !problems.is_empty() {
            return Err(LoadErrors(problems));
        }
        Self::from_sources(paths, sources)
    }

    /// Parses and validates files already read.
    pub fn from_sources(
        paths: &BundlePaths,
        sources: PackSources,
    ) -> Result<PolicyPack, LoadErrors> {
        let mut problems = Vec::new();
        if sources.schemas.is_empty() {
            problems.push(Problem::in_file(
                &paths.schemas,
                "no *.cedarschema file in the schema directory",
            ));
        }
        let schema = parse_schema(&sources.schemas, &paths.root, &mut problems);
        let (policies, index) = parse_policies(&sources.policies, &paths.root, &mut problems);
        let system_roles = check_system_lock(paths, sources.lock.as_ref(), &mut problems);
        let Some(schema) = schema else {
            return Err(LoadErrors(problems));
        };
        let mut warnings = Vec::new();
        validate(
            &schema,
            &policies,
            &sources.policies,
            &index,
            &paths.root,
            &mut problems,
            &mut warnings,
        );
        if !problems.is_empty() {
            return Err(LoadErrors(problems));
        }
        let engine = Engine::new(&schema, &policies).map_err(|e| LoadErrors(vec![e]))?;
        Ok(PolicyPack {
            content_hash: sources.hash(&paths.root),
            schema_hash: hash_sources(&sources.schemas, &paths.root),
            role_files: ids_under(&sources.policies, &paths.policies.join("roles")),
            project_role_files: ids_under(&sources.policies, &paths.policies.join("project-roles")),
            schema,
            policies,
            index,
            engine,
            warnings,
            system_roles,
        })
    }

    /// Information on a policy by id.
    pub fn info(&self, id: &str) -> Option<&PolicyInfo> {
        self.index.get(id)
    }
}

fn ids_under(files: &[SourceFile], dir: &Path) -> BTreeSet<String> {
    files
        .iter()
        .filter(|f| f.path.parent() == Some(dir))
        .filter_map(|f| f.path.file_stem().map(|s| s.to_string_lossy().to_string()))
        .collect()
}

fn parse_schema(files: &[SourceFile], root: &Path, problems: &mut Vec<Problem>) -> Option<Schema> {
    let mut fragments = Vec::new();
    let mut ok = true;
    for f in files {
        match SchemaFragment::from_cedarschema_str(&f.text) {
            Ok((frag, _warnings)) => fragments.push(frag),
            Err(e) => {
                ok = false;
                problems.push(Problem::from_diagnostic(&f.rel(root), &f.text, &e));
            }
        }
    }
    if !ok || fragments.is_empty() {
        return None;
    }
    match Schema::from_schema_fragments(fragments) {
        Ok(s) => Some(s),
        Err(e) => {
            let file = files.first().map(|f| f.rel(root)).unwrap_or_default();
            problems.push(Problem::in_file(&file, format!("schema error: {e}")));
            None
        }
    }
}

fn parse_policies(
    files: &[SourceFile],
    root: &Path,
    problems: &mut Vec<Problem>,
) -> (PolicySet, BTreeMap<String, PolicyInfo>) {
    let mut set = PolicySet::new();
    let mut index: BTreeMap<String, PolicyInfo> = BTreeMap::new();
    for f in files {
        let rel = f.rel(root);
        let parsed = match PolicySet::from_str(&f.text) {
            Ok(p) => p,
            Err(errs) => {
                for e in errs.iter() {
                    problems.push(Problem::from_diagnostic(&rel, &f.text, e));
                }
                continue;
            }
        };
        if parsed.templates().next().is_some() {
            problems.push(Problem::in_file(
                &rel,
                "templates are not supported in a teamgate bundle",
            ));
        }
        // Source order, so ids and lines are reported as a reviewer reads the file.
        let mut in_file: Vec<(usize, cedar_policy::Policy)> = parsed
            .policies()
            .map(|p| {
                let text = p.to_string();
                (f.text.find(&text).unwrap_or(0), p.clone())
            })
            .collect();
        in_file.sort_by_key(|(off, _)| *off);
        for (offset, policy) in in_file {
            let Some(id) = policy.annotation("id").map(str::to_string) else {
                problems.push(Problem::at_offset(
                    &rel,
                    &f.text,
                    offset,
                    "policy has no @id(\"...\") annotation: every policy needs a stable, readable id",
                ));
                continue;
            };
            let (line, _) = crate::problem::line_col(&f.text, offset);
            if let Some(prev) = index.get(&id) {
                problems.push(Problem::at_offset(
                    &rel,
                    &f.text,
                    offset,
                    format!(
                        "duplicate policy id \"{id}\": already used at {}",
                        prev.location()
                    ),
                ));
                continue;
            }
            let rules = policy
                .annotation("rules")
                .map(|r| {
                    r.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let info = PolicyInfo {
                id: id.clone(),
                file: rel.display().to_string(),
                line,
                effect: match policy.effect() {
                    Effect::Permit => "permit".into(),
                    Effect::Forbid => "forbid".into(),
                },
                rules,
                text: policy.to_string(),
            };
            let renamed = policy.new_id(PolicyId::new(&id));
            if let Err(e) = set.add(renamed) {
                problems.push(Problem::at_offset(&rel, &f.text, offset, e.to_string()));
                continue;
            }
            index.insert(id, info);
        }
    }
    (set, index)
}

fn validate(
    schema: &Schema,
    policies: &PolicySet,
    files: &[SourceFile],
    index: &BTreeMap<String, PolicyInfo>,
    root: &Path,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    let validator = Validator::new(schema.clone());
    let result = validator.validate(policies, ValidationMode::Strict);
    let file_of = |id: &PolicyId| -> Option<&SourceFile> {
        let info = index.get(id.to_string().as_str())?;
        files.iter().find(|f| f.display_path(root) == info.file)
    };
    for e in result.validation_errors() {
        match file_of(e.policy_id()) {
            Some(f) => problems.push(Problem::from_diagnostic(&f.rel(root), &f.text, e)),
            None => problems.push(Problem::new(format!("policy {}: {e}", e.policy_id()))),
        }
    }
    for w in result.validation_warnings() {
        match file_of(w.policy_id()) {
            Some(f) => warnings.push(Problem::from_diagnostic(&f.rel(root), &f.text, w)),
            None => warnings.push(Problem::new(format!("policy {}: {w}", w.policy_id()))),
        }
    }
}

/// Checks `policies/system-roles.lock`: each line `<sha256>  <path>` pins a
/// policy file of a system role (AW2: admin and guest are fixed). Returns the
/// role ids pinned.
fn check_system_lock(
    paths: &BundlePaths,
    lock: Option<&SourceFile>,
    problems: &mut Vec<Problem>,
) -> BTreeSet<String> {
    let mut roles = BTreeSet::new();
    let Some(SourceFile {
        path: lock_path,
        text,
    }) = lock
    else {
        return roles;
    };
    let rel_lock = lock_path
        .strip_prefix(&paths.root)
        .unwrap_or(lock_path)
        .to_path_buf();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let here = offset;
        offset += line.len();
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut parts = trimmed.split_whitespace();
        let (Some(hash), Some(file), None) = (parts.next(), parts.next(), parts.next()) else {
            problems.push(Problem::at_offset(
                &rel_lock,
                text,
                here,
                "expected `<sha256>  <path>`",
            ));
            continue;
        };
        let target = paths.policies.join(file);
        if let Some(stem) = Path::new(file).file_stem() {
            roles.insert(stem.to_string_lossy().to_string());
        }
        match std::fs::read(&target) {
            Ok(bytes) => {
                use sha2::Digest;
                let actual = super::hex(&sha2::Sha256::digest(&bytes));
                if actual != hash {
                    problems.push(Problem::at_offset(
                        &rel_lock,
                        text,
                        here,
                        format!(
                            "{file} is a system role's policy file and is fixed (AW2), but it changed: \
                             its sha256 is {actual}. Revert the edit; changing a system role needs \
                             a reviewed update of this lock file"
                        ),
                    ));
                }
            }
            Err(e) => problems.push(Problem::at_offset(
                &rel_lock,
                text,
                here,
                format!("{file}: cannot read the pinned system role file: {e}"),
            )),
        }
    }
    roles
}
