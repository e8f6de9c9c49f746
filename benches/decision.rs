//! Decision and load benchmarks.
//!
//! `cargo bench --bench decision` measures:
//! - `decision/<workspace>/<strategy>`: one in-process decision, cycling through
//!   a fixed mix of allow and deny requests, on the demo workspace and on
//!   generated workspaces of 100, 10,000 and 100,000 users, evaluating only the
//!   policy slice of the request (`sliced`) or the whole set (`whole`);
//! - `load/policies`: parse and strictly validate schema + policies, build the engine;
//! - `load/entities/<n>`: integrity-check and parse the entity data of a workspace.
//!
//! Set `TEAMGATE_BENCH_SIZES=100,10000` to skip the largest workspace.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use teamgate::bundle::{EntityData, PolicyPack};
use teamgate::{synth, universe, BundlePaths, Query, Strategy};

fn sizes() -> Vec<usize> {
    std::env::var("TEAMGATE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 10_000, 100_000])
}

fn pack() -> PolicyPack {
    PolicyPack::load(&BundlePaths::new(env!("CARGO_MANIFEST_DIR"))).expect("shipped bundle")
}

fn bench_decisions(
    c: &mut Criterion,
    name: &str,
    pack: &PolicyPack,
    entities: &cedar_policy::Entities,
    queries: &[Query],
) {
    let mut group = c.benchmark_group(format!("decision/{name}"));
    for (label, strategy) in [("sliced", Strategy::Sliced), ("whole", Strategy::WholeSet)] {
        let mut i = 0usize;
        group.bench_function(label, |b| {
            b.iter(|| {
                let q = &queries[i % queries.len()];
                i += 1;
                let r = pack.engine.evaluate(q, entities, strategy);
                match r {
                    Ok(resp) => teamgate::Engine::fail_closed(&resp).allowed,
                    Err(_) => false,
                }
            })
        });
    }
    group.finish();
}

fn decisions(c: &mut Criterion) {
    let pack = pack();
    let snap = teamgate::load(&BundlePaths::new(env!("CARGO_MANIFEST_DIR"))).expect("bundle");
    let demo: Vec<Query> = universe::cases(&pack.schema, &snap.data.entities)
        .into_iter()
        .step_by(7)
        .map(|c| c.query)
        .collect();
    bench_decisions(c, "demo", &pack, &snap.data.entities, &demo);
    for n in sizes() {
        let (json, ids) = synth::workspace(n, 42);
        let data = EntityData::from_json(json, &pack, "synth").expect("generated workspace");
        let queries = synth::requests(&ids, 1000, 42);
        bench_decisions(c, &format!("users-{n}"), &pack, &data.entities, &queries);
    }
}

fn loads(c: &mut Criterion) {
    let paths = BundlePaths::new(env!("CARGO_MANIFEST_DIR"));
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("policies", |b| {
        b.iter(|| PolicyPack::load(&paths).expect("pack"))
    });
    let pack = pack();
    for n in sizes() {
        let (json, _) = synth::workspace(n, 42);
        group.bench_function(format!("entities/{n}"), |b| {
            b.iter_batched(
                || json.clone(),
                |j| EntityData::from_json(j, &pack, "synth").expect("entities"),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, decisions, loads);
criterion_main!(benches);
