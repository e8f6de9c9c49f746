//! The reload alone, without the watcher: a policy file saved, then
//! `Store::reload_seen(PoliciesOnly)` timed, 30 times, on a copy of the demo
//! bundle (or of the bundle given), with the binary's allocator.
//!
//! `cargo run --release --example reload_time [-- BUNDLE]`; the watcher's
//! whole path (quiet period included) is `cargo bench --bench reload_latency`.

/// The allocator and settings of the `teamgate` binary (see `teamgate::alloc`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::time::Instant;

use teamgate::store::Seen;
use teamgate::{Bundle, Store};

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)?.flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &t)?;
        } else {
            std::fs::copy(e.path(), &t)?;
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    teamgate::alloc::tune_mimalloc();
    let from = std::env::args()
        .nth(1)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").to_string());
    let dir = tempfile::tempdir()?;
    for sub in ["schemas", "policies", "fixtures"] {
        copy_dir(&Path::new(&from).join(sub), &dir.path().join(sub))?;
    }
    let store = Store::open(Bundle::new(dir.path()))?;
    let file = dir.path().join("policies/rules/probe.cedar");
    let mut times = Vec::new();
    for i in 0..30 {
        std::fs::write(&file, format!("// probe {i}\n"))?;
        let started = Instant::now();
        let outcome = store.reload_seen(Seen::PoliciesOnly);
        times.push(started.elapsed().as_secs_f64() * 1e3);
        if i == 0 {
            println!("first reload: {outcome:?}");
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "policy-only reload, 30 saves: median {:.1} ms, fastest {:.1} ms, slowest {:.1} ms",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    Ok(())
}
