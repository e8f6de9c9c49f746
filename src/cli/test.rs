//! `teamgate test`: run scenario files against a bundle.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::{BundleArg, EXIT_BAD_INPUT};
use teamgate::scenario::{coverage::Coverage, report, run_paths};

/// Report formats of `test`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TestFormat {
    /// One line per scenario, details for failures.
    #[default]
    Text,
    /// Every outcome as JSON.
    Json,
    /// JUnit XML for CI systems.
    Junit,
    /// SARIF 2.1.0 for code-scanning tools.
    Sarif,
}

/// Arguments of `test`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario files or directories (YAML scenarios, Cedar run-tests JSON).
    #[arg(default_value = "tests/scenarios")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    bundle: BundleArg,
    /// Report format.
    #[arg(long, value_enum, default_value_t)]
    format: TestFormat,
    /// Also write the report to this file (the text summary still prints).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Print which policies never determined a decision and which actions no
    /// scenario exercises; fail when either list is not empty.
    #[arg(long)]
    coverage: bool,
}

/// Runs `test`.
pub fn run(args: Args) -> ExitCode {
    let snap = match args.bundle.load() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let reports = run_paths(&args.paths, &snap);
    let rendered = match args.format {
        TestFormat::Text => report::text(&reports, &snap),
        TestFormat::Json => report::json(&reports),
        TestFormat::Junit => report::junit(&reports, &snap),
        TestFormat::Sarif => report::sarif(&reports),
    };
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &rendered) {
                eprintln!("error: {}: cannot write: {e}", path.display());
                return ExitCode::from(EXIT_BAD_INPUT);
            }
            print!("{}", report::text(&reports, &snap));
        }
        None => print!("{rendered}"),
    }
    let (_, failed) = report::counts(&reports);
    let mut ok = failed == 0;
    if args.coverage {
        let cov = Coverage::of(&reports, &snap);
        eprint!("{}", cov.render(&snap));
        ok &= cov.complete();
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_BAD_INPUT)
    }
}
