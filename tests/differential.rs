//! The sliced engine answers exactly as Cedar does on the whole policy set:
//! same decision, same determining policies, same errors.

use teamgate::review::universe;
use teamgate::{testkit, Bundle, Overlay, Query, Snapshot, Strategy};

fn shipped() -> Snapshot {
    Bundle::new(env!("CARGO_MANIFEST_DIR"))
        .load()
        .expect("shipped bundle loads")
}

/// (decision, sorted reasons, sorted errors) of Cedar's raw response.
type Raw = Result<(String, Vec<String>, Vec<String>), teamgate::RequestError>;

/// (decision, sorted reasons, sorted errors) of a Cedar response.
fn raw(r: Result<cedar_policy::Response, teamgate::RequestError>) -> Raw {
    r.map(|r| {
        let mut reasons: Vec<String> = r.diagnostics().reason().map(|p| p.to_string()).collect();
        reasons.sort();
        let mut errors: Vec<String> = r.diagnostics().errors().map(|e| e.to_string()).collect();
        errors.sort();
        (format!("{:?}", r.decision()), reasons, errors)
    })
}

/// What teamgate must answer for Cedar's `raw` answer: allowed only without
/// errors, and a permit does not explain a deny forced by an error.
fn closed(
    (decision, reasons, errors): (String, Vec<String>, Vec<String>),
) -> (bool, Vec<String>, Vec<String>) {
    let cedar_allowed = decision == "Allow";
    let allowed = cedar_allowed && errors.is_empty();
    let reasons = if cedar_allowed && !allowed {
        Vec::new()
    } else {
        reasons
    };
    (allowed, reasons, errors)
}

/// Cedar's own `Entities` of entity JSON, parsed by Cedar with the schema:
/// the reference, independent of teamgate's entity store.
fn cedar_entities(snap: &Snapshot, json: Vec<serde_json::Value>) -> cedar_policy::Entities {
    cedar_policy::Entities::from_json_value(serde_json::Value::Array(json), Some(snap.schema()))
        .expect("Cedar parses the entity data")
}

