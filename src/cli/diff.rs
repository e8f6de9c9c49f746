//! `teamgate diff`: the decisions that differ between two policy versions.
//! Exit 0 when nothing changed, 3 when something did, 1 on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::ValueEnum;

use super::EXIT_BAD_INPUT;
use teamgate::review::diff;
use teamgate::Bundle;

/// Exit code when decisions changed.
pub const EXIT_CHANGED: u8 = 3;

/// Formats of `diff`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffFormat {
    /// For a terminal.
    #[default]
    Text,
    /// For a pull-request comment.
    Md,
    /// For programs.
    Json,
}

/// Arguments of `diff`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Old and new bundle directories; with --git, only the new one (default: the working tree).
    bundles: Vec<PathBuf>,
    /// Take the old bundle from this git revision of the current repository.
    #[arg(long)]
    git: Option<String>,
    /// Scenario files whose requests are compared too.
    #[arg(long = "scenarios", default_value = "tests/scenarios")]
    scenarios: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: DiffFormat,
    /// No progress bar (there is none anyway when standard error is not a terminal).
    #[arg(long, short)]
    quiet: bool,
    /// Evaluate every request of both universes, even those whose policy
    /// slice is the same in both versions (by default, when the schema and
    /// the entity data are the same, only changed slices are evaluated: the
    /// others cannot change).
    #[arg(long)]
    all_requests: bool,
    /// Prove, for every request shape and all entity data (cvc5), whether the
    /// two versions decide alike; a counterexample where they do not. Exit 0
    /// equivalent, 3 a difference, 4 undecided. Formats: text, json.
    #[arg(long)]
    prove: bool,
    #[command(flatten)]
    solver: super::prove::SolverArgs,
}

fn from_git(rev: &str, dir: &Path) -> Result<(), String> {
    let archive = Command::new("git")
        .args([
            "archive",
            "--format=tar",
            rev,
            "schemas",
            "policies",
            "fixtures",
        ])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !archive.status.success() {
        return Err(format!(
            "git archive {rev}: {}",
            String::from_utf8_lossy(&archive.stderr).trim()
        ));
    }
    let mut tar = Command::new("tar")
        .args(["-x", "-C"])
        .arg(dir)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if let Some(mut stdin) = tar.stdin.take() {
        use std::io::Write;
        stdin
            .write_all(&archive.stdout)
            .map_err(|e| format!("tar: {e}"))?;
    }
    let status = tar.wait().map_err(|e| format!("tar: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("tar failed to unpack the revision".into())
    }
}

/// Runs `diff`.
pub fn run(args: Args) -> ExitCode {
    let tmp;
    let (old_root, new_root) = match (&args.git, args.bundles.as_slice()) {
        (Some(rev), rest) if rest.len() <= 1 => {
            tmp = match tempdir() {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
            };
            if let Err(e) = from_git(rev, &tmp.0) {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
            (
                tmp.0.clone(),
                rest.first().cloned().unwrap_or_else(|| PathBuf::from(".")),
            )
        }
        (None, [old, new]) => (old.clone(), new.clone()),
        _ => {
            eprintln!("error: give OLD and NEW bundle directories, or --git REV [NEW]");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let load = |root: &Path, which: &str| {
        Bundle::new(root).load().map_err(|e| {
            eprintln!("error: the {which} bundle ({}) is invalid:", root.display());
            super::render::load_errors(&e);
        })
    };
    let (Ok(old), Ok(new)) = (load(&old_root, "old"), load(&new_root, "new")) else {
        return ExitCode::from(EXIT_BAD_INPUT);
    };
    if args.prove {
        return prove_equivalence(&args, &old, &new, &new_root);
    }
    let scenarios: Vec<PathBuf> = args.scenarios.into_iter().filter(|p| p.exists()).collect();
    let bar = super::progress::Bar::new(args.quiet);
    let scope = if args.all_requests {
        diff::Scope::All
    } else {
        diff::Scope::ChangedSlices
    };
    let d = diff::compare_as(&old, &new, &scenarios, &bar, scope);
    bar.done();
    let text = match args.format {
        DiffFormat::Text => diff::text(&d),
        DiffFormat::Md => diff::markdown(&d),
        DiffFormat::Json => serde_json::to_string_pretty(&d).unwrap_or_default(),
    };
    print!("{text}");
    if args.format == DiffFormat::Json {
        println!();
    }
    if d.changed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHANGED)
    }
}

/// `diff --prove`: equivalence of the two packs, request shape by shape.
fn prove_equivalence(
    args: &Args,
    old: &teamgate::Snapshot,
    new: &teamgate::Snapshot,
    new_root: &Path,
) -> ExitCode {
    use super::prove::{exit_code, print, ProveFormat};
    let options = match args.solver.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let bar = super::progress::Bar::new(args.quiet);
    let result = teamgate::prove::equivalence(old, new, &options, &bar);
    bar.done();
    let mut outcomes = match result {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    args.solver
        .write_counterexamples(&mut outcomes, new_root, |o| {
            let shape = o.id.replace("Action::\"", "").replace('"', "");
            format!("diff-{}", shape.replace(' ', "-"))
        });
    let format = match args.format {
        DiffFormat::Json => ProveFormat::Json,
        DiffFormat::Text | DiffFormat::Md => ProveFormat::Text,
    };
    print(
        &outcomes,
        format,
        "diff --prove",
        teamgate::prove::Words::Diff,
    );
    exit_code(&outcomes)
}

/// A scratch directory, removed when dropped: on every way out of the
/// command, including a revision git does not know and an invalid bundle.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> Result<Scratch, String> {
    let base = std::env::temp_dir().join(format!("teamgate-diff-{}", std::process::id()));
    std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    Ok(Scratch(base))
}
