//! Generated workspaces in the shape of the demo one, at any size, for
//! benchmarks, differential tests and property tests.
//!
//! `n` users live in workspace `ws0` (plus 2% externals homed in `ext0`),
//! with projects, members, tasks and time entries in proportion: about 1.3
//! entities per user. The same `(n, seed)` always gives the same data.
//!
//! Behind the `testkit` feature: the tests and benchmarks use it.

use std::path::Path;

use serde_json::{json, Value};

use crate::{Bundle, Query};

/// Writes a bundle at `to`: the schema and policy files of `from` and
/// `entities` as `fixtures/entities.json`. Returns the new bundle.
pub fn write_bundle(from: &Bundle, to: &Path, entities: &[Value]) -> std::io::Result<Bundle> {
    copy_dir(from.schemas(), &to.join("schemas"))?;
    copy_dir(from.policies(), &to.join("policies"))?;
    std::fs::create_dir_all(to.join("fixtures"))?;
    // One entity a line: compact, and a line number still names an entity.
    let mut text = String::from("[\n");
    for (i, e) in entities.iter().enumerate() {
        if i > 0 {
            text.push_str(",\n");
        }
        text.push_str(&serde_json::to_string(e).map_err(std::io::Error::other)?);
    }
    text.push_str("\n]\n");
    std::fs::write(to.join("fixtures/entities.json"), text)?;
    Ok(Bundle::new(to))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn e(t: &str, id: &str) -> Value {
    json!({ "__entity": { "type": t, "id": id } })
}

/// The ids of a generated workspace, to build requests from.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    /// User ids (home users first, externals last).
    pub users: Vec<String>,
    /// Project ids.
    pub projects: Vec<String>,
    /// Task ids (project tasks, then private ones).
    pub tasks: Vec<String>,
    /// Time entry ids.
    pub times: Vec<String>,
}

/// Workspace roles and licenses in the generated population, with weights.
const POPULATION: [(&str, &str, usize); 7] = [
    ("admin", "full", 2),
    ("user", "full", 55),
    ("freelancer", "full", 15),
    ("controller", "full", 5),
    ("guest", "guest", 10),
    ("guest", "collaborator", 8),
    ("user", "client", 5),
];
const PROJECT_ROLES: [&str; 4] = ["manager", "member", "viewer", "external"];

/// Entity JSON of a workspace with `n` users, and its ids.
pub fn workspace(n: usize, seed: u64) -> (Vec<Value>, Ids) {
    workspace_with(n, (n / 20).max(1), seed)
}

/// Like [`workspace`], with `n_projects` projects.
pub fn workspace_with(n: usize, n_projects: usize, seed: u64) -> (Vec<Value>, Ids) {
    let mut rng = Rng::new(seed);
    let mut ids = Ids::default();
    let mut out = fixed_entities();
    out.reserve(n * 14 / 10);
    let n = n.max(2);
    let externals = (n / 50).max(1);
    let homes = population(n, externals, &mut rng, &mut ids);
    let n_projects = n_projects.max(1);
    let (projects, member_of) = projects(&homes, externals, n_projects, &mut rng, &mut ids);
    out.extend(users(&homes, &member_of, &ids));
    out.extend(projects);
    out.extend(tasks(n, externals, &mut rng, &mut ids));
    out.extend(time_entries(n, &mut rng, &mut ids));
    (out, ids)
}

