//! `invariants.yaml`: the properties a policy pack must have for every entity
//! data that conforms to the schema, each naming the rules it protects.
//!
//! ```yaml
//! invariants:
//!   - id: external-never-edits-project-details
//!     rules: [CX4, P2]
//!     shape: { principal: User, action: "area:projectDetails:write", resource: Project }
//!     never-allows: "!(resource in principal.workspace)"
//! ```
//!
//! A shape narrows the requests (principal type, actions or action groups,
//! resource type; each omitted part means every one the schema allows). The
//! property is exactly one of `never-allows`, `always-allows` (a Cedar
//! condition over `principal`, `action`, `resource`, `context`),
//! `always-denies: true`, `never-errors` (`true`, or a selection of
//! policies), and `implies`, `equivalent`, `disjoint` between two selections
//! (`left`, `right`).

use std::path::{Path, PathBuf};

use cedar_policy::{Policy, PolicyId, PolicySet};
use serde::Deserialize;

use crate::error::Problem;
use crate::Snapshot;

/// Name of the invariants file at the root of a bundle.
pub const INVARIANTS_FILE: &str = "invariants.yaml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    invariants: Vec<InvariantDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct InvariantDef {
    id: String,
    rules: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    shape: Shape,
    #[serde(default)]
    never_allows: Option<String>,
    #[serde(default)]
    always_allows: Option<String>,
    #[serde(default)]
    always_denies: Option<bool>,
    #[serde(default)]
    never_errors: Option<NeverErrors>,
    #[serde(default)]
    implies: Option<Pair>,
    #[serde(default)]
    equivalent: Option<Pair>,
    #[serde(default)]
    disjoint: Option<Pair>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NeverErrors {
    All(bool),
    Of(Selection),
}

/// Two selections of policies compared by `implies`, `equivalent`, `disjoint`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    /// The first set.
    pub left: Selection,
    /// The second set.
    pub right: Selection,
}

/// One string or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// The requests an invariant is about; an omitted part means all.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// Principal entity type, e.g. `User`.
    #[serde(default)]
    pub principal: Option<String>,
    /// Actions or action groups (`editTask`, `area:projectDetails:write`).
    #[serde(default)]
    pub action: Option<OneOrMany>,
    /// Resource entity types.
    #[serde(default)]
    pub resource: Option<OneOrMany>,
}

impl Shape {
    /// Principal type, action names, resource types (each empty for "all").
    pub fn parts(&self) -> (Option<&str>, Vec<String>, Vec<String>) {
        (
            self.principal.as_deref(),
            self.action
                .as_ref()
                .map(OneOrMany::items)
                .unwrap_or_default(),
            self.resource
                .as_ref()
                .map(OneOrMany::items)
                .unwrap_or_default(),
        )
    }
}

/// Policies of the pack chosen by file, id or rule (their union; the whole
/// pack when none is given), less `except`, plus reference policies written
/// out in `text`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// Policy files relative to `policies/` (`roles/admin.cedar`), or
    /// directories ending in `/` (`licenses/`).
    #[serde(default)]
    pub files: Vec<String>,
    /// Policy ids (`@id`).
    #[serde(default)]
    pub ids: Vec<String>,
    /// Rule ids: the policies whose `@rules` name any of them.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Policies taken out of what the other fields chose.
    #[serde(default)]
    pub except: Option<Box<Selection>>,
    /// Reference policies in Cedar, outside the pack.
    #[serde(default)]
    pub text: Option<String>,
}

/// What an invariant claims for every request of its shape.
#[derive(Debug, Clone)]
pub enum Property {
    /// No request satisfying the condition is allowed.
    NeverAllows(String),
    /// Every request satisfying the condition is allowed.
    AlwaysAllows(String),
    /// Every request is denied.
    AlwaysDenies,
    /// No policy of the selection errors on a valid request.
    NeverErrors(Selection),
    /// Whatever `left` allows, `right` allows.
    Implies(Pair),
    /// `left` and `right` allow the same requests.
    Equivalent(Pair),
    /// No request is allowed by both.
    Disjoint(Pair),
}

