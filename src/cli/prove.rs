//! `teamgate prove`: the invariants of `invariants.yaml`, proven for every
//! entity data that conforms to the schema. Exit 0 when all are proved, 3 on
//! a violation, 4 when the solver could not decide one, 1 on bad input or a
//! missing solver.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;

use super::EXIT_BAD_INPUT;
use teamgate::prove::{self, Invariants, Options, Outcome, Status};

/// Exit code when an invariant is violated (as `diff` for a change).
pub const EXIT_VIOLATED: u8 = 3;
/// Exit code when the solver could not decide an invariant.
pub const EXIT_UNKNOWN: u8 = 4;

/// Formats of `prove`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProveFormat {
    /// For a terminal.
    #[default]
    Text,
    /// For programs.
    Json,
    /// JUnit XML for CI systems.
    Junit,
}

/// The solver flags shared by `prove` and `diff --prove`.
#[derive(clap::Args, Debug, Clone)]
pub struct SolverArgs {
    /// The cvc5 executable (default: $CVC5, else cvc5 on PATH).
    #[arg(long)]
    pub solver: Option<PathBuf>,
    /// Time limit of one solver check, in seconds; past it the invariant is
    /// "unknown".
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Where counterexamples are written (default: <bundle>/.teamgate/counterexamples).
    #[arg(long)]
    pub counterexamples: Option<PathBuf>,
}

impl SolverArgs {
    /// The solver options, or the error to print (no solver).
    pub fn options(&self) -> Result<Options, String> {
        Ok(Options {
            solver: prove::solver::locate(self.solver.as_deref())?,
            timeout: Duration::from_secs(self.timeout.max(1)),
        })
    }

    /// Writes every counterexample to the counterexample directory, naming
    /// each file by `name(outcome)`; a failure to write is reported and kept
    /// out of the exit code's way (the result stands).
    pub fn write_counterexamples(
        &self,
        outcomes: &mut [Outcome],
        bundle: &Path,
        name: impl Fn(&Outcome) -> String,
    ) {
        let dir = self
            .counterexamples
            .clone()
            .unwrap_or_else(|| bundle.join(".teamgate").join("counterexamples"));
        for o in outcomes.iter_mut() {
            let n = name(o);
            if let Some(c) = o.counterexample.as_mut() {
                if let Err(e) = prove::write_counterexample(c, &dir, &n, bundle) {
                    eprintln!(
                        "warning: cannot write the counterexample to {}: {e}",
                        dir.display()
                    );
                }
            }
        }
    }
}

/// Arguments of `prove`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    bundle: super::BundleArg,
    /// The invariants file (default: <bundle>/invariants.yaml).
    #[arg(long)]
    invariants: Option<PathBuf>,
    /// Check only these invariants (repeatable).
    #[arg(long = "invariant", value_name = "ID")]
    only: Vec<String>,
    #[command(flatten)]
    solver: SolverArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: ProveFormat,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// Runs `prove`.
pub fn run(args: Args) -> ExitCode {
    let bad = |m: &str| {
        eprintln!("error: {m}");
        ExitCode::from(EXIT_BAD_INPUT)
    };
    let file = args
        .invariants
        .clone()
        .unwrap_or_else(|| Invariants::path_in(&args.bundle.bundle));
    let invariants = match Invariants::load(&file) {
        Ok(i) => i,
        Err(problems) => {
            for p in &problems {
                eprintln!("error: {}", super::render::problem(p));
            }
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    for id in &args.only {
        if !invariants.items.iter().any(|i| &i.id == id) {
            return bad(&format!(
                "--invariant {id}: no such invariant in {}",
                file.display()
            ));
        }
    }
    let chosen: Vec<_> = invariants
        .items
        .into_iter()
        .filter(|i| args.only.is_empty() || args.only.contains(&i.id))
        .collect();
    let options = match args.solver.options() {
        Ok(o) => o,
        Err(e) => return bad(&e),
    };
    let snap = match args.bundle.load() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let bar = super::progress::Bar::new(args.quiet);
    let result = prove::prove(&snap, &chosen, &options, &bar);
    bar.done();
    let mut outcomes = match result {
        Ok(o) => o,
        Err(e) => return bad(&format!("{}: {e}", file.display())),
    };
    args.solver
        .write_counterexamples(&mut outcomes, &args.bundle.bundle, |o| o.id.clone());
    print(
        &outcomes,
        args.format,
        &file.display().to_string(),
        prove::Words::Invariants,
    );
    exit_code(&outcomes)
}

/// Prints outcomes in a format.
pub fn print(outcomes: &[Outcome], format: ProveFormat, suite: &str, words: prove::Words) {
    match format {
        ProveFormat::Text => print!("{}", prove::text(outcomes, words)),
        ProveFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(outcomes).unwrap_or_default()
        ),
        ProveFormat::Junit => print!("{}", prove::junit(outcomes, suite)),
    }
}

/// 0 all proved, 3 a violation, 4 an unknown (and no violation).
pub fn exit_code(outcomes: &[Outcome]) -> ExitCode {
    if outcomes.iter().any(|o| o.status == Status::Violated) {
        ExitCode::from(EXIT_VIOLATED)
    } else if outcomes.iter().any(|o| o.status == Status::Unknown) {
        ExitCode::from(EXIT_UNKNOWN)
    } else {
        ExitCode::SUCCESS
    }
}
