//! The request flags shared by `authorize` and `explain`.

use std::path::PathBuf;
use std::str::FromStr;

use cedar_policy::EntityUid;

use crate::bundle::{merge_entity_json, read_fixture_json, EntityData};
use crate::{LoadErrors, Problem, Query, Snapshot};

/// `--principal`, `--action`, `--resource`, `--context`, `--entities`.
#[derive(clap::Args, Debug, Clone)]
pub struct QueryArgs {
    /// Who asks, e.g. 'User::"erin"'.
    #[arg(long)]
    pub principal: String,
    /// The action, e.g. 'Action::"editProjectDetails"' or just editProjectDetails.
    #[arg(long)]
    pub action: String,
    /// On what, e.g. 'Project::"website"'.
    #[arg(long)]
    pub resource: String,
    /// Context as a JSON object, or @FILE to read it from a file.
    #[arg(long)]
    pub context: Option<String>,
    /// Extra entity JSON files merged over the bundle's fixtures for this query.
    #[arg(long = "entities")]
    pub entities: Vec<PathBuf>,
}

/// Parses an entity uid such as `User::"erin"`, naming the flag on error.
pub fn parse_uid(flag: &str, text: &str) -> Result<EntityUid, Problem> {
    EntityUid::from_str(text.trim()).map_err(|e| {
        Problem::new(format!(
            "--{flag} {text:?} is not an entity uid such as User::\"erin\": {e}"
        ))
    })
}

/// Parses an action: `Action::"x"` or bare `x`.
pub fn parse_action(text: &str) -> Result<EntityUid, Problem> {
    let t = text.trim();
    if t.contains("::") {
        parse_uid("action", t)
    } else {
        parse_uid("action", &format!("Action::{t:?}"))
    }
}

/// The arguments of `authorize` and `explain`: a request, the bundle, a format.
#[derive(clap::Args, Debug)]
pub struct RequestArgs {
    #[command(flatten)]
    query: QueryArgs,
    #[command(flatten)]
    bundle: super::BundleArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: super::Format,
}

impl RequestArgs {
    /// Parses the request, loads the bundle and merges `--entities`.
    pub fn prepare(&self) -> Result<Prepared, std::process::ExitCode> {
        self.query.prepare(&self.bundle)
    }
}

/// A parsed request with the snapshot and entities to decide it against.
pub struct Prepared {
    /// The request.
    pub query: Query,
    /// The loaded bundle.
    pub snap: Snapshot,
    /// Fixtures with `--entities` merged over them, when any were given.
    pub extra: Option<EntityData>,
}

impl Prepared {
    /// The entities to decide against.
    pub fn entities(&self) -> &cedar_policy::Entities {
        self.extra
            .as_ref()
            .map(|d| &d.entities)
            .unwrap_or(&self.snap.data.entities)
    }
}

impl QueryArgs {
    /// Parses the request, loads the bundle and merges `--entities`; prints
    /// what is wrong and returns the exit code on bad input.
    pub fn prepare(&self, bundle: &super::BundleArg) -> Result<Prepared, std::process::ExitCode> {
        let bad = || std::process::ExitCode::from(super::EXIT_BAD_INPUT);
        let query = self.query().map_err(|p| {
            eprintln!("error: {p}");
            bad()
        })?;
        let snap = bundle.load()?;
        let extra = self.entities(&snap, &bundle.paths()).map_err(|e| {
            super::print_load_errors(&e);
            bad()
        })?;
        Ok(Prepared { query, snap, extra })
    }

    /// The query these flags describe.
    pub fn query(&self) -> Result<Query, Problem> {
        let context = match &self.context {
            None => serde_json::Value::Null,
            Some(c) => {
                let (text, origin) = match c.strip_prefix('@') {
                    Some(path) => (
                        std::fs::read_to_string(path).map_err(|e| {
                            Problem::new(format!("--context @{path}: cannot read: {e}"))
                        })?,
                        path.to_string(),
                    ),
                    None => (c.clone(), "--context".to_string()),
                };
                serde_json::from_str(&text).map_err(|e| {
                    Problem::new(format!(
                        "{origin}: invalid JSON at line {} column {}: {e}",
                        e.line(),
                        e.column()
                    ))
                })?
            }
        };
        Ok(Query {
            principal: parse_uid("principal", &self.principal)?,
            action: parse_action(&self.action)?,
            resource: parse_uid("resource", &self.resource)?,
            context,
        })
    }

    /// The entities to decide against: the snapshot's, or the fixtures with
    /// every `--entities` file merged over them.
    pub fn entities(
        &self,
        snap: &Snapshot,
        paths: &crate::BundlePaths,
    ) -> Result<Option<EntityData>, LoadErrors> {
        if self.entities.is_empty() {
            return Ok(None);
        }
        let mut json = read_fixture_json(paths)?;
        for file in &self.entities {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Problem::in_file(file, format!("cannot read: {e}")))?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                Problem::in_file(
                    file,
                    format!(
                        "invalid JSON at line {} column {}: {e}",
                        e.line(),
                        e.column()
                    ),
                )
            })?;
            let serde_json::Value::Array(items) = value else {
                return Err(
                    Problem::in_file(file, "entity data must be a JSON array of entities")
                        .with_json_path("$")
                        .into(),
                );
            };
            json = merge_entity_json(&json, items);
        }
        let label = "fixtures + --entities";
        EntityData::from_json(json, &snap.pack, label).map(Some)
    }
}
