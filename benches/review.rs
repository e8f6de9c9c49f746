//! Matrix and diff times: `cargo bench --bench review`.
//!
//! Prints the wall time of the permission matrix and of a diff between the
//! shipped pack and a copy with one forbid removed, on the demo workspace and
//! on a generated workspace of 1,000 users and 100 projects (matrix of the
//! Project columns as cells and as streamed CSV, and of four actions).

use std::time::Instant;

/// The allocator of the `teamgate` binary (one-shot commands keep
/// mimalloc's default settings).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use teamgate::review::{diff, matrix};
use teamgate::{testkit, Bundle};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bundle = Bundle::new(&root);
    let demo = bundle.load().expect("bundle");
    let t = Instant::now();
    let cells = matrix::cells(&demo, &matrix::Selection::default());
    println!(
        "matrix, demo workspace: {} cells in {:.2} s",
        cells.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let d = diff::compare(&demo, &demo, &[root.join("tests/scenarios")]);
    println!(
        "diff, demo workspace (+ scenarios): {} requests in {:.2} s",
        d.requests,
        t.elapsed().as_secs_f64()
    );

    let (json, _) = testkit::workspace_with(1000, 100, 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let big = testkit::write_bundle(&bundle, dir.path(), &json)
        .expect("write the generated bundle")
        .load()
        .expect("generated");
    let sel = matrix::Selection {
        resource_types: vec!["Project".into()],
        ..Default::default()
    };
    let t = Instant::now();
    let cells = matrix::cells(&big, &sel);
    println!(
        "matrix, 1,000 users x 100 projects, Project columns: {} cells in {:.2} s",
        cells.len(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let space = matrix::space(&big, &sel);
    let n = matrix::write_csv(
        &big,
        &space,
        &teamgate::review::NoProgress,
        &mut std::io::sink(),
    )
    .expect("csv");
    println!(
        "matrix, 1,000 users x 100 projects, Project columns as streamed CSV: {n} cells in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let sel = matrix::Selection {
        resource_types: vec!["Project".into(), "Workspace".into()],
        actions: vec![
            "viewProject".into(),
            "editProjectDetails".into(),
            "deleteProject".into(),
            "createProject".into(),
        ],
        ..Default::default()
    };
    let t = Instant::now();
    let cells = matrix::cells(&big, &sel);
    println!(
        "matrix, 1,000 users x 100 projects, 4 actions: {} cells in {:.2} s",
        cells.len(),
        t.elapsed().as_secs_f64()
    );
}