impl Property {
    /// The property's name as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Property::NeverAllows(_) => "never-allows",
            Property::AlwaysAllows(_) => "always-allows",
            Property::AlwaysDenies => "always-denies",
            Property::NeverErrors(_) => "never-errors",
            Property::Implies(_) => "implies",
            Property::Equivalent(_) => "equivalent",
            Property::Disjoint(_) => "disjoint",
        }
    }
}

/// One invariant of `invariants.yaml`.
#[derive(Debug, Clone)]
pub struct Invariant {
    /// Its id, unique in the file.
    pub id: String,
    /// The rule ids it protects.
    pub rules: Vec<String>,
    /// What it says, for people.
    pub description: Option<String>,
    /// The requests it is about.
    pub shape: Shape,
    /// What must hold.
    pub property: Property,
    /// JSON path of the invariant in its file (`invariants[3]`).
    pub path: String,
}

/// The invariants of a file.
#[derive(Debug, Clone)]
pub struct Invariants {
    /// The file they come from.
    pub file: PathBuf,
    /// In file order.
    pub items: Vec<Invariant>,
}

impl Invariants {
    /// The invariants file of a bundle.
    pub fn path_in(bundle_root: &Path) -> PathBuf {
        bundle_root.join(INVARIANTS_FILE)
    }

    /// Reads and checks an invariants file: YAML errors by line and column,
    /// other mistakes by JSON path.
    pub fn load(file: &Path) -> Result<Invariants, Vec<Problem>> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| vec![Problem::in_file(file, format!("cannot read: {e}"))])?;
        Self::parse(file, &text)
    }

    /// Parses the text of an invariants file.
    pub fn parse(file: &Path, text: &str) -> Result<Invariants, Vec<Problem>> {
        let def: FileDef = serde_yaml::from_str(text).map_err(|e| {
            let p = match e.location() {
                Some(l) => Problem::at_offset(file, text, l.index(), format!("invalid: {e}")),
                None => Problem::in_file(file, format!("invalid: {e}")),
            };
            vec![p]
        })?;
        let mut problems = Vec::new();
        let mut items = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, d) in def.invariants.into_iter().enumerate() {
            let path = format!("invariants[{i}]");
            let bad = |m: String| Problem::in_file(file, m).with_json_path(&path);
            if !seen.insert(d.id.clone()) {
                problems.push(bad(format!("duplicate invariant id {:?}", d.id)));
            }
            if d.rules.is_empty() {
                problems.push(bad(format!(
                    "invariant {:?} names no rule: say which rule ids it protects",
                    d.id
                )));
            }
            let mut props = Vec::new();
            if let Some(c) = d.never_allows {
                props.push(Property::NeverAllows(c));
            }
            if let Some(c) = d.always_allows {
                props.push(Property::AlwaysAllows(c));
            }
            match d.always_denies {
                Some(true) => props.push(Property::AlwaysDenies),
                Some(false) => problems.push(bad("always-denies: false claims nothing".into())),
                None => {}
            }
            match d.never_errors {
                Some(NeverErrors::All(true)) => {
                    props.push(Property::NeverErrors(Selection::default()))
                }
                Some(NeverErrors::All(false)) => {
                    problems.push(bad("never-errors: false claims nothing".into()))
                }
                Some(NeverErrors::Of(s)) => props.push(Property::NeverErrors(s)),
                None => {}
            }
            props.extend(d.implies.map(Property::Implies));
            props.extend(d.equivalent.map(Property::Equivalent));
            props.extend(d.disjoint.map(Property::Disjoint));
            if props.len() != 1 {
                problems.push(bad(format!(
                    "invariant {:?} must have exactly one of never-allows, always-allows, \
                     always-denies, never-errors, implies, equivalent, disjoint (it has {})",
                    d.id,
                    props.len()
                )));
                continue;
            }
            let Some(property) = props.pop() else {
                continue;
            };
            items.push(Invariant {
                id: d.id,
                rules: d.rules,
                description: d.description,
                shape: d.shape,
                property,
                path,
            });
        }
        if problems.is_empty() {
            Ok(Invariants {
                file: file.to_path_buf(),
                items,
            })
        } else {
            Err(problems)
        }
    }
}

