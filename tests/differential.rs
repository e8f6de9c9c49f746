//! The sliced engine answers exactly as Cedar does on the whole policy set:
//! same decision, same determining policies, same errors.

use teamgate::{bundle::EntityData, synth, universe, BundlePaths, Engine, Query, Strategy};

fn shipped() -> teamgate::Snapshot {
    teamgate::load(&BundlePaths::new(env!("CARGO_MANIFEST_DIR"))).expect("shipped bundle loads")
}

/// (decision, sorted reasons, sorted errors) of Cedar's raw response.
fn raw(
    engine: &Engine,
    q: &Query,
    entities: &cedar_policy::Entities,
    s: Strategy,
) -> Result<(String, Vec<String>, Vec<String>), String> {
    engine.evaluate(q, entities, s).map(|r| {
        let mut reasons: Vec<String> = r.diagnostics().reason().map(|p| p.to_string()).collect();
        reasons.sort();
        let mut errors: Vec<String> = r.diagnostics().errors().map(|e| e.to_string()).collect();
        errors.sort();
        (format!("{:?}", r.decision()), reasons, errors)
    })
}

fn compare(
    engine: &Engine,
    entities: &cedar_policy::Entities,
    queries: impl Iterator<Item = Query>,
) -> (usize, usize, usize) {
    let (mut n, mut allows, mut with_errors) = (0, 0, 0);
    for q in queries {
        let sliced = raw(engine, &q, entities, Strategy::Sliced);
        let whole = raw(engine, &q, entities, Strategy::WholeSet);
        assert_eq!(
            sliced, whole,
            "sliced and whole-set answers differ for {q:?}"
        );
        if let Ok((d, _, errors)) = &sliced {
            allows += usize::from(d == "Allow");
            with_errors += usize::from(!errors.is_empty());
        }
        n += 1;
    }
    (n, allows, with_errors)
}

#[test]
fn sliced_equals_whole_set_on_the_demo_universe() {
    let snap = shipped();
    let cases = universe::cases(&snap.pack.schema, &snap.data.entities);
    let (n, allows, _) = compare(
        &snap.pack.engine,
        &snap.data.entities,
        cases.into_iter().map(|c| c.query),
    );
    assert!(n > 2000, "the universe has {n} requests");
    assert!(
        allows > 100 && allows < n - 100,
        "a real mix: {allows} allows of {n}"
    );
}

#[test]
fn sliced_equals_whole_set_on_generated_workspaces_with_errors() {
    let snap = shipped();
    for seed in [1u64, 2, 3] {
        let (json, ids) = synth::workspace(400, seed);
        let data =
            EntityData::from_json(json, &snap.pack, "synth").expect("generated workspace is valid");
        let queries = synth::requests(&ids, 3000, seed);
        let (n, allows, with_errors) =
            compare(&snap.pack.engine, &data.entities, queries.into_iter());
        assert_eq!(n, 3000);
        assert!(allows > 100, "seed {seed}: {allows} allows");
        assert!(
            with_errors > 10,
            "seed {seed}: requests whose policies error are included ({with_errors})"
        );
    }
}

#[test]
fn slices_are_smaller_than_the_whole_set() {
    let snap = shipped();
    let total = snap.pack.index.len();
    let user: cedar_policy::EntityTypeName = "User".parse().unwrap();
    let project: cedar_policy::EntityTypeName = "Project".parse().unwrap();
    let action: cedar_policy::EntityUid = r#"Action::"viewProject""#.parse().unwrap();
    let n = snap
        .pack
        .engine
        .slice_len(&user, &action, &project)
        .unwrap();
    assert!(
        n * 3 < total,
        "viewProject evaluates {n} of {total} policies"
    );
}
