//! Decision and load benchmarks.
//!
//! `cargo bench --bench decision` measures:
//! - `decision/<workspace>/<strategy>`: one in-process decision, cycling through
//!   a fixed mix of allow and deny requests, on the demo workspace and on
//!   generated workspaces of 100, 10,000 and 100,000 users, evaluating only the
//!   policy slice of the request (`sliced`) or the whole set (`whole`);
//! - `decision/demo/page`: one user's page of the demo workspace, every
//!   project with three buttons (`viewProject`, `createTask`,
//!   `deleteProject`), decided as the sidecar decides a batch; reported per
//!   decision (criterion's throughput in elements);
//! - `decision/demo/page-http`: the same pages as the sidecar's batch route
//!   answers them (`POST /v1/batch_is_authorized` through its router, in
//!   process: the JSON body read, the references resolved, the batch decided
//!   and the answer written), per decision; the difference to `page` is the
//!   cost of the API around the decisions, without the socket;
//! - `load/bundle-demo`: read, parse and strictly validate the shipped bundle;
//! - `load/entities/<n>`: integrity-check and parse the entity data of a workspace.
//!
//! Set `TEAMGATE_BENCH_SIZES=100,10000` to skip the largest workspace.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

/// The allocator and settings of the `teamgate` binary (see `teamgate::alloc`):
/// the decisions measured here are the sidecar's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use teamgate::review::universe;
use teamgate::{testkit, Bundle, Overlay, Query, Snapshot, Strategy};

fn sizes() -> Vec<usize> {
    std::env::var("TEAMGATE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 10_000, 100_000])
}

fn shipped() -> Snapshot {
    Bundle::new(env!("CARGO_MANIFEST_DIR"))
        .load()
        .expect("shipped bundle")
}

fn bench_decisions(
    c: &mut Criterion,
    name: &str,
    snap: &Snapshot,
    overlay: Option<&Overlay>,
    queries: &[Query],
) {
    let mut group = c.benchmark_group(format!("decision/{name}"));
    let mut i = 0usize;
    group.bench_function("sliced", |b| {
        b.iter(|| {
            let q = &queries[i % queries.len()];
            i += 1;
            snap.decide(q, overlay).is_allowed()
        })
    });
    group.bench_function("whole", |b| {
        b.iter(|| {
            let q = &queries[i % queries.len()];
            i += 1;
            snap.evaluate(q, overlay, Strategy::WholeSet).is_ok()
        })
    });
    group.finish();
}

fn decisions(c: &mut Criterion) {
    teamgate::alloc::tune_mimalloc();
    let snap = shipped();
    let demo: Vec<Query> = universe::cases(&snap, None)
        .into_iter()
        .step_by(7)
        .map(|c| c.query)
        .collect();
    bench_decisions(c, "demo", &snap, None, &demo);
    // A repeated request answered from the decision cache (a snapshot built
    // with the cache on; the demo mix, each asked once before).
    teamgate::set_decision_cache(1 << 16);
    let cached = shipped();
    teamgate::set_decision_cache(0);
    for q in &demo {
        cached.decide(q, None);
    }
    let mut i = 0usize;
    c.bench_function("decision/demo/cached", |b| {
        b.iter(|| {
            let q = &demo[i % demo.len()];
            i += 1;
            cached.decide(q, None).is_allowed()
        })
    });
    bench_pages(c, &snap);
    for n in sizes() {
        let (json, ids) = testkit::workspace(n, 42);
        let data = Overlay::instead_of_stored("synth")
            .upsert(json)
            .build(&snap)
            .expect("generated workspace");
        let queries = testkit::requests(&ids, 1000, 42);
        bench_decisions(c, &format!("users-{n}"), &snap, Some(&data), &queries);
    }
}

/// One batch per user of the demo: every project, three actions each, in
/// the order a page asks them (by project, then button).
fn bench_pages(c: &mut Criterion, snap: &Snapshot) {
    let buttons = ["viewProject", "createTask", "deleteProject"];
    let mut pages: std::collections::BTreeMap<String, Vec<Query>> = Default::default();
    for case in universe::cases(snap, None) {
        let q = case.query;
        let button = buttons.contains(&q.action().id().unescaped());
        if button && q.resource().type_name().to_string() == "Project" {
            pages.entry(q.principal().to_string()).or_default().push(q);
        }
    }
    let mut pages: Vec<Vec<Query>> = pages.into_values().collect();
    for page in &mut pages {
        page.sort_by_key(|q| (q.resource().to_string(), q.action().to_string()));
    }
    // The universe asks every user about every project: pages of one size.
    let per_page = pages.first().map_or(0, Vec::len);
    assert!(per_page >= 6, "a page has projects and buttons: {per_page}");
    assert!(
        pages.iter().all(|p| p.len() == per_page),
        "pages of one size"
    );
    let mut group = c.benchmark_group("decision/demo");
    group.throughput(criterion::Throughput::Elements(per_page as u64));
    let mut i = 0usize;
    group.bench_function("page", |b| {
        b.iter(|| {
            let page: Vec<&Query> = pages[i % pages.len()].iter().collect();
            i += 1;
            snap.decide_batch(&page, None).len()
        })
    });
    bench_page_bodies(&mut group, &pages);
    group.finish();
}

/// The pages as batch bodies, through the sidecar's router.
fn bench_page_bodies(
    group: &mut criterion::BenchmarkGroup<criterion::measurement::WallTime>,
    pages: &[Vec<Query>],
) {
    use axum::body::{Body, Bytes};
    use std::sync::Arc;
    use teamgate::server::{router, AppState, ServerConfig};
    use tower::ServiceExt;

    let store = teamgate::store::Store::open(Bundle::new(env!("CARGO_MANIFEST_DIR")))
        .expect("shipped bundle");
    let app = router(Arc::new(AppState::new(
        Arc::new(store),
        ServerConfig::default(),
        None,
    )));
    let bodies: Vec<Bytes> = pages
        .iter()
        .map(|page| {
            let requests: Vec<serde_json::Value> = page
                .iter()
                .map(|q| {
                    serde_json::json!({
                        "principal": q.principal().to_string(),
                        "action": q.action().to_string(),
                        "resource": q.resource().to_string(),
                    })
                })
                .collect();
            Bytes::from(serde_json::json!({ "requests": requests }).to_string())
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut i = 0usize;
    group.bench_function("page-http", |b| {
        b.iter(|| {
            let body = bodies[i % bodies.len()].clone();
            i += 1;
            runtime.block_on(async {
                let request = axum::http::Request::post("/v1/batch_is_authorized")
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .expect("request");
                let response = app.clone().oneshot(request).await.expect("answer");
                assert!(response.status().is_success(), "{}", response.status());
                axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .expect("body")
                    .len()
            })
        })
    });
}

fn loads(c: &mut Criterion) {
    let bundle = Bundle::new(env!("CARGO_MANIFEST_DIR"));
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("bundle-demo", |b| b.iter(|| bundle.load().expect("bundle")));
    let snap = shipped();
    for n in sizes() {
        let (json, _) = testkit::workspace(n, 42);
        group.bench_function(format!("entities/{n}"), |b| {
            b.iter_batched(
                || json.clone(),
                |j| {
                    Overlay::instead_of_stored("synth")
                        .upsert(j)
                        .build(&snap)
                        .expect("entities")
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, decisions, loads);
criterion_main!(benches);
