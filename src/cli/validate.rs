//! `teamgate validate`: load a bundle and report.

use std::process::ExitCode;

use serde_json::json;

use super::{BundleArg, Format, EXIT_BAD_INPUT};
use crate::bundle;

/// Arguments of `validate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Runs `validate`.
pub fn run(args: Args) -> ExitCode {
    let paths = args.bundle.paths();
    match bundle::load(&paths) {
        Ok(snap) => {
            let pack = &snap.pack;
            let permits = pack.index.values().filter(|p| p.effect == "permit").count();
            let files: std::collections::BTreeSet<&str> =
                pack.index.values().map(|p| p.file.as_str()).collect();
            let actions = pack.engine.actions().len();
            match args.format {
                Format::Json => println!(
                    "{:#}",
                    json!({
                        "ok": true,
                        "version": snap.version,
                        "policies": pack.index.len(),
                        "permits": permits,
                        "forbids": pack.index.len() - permits,
                        "policy_files": files.len(),
                        "actions": actions,
                        "entities": snap.data.count,
                        "warnings": pack.warnings.iter().map(|w| &w.message).collect::<Vec<_>>(),
                    })
                ),
                Format::Text => {
                    println!("ok: bundle {} is valid", paths.root.display());
                    println!(
                        "  policies  {} in {} files ({} permit, {} forbid), strictly validated",
                        pack.index.len(),
                        files.len(),
                        permits,
                        pack.index.len() - permits
                    );
                    println!("  actions   {actions} requestable");
                    println!("  entities  {}", snap.data.count);
                    println!("  version   {}", snap.version);
                    for w in &pack.warnings {
                        println!("warning: {w}");
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if args.format == Format::Json {
                println!("{:#}", json!({ "ok": false, "errors": e.0 }));
            }
            super::print_load_errors(&e);
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
