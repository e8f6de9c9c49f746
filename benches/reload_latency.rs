//! Time from saving a policy file to the first query answered by the new
//! snapshot, through the real watcher (debounce included), over 50 edits.
//!
//! `cargo bench --bench reload_latency` prints the median and the worst.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// The allocator and settings of the `teamgate` binary (see `teamgate::alloc`):
/// a reload allocates and frees the whole policy pack, and the sidecar does
/// it with mimalloc (glibc's malloc made the reload 30-40 % slower).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use teamgate::store::DEFAULT_DEBOUNCE;
use teamgate::{Bundle, Query, Store};

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).expect("copy");
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    teamgate::alloc::tune_mimalloc();
    let dir = tempfile::tempdir().expect("tempdir");
    for sub in ["schemas", "policies", "fixtures"] {
        copy_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(sub),
            &dir.path().join(sub),
        );
    }
    let store = Arc::new(Store::open(Bundle::new(dir.path())).expect("bundle"));
    let _w = store.watch().expect("watcher");
    let events = store.subscribe();
    // The reloads' own durations (from the start of the reload to the swap).
    let mut reloads = Vec::new();
    let q =
        Query::parse(r#"User::"carol""#, "createProject", r#"Workspace::"acme""#).expect("query");
    let file = dir.path().join("policies/rules/probe.cedar");
    let mut times = Vec::new();
    for i in 0..50 {
        let grant = i % 2 == 0;
        let text = if grant {
            "@id(\"probe\")\npermit (principal == User::\"carol\", action == Action::\"createProject\", resource);\n".to_string()
        } else {
            format!("// probe off ({i})\n")
        };
        std::thread::sleep(Duration::from_millis(300));
        let start = Instant::now();
        std::fs::write(&file, text).expect("write");
        loop {
            let snap = store.snapshot();
            if snap.decide(&q, None).is_allowed() == grant {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "edit {i} never went live"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        times.push(start.elapsed());
        std::thread::sleep(Duration::from_millis(50));
        for e in events.try_iter() {
            if let teamgate::store::ReloadOutcome::Swapped(s) = e.outcome {
                reloads.push(s.millis);
            }
        }
    }
    times.sort();
    reloads.sort();
    println!(
        "save -> first query on the new snapshot, 50 edits (debounce {} ms): median {:.1} ms, worst {:.1} ms",
        DEFAULT_DEBOUNCE.as_millis(),
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    if let Some(median) = reloads.get(reloads.len() / 2) {
        println!(
            "of which the reload itself (read, parse, validate, slice, swap): median {median} ms over {} reloads",
            reloads.len()
        );
    }
}
