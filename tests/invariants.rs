//! Invariants a reviewer must never break, checked over many generated
//! workspaces whose workspace roles and project roles are shuffled at random
//! (collaborators made admins, externals made managers, ...):
//! - PR3: a project role never takes away a workspace right;
//! - CX4: no external ever edits project details;
//! - PR7: nobody but the owner reaches a private task;
//! - P2: license restrictions beat every role.

use proptest::prelude::*;
use serde_json::{json, Value};
use teamgate::cedar_policy::EntityUid;
use teamgate::testkit::{self, Rng};
use teamgate::{Bundle, Overlay, Query, Snapshot};

const ROLES: [&str; 5] = ["admin", "user", "guest", "freelancer", "controller"];
const PROJECT_ROLES: [&str; 4] = ["manager", "member", "viewer", "external"];
const DETAIL_WRITES: [&str; 5] = [
    "editProjectDetails",
    "deleteProject",
    "manageProjectMembers",
    "viewProjectSettings",
    "shareProject",
];
const TASK_ACTIONS: [&str; 10] = [
    "viewTask",
    "editTask",
    "deleteTask",
    "commentOnTask",
    "completeTask",
    "setTaskProgress",
    "followTask",
    "assignTask",
    "setReminder",
    "viewTask",
];

fn pack() -> Snapshot {
    Bundle::new(env!("CARGO_MANIFEST_DIR"))
        .load()
        .expect("shipped bundle")
}

fn uid(t: &str, id: &str) -> EntityUid {
    format!("{t}::{id:?}").parse().expect("uid")
}

/// A generated workspace with every user's role and every member's project role shuffled.
fn shuffled(n: usize, seed: u64) -> (Vec<Value>, testkit::Ids) {
    let (mut json, ids) = testkit::workspace(n, seed);
    let mut rng = Rng::new(seed ^ 0x5eed);
    for e in json.iter_mut() {
        match e["uid"]["type"].as_str() {
            Some("User") => {
                e["attrs"]["role"] = json!({"__entity": {"type": "Role", "id": *rng.pick(&ROLES)}})
            }
            Some("Project") => {
                if let Some(tags) = e["tags"].as_object_mut() {
                    for v in tags.values_mut() {
                        *v = json!({"__entity": {"type": "ProjectRole", "id": *rng.pick(&PROJECT_ROLES)}});
                    }
                }
            }
            _ => {}
        }
    }
    (json, ids)
}

fn entities(pack: &Snapshot, json: Vec<Value>) -> Overlay {
    Overlay::instead_of_stored("generated")
        .upsert(json)
        .build(pack)
        .expect("generated workspace is valid")
}

fn allowed(pack: &Snapshot, es: &Overlay, p: &str, action: &str, r: EntityUid, ctx: Value) -> bool {
    let q = Query::new(uid("User", p), uid("Action", action), r).with_context(ctx);
    pack.decide(&q, Some(es)).is_allowed()
}

fn empty() -> Value {
    json!({})
}

