//! The command line: one module per subcommand. Exit codes follow Cedar's CLI:
//! 0 allow / success, 2 deny, 1 bad input or a failed check.

mod authorize;
mod data;
mod db;
mod diff;
mod explain;
mod generate;
mod matrix;
mod progress;
mod prove;
mod query_args;
mod render;
mod serve;
mod test;
mod validate;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use teamgate::{Bundle, Snapshot};

/// Exit code for a deny.
pub const EXIT_DENY: u8 = 2;
/// Exit code for bad input.
pub const EXIT_BAD_INPUT: u8 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "teamgate",
    version,
    about = "Cedar policies for workspace, project and license permissions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load and strictly validate a bundle; print a summary or every error.
    Validate(validate::Args),
    /// Decide one request: exit 0 on allow, 2 on deny, 1 on bad input.
    Authorize(authorize::Args),
    /// Serve decisions over HTTP (the sidecar), with hot reload.
    Serve(serve::Args),
    /// Validate on every save of the bundle (and re-run scenarios with --test).
    Watch(watch::Args),
    /// Decide one request and say why: determining, overridden and unsatisfied policies.
    Explain(explain::Args),
    /// The permission matrix of the entity data: md, html, csv or json.
    Matrix(matrix::Args),
    /// The decisions that differ between two policy versions (exit 3 if any).
    Diff(diff::Args),
    /// Prove the invariants of invariants.yaml for all data (cvc5): exit 0
    /// proved, 3 violated, 4 unknown, 1 bad input or no solver.
    Prove(prove::Args),
    /// Run scenario files (YAML, or Cedar run-tests JSON); exit 1 on any failure.
    Test(test::Args),
    /// Write a bundle with generated entity data of any size, and sample requests.
    Generate(generate::Args),
    /// The PostgreSQL table `serve --entities-from` follows: init, load, schema.
    Db(db::Args),
    /// The data store of the data API's changes: status, reset.
    Data(data::Args),
    /// Write the bundle's manifest (`teamgate.manifest`): its hashes as they
    /// are on disk now. Run it last when deploying a bundle file by file.
    Manifest(ManifestArgs),
}

/// Arguments of `manifest`.
#[derive(clap::Args, Debug)]
struct ManifestArgs {
    /// Bundle directory.
    #[arg(long, env = "TEAMGATE_BUNDLE", default_value = ".")]
    bundle: PathBuf,
}

/// Where the bundle is: `--bundle DIR`, else `$TEAMGATE_BUNDLE`, else the
/// current directory (the repository root holds the demo workspace).
#[derive(clap::Args, Debug, Clone)]
pub struct BundleArg {
    /// Bundle directory with schemas/, policies/ and fixtures/.
    #[arg(long, env = "TEAMGATE_BUNDLE", default_value = ".")]
    pub bundle: PathBuf,
    /// Use the bundle only when its files match its `teamgate.manifest`
    /// (written last by a deployment with `teamgate manifest`): a bundle
    /// copied file by file is never served half-done.
    #[arg(long, env = "TEAMGATE_REQUIRE_MANIFEST")]
    pub require_manifest: bool,
}

impl BundleArg {
    /// The bundle.
    pub fn bundle(&self) -> Bundle {
        Bundle::new(&self.bundle).with_manifest(self.require_manifest)
    }

    /// Loads the bundle, printing every problem on failure (a spinner on a
    /// terminal while a large bundle loads).
    pub fn load(&self) -> Result<Snapshot, ExitCode> {
        let spinner = progress::Bar::spinner(false, "loading the bundle");
        let loaded = self.bundle().load();
        spinner.done();
        loaded.map_err(|e| {
            render::load_errors(&e);
            ExitCode::from(EXIT_BAD_INPUT)
        })
    }
}

/// Output formats shared by the subcommands that print decisions.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// For programs.
    Json,
}

/// Runs the command line.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_BAD_INPUT)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if matches!(cli.command, Command::Serve(_) | Command::Watch(_)) {
        // Long-lived: freed memory goes back at once. A one-shot command
        // keeps mimalloc's default delay, which spares a many-threaded run
        // (matrix, diff) a TLB shootdown per freed page: the 1,000 x 100
        // matrix took 37.5 s with immediate purging and 13.9 s without.
        teamgate::alloc::tune_mimalloc();
    }
    if !matches!(cli.command, Command::Serve(_)) {
        // A command whose output is piped into `head` ends quietly when the
        // reader goes, as Unix tools do, instead of panicking on a broken
        // pipe (Rust ignores SIGPIPE; the server keeps ignoring it).
        // SAFETY: restoring SIGPIPE's default disposition at start-up, before
        // any other thread exists, is async-signal-safe and touches no memory.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Authorize(a) => authorize::run(a),
        Command::Test(a) => test::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Matrix(a) => matrix::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Prove(a) => prove::run(a),
        Command::Watch(a) => watch::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Data(a) => data::run(a),
        Command::Db(a) => db::run(a),
        Command::Manifest(a) => match teamgate::write_manifest(&Bundle::new(&a.bundle)) {
            Ok(path) => {
                println!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(problems) => {
                for p in problems {
                    eprintln!("error: {p}");
                }
                ExitCode::from(EXIT_BAD_INPUT)
            }
        },
    }
}