/// Each user's (home workspace, role, license).
type Home = (&'static str, &'static str, &'static str);

/// The two workspaces, the workspace roles and the project roles.
fn fixed_entities() -> Vec<Value> {
    let mut out = Vec::new();
    for (ws, domain, plan) in [
        ("ws0", "ws0.example", "business"),
        ("ext0", "ext0.example", "basic_connect"),
    ] {
        out.push(
            json!({"uid": {"type": "Workspace", "id": ws}, "parents": [], "attrs": {
            "domain": domain, "plan": plan, "subscription": "active", "guestSharing": true,
            "guestEmailsUsed": 10, "connectionDomainExceptions": [], "ownProjects": 1 }}),
        );
    }
    for (r, system) in [
        ("admin", true),
        ("user", false),
        ("guest", true),
        ("freelancer", false),
        ("controller", false),
    ] {
        out.push(
            json!({"uid": {"type": "Role", "id": r}, "parents": [], "attrs": {"system": system}}),
        );
    }
    for r in PROJECT_ROLES {
        out.push(json!({"uid": {"type": "ProjectRole", "id": r}, "parents": [], "attrs": {"isDefault": r == "member"}}));
    }
    out
}

/// `n` users drawn from [`POPULATION`]; the last `externals` live in `ext0`.
fn population(n: usize, externals: usize, rng: &mut Rng, ids: &mut Ids) -> Vec<Home> {
    let total_weight: usize = POPULATION.iter().map(|p| p.2).sum();
    let mut homes = Vec::with_capacity(n);
    for i in 0..n {
        let home = if i >= n - externals {
            ("ext0", "user", "full")
        } else {
            let mut w = rng.below(total_weight);
            let mut chosen = POPULATION[0];
            for p in POPULATION {
                if w < p.2 {
                    chosen = p;
                    break;
                }
                w -= p.2;
            }
            ("ws0", chosen.0, chosen.1)
        };
        ids.users.push(format!("u{i}"));
        homes.push(home);
    }
    homes
}

/// Projects with about eight members each (externals as `external`), and
/// every user's memberships; every external is a member of some project.
fn projects(
    homes: &[Home],
    externals: usize,
    n_projects: usize,
    rng: &mut Rng,
    ids: &mut Ids,
) -> (Vec<Value>, Vec<Vec<String>>) {
    let n = homes.len();
    let mut member_of: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut projects = Vec::with_capacity(n_projects);
    for p in 0..n_projects {
        let pid = format!("p{p}");
        let creator = rng.below(n - externals);
        let mut tags = serde_json::Map::new();
        for _ in 0..8 {
            let u = rng.below(n);
            let role = if homes[u].0 == "ext0" {
                "external"
            } else {
                *rng.pick(&PROJECT_ROLES[..3])
            };
            if tags
                .insert(ids.users[u].clone(), e("ProjectRole", role))
                .is_none()
            {
                member_of[u].push(pid.clone());
            }
        }
        let shared: Vec<Value> = (0..rng.below(2))
            .map(|_| e("User", &ids.users[rng.below(n)]))
            .collect();
        projects.push(json!({"uid": {"type": "Project", "id": pid}, "parents": [e("Workspace", "ws0")["__entity"]],
            "attrs": {"workspace": e("Workspace", "ws0"), "creator": e("User", &ids.users[creator]),
                      "sharingEnabled": rng.below(2) == 0, "sharedWith": shared,
                      "sharedFields": ["tasks", "stage"]},
            "tags": tags}));
        ids.projects.push(pid);
    }
    // An external exists because they are connected to a project: each one is.
    for (k, i) in (n - externals..n).enumerate() {
        let p = k % n_projects;
        let pid = ids.projects[p].clone();
        if let Some(tags) = projects[p]["tags"].as_object_mut() {
            if tags
                .insert(ids.users[i].clone(), e("ProjectRole", "external"))
                .is_none()
            {
                member_of[i].push(pid);
            }
        }
    }
    (projects, member_of)
}

/// The user entities, with their memberships and connections.
fn users(homes: &[Home], member_of: &[Vec<String>], ids: &Ids) -> Vec<Value> {
    homes
        .iter()
        .enumerate()
        .map(|(i, (ws, role, license))| {
            let uid = &ids.users[i];
            let memberships: Vec<Value> = member_of[i].iter().map(|p| e("Project", p)).collect();
            let connected: Vec<Value> = if *ws == "ext0" && !member_of[i].is_empty() {
                vec![e("Workspace", "ws0")]
            } else {
                vec![]
            };
            json!({"uid": {"type": "User", "id": uid}, "parents": [e("Workspace", ws)["__entity"]],
                "attrs": {"userId": uid, "email": format!("{uid}@{ws}.example"), "workspace": e("Workspace", ws),
                          "role": e("Role", role), "license": license, "memberOf": memberships,
                          "connectedTo": connected}})
        })
        .collect()
}

/// `n / 5` tasks: nine in ten in a project, one in ten private.
fn tasks(n: usize, externals: usize, rng: &mut Rng, ids: &mut Ids) -> Vec<Value> {
    let mut out = Vec::new();
    for t in 0..(n / 5).max(1) {
        let tid = format!("t{t}");
        let assignees: Vec<Value> = (0..rng.below(3))
            .map(|_| e("User", &ids.users[rng.below(n)]))
            .collect();
        if t % 10 == 9 {
            let owner = rng.below(n - externals);
            out.push(json!({"uid": {"type": "Task", "id": tid}, "parents": [e("Workspace", "ws0")["__entity"]],
                "attrs": {"workspace": e("Workspace", "ws0"), "owner": e("User", &ids.users[owner]),
                          "assignees": [], "sharedWith": []}}));
        } else {
            let p = &ids.projects[rng.below(ids.projects.len())];
            out.push(
                json!({"uid": {"type": "Task", "id": tid}, "parents": [e("Project", p)["__entity"]],
                "attrs": {"workspace": e("Workspace", "ws0"), "project": e("Project", p),
                          "assignees": assignees, "sharedWith": []}}),
            );
        }
        ids.tasks.push(tid);
    }
    out
}

/// `n / 20` time entries on random projects.
fn time_entries(n: usize, rng: &mut Rng, ids: &mut Ids) -> Vec<Value> {
    let mut out = Vec::new();
    for t in 0..(n / 20).max(1) {
        let tid = format!("time{t}");
        let p = &ids.projects[rng.below(ids.projects.len())];
        out.push(json!({"uid": {"type": "TimeEntry", "id": tid}, "parents": [e("Project", p)["__entity"]],
            "attrs": {"workspace": e("Workspace", "ws0"), "project": e("Project", p),
                      "user": e("User", &ids.users[rng.below(n)])}}));
        ids.times.push(tid);
    }
    out
}

/// `count` requests over a generated workspace: a mix of project, task, time,
/// user and workspace actions, allows and denies, some with odd contexts.
pub fn requests(ids: &Ids, count: usize, seed: u64) -> Vec<Query> {
    let mut rng = Rng::new(seed ^ 0xA5A5);
    let uid = |t: &str, id: &str| -> cedar_policy::EntityUid {
        let tn: cedar_policy::EntityTypeName = t
            .parse()
            .unwrap_or_else(|_| unreachable!("static type name"));
        cedar_policy::EntityUid::from_type_name_and_id(tn, cedar_policy::EntityId::new(id))
    };
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let p = uid("User", rng.pick(&ids.users).as_str());
        let (action, resource, context) = match rng.below(10) {
            0 => (
                "viewProject",
                uid("Project", rng.pick(&ids.projects).as_str()),
                json!({}),
            ),
            1 => (
                "editProjectDetails",
                uid("Project", rng.pick(&ids.projects).as_str()),
                json!({}),
            ),
            2 => (
                "viewTask",
                uid("Task", rng.pick(&ids.tasks).as_str()),
                json!({}),
            ),
            3 => (
                "editTask",
                uid("Task", rng.pick(&ids.tasks).as_str()),
                json!({}),
            ),
            4 => (
                "completeTask",
                uid("Task", rng.pick(&ids.tasks).as_str()),
                json!({}),
            ),
            5 => (
                "viewTime",
                uid("TimeEntry", rng.pick(&ids.times).as_str()),
                json!({}),
            ),
            6 => (
                "viewUser",
                uid("User", rng.pick(&ids.users).as_str()),
                json!({}),
            ),
            7 => (
                "logTime",
                uid("Project", rng.pick(&ids.projects).as_str()),
                json!({"forUser": {"__entity": {"type": "User", "id": rng.pick(&ids.users)}}}),
            ),
            8 => ("createProject", uid("Workspace", "ws0"), json!({})),
            _ => (
                "inviteExternal",
                uid("Project", rng.pick(&ids.projects).as_str()),
                if rng.below(2) == 0 {
                    // An invitee that does not exist makes a policy error.
                    json!({"inviteeEmail": "x@partner.example",
                           "invitee": {"__entity": {"type": "User", "id": "ghost"}}})
                } else {
                    // A user's own address: teamgate finds the invitee (CX12).
                    json!({"inviteeEmail": format!("{}@ws0.example", rng.pick(&ids.users))})
                },
            ),
        };
        out.push(Query::new(p, uid("Action", action), resource).with_context(context));
    }
    out
}