fn attr<'a>(json: &'a [Value], ty: &str, id: &str) -> &'a Value {
    json.iter()
        .find(|e| e["uid"]["type"] == ty && e["uid"]["id"] == id)
        .map(|e| &e["attrs"])
        .expect("entity")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    #[test]
    fn project_roles_never_take_a_workspace_right_away(seed in any::<u64>()) {
        let pack = pack();
        let (json, ids) = shuffled(120, seed);
        let with_roles = entities(&pack, json.clone());
        // The same workspace with every project membership removed.
        let mut bare = json;
        for e in bare.iter_mut() {
            if e["uid"]["type"] == "Project" { e["tags"] = json!({}); }
            if e["uid"]["type"] == "User" { e["attrs"]["memberOf"] = json!([]); e["attrs"]["connectedTo"] = json!([]); }
        }
        let without = entities(&pack, bare);
        for q in testkit::requests(&ids, 300, seed) {
            let w = pack.decide(&q, Some(&with_roles));
            let b = pack.decide(&q, Some(&without));
            prop_assert!(!b.is_allowed() || w.is_allowed(), "membership took away {q:?}: {b:?} -> {w:?}");
        }
    }

    #[test]
    fn no_external_ever_edits_project_details(seed in any::<u64>()) {
        let pack = pack();
        let (json, ids) = shuffled(150, seed);
        let es = entities(&pack, json.clone());
        let externals: Vec<&String> = ids.users.iter().filter(|u| attr(&json, "User", u)["workspace"]["__entity"]["id"] == "ext0").collect();
        prop_assert!(!externals.is_empty());
        let mut member_checks = 0;
        for u in &externals {
            for p in &ids.projects {
                for a in DETAIL_WRITES {
                    prop_assert!(!allowed(&pack, &es, u, a, uid("Project", p), empty()), "{u} may {a} {p}");
                }
                member_checks += usize::from(attr(&json, "User", u)["memberOf"].as_array().is_some_and(|m| m.iter().any(|x| x["__entity"]["id"] == p.as_str())));
            }
        }
        prop_assert!(member_checks > 0, "some external is a member of some project");
    }

    #[test]
    fn only_the_owner_reaches_a_private_task(seed in any::<u64>()) {
        let pack = pack();
        let (json, ids) = shuffled(100, seed);
        let es = entities(&pack, json.clone());
        let private: Vec<(&String, String)> = ids.tasks.iter().filter_map(|t| {
            attr(&json, "Task", t).get("owner").map(|o| (t, o["__entity"]["id"].as_str().unwrap_or_default().to_string()))
        }).collect();
        prop_assert!(!private.is_empty());
        for (task, owner) in private {
            for u in &ids.users {
                for a in TASK_ACTIONS {
                    if u != &owner {
                        prop_assert!(!allowed(&pack, &es, u, a, uid("Task", task), empty()), "{u} may {a} {owner}'s private {task}");
                    }
                }
            }
            prop_assert!(allowed(&pack, &es, &owner, "viewTask", uid("Task", task), empty()));
        }
    }

    #[test]
    fn license_restrictions_beat_every_role(seed in any::<u64>()) {
        let pack = pack();
        let (json, ids) = shuffled(150, seed);
        let es = entities(&pack, json.clone());
        let mut checked = 0;
        for u in &ids.users {
            let license = attr(&json, "User", u)["license"].as_str().unwrap_or_default().to_string();
            let home = uid("Workspace", attr(&json, "User", u)["workspace"]["__entity"]["id"].as_str().unwrap_or_default());
            let me = json!({"forUser": {"__entity": {"type": "User", "id": u}}});
            match license.as_str() {
                "collaborator" => {
                    for t in ids.tasks.iter().take(20) {
                        prop_assert!(!allowed(&pack, &es, u, "editTask", uid("Task", t), empty()), "collaborator {u} edits {t}");
                    }
                    for p in ids.projects.iter().take(5) {
                        prop_assert!(!allowed(&pack, &es, u, "logTime", uid("Project", p), me.clone()), "collaborator {u} logs time");
                        prop_assert!(!allowed(&pack, &es, u, "createTask", uid("Project", p), empty()));
                    }
                    prop_assert!(!allowed(&pack, &es, u, "createProject", home.clone(), empty()));
                    checked += 1;
                }
                "guest" => {
                    prop_assert!(!allowed(&pack, &es, u, "createProject", home.clone(), empty()), "guest {u} creates a project");
                    prop_assert!(!allowed(&pack, &es, u, "manageSubscription", home.clone(), empty()));
                    checked += 1;
                }
                "client" => {
                    prop_assert!(!allowed(&pack, &es, u, "managePermissions", home.clone(), empty()));
                    checked += 1;
                }
                _ => {}
            }
        }
        prop_assert!(checked > 10);
    }
}

