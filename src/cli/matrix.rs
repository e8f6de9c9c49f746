//! `teamgate matrix`: the permission matrix.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::{BundleArg, EXIT_BAD_INPUT};
use teamgate::review::matrix::{self, Selection};

/// Formats of `matrix`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatrixFormat {
    /// Markdown tables (for a pull-request comment).
    #[default]
    Md,
    /// One self-contained HTML page.
    Html,
    /// One line per cell.
    Csv,
    /// Every cell as JSON.
    Json,
}

/// Values of `matrix --by`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatrixBy {
    /// One row per role, license, project role and place.
    Role,
}

/// Arguments of `matrix`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArg,
    /// Only these principals (repeatable), e.g. 'User::"erin"'.
    #[arg(long)]
    principal: Vec<String>,
    /// Only these actions (repeatable), e.g. viewProject.
    #[arg(long)]
    action: Vec<String>,
    /// Only these resource types (repeatable), e.g. Project.
    #[arg(long = "resource-type")]
    resource_type: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: MatrixFormat,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// `role`: one row per (workspace role, license, project role, home or
    /// external) present in the data, decided on a representative principal
    /// and resource, instead of one per principal and resource.
    #[arg(long, value_enum)]
    by: Option<MatrixBy>,
    /// No progress bar (there is none anyway when standard error is not a terminal).
    #[arg(long, short)]
    quiet: bool,
}

/// Runs `matrix`.
pub fn run(args: Args) -> ExitCode {
    let snap = match args.bundle.load() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let sel = Selection {
        principals: args.principal,
        actions: args
            .action
            .iter()
            .map(|a| {
                a.trim_start_matches("Action::")
                    .trim_matches('"')
                    .to_string()
            })
            .collect(),
        resource_types: args.resource_type,
    };
    let bar = super::progress::Bar::new(args.quiet);
    let by_role = args.by == Some(MatrixBy::Role);
    if args.format == MatrixFormat::Csv && !by_role {
        return stream_csv(&snap, &sel, &bar, args.output.as_deref());
    }
    let cells = if by_role {
        matrix::cells_by_role(&snap, &sel, &bar)
    } else {
        matrix::cells_with(&snap, &sel, &bar)
    };
    bar.done();
    if cells.is_empty() {
        return nothing_selected();
    }
    let text = match args.format {
        MatrixFormat::Md => matrix::markdown(&cells, snap.version(), by_role),
        MatrixFormat::Html => matrix::html(&cells, snap.version()),
        MatrixFormat::Csv => matrix::csv(&cells),
        MatrixFormat::Json => serde_json::to_string_pretty(&cells).unwrap_or_default(),
    };
    match args.output {
        Some(p) => {
            if let Err(e) = std::fs::write(&p, text) {
                eprintln!("error: {}: {e}", p.display());
                return ExitCode::from(EXIT_BAD_INPUT);
            }
            eprintln!("wrote {} ({} cells)", p.display(), cells.len());
        }
        None => print!("{text}"),
    }
    ExitCode::SUCCESS
}

fn nothing_selected() -> ExitCode {
    eprintln!(
        "error: the selection matches no request (check --principal, --action and --resource-type)"
    );
    ExitCode::from(EXIT_BAD_INPUT)
}

/// The CSV matrix, written as it is decided (never held whole).
fn stream_csv(
    snap: &teamgate::Snapshot,
    sel: &Selection,
    bar: &super::progress::Bar,
    output: Option<&std::path::Path>,
) -> ExitCode {
    let space = matrix::space(snap, sel);
    if space.is_empty() {
        return nothing_selected();
    }
    let written = match output {
        Some(p) => std::fs::File::create(p).and_then(|f| {
            let mut w = std::io::BufWriter::new(f);
            let n = matrix::write_csv(snap, &space, bar, &mut w)?;
            std::io::Write::flush(&mut w)?;
            Ok(n)
        }),
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            matrix::write_csv(snap, &space, bar, &mut w)
                .and_then(|n| std::io::Write::flush(&mut w).map(|()| n))
        }
    };
    bar.done();
    match (written, output) {
        (Ok(n), Some(p)) => {
            eprintln!("wrote {} ({n} cells)", p.display());
            ExitCode::SUCCESS
        }
        (Ok(_), None) => ExitCode::SUCCESS,
        (Err(e), p) => {
            let to = p.map_or("standard output".to_string(), |p| p.display().to_string());
            eprintln!("error: {to}: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
