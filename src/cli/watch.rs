//! `teamgate watch`: for a reviewer editing policies. Validates on every save
//! and prints the result; with `--test`, re-runs the scenarios too.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::channel;
use std::sync::Arc;

use super::{BundleArg, EXIT_BAD_INPUT};
use crate::scenario::{report, run_paths};
use crate::store::{ReloadOutcome, Store};
use crate::watch::{Watcher, DEFAULT_DEBOUNCE};

/// Arguments of `watch`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArg,
    /// Scenario files or directories to run after every good save.
    #[arg(long = "test", num_args = 1..)]
    tests: Vec<PathBuf>,
}

/// Runs `watch` until interrupted.
pub fn run(args: Args) -> ExitCode {
    let paths = args.bundle.paths();
    let (tx, rx) = channel::<()>();
    let _watcher = match Watcher::start(paths.clone(), DEFAULT_DEBOUNCE, move || {
        let _ = tx.send(());
    }) {
        Ok(w) => w,
        Err(p) => {
            eprintln!("error: {p}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    println!("watching {} (Ctrl-C to stop)", paths.root.display());
    // Until the bundle first loads there is no store: keep trying on each save.
    let mut store: Option<Arc<Store>> = None;
    loop {
        match &store {
            None => match Store::open(paths.clone()) {
                Ok(s) => {
                    let snap = s.snapshot();
                    println!(
                        "ok: version {}: {} policies, {} entities",
                        snap.version,
                        snap.pack.index.len(),
                        snap.data.count
                    );
                    store = Some(Arc::new(s));
                    run_tests(store.as_deref(), &args);
                }
                Err(e) => {
                    super::print_load_errors(&e);
                    println!("waiting for the next save...");
                }
            },
            Some(s) => match s.reload() {
                ReloadOutcome::Unchanged => {}
                ReloadOutcome::Swapped(summary) => {
                    println!("ok: {summary}");
                    run_tests(Some(s), &args);
                }
                ReloadOutcome::Failed(problems) => {
                    for p in &problems {
                        eprintln!("error: {p}\n");
                    }
                    println!(
                        "{} error{}: the last good version {} is kept",
                        problems.len(),
                        if problems.len() == 1 { "" } else { "s" },
                        s.status().version
                    );
                }
            },
        }
        if rx.recv().is_err() {
            return ExitCode::SUCCESS;
        }
        // Coalesce saves that arrived while we worked.
        while rx.try_recv().is_ok() {}
    }
}

fn run_tests(store: Option<&Store>, args: &Args) {
    let Some(store) = store else { return };
    if args.tests.is_empty() {
        return;
    }
    let snap = store.snapshot();
    let mut reports = run_paths(&args.tests, &snap, store.paths());
    let (passed, failed) = report::counts(&reports);
    if failed == 0 {
        println!("scenarios: {passed} passed, 0 failed");
    } else {
        // Only what failed: a reviewer wants the decisions their edit moved.
        reports.retain_mut(|f| {
            f.scenarios.retain(|s| !s.passed());
            f.error.is_some() || !f.scenarios.is_empty()
        });
        print!(
            "{}",
            report::text(&reports, &snap.pack)
                .replace("\n0 passed,", &format!("\n{passed} passed,"))
        );
    }
}
