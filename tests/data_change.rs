//! Changes to the entity data ([`Snapshot::with_change`], the data API's
//! path): checked incrementally, they must accept exactly what a full check
//! of the changed data accepts, and decide exactly as the data rebuilt whole.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Value};
use teamgate::testkit::{self, Ids, Rng};
use teamgate::{Bundle, Change, EntityRef, Overlay, Query, Snapshot};

/// A generated workspace, loaded from files as a bundle (kept for the run).
fn generated() -> &'static (Snapshot, Ids, tempfile::TempDir) {
    static CELL: OnceLock<(Snapshot, Ids, tempfile::TempDir)> = OnceLock::new();
    CELL.get_or_init(|| {
        let (json, ids) = testkit::workspace(120, 5);
        let dir = tempfile::tempdir().expect("tempdir");
        let snap =
            testkit::write_bundle(&Bundle::new(env!("CARGO_MANIFEST_DIR")), dir.path(), &json)
                .expect("write")
                .load()
                .expect("generated workspace loads");
        (snap, ids, dir)
    })
}

fn shipped() -> Snapshot {
    Bundle::new(env!("CARGO_MANIFEST_DIR"))
        .load()
        .expect("shipped bundle loads")
}

fn uid(t: &str, id: &str) -> cedar_policy::EntityUid {
    teamgate::uid_of(teamgate::Field::Resource, t, id).expect("uid")
}

fn r(t: &str, id: &str) -> EntityRef {
    EntityRef {
        type_name: t.into(),
        id: id.into(),
    }
}

fn entity(snap: &Snapshot, t: &str, id: &str) -> Value {
    snap.entity_json(&uid(t, id))
        .unwrap_or_else(|| panic!("{t}::{id:?} is stored"))
}

fn eref(t: &str, id: &str) -> Value {
    json!({"__entity": {"type": t, "id": id}})
}