/// teamgate's answer (its policy slice, the entities the request reaches)
/// against Cedar's (every policy, every entity); returns (requests, allows,
/// requests with errors).
fn compare(
    snap: &Snapshot,
    overlay: Option<&Overlay>,
    full: &cedar_policy::Entities,
    queries: impl Iterator<Item = Query>,
) -> (usize, usize, usize) {
    let (mut n, mut allows, mut with_errors) = (0, 0, 0);
    let queries: Vec<Query> = queries.collect();
    // Deciding them all over one shared entity set (the matrix's and the
    // diff's path) answers each as deciding it alone does.
    // In the order given, and grouped by principal and resource (where
    // consecutive queries share the outcomes of policies that read neither
    // action nor context).
    let mut refs: Vec<&Query> = queries.iter().collect();
    for grouped in [false, true] {
        if grouped {
            refs.sort_by_key(|q| (q.principal().to_string(), q.resource().to_string()));
        }
        for (q, batched) in refs.iter().zip(snap.decide_batch(&refs, overlay)) {
            assert_eq!(
                batched,
                snap.try_decide(q, overlay),
                "deciding {q:?} in a batch and alone differ"
            );
        }
    }
    for q in queries {
        let sliced = raw(snap.evaluate(&q, overlay, Strategy::Sliced));
        let whole = raw(snap.evaluate_with(&q, overlay, full, Strategy::WholeSet));
        assert_eq!(
            sliced, whole,
            "teamgate and Cedar's whole-set answers differ for {q:?}"
        );
        // The decision path (prepared conditions, not Cedar's authorizer)
        // fails Cedar's whole-set answer closed.
        let decided = snap
            .try_decide(&q, overlay)
            .map(|d| (d.is_allowed(), d.reasons().to_vec(), d.errors().to_vec()));
        assert_eq!(
            decided,
            whole.clone().map(closed),
            "teamgate's decision and Cedar's whole-set answer differ for {q:?}"
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
    let fixtures = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/entities.json"
    ))
    .expect("demo fixtures");
    let full = cedar_entities(&snap, serde_json::from_str(&fixtures).expect("JSON"));
    let cases = universe::cases(&snap, None);
    let (n, allows, _) = compare(&snap, None, &full, cases.into_iter().map(|c| c.query));
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
        let (json, ids) = testkit::workspace(400, seed);
        let full = cedar_entities(&snap, json.clone());
        let data = Overlay::instead_of_stored("synth")
            .upsert(json)
            .build(&snap)
            .expect("generated workspace is valid");
        // Every 50th request is followed by the same request of a principal
        // and one of a resource the data does not hold: a batch answers
        // them as asked alone, between requests of pairs that exist.
        let queries: Vec<Query> = testkit::requests(&ids, 3000, seed)
            .into_iter()
            .enumerate()
            .flat_map(|(i, q)| {
                let mut out = vec![q.clone()];
                if i % 50 == 0 {
                    let stray = |uid: &cedar_policy::EntityUid| {
                        cedar_policy::EntityUid::from_type_name_and_id(
                            uid.type_name().clone(),
                            cedar_policy::EntityId::new("nobody-stored"),
                        )
                    };
                    for (p, r) in [
                        (stray(q.principal()), q.resource().clone()),
                        (q.principal().clone(), stray(q.resource())),
                    ] {
                        out.push(
                            Query::new(p, q.action().clone(), r).with_context(q.context().clone()),
                        );
                    }
                }
                out
            })
            .collect();
        let (n, allows, with_errors) = compare(&snap, Some(&data), &full, queries.into_iter());
        assert_eq!(n, 3000 + 2 * 60);
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
    let total = snap.policy_count();
    let q = Query::parse(r#"User::"bob""#, "viewProject", r#"Project::"website""#).unwrap();
    let n = snap
        .slice_len(q.principal(), q.action(), q.resource())
        .unwrap();
    assert!(
        n * 3 < total,
        "viewProject evaluates {n} of {total} policies"
    );
}

#[test]
fn entities_added_by_a_request_decide_as_if_they_were_stored() {
    let shipped = shipped();
    let (json, ids) = testkit::workspace(400, 9);
    // The last 40 tasks come with the requests; the rest is stored.
    let added_ids: Vec<String> = ids.tasks.iter().rev().take(40).cloned().collect();
    let is_added = |e: &serde_json::Value| {
        e["uid"]["type"] == "Task" && added_ids.iter().any(|t| e["uid"]["id"] == t.as_str())
    };
    let stored: Vec<serde_json::Value> = json.iter().filter(|e| !is_added(e)).cloned().collect();
    let added: Vec<serde_json::Value> = json.iter().filter(|e| is_added(e)).cloned().collect();
    assert_eq!(added.len(), 40);
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = Bundle::new(env!("CARGO_MANIFEST_DIR"));
    let snap = testkit::write_bundle(&bundle, dir.path(), &stored)
        .expect("write")
        .load()
        .expect("the stored part loads");
    let overlay = Overlay::adding_to_stored("request")
        .upsert(added)
        .build(&snap)
        .expect("the added tasks pass the checks");
    let full = cedar_entities(&shipped, json);
    let queries = testkit::requests(&ids, 3000, 9)
        .into_iter()
        .chain(added_ids.iter().flat_map(|t| {
            ids.users.iter().take(30).map(move |u| {
                Query::parse(&format!("User::{u:?}"), "editTask", &format!("Task::{t:?}"))
                    .expect("query")
            })
        }));
    let (n, allows, _) = compare(&snap, Some(&overlay), &full, queries);
    assert!(n > 4000 && allows > 100, "{n} requests, {allows} allows");
}

#[test]
fn cached_decisions_equal_cedars_on_every_request_asked_twice() {
    // A snapshot built with the decision cache on answers each request of
    // the demo universe and of a generated workspace twice (a miss, then a
    // hit): both equal to the sliced evaluation, itself equal to Cedar's.
    teamgate::set_decision_cache(1 << 16);
    let snap = shipped();
    let (before_hits, _) = teamgate::decision_cache_counts();
    let mut n = 0;
    for c in universe::cases(&snap, None) {
        let expected = raw(snap.evaluate(&c.query, None, Strategy::Sliced));
        for _ in 0..2 {
            let d = snap.try_decide(&c.query, None);
            let (verdict, mut reasons) = match (&d, &expected) {
                (Ok(d), Ok(_)) => (
                    if d.is_allowed() { "Allow" } else { "Deny" }.to_string(),
                    d.reasons().to_vec(),
                ),
                (Err(_), Err(_)) => continue,
                _ => panic!("cached and uncached disagree on {:?}", c.query),
            };
            reasons.sort();
            let (e_dec, e_reasons, e_errors) = expected.as_ref().unwrap();
            let e_verdict = if e_dec == "Allow" && e_errors.is_empty() {
                "Allow"
            } else {
                "Deny"
            };
            assert_eq!(
                (verdict.as_str(), &reasons),
                (e_verdict, e_reasons),
                "{:?}",
                c.query
            );
            n += 1;
        }
    }
    // Many at once (the sidecar's batches): misses decided together and
    // kept, then answered from the cache; each as asked alone.
    let fresh = shipped();
    let cases = universe::cases(&fresh, None);
    let queries: Vec<&teamgate::Query> = cases.iter().map(|c| &c.query).collect();
    for _ in 0..2 {
        for (q, d) in queries.iter().zip(fresh.try_decide_many(&queries)) {
            assert_eq!(d, snap.try_decide(q, None), "{q:?}");
        }
    }
    let (after_hits, _) = teamgate::decision_cache_counts();
    assert!(n > 4000, "{n} decisions");
    assert!(
        after_hits - before_hits >= (n / 2) as u64,
        "the second asks were hits"
    );
    teamgate::set_decision_cache(0);
}

/// The shipped policies dereference only `project` and `workspace`, which
/// are also parents (so a request has them anyway). Policies that read
/// through other references (a project's creator, a file's uploader, a
/// time entry's user, a tag's value) must get those entities too, and only
/// compared references may be left out: checked against Cedar over the
/// demo universe and a generated workspace.
#[test]
fn entities_reached_through_any_dereferenced_attribute_are_included() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fixtures: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/entities.json"
        ))
        .expect("demo fixtures"),
    )
    .expect("JSON");
    let bundle = testkit::write_bundle(
        &Bundle::new(env!("CARGO_MANIFEST_DIR")),
        dir.path(),
        &fixtures,
    )
    .expect("bundle copy");
    std::fs::write(
        dir.path().join("policies/rules/reads-through.cedar"),
        r#"
@id("test.creator-license")
forbid (principal is User, action == Action::"viewProject", resource is Project)
when { resource.creator.license == "collaborator" && !principal.memberOf.containsAny([resource]) };

@id("test.uploader-role")
permit (principal is User, action == Action::"viewFile", resource is File)
when { resource.uploadedBy.role == principal.role };

@id("test.time-owner-workspace")
permit (principal is User, action == Action::"viewTime", resource is TimeEntry)
when { resource.user.workspace == principal.workspace && resource.user.license == "full" };

@id("test.tag-default")
permit (principal is User, action == Action::"viewProjectSettings", resource is Project)
when { resource.hasTag(principal.userId) && resource.getTag(principal.userId).isDefault };
"#,
    )
    .expect("extra policies");
    let snap = bundle.load().expect("bundle with extra policies loads");
    let full = cedar_entities(&snap, fixtures);
    let cases = universe::cases(&snap, None);
    let (n, allows, _) = compare(&snap, None, &full, cases.into_iter().map(|c| c.query));
    assert!(n > 2000 && allows > 100, "{n} requests, {allows} allows");
    let (json, ids) = testkit::workspace(300, 5);
    let full = cedar_entities(&snap, json.clone());
    let data = Overlay::instead_of_stored("synth")
        .upsert(json)
        .build(&snap)
        .expect("generated workspace is valid");
    let (n, _, _) = compare(
        &snap,
        Some(&data),
        &full,
        testkit::requests(&ids, 3000, 5).into_iter(),
    );
    assert_eq!(n, 3000);
}
