//! The request flags shared by `authorize` and `explain`.

use std::path::PathBuf;

use teamgate::{Overlay, Problem, Query, Snapshot};

use super::render;

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
    /// Extra entity JSON files merged over the bundle's entities for this query.
    #[arg(long = "entities")]
    pub entities: Vec<PathBuf>,
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

/// A parsed request with the snapshot and the overlay to decide it against.
pub struct Prepared {
    /// The request.
    pub query: Query,
    /// The loaded bundle.
    pub snap: Snapshot,
    /// The `--entities` files over the stored entities, when any were given.
    pub overlay: Option<Overlay>,
}

impl RequestArgs {
    /// Parses the request, loads the bundle and builds the overlay of
    /// `--entities`; prints what is wrong and returns the exit code on bad input.
    pub fn prepare(&self) -> Result<Prepared, std::process::ExitCode> {
        let bad = || std::process::ExitCode::from(super::EXIT_BAD_INPUT);
        let query = self.query.query().map_err(|p| {
            eprintln!("error: {}", render::problem(&p));
            bad()
        })?;
        let snap = self.bundle.load()?;
        let overlay = self.query.overlay(&snap).map_err(|e| {
            render::load_errors(&e);
            bad()
        })?;
        Ok(Prepared {
            query,
            snap,
            overlay,
        })
    }
}

impl RequestArgs {
    /// For `explain --as-given`: the request exactly as given and the
    /// `--entities` files alone, checked against the schema only.
    pub fn prepare_as_given(
        &self,
    ) -> Result<(Query, Snapshot, cedar_policy::Entities), std::process::ExitCode> {
        let bad = |p: &Problem| {
            eprintln!("error: {}", render::problem(p));
            std::process::ExitCode::from(super::EXIT_BAD_INPUT)
        };
        let query = self.query.query().map_err(|p| bad(&p))?;
        let snap = self.bundle.load()?;
        let mut all = Vec::new();
        for file in &self.query.entities {
            all.extend(read_entity_file(file).map_err(|p| bad(&p))?);
        }
        let entities = cedar_policy::Entities::from_json_value(
            serde_json::Value::Array(all),
            Some(snap.schema()),
        )
        .map_err(|e| {
            bad(&Problem::new(format!(
                "--entities: {}",
                teamgate::error_chain(&e)
            )))
        })?;
        Ok((query, snap, entities))
    }
}

impl QueryArgs {
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
        let q = Query::parse(&self.principal, &self.action, &self.resource)
            .map_err(|e| Problem::new(format!("--{e}")))?;
        Ok(q.with_context(context))
    }

    /// The `--entities` files as one overlay over the stored entities.
    pub fn overlay(&self, snap: &Snapshot) -> Result<Option<Overlay>, teamgate::LoadError> {
        if self.entities.is_empty() {
            return Ok(None);
        }
        let mut builder = Overlay::over_stored("--entities");
        for file in &self.entities {
            builder = builder.upsert(read_entity_file(file)?);
        }
        builder.build(snap).map(Some)
    }
}

/// An entity JSON file: an array of Cedar entity objects.
pub fn read_entity_file(file: &std::path::Path) -> Result<Vec<serde_json::Value>, Problem> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Problem::in_file(file, format!("cannot read: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        let offset = teamgate::offset_of(&text, e.line(), e.column());
        Problem::at_offset(file, &text, offset, format!("invalid JSON: {e}"))
    })?;
    match value {
        serde_json::Value::Array(items) => Ok(items),
        _ => Err(
            Problem::in_file(file, "entity data must be a JSON array of entities")
                .with_json_path("$"),
        ),
    }
}