/// Problems of a refused change, as text.
fn refused(snap: &Snapshot, change: &Change) -> String {
    match snap.with_change(change) {
        Ok(_) => panic!("the change was taken: {change:?}"),
        Err(e) => e
            .problems()
            .iter()
            .map(|p| format!("{} {}", p.json_path().unwrap_or(""), p.message()))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn a_role_change_decides_at_once_and_shares_the_rest() {
    let snap = shipped();
    let q = Query::parse(
        r#"User::"bob""#,
        "managePermissions",
        r#"Workspace::"acme""#,
    )
    .unwrap();
    assert!(!snap.decide(&q, None).is_allowed());
    let mut bob = entity(&snap, "User", "bob");
    bob["attrs"]["role"] = eref("Role", "admin");
    let next = snap.with_change(&Change::upsert(vec![bob])).expect("taken");
    assert!(next.decide(&q, None).is_allowed());
    assert_ne!(next.version(), snap.version());
    assert_ne!(next.data_version(), snap.data_version());
    assert_eq!(next.data_changes(), 1);
    assert_eq!(next.entity_count(), snap.entity_count());
    // The snapshot it came from is untouched.
    assert!(!snap.decide(&q, None).is_allowed());
    // The same change from the same data gives the same version.
    let mut bob = entity(&snap, "User", "bob");
    bob["attrs"]["role"] = eref("Role", "admin");
    let again = snap.with_change(&Change::upsert(vec![bob])).expect("taken");
    assert_eq!(again.version(), next.version());
}

#[test]
fn a_change_that_breaks_a_rule_is_refused_whole_naming_entity_path_and_rule() {
    let snap = shipped();
    // One sound entity and one that names no existing role: neither lands.
    let mut bob = entity(&snap, "User", "bob");
    bob["attrs"]["role"] = eref("Role", "admin");
    let mut carol = entity(&snap, "User", "carol");
    carol["attrs"]["role"] = eref("Role", "owner");
    let text = refused(&snap, &Change::upsert(vec![bob, carol]));
    assert!(
        text.contains("$[1].attrs.role User::\"carol\" names workspace role Role::\"owner\", which does not exist (AW1)"),
        "{text}"
    );
    assert!(!text.contains("bob"), "{text}");
    // A user without a role at all.
    let mut dan = entity(&snap, "User", "dan");
    dan["attrs"].as_object_mut().unwrap().remove("role");
    assert!(refused(&snap, &Change::upsert(vec![dan])).contains("(AW1)"));
    // Schema: a wrong type.
    let mut erin = entity(&snap, "User", "erin");
    erin["attrs"]["license"] = json!(3);
    let text = refused(&snap, &Change::upsert(vec![erin]));
    assert!(
        text.contains("$[0].attrs.license") && text.contains("does not match the schema"),
        "{text}"
    );
}

#[test]
fn tags_and_member_of_must_change_together() {
    let snap = shipped();
    // bob joins "website" in memberOf only: the project's tags do not name him.
    let mut bob = entity(&snap, "User", "bob");
    bob["attrs"]["memberOf"]
        .as_array_mut()
        .unwrap()
        .push(eref("Project", "website"));
    let text = refused(&snap, &Change::upsert(vec![bob.clone()]));
    assert!(
        text.contains("but that project's tags do not name \"bob\""),
        "{text}"
    );
    // With the project's tags in the same change it lands.
    let mut website = entity(&snap, "Project", "website");
    website["tags"]["bob"] = eref("ProjectRole", "member");
    let next = snap
        .with_change(&Change::upsert(vec![bob, website.clone()]))
        .expect("taken");
    let q = Query::parse(r#"User::"bob""#, "viewProject", r#"Project::"website""#).unwrap();
    assert!(next.decide(&q, None).is_allowed());
    // The project drops a member whose memberOf still lists it: the stored
    // user is re-checked and named.
    let mut website = entity(&snap, "Project", "website");
    let members: Vec<String> = website["tags"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let gone = members[0].clone();
    website["tags"].as_object_mut().unwrap().remove(&gone);
    let text = refused(&snap, &Change::upsert(vec![website]));
    assert!(text.contains(&format!("User::\"{gone}\"")), "{text}");
    assert!(text.contains("memberOf"), "{text}");
}

#[test]
fn a_delete_is_refused_while_anything_refers_to_it() {
    let snap = shipped();
    let text = refused(&snap, &Change::delete(vec![r("Role", "user")]));
    assert!(
        text.contains("refers to Role::\"user\"")
            || text.contains("Role::\"user\", which does not exist"),
        "{text}"
    );
    let text = refused(&snap, &Change::delete(vec![r("Project", "website")]));
    assert!(
        text.contains("Task::") && text.contains("Project::\"website\""),
        "{text}"
    );
    // The default project role cannot go while project roles stay (PR4)...
    let text = refused(&snap, &Change::delete(vec![r("ProjectRole", "member")]));
    assert!(!text.is_empty());
    // ... and deleting what nothing refers to is taken; absent is no change.
    let ivy_refs = snap
        .entity_uids(None)
        .filter(|u| u.to_string().contains("ivy"))
        .count();
    assert!(ivy_refs >= 1);
    let next = snap
        .with_change(&Change::delete(vec![r("User", "nobody")]))
        .expect("deleting what is not stored changes nothing");
    assert_eq!(next.entity_count(), snap.entity_count());
    let text = refused(&snap, &Change::delete(vec![r("Gizmo", "x")]));
    assert!(
        text.contains("Gizmo is not declared in the schema"),
        "{text}"
    );
}

#[test]
fn addresses_follow_changes() {
    let snap = shipped();
    // carol takes bob's address: one address names one person.
    let bob_mail = entity(&snap, "User", "bob")["attrs"]["email"].clone();
    let mut carol = entity(&snap, "User", "carol");
    carol["attrs"]["email"] = bob_mail.clone();
    let text = refused(&snap, &Change::upsert(vec![carol.clone()]));
    assert!(
        text.contains("same e-mail address as the stored User::\"bob\""),
        "{text}"
    );
    // bob moves to a new address in the same change: carol may take his old one.
    let mut bob = entity(&snap, "User", "bob");
    bob["attrs"]["email"] = json!("robert@acme.com");
    let next = snap
        .with_change(&Change::upsert(vec![bob, carol]))
        .expect("taken");
    // An invitation to bob's old address now finds carol (CX12 directory).
    let mut dan = entity(&next, "User", "dan");
    dan["attrs"]["email"] = json!("robert@acme.com");
    let text = refused(&next, &Change::upsert(vec![dan]));
    assert!(text.contains("User::\"bob\""), "{text}");
}

#[test]
fn replace_checks_the_new_data_whole() {
    let snap = shipped();
    let (json, _) = testkit::workspace(50, 3);
    let next = snap
        .with_change(&Change::replace(json.clone()))
        .expect("taken");
    assert_eq!(next.entity_count(), json.len());
    assert!(next.entity_json(&uid("User", "bob")).is_none());
    let mut broken = json;
    broken.push(json!({"uid": {"type": "User", "id": "x"}, "attrs": {}, "parents": []}));
    assert!(refused(&snap, &Change::replace(broken)).contains("(AW1)"));
}

/// One random change over the generated workspace.
fn random_change(snap: &Snapshot, ids: &Ids, rng: &mut Rng) -> Change {
    let user = rng.pick(&ids.users).clone();
    let project = rng.pick(&ids.projects).clone();
    match rng.below(10) {
        0 => {
            let mut u = entity(snap, "User", &user);
            let role = *rng.pick(&[
                "admin",
                "user",
                "freelancer",
                "controller",
                "guest",
                "ghost",
            ]);
            u["attrs"]["role"] = eref("Role", role);
            Change::upsert(vec![u])
        }
        1 | 2 => {
            // Join a project: memberOf alone, or with the project's tags.
            let mut u = entity(snap, "User", &user);
            let mut p = entity(snap, "Project", &project);
            let member_of = u["attrs"]["memberOf"].as_array_mut().unwrap();
            if !member_of.contains(&eref("Project", &project)) {
                member_of.push(eref("Project", &project));
            }
            p["tags"][user.as_str()] = eref("ProjectRole", "member");
            if rng.below(2) == 0 {
                Change::upsert(vec![u])
            } else {
                Change::upsert(vec![u, p])
            }
        }
        3 => {
            let (t, id) = match rng.below(4) {
                0 => ("User", user),
                1 => ("Project", project),
                2 => ("Task", rng.pick(&ids.tasks).clone()),
                _ => ("TimeEntry", rng.pick(&ids.times).clone()),
            };
            Change::delete(vec![r(t, &id)])
        }
        4 => {
            let other = rng.pick(&ids.users).clone();
            let mut u = entity(snap, "User", &user);
            u["attrs"]["email"] = entity(snap, "User", &other)["attrs"]["email"].clone();
            Change::upsert(vec![u])
        }
        5 => {
            // A project drops a member (alone, or with the user's memberOf).
            let mut p = entity(snap, "Project", &project);
            let Some(member) = p["tags"].as_object().and_then(|t| t.keys().next().cloned()) else {
                return Change::upsert(vec![p]);
            };
            p["tags"].as_object_mut().unwrap().remove(&member);
            let mut u = entity(snap, "User", &member);
            let list = u["attrs"]["memberOf"].as_array_mut().unwrap();
            list.retain(|x| *x != eref("Project", &project));
            if rng.below(2) == 0 {
                Change::upsert(vec![p])
            } else {
                Change::upsert(vec![p, u])
            }
        }
        6 => {
            // A user leaves: deleted, and gone from their projects' tags.
            let u = entity(snap, "User", &user);
            let mut projects = Vec::new();
            for p in u["attrs"]["memberOf"].as_array().unwrap() {
                let pid = p["__entity"]["id"].as_str().unwrap();
                let mut pj = entity(snap, "Project", pid);
                pj["tags"].as_object_mut().unwrap().remove(&user);
                projects.push(pj);
            }
            Change::upsert_and_delete(projects, vec![r("User", &user)])
        }
        7 => {
            let role = *rng.pick(&["manager", "member", "viewer", "external"]);
            let mut pr = entity(snap, "ProjectRole", role);
            let flag = pr["attrs"]["isDefault"].as_bool().unwrap_or(false);
            pr["attrs"]["isDefault"] = json!(!flag);
            if rng.below(2) == 0 {
                Change::upsert(vec![pr])
            } else {
                Change::delete(vec![r("ProjectRole", role)])
            }
        }
        8 => {
            // A project moves to another workspace (CX1's connectedTo).
            let mut p = entity(snap, "Project", &project);
            p["attrs"]["workspace"] = eref("Workspace", "acme");
            Change::upsert(vec![p])
        }
        _ => {
            let mut u = entity(snap, "User", &user);
            u["attrs"]["email"] = json!(format!("{user}.new@ws0.example"));
            u["attrs"]["license"] = json!(*rng.pick(&["full", "guest", "collaborator", "client"]));
            Change::upsert(vec![u])
        }
    }
}

/// The same change made the slow, obviously right way: the whole data
/// rebuilt with it and checked from scratch.
fn rebuilt(snap: &Snapshot, change: &Change) -> Result<Overlay, teamgate::LoadError> {
    let mut b = Overlay::over_stored("rebuilt").upsert(change.upserts().to_vec());
    for d in change.deletes() {
        let u = uid(&d.type_name, &d.id);
        if snap.contains(&u, None) {
            b = b.remove(u);
        }
    }
    b.build(snap)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn incremental_checks_agree_with_a_full_rebuild(seed in any::<u64>()) {
        let (snap, ids, _) = generated();
        let mut rng = Rng::new(seed);
        let change = random_change(snap, ids, &mut rng);
        let incremental = snap.with_change(&change);
        let full = rebuilt(snap, &change);
        let problems = |e: &teamgate::LoadError| e.problems().iter().map(|p| p.to_string()).collect::<Vec<_>>();
        prop_assert_eq!(
            incremental.is_ok(),
            full.is_ok(),
            "incremental {:?} / full rebuild {:?} for {:?}",
            incremental.as_ref().err().map(problems),
            full.as_ref().err().map(problems),
            change
        );
        if let (Ok(next), Ok(full)) = (incremental, full) {
            prop_assert_eq!(next.entity_count(), full.len());
            for q in testkit::requests(ids, 150, seed) {
                let a = next.decide(&q, None);
                let b = snap.decide(&q, Some(&full));
                prop_assert_eq!(
                    (a.is_allowed(), a.reasons(), a.errors()),
                    (b.is_allowed(), b.reasons(), b.errors()),
                    "{:?}", q
                );
            }
        }
    }
}