impl Selection {
    /// The chosen policies as a set, keeping the pack's ids; reference
    /// policies get ids `ref.N` (or their `@id`). A file, id or rule that
    /// chooses nothing is an error: a typo must not shrink a proof.
    pub fn resolve(&self, snap: &Snapshot, what: &str) -> Result<PolicySet, String> {
        let ids = self.chosen_ids(snap, what)?;
        let mut set = PolicySet::new();
        let all = snap.engine().policies();
        for id in &ids {
            if let Some(p) = all.policy(&PolicyId::new(id)) {
                set.add(p.clone()).map_err(|e| format!("{what}: {e}"))?;
            }
        }
        if let Some(text) = &self.text {
            crate::check_cedar_text(Path::new("text"), text, true)
                .map_err(|p| format!("{what}.text: {}", p.message()))?;
            let parsed: PolicySet = text
                .parse()
                .map_err(|e: cedar_policy::ParseErrors| format!("{what}.text: {e}"))?;
            for (n, p) in parsed.policies().enumerate() {
                let id = p
                    .annotation("id")
                    .map(|a| format!("ref.{a}"))
                    .unwrap_or_else(|| format!("ref.{n}"));
                let p: Policy = p.new_id(PolicyId::new(&id));
                set.add(p).map_err(|e| format!("{what}.text: {e}"))?;
            }
        }
        Ok(set)
    }

    fn is_open(&self) -> bool {
        self.files.is_empty() && self.ids.is_empty() && self.rules.is_empty()
    }

    fn chosen_ids(&self, snap: &Snapshot, what: &str) -> Result<Vec<String>, String> {
        let mut chosen: Vec<String> = if self.is_open() {
            if self.text.is_some() {
                Vec::new()
            } else {
                snap.policies().map(|p| p.id().to_string()).collect()
            }
        } else {
            self.matching(snap, what)?
        };
        if let Some(except) = &self.except {
            if except.text.is_some() || except.except.is_some() {
                return Err(format!("{what}.except: only files, ids and rules"));
            }
            if except.is_open() {
                return Err(format!("{what}.except: chooses nothing"));
            }
            let out = except.matching(snap, &format!("{what}.except"))?;
            chosen.retain(|id| !out.contains(id));
        }
        Ok(chosen)
    }

    fn matching(&self, snap: &Snapshot, what: &str) -> Result<Vec<String>, String> {
        let file_of = |p: &crate::PolicyInfo| {
            p.file()
                .strip_prefix("policies/")
                .unwrap_or(p.file())
                .to_string()
        };
        for f in &self.files {
            let hit = snap.policies().any(|p| {
                let file = file_of(p);
                file == *f || (f.ends_with('/') && file.starts_with(f.as_str()))
            });
            if !hit {
                return Err(format!("{what}.files: no policy in {f:?}"));
            }
        }
        for id in &self.ids {
            if snap.policy(id).is_none() {
                return Err(format!("{what}.ids: no policy {id:?}"));
            }
        }
        for r in &self.rules {
            if !snap.policies().any(|p| p.rules().contains(r)) {
                return Err(format!("{what}.rules: no policy names rule {r:?}"));
            }
        }
        Ok(snap
            .policies()
            .filter(|p| {
                let file = file_of(p);
                self.files
                    .iter()
                    .any(|f| file == *f || (f.ends_with('/') && file.starts_with(f.as_str())))
                    || self.ids.iter().any(|i| i == p.id())
                    || self.rules.iter().any(|r| p.rules().contains(r))
            })
            .map(|p| p.id().to_string())
            .collect())
    }
}
