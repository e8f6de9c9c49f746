//! `teamgate explain`: a decision and why.

use std::process::ExitCode;

use super::query_args::RequestArgs;
use super::{Format, EXIT_BAD_INPUT, EXIT_DENY};
use teamgate::review::explain;

/// Arguments of `explain`: the request flags shared with `authorize`.
pub type Args = RequestArgs;

/// Runs `explain`.
pub fn run(args: Args) -> ExitCode {
    let prepared = match args.prepare() {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (query, snap) = (&prepared.query, &prepared.snap);
    let ex = explain::explain(snap, query, prepared.overlay.as_ref());
    match args.format {
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
