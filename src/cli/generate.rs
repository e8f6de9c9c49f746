//! `teamgate generate`: a complete bundle at any size, so anyone can try
//! teamgate at their own scale: the schema and policies of a bundle, entity
//! data in the demo's shape, and sample requests with their decisions.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{json, Value};
use teamgate::{testkit, Bundle, Query};

use super::{render, BundleArg, EXIT_BAD_INPUT};

/// Arguments of `generate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of users (home users of `ws0`, and 2% externals homed in `ext0`).
    #[arg(long)]
    users: usize,
    /// Number of projects (default: one per 20 users).
    #[arg(long)]
    projects: Option<usize>,
    /// Seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Sample requests to write to requests.jsonl (half allows, half denies where the data has them).
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Where the schema and policies come from.
    #[command(flatten)]
    from: BundleArg,
    /// The directory to write (created; must be empty or not exist).
    dir: PathBuf,
    /// No progress bar (there is none anyway when standard error is not a terminal).
    #[arg(long, short)]
    quiet: bool,
}

/// Runs `generate`.
pub fn run(args: Args) -> ExitCode {
    match generate(&args) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn generate(args: &Args) -> Result<String, String> {
    if args.users == 0 {
        return Err("--users must be at least 1".into());
    }
    if args.dir.exists()
        && std::fs::read_dir(&args.dir)
            .map_err(|e| format!("{}: {e}", args.dir.display()))?
            .next()
            .is_some()
    {
        return Err(format!(
            "{} is not empty: generate writes a new bundle",
            args.dir.display()
        ));
    }
    let from = args.from.bundle();
    for dir in [from.schemas(), from.policies()] {
        if !dir.is_dir() {
            return Err(format!(
                "{} is not a directory: generate copies the schema and policies of a bundle \
                 (--bundle DIR, default the current directory; run it from the repository root)",
                dir.display()
            ));
        }
    }
    let projects = args.projects.unwrap_or((args.users / 20).max(1));
    // Written beside the target and renamed into place at the end: an
    // interrupted run (Ctrl-C) never leaves a half-written bundle at DIR.
    let partial = partial_dir(&args.dir);
    let _ = std::fs::remove_dir_all(&partial);
    let spinner = super::progress::Bar::spinner(args.quiet, "generating entities");
    let (entities, ids) = testkit::workspace_with(args.users, projects, args.seed);
    spinner.say("writing the bundle");
    let bundle = testkit::write_bundle(&from, &partial, &entities)
        .map_err(|e| format!("{}: cannot write the bundle: {e}", partial.display()))?;
    let count = entities.len();
    drop(entities);
    spinner.say("loading it");
    let snap = bundle.load().map_err(|e| {
        render::load_errors(&e);
        "the generated bundle does not load (is the --bundle it copies from valid?)".to_string()
    })?;
    spinner.say("writing sample requests");
    let (allows, denies) = write_requests(&snap, &bundle, &ids, args)?;
    spinner.done();
    if args.dir.exists() {
        std::fs::remove_dir(&args.dir).map_err(|e| format!("{}: {e}", args.dir.display()))?;
    }
    std::fs::rename(&partial, &args.dir).map_err(|e| {
        format!(
            "{}: cannot move the bundle into place: {e}",
            args.dir.display()
        )
    })?;
    Ok(format!(
        "wrote {}: {count} entities ({} users, {projects} projects), {} policies, {} sample requests ({allows} allow, {denies} deny) in requests.jsonl",
        args.dir.display(),
        ids.users.len(),
        snap.policy_count(),
        allows + denies
    ))
}

/// Where a bundle for `dir` is written before it is moved into place.
fn partial_dir(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    dir.with_file_name(format!(".{name}.partial"))
}

/// Sample requests, each the body of `POST /v1/is_authorized` plus the
/// decision this bundle gives (`expect`), balanced between allows and denies.
fn write_requests(
    snap: &teamgate::Snapshot,
    bundle: &Bundle,
    ids: &testkit::Ids,
    args: &Args,
) -> Result<(usize, usize), String> {
    let path = bundle.root().join("requests.jsonl");
    let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let want = args.requests;
    let (mut allows, mut denies) = (0, 0);
    // Draw candidates until each half is full (or enough were tried).
    for q in testkit::requests(ids, want.saturating_mul(20).max(100), args.seed) {
        if allows + denies >= want {
            break;
        }
        let allowed = snap.decide(&q, None).is_allowed();
        if (allowed && allows >= want.div_ceil(2)) || (!allowed && denies >= want / 2) {
            continue;
        }
        if allowed {
            allows += 1;
        } else {
            denies += 1;
        }
        writeln!(out, "{}", body(&q, allowed)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    out.flush()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((allows, denies))
}

fn body(q: &Query, allowed: bool) -> Value {
    let mut b = json!({
        "principal": q.principal().to_string(),
        "action": q.action().to_string(),
        "resource": q.resource().to_string(),
        "expect": if allowed { "allow" } else { "deny" },
    });
    if !q.context().is_null() {
        b["context"] = q.context().clone();
    }
    b
}
