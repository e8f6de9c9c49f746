//! `teamgate watch`: for a reviewer editing policies. Validates on every save
//! and prints the result; with `--test`, re-runs the scenarios too.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::channel;
use std::sync::Arc;

use teamgate::scenario::{report, run_paths};
use teamgate::store::{ReloadOutcome, WatchGuard, DEFAULT_DEBOUNCE};
use teamgate::Store;

use super::{render, BundleArg, EXIT_BAD_INPUT};

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
    let bundle = args.bundle.bundle();
    println!("watching {} (Ctrl-C to stop)", bundle.root().display());
    let Some(store) = first_good_load(&args) else {
        return ExitCode::from(EXIT_BAD_INPUT);
    };
    let events = store.subscribe();
    let _watching = match store.watch() {
        Ok(w) => w,
        Err(p) => {
            eprintln!("error: {}", render::problem(&p));
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    // A save between the first load and the watch being set up.
    store.reload();
    while let Ok(event) = events.recv() {
        match event.outcome {
            ReloadOutcome::Unchanged => {}
            ReloadOutcome::Swapped(summary) => {
                println!("ok: {summary}");
                run_tests(&store, &args);
            }
            ReloadOutcome::Failed(problems) => {
                for p in &problems {
                    eprintln!("error: {}\n", render::problem(p));
                }
                println!(
                    "{} error{}: the last good version {} is kept",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" },
                    store.status().version
                );
            }
            _ => {}
        }
    }
    ExitCode::SUCCESS
}

/// Until the bundle first loads there is no store: try on every save.
fn first_good_load(args: &Args) -> Option<Arc<Store>> {
    let bundle = args.bundle.bundle();
    let (tx, rx) = channel::<()>();
    let waiting: WatchGuard = match WatchGuard::start(&bundle, DEFAULT_DEBOUNCE, move || {
        let _ = tx.send(());
    }) {
        Ok(w) => w,
        Err(p) => {
            eprintln!("error: {}", render::problem(&p));
            return None;
        }
    };
    loop {
        match Store::open(bundle.clone()) {
            Ok(s) => {
                drop(waiting);
                let snap = s.snapshot();
                println!(
                    "ok: version {}: {} policies, {} entities",
                    snap.version(),
                    snap.policy_count(),
                    snap.entity_count()
                );
                let store = Arc::new(s);
                run_tests(&store, args);
                return Some(store);
            }
            Err(e) => {
                render::load_errors(&e);
                println!("waiting for the next save...");
            }
        }
        rx.recv().ok()?;
        // Coalesce saves that arrived while we worked.
        while rx.try_recv().is_ok() {}
    }
}

fn run_tests(store: &Store, args: &Args) {
    if args.tests.is_empty() {
        return;
    }
    let snap = store.snapshot();
    let mut reports = run_paths(&args.tests, &snap);
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
            report::text(&reports, &snap).replace("\n0 passed,", &format!("\n{passed} passed,"))
        );
    }
}
