//! `PolicyPack`: the schema and policy files of a bundle, parsed, strictly
//! validated, indexed by `@id`, with the engine built from them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{PolicyId, PolicySet, Schema, SchemaFragment, ValidationMode, Validator};
use serde::Serialize;

use super::source::{read_dir_files, SourceFile};
use super::{hash_sources, Bundle};
use std::sync::Arc;

use super::data::{Reach, StoreSchema};
use crate::domain::RoleFiles;
use crate::engine::{Engine, PolicyJson};
use crate::error::{line_col, LoadError, Problem};

/// Name of the file that pins the system roles' policy files (AW2).
pub const SYSTEM_ROLES_LOCK: &str = "system-roles.lock";

/// A policy's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Grants.
    Permit,
    /// Takes away, whatever grants (P1).
    Forbid,
}

impl Effect {
    /// `permit` or `forbid`.
    pub fn word(self) -> &'static str {
        match self {
            Effect::Permit => "permit",
            Effect::Forbid => "forbid",
        }
    }
}

impl std::fmt::Display for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// Where a policy comes from and what it is for.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PolicyInfo {
    id: String,
    file: String,
    line: usize,
    effect: Effect,
    rules: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interpretation: Option<String>,
    text: String,
}

impl PolicyInfo {
    /// The `@id` annotation, which is also the policy's id in the set.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// File, relative to the bundle root.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// 1-based line where the policy starts (its first annotation).
    pub fn line(&self) -> usize {
        self.line
    }

    /// Permit or forbid.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// Rule ids from the `@rules` annotation.
    pub fn rules(&self) -> &[String] {
        &self.rules
    }

    /// Why the policy exists when no rule text says what it does: its
    /// `@interpretation` annotation.
    pub fn interpretation(&self) -> Option<&str> {
        self.interpretation.as_deref()
    }

