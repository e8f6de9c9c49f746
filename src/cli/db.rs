//! `teamgate db init URL` and `teamgate db load FILE... URL`: the PostgreSQL
//! table that `serve --entities-from URL` follows.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{render, BundleArg, EXIT_BAD_INPUT};
use teamgate::source::postgres;
use teamgate::source::Row;
use teamgate::Overlay;

/// Arguments of `db`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DbCommand {
    /// Create the table teamgate_entities, its index and the triggers that
    /// notify teamgate of each change (safe to run again).
    Init {
        /// postgres://user:password@host:port/database
        url: String,
    },
    /// Put the entities of Cedar entity JSON files into the table, in one
    /// transaction, after checking that the table's rows with them pass the
    /// bundle's schema and integrity rules.
    Load {
        /// Entity JSON files (arrays of entities), then the URL last.
        #[arg(required = true, num_args = 2..)]
        args: Vec<String>,
        #[command(flatten)]
        bundle: BundleArg,
    },
    /// Print the SQL `init` runs (to review it, or to run it yourself).
    Schema,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Runs `db`.
pub fn run(args: Args) -> ExitCode {
    let result = match args.command {
        DbCommand::Schema => {
            print!("{}", postgres::SCHEMA_SQL.trim_start());
            Ok(())
        }
        DbCommand::Init { url } => runtime().and_then(|rt| {
            rt.block_on(postgres::init(&url))
                .map_err(|e| format!("{}: {e}", postgres::redact(&url)))?;
            println!(
                "{}: table {} and its triggers are in place",
                postgres::redact(&url),
                postgres::TABLE
            );
            Ok(())
        }),
        DbCommand::Load { args, bundle } => load(args, &bundle),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(m) => {
            eprintln!("error: {m}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn load(mut args: Vec<String>, bundle: &BundleArg) -> Result<(), String> {
    let url = args.pop().unwrap_or_default();
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(format!(
            "the last argument is the database URL (postgres://...), not {url:?}"
        ));
    }
    let files: Vec<PathBuf> = args.into_iter().map(PathBuf::from).collect();
    let mut entities = Vec::new();
    for f in &files {
        entities.extend(super::query_args::read_entity_file(f).map_err(|p| render::problem(&p))?);
    }
    let rows: Vec<Row> = entities
        .iter()
        .enumerate()
        .map(|(i, e)| {
            row_of(e).ok_or_else(|| {
                format!("entity {i} of the files has no \"uid\": {{\"type\": ..., \"id\": ...}}")
            })
        })
        .collect::<Result<_, _>>()?;
    let snap = bundle
        .load()
        .map_err(|_| "the bundle is invalid".to_string())?;
    let rt = runtime()?;
    // What the table will hold: its rows, each replaced by a file's entity
    // with the same uid. All of it must pass the checks.
    let at = |e: String| format!("{}: {e}", postgres::redact(&url));
    let mut client_rows = rt.block_on(postgres::read_table(&url)).map_err(at)?;
    let loaded: std::collections::HashSet<&str> = rows.iter().map(|r| r.uid.as_str()).collect();
    client_rows.retain(|r| !loaded.contains(r.uid.as_str()));
    let mut all: Vec<serde_json::Value> = client_rows.into_iter().map(|r| r.entity).collect();
    all.extend(entities);
    Overlay::instead_of_stored("the table with the files")
        .upsert(all)
        .build(&snap)
        .map_err(|e| {
            render::load_errors(&e);
            "nothing was loaded".to_string()
        })?;
    let n = rt.block_on(postgres::load(&url, &rows)).map_err(at)?;
    println!(
        "loaded {n} entities into {} at {}",
        postgres::TABLE,
        postgres::redact(&url)
    );
    Ok(())
}

/// The row of a Cedar entity JSON object: its uid in Cedar form.
fn row_of(entity: &serde_json::Value) -> Option<Row> {
    let uid = entity.get("uid")?;
    let uid = uid.get("__entity").unwrap_or(uid);
    let (t, id) = (uid.get("type")?.as_str()?, uid.get("id")?.as_str()?);
    let uid = teamgate::uid_of(teamgate::Field::Resource, t, id).ok()?;
    Some(Row::from_value(uid.to_string(), entity.clone()))
}
