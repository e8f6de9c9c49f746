//! `teamgate validate`: load a bundle and report.

use std::process::ExitCode;

use serde_json::json;

use super::{render, BundleArg, EXIT_BAD_INPUT};
use teamgate::Effect;

/// Arguments of `validate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArg,
    #[command(flatten)]
    data: super::data::DataStoreArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: ValidateFormat,
}

/// Output formats of `validate`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValidateFormat {
    /// A summary, or every error with its snippet.
    #[default]
    Text,
    /// For programs.
    Json,
    /// SARIF 2.1.0 for code-scanning tools (warnings and errors).
    Sarif,
}

fn sarif(problems: &[teamgate::Problem], level: &'static str) {
    let findings: Vec<_> = problems
        .iter()
        .map(|p| teamgate::sarif::Finding::of_problem(p, level))
        .collect();
    println!("{:#}", teamgate::sarif::document(&findings));
}

/// The number of invariants in the bundle's `invariants.yaml` when it has
/// one, checked against the pack (without the solver).
fn invariants_of(
    bundle: &teamgate::Bundle,
    snap: &teamgate::Snapshot,
) -> Result<Option<usize>, Vec<teamgate::Problem>> {
    use teamgate::prove::Invariants;
    let file = Invariants::path_in(bundle.root());
    if !file.exists() {
        return Ok(None);
    }
    let invariants = Invariants::load(&file)?;
    teamgate::prove::check(snap, &invariants.items)
        .map_err(|e| vec![teamgate::Problem::in_file(&file, e.to_string())])?;
    Ok(Some(invariants.items.len()))
}

/// Runs `validate`.
pub fn run(args: Args) -> ExitCode {
    let bundle = args.bundle.bundle();
    let journal = match args.data.journal(&bundle, false) {
        Ok(j) => j,
        Err(m) => {
            eprintln!("error: {m}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let spinner = super::progress::Bar::spinner(false, "loading the bundle");
    let opened = teamgate::Store::open_with(bundle.clone(), journal).map(|s| s.snapshot());
    spinner.done();
    let opened = opened.and_then(|snap| {
        invariants_of(&bundle, &snap)
            .map(|n| (snap, n))
            .map_err(teamgate::LoadError::new)
    });
    match opened {
        Ok((snap, invariants)) => {
            let total = snap.policy_count();
            let permits = snap
                .policies()
                .filter(|p| p.effect() == Effect::Permit)
                .count();
            let files: std::collections::BTreeSet<&str> =
                snap.policies().map(|p| p.file()).collect();
            let actions = snap.actions().len();
            match args.format {
                ValidateFormat::Sarif => sarif(snap.warnings(), "warning"),
                ValidateFormat::Json => println!(
                    "{:#}",
                    json!({
                        "ok": true,
                        "version": snap.version(),
                        "policies": total,
                        "permits": permits,
                        "forbids": total - permits,
                        "policy_files": files.len(),
                        "actions": actions,
                        "entities": snap.entity_count(),
                        "data_version": snap.data_version(),
                        "data_changes": snap.data_changes(),
                        "invariants": invariants,
                        "warnings": snap.warnings().iter().map(|w| w.message()).collect::<Vec<_>>(),
                    })
                ),
                ValidateFormat::Text => {
                    println!("ok: bundle {} is valid", bundle.root().display());
                    println!(
                        "  policies  {} in {} files ({} permit, {} forbid), strictly validated",
                        total,
                        files.len(),
                        permits,
                        total - permits
                    );
                    println!("  actions   {actions} requestable");
                    println!("  entities  {}", snap.entity_count());
                    match snap.data_changes() {
                        0 => println!("  data      version {}", snap.data_version()),
                        n => println!(
                            "  data      version {}: the entity files with {n} changes from {}",
                            snap.data_version(),
                            args.data.path(&bundle).display()
                        ),
                    }
                    if let Some(n) = invariants {
                        println!(
                            "  invariants {n} in {} (prove them: teamgate prove)",
                            teamgate::prove::INVARIANTS_FILE
                        );
                    }
                    println!("  version   {}", snap.version());
                    for w in snap.warnings() {
                        println!("warning: {}", render::problem(w));
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            match args.format {
                ValidateFormat::Json => {
                    println!("{:#}", json!({ "ok": false, "errors": e.problems() }))
                }
                ValidateFormat::Sarif => sarif(e.problems(), "error"),
                ValidateFormat::Text => {}
            }
            render::load_errors(&e);
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