    /// The policy's source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `file:line`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// Schema + policies + engine, immutable once built.
#[derive(Debug)]
pub(crate) struct PolicyPack {
    /// The validated schema.
    pub schema: Schema,
    /// Policy id -> where it is and what it implements.
    pub index: BTreeMap<String, PolicyInfo>,
    /// Decides requests against these policies.
    pub engine: Engine,
    /// Hash of the schema, policy and lock files.
    pub content_hash: String,
    /// Hash of the schema files alone: entity data stays valid while it holds.
    pub schema_hash: String,
    /// Validator warnings (not errors).
    pub warnings: Vec<Problem>,
    /// Role policy files, for the integrity checks of entity data.
    pub role_files: RoleFiles,
    /// Context attribute names per action name, so that teamgate derives
    /// only the keys a schema declares.
    pub context_keys: ContextKeys,
    /// Entity shapes and action entities, for entity stores.
    pub store_schema: Arc<StoreSchema>,
    /// Which references, how far, a request's entities are followed
    /// through: the policies' own (a store kept over a policy-only reload
    /// is read with the new policies' reach).
    pub reach: Reach,
}

/// The files a policy pack is built from, read once: a reload hashes them to
/// see whether anything changed and builds from the same text.
#[derive(Debug, Clone)]
pub(crate) struct PackSources {
    /// `schemas/*.cedarschema`.
    pub schemas: Vec<SourceFile>,
    /// `policies/**/*.cedar`.
    pub policies: Vec<SourceFile>,
    /// `policies/system-roles.lock`, if present.
    pub lock: Option<SourceFile>,
}

impl PackSources {
    /// Reads the schema, policy and lock files of a bundle.
    pub fn read(bundle: &Bundle, problems: &mut Vec<Problem>) -> PackSources {
        let lock_path = bundle.policies().join(SYSTEM_ROLES_LOCK);
        PackSources {
            schemas: read_dir_files(bundle.schemas(), "cedarschema", problems),
            policies: read_dir_files(bundle.policies(), "cedar", problems),
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
    pub fn load(bundle: &Bundle) -> Result<PolicyPack, LoadError> {
        let mut problems = Vec::new();
        let sources = PackSources::read(bundle, &mut problems);
        if !problems.is_empty() {
            return Err(LoadError::new(problems));
        }
        Self::from_sources(bundle, sources)
    }

    /// Parses and validates files already read.
    pub fn from_sources(bundle: &Bundle, sources: PackSources) -> Result<PolicyPack, LoadError> {
        Self::from_sources_over(bundle, sources, None)
    }

    /// [`PolicyPack::from_sources`], taking the schema of `old` (as parsed,
    /// its context keys and its store schema) when the schema files hash as
    /// they did for it: a policy-only save does not parse the schema again
    /// (a fifth of such a reload).
    pub fn from_sources_over(
        bundle: &Bundle,
        sources: PackSources,
        old: Option<&PolicyPack>,
    ) -> Result<PolicyPack, LoadError> {
        let root = bundle.root();
        let schema_hash = hash_sources(&sources.schemas, root);
        let same_schema =
            old.filter(|o| !sources.schemas.is_empty() && o.schema_hash == schema_hash);
        let mut problems = Vec::new();
        if sources.schemas.is_empty() {
            problems.push(Problem::in_file(
                bundle.schemas(),
                "no *.cedarschema file in the schema directory",
            ));
        }
        let parsed = match same_schema {
            Some(o) => Some(SchemaOf::Kept(o)),
            None => parse_schema(&sources.schemas, root, &mut problems).map(SchemaOf::Parsed),
        };
        let (policies, index) = parse_policies(&sources.policies, root, &mut problems);
        let system_roles = check_system_lock(bundle, &sources, &mut problems);
        let Some(parsed) = parsed else {
            return Err(LoadError::new(problems));
        };
        let (schema, context_keys) = match &parsed {
            SchemaOf::Parsed(p) => (p.schema.clone(), context_keys(&p.json)),
            SchemaOf::Kept(o) => (o.schema.clone(), o.context_keys.clone()),
        };
        let mut warnings = Vec::new();
        let level = validate(
            &schema,
            &policies,
            &sources.policies,
            &index,
            root,
            &mut problems,
            &mut warnings,
        );
        if !problems.is_empty() {
            return Err(LoadError::new(problems));
        }
        let level = level.map_err(LoadError::from)?;
        let policy_json = PolicyJson::of(&policies);
        let engine = Engine::new(&schema, &policies, &policy_json).map_err(LoadError::from)?;
        let store_schema = match parsed {
            SchemaOf::Parsed(p) => Arc::new(
                StoreSchema::new(&p.json, &schema, schema_hash.clone()).map_err(LoadError::from)?,
            ),
            SchemaOf::Kept(o) => o.store_schema.clone(),
        };
        let reach = Reach::new(&policies, &policy_json, level, &store_schema);
        Ok(PolicyPack {
            content_hash: sources.hash(root),
            schema_hash,
            role_files: RoleFiles {
                roles: ids_under(&sources.policies, &bundle.policies().join("roles")),
                project_roles: ids_under(
                    &sources.policies,
                    &bundle.policies().join("project-roles"),
                ),
                system_roles,
            },
            schema,
            index,
            engine,
            warnings,
            context_keys,
            store_schema,
            reach,
        })
    }
}

/// Deepest chain of entity dereferences the policies may use.
const MAX_LEVEL: u32 = 4;

/// The lowest level worth knowing: a request includes the entities
/// `max(level - 1, 1)` attribute hops away, so levels 1 and 2 need the same
/// entities, and validating at 1 would only cost time.
const MIN_LEVEL: u32 = 2;

fn ids_under(files: &[SourceFile], dir: &Path) -> BTreeSet<String> {
    files
        .iter()
        .filter(|f| f.path.parent() == Some(dir))
        .filter_map(|f| f.path.file_stem().map(|s| s.to_string_lossy().to_string()))
        .collect()
}

/// Context attribute names per action name, read from the schema's JSON form
/// (inline record types, or a common type named by the context).
pub(crate) type ContextKeys = crate::FastMap<String, BTreeSet<String>>;

fn context_keys(fragments: &[serde_json::Value]) -> ContextKeys {
    let mut out = ContextKeys::default();
    for frag in fragments {
        let Some(namespaces) = frag.as_object() else {
            continue;
        };
        for ns in namespaces.values() {
            let common = ns.get("commonTypes");
            let Some(actions) = ns.get("actions").and_then(|a| a.as_object()) else {
                continue;
            };
            for (name, action) in actions {
                let Some(mut ctx) = action.get("appliesTo").and_then(|a| a.get("context")) else {
                    continue;
                };
                if ctx.get("attributes").is_none() {
                    let named = ctx
                        .get("name")
                        .or_else(|| ctx.get("type"))
                        .and_then(|n| n.as_str());
                    if let Some(t) = named.and_then(|n| common.and_then(|c| c.get(n))) {
                        ctx = t;
                    }
                }
                if let Some(attrs) = ctx.get("attributes").and_then(|a| a.as_object()) {
                    out.entry(name.clone())
                        .or_default()
                        .extend(attrs.keys().cloned());
                }
            }
        }
    }
    out
}

/// A parsed schema and its fragments in JSON form (for the shapes of entity
/// data and the context keys).
/// A pack's schema: parsed now, or kept from the pack before (its schema
/// files unchanged).
enum SchemaOf<'o> {
    Parsed(ParsedSchema),
    Kept(&'o PolicyPack),
}

struct ParsedSchema {
    schema: Schema,
    json: Vec<serde_json::Value>,
}

fn parse_schema(
    files: &[SourceFile],
    root: &Path,
    problems: &mut Vec<Problem>,
) -> Option<ParsedSchema> {
    let mut fragments = Vec::new();
    let mut ok = true;
    for f in files {
        if let Err(p) = super::limits::check_cedar_text(&f.rel(root), &f.text, false) {
            ok = false;
            problems.push(p);
            continue;
        }
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
    let json = fragments
        .iter()
        .filter_map(|f| f.to_json_string().ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect();
    match Schema::from_schema_fragments(fragments) {
        Ok(schema) => Some(ParsedSchema { schema, json }),
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
        if let Err(p) = super::limits::check_cedar_text(&rel, &f.text, true) {
            problems.push(p);
            continue;
        }
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
            let (line, _) = line_col(&f.text, offset);
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
                    cedar_policy::Effect::Permit => Effect::Permit,
                    cedar_policy::Effect::Forbid => Effect::Forbid,
                },
                rules,
                interpretation: policy.annotation("interpretation").map(str::to_string),
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

/// Strict validation, with the problems and warnings it finds; returns the
/// dereference level the policies validate at (see [`MIN_LEVEL`]).
///
/// One validation at [`MIN_LEVEL`] usually settles everything: passing it
/// implies passing strict validation. Only when it fails does a plain strict
/// validation tell a policy error from a deeper dereference, and the higher
/// levels are tried.
fn validate(
    schema: &Schema,
    policies: &PolicySet,
    files: &[SourceFile],
    index: &BTreeMap<String, PolicyInfo>,
    root: &Path,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> Result<u32, Problem> {
    let validator = Validator::new(schema.clone());
    let file_of = |id: &PolicyId| -> Option<&SourceFile> {
        let info = index.get(id.to_string().as_str())?;
        files.iter().find(|f| f.display_path(root) == info.file)
    };
    let mut report = |result: &cedar_policy::ValidationResult| {
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
    };
    let at_min = validator.validate_with_level(policies, ValidationMode::Strict, MIN_LEVEL);
    if at_min.validation_passed() {
        report(&at_min);
        return Ok(MIN_LEVEL);
    }
    let strict = validator.validate(policies, ValidationMode::Strict);
    report(&strict);
    if !strict.validation_passed() {
        return Ok(MIN_LEVEL); // the problems say why; the level is not used
    }
    (MIN_LEVEL + 1..=MAX_LEVEL)
        .find(|l| {
            validator
                .validate_with_level(policies, ValidationMode::Strict, *l)
                .validation_passed()
        })
        .ok_or_else(|| {
            Problem::new(format!(
                "the policies read entity attributes more than {MAX_LEVEL} references deep \
                 (e.g. principal.a.b.c.d): teamgate bounds the entities a request needs by that depth"
            ))
        })
}

/// Checks `policies/system-roles.lock`: each line `<sha256>  <path>` pins a
/// policy file of a system role (AW2: admin and guest are fixed). The hash is
/// taken of the text that was parsed, not of a second read. Returns the role
/// ids pinned.
fn check_system_lock(
    bundle: &Bundle,
    sources: &PackSources,
    problems: &mut Vec<Problem>,
) -> BTreeSet<String> {
    let mut roles = BTreeSet::new();
    let Some(SourceFile {
        path: lock_path,
        text,
    }) = sources.lock.as_ref()
    else {
        return roles;
    };
    let rel_lock = lock_path
        .strip_prefix(bundle.root())
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
        let target = bundle.policies().join(file);
        if let Some(stem) = Path::new(file).file_stem() {
            roles.insert(stem.to_string_lossy().to_string());
        }
        let pinned = sources.policies.iter().find(|f| f.path == target);
        match pinned {
            Some(f) => {
                use sha2::Digest;
                let actual = super::hex(&sha2::Sha256::digest(f.text.as_bytes()));
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
            None => problems.push(Problem::at_offset(
                &rel_lock,
                text,
                here,
                format!("{file}: cannot read the pinned system role file: it is not among the policy files"),
            )),
        }
    }
    roles
}
