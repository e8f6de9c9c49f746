//! `teamgate authorize`: decide one request.

use std::process::ExitCode;

use serde_json::json;

use super::query_args::RequestArgs;
use super::{Format, EXIT_DENY};
use teamgate::{Decision, Query, Snapshot};

/// Arguments of `authorize`: the request flags shared with `explain`.
pub type Args = RequestArgs;

/// Runs `authorize`.
pub fn run(args: Args) -> ExitCode {
    let prepared = match args.prepare() {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (query, snap) = (&prepared.query, &prepared.snap);
    let decision = snap.decide(query, prepared.overlay.as_ref());
    match args.format {
        Format::Json => println!(
            "{}",
            json!({
                "decision": decision.verdict(),
                "reasons": decision.reasons(),
                "errors": decision.errors(),
                "version": snap.version(),
            })
        ),
        Format::Text => print!("{}", render_text(query, &decision, snap)),
    }
    if decision.is_allowed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DENY)
    }
}

/// A decision as a reviewer reads it: the verdict, each determining policy
/// with file:line and rule ids, any error.
pub fn render_text(query: &Query, d: &Decision, snap: &Snapshot) -> String {
    let mut out = format!(
        "{}: {} {} {} on {}\n",
        d.verdict().word().to_uppercase(),
        query.principal(),
        if d.is_allowed() { "may" } else { "may not" },
        query.action_name(),
        query.resource()
    );
    for id in d.reasons() {
        match snap.policy(id) {
            Some(info) => out.push_str(&format!(
                "  {} {}  {}  [{}]\n",
                info.effect(),
                id,
                info.location(),
                info.rules().join(", ")
            )),
            None => out.push_str(&format!("  {id}\n")),
        }
    }
    for e in d.errors() {
        out.push_str(&format!("  error: {e}\n"));
    }
    if !d.is_allowed() && d.reasons().is_empty() && d.errors().is_empty() {
        out.push_str("  no permit applies: anything not granted is denied (P5)\n");
    }
    out.push_str(&format!("  version {}\n", snap.version()));
    out
}
