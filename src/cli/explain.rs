//! `teamgate explain`: a decision and why.

use std::process::ExitCode;

use super::query_args::RequestArgs;
use super::{Format, EXIT_BAD_INPUT, EXIT_DENY};
use teamgate::review::explain;

/// Arguments of `explain`: the request flags shared with `authorize`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    request: RequestArgs,
    /// Decide against the `--entities` files alone, checked against the
    /// schema but not the workspace integrity rules, with the context exactly
    /// as given (nothing derived): replays a `teamgate prove` counterexample.
    #[arg(long)]
    as_given: bool,
}

/// Runs `explain`.
pub fn run(args: Args) -> ExitCode {
    let ex = if args.as_given {
        match args.request.prepare_as_given() {
            Ok((query, snap, entities)) => explain::explain_as_given(&snap, &query, &entities),
            Err(code) => return code,
        }
    } else {
        match args.request.prepare() {
            Ok(p) => explain::explain(&p.snap, &p.query, p.overlay.as_ref()),
            Err(code) => return code,
        }
    };
    match args.request.format {
        Format::Json => match serde_json::to_string_pretty(&ex) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        },
        Format::Text => print!("{}", explain::render(&ex)),
    }
    if ex.decision.is_allowed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DENY)
    }
}