/// The demo bundle, and an overlay giving acme an internationalised domain;
/// loaded once for all cases.
fn demo_and_idn() -> &'static (Snapshot, Overlay) {
    static DEMO: std::sync::OnceLock<(Snapshot, Overlay)> = std::sync::OnceLock::new();
    DEMO.get_or_init(|| {
        let snap = pack();
        let idn = Overlay::over_stored("idn")
            .set_attrs(
                "Workspace::\"acme\"".parse().expect("uid"),
                json!({"domain": "bücher.example"})
                    .as_object()
                    .cloned()
                    .expect("object"),
            )
            .build(&snap)
            .expect("valid");
        (snap, idn)
    })
}

/// `address` spelled with the case of each letter flipped where `case`
/// has a bit set.
fn recase(address: &str, case: u64) -> String {
    address
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if case >> (i % 64) & 1 == 1 {
                c.to_uppercase().collect::<String>()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn invites(snap: &Snapshot, overlay: Option<&Overlay>, email: &str) -> teamgate::Decision {
    let q = Query::parse(r#"User::"bob""#, "inviteExternal", r#"Project::"website""#)
        .expect("query")
        .with_context(json!({ "inviteeEmail": email }));
    snap.decide(&q, overlay)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// CX2: however a colleague's address is written (case, a trailing dot,
    /// white space, a sub-domain, Unicode or punycode), it is never invited
    /// as an external.
    #[test]
    fn no_spelling_of_a_colleague_address_is_an_external(
        local in "[a-z0-9][a-z0-9._-]{0,7}",
        case in any::<u64>(),
        trailing_dot in any::<bool>(),
        left in "[ \t]{0,2}",
        right in "[ \t]{0,2}",
        sub in proptest::option::of("[a-z][a-z0-9]{0,5}"),
        idn in 0usize..3,
    ) {
        let (snap, acme_idn) = demo_and_idn();
        let sub = sub.map(|s| format!("{s}.")).unwrap_or_default();
        let dot = if trailing_dot { "." } else { "" };
        // The demo workspace's own domain.
        let plain = format!("{left}{}{dot}{right}", recase(&format!("{local}@{sub}acme.com"), case));
        let d = invites(snap, None, &plain);
        prop_assert!(!d.is_allowed(), "{plain:?} was allowed: {d:?}");
        // An internationalised workspace domain, written three ways.
        let domain = ["bücher.example", "BÜCHER.example", "xn--bcher-kva.example"][idn];
        let idn_address = format!("{left}{}{dot}{right}", recase(&format!("{local}@{sub}{domain}"), case));
        let d = invites(snap, Some(acme_idn), &idn_address);
        prop_assert!(!d.is_allowed(), "{idn_address:?} was allowed: {d:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    /// AW10: whoever may see a user may mention them, in generated
    /// workspaces with every role shuffled.
    #[test]
    fn seeing_a_user_means_mentioning_them(seed in any::<u64>()) {
        let pack = pack();
        let (json, ids) = shuffled(80, seed);
        let es = entities(&pack, json);
        let mut rng = Rng::new(seed);
        let mut seen = 0;
        for _ in 0..300 {
            let (p, r) = (rng.pick(&ids.users).clone(), rng.pick(&ids.users).clone());
            if allowed(&pack, &es, &p, "viewUser", uid("User", &r), empty()) {
                seen += 1;
                prop_assert!(
                    allowed(&pack, &es, &p, "mentionUser", uid("User", &r), empty()),
                    "{p} sees {r} but may not mention them"
                );
            }
        }
        prop_assert!(seen > 0);
    }
}

#[test]
fn seeing_a_user_means_mentioning_them_in_the_demo() {
    let (snap, _) = demo_and_idn();
    let mut seen = 0;
    for c in teamgate::review::universe::cases(snap, None) {
        if c.query.action_name() != "viewUser" || !snap.decide(&c.query, None).is_allowed() {
            continue;
        }
        seen += 1;
        let mention = Query::new(
            c.query.principal().clone(),
            uid("Action", "mentionUser"),
            c.query.resource().clone(),
        );
        assert!(
            snap.decide(&mention, None).is_allowed(),
            "{} may see {} but not mention them",
            c.query.principal(),
            c.query.resource()
        );
    }
    assert!(seen > 10, "{seen} viewUser allows");
}
