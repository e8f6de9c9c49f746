#!/usr/bin/env python3
"""One workspace, three servers: the data and request bodies of the race.

Deterministic (fixed seed). Adapted from ../shared/peers/gen_data.py (the
reference harness); this copy also writes teamgate's bundle and bodies.

  * USERS users u1..uN with a workspace role: u1..u10 admin, u11..u600 user,
    the rest guest (teamgate: roles admin / controller / guest, see
    TEAMGATE_ROLE; guests hold the `guest` license, the others `full`)
  * PROJECTS projects p1..pM, each with 1 manager, 4 members, 5 viewers
    (teamgate: project-role tags and `memberOf`)
  * p42 is pinned for the test cases: manager u700 (a guest), viewer u701
    (a guest); u1 (admin) and u999 (guest) hold no role on it.

Writes into OUT (default ./work, not committed):
  cedar/data.json            entities for cedar-agent
  bodies/cedar-agent/*.json  POST /v1/is_authorized bodies
  bodies/cerbos/*.json       POST /api/check/resources bodies (project roles
                             travel in the request, as Cerbos expects)
  teamgate/                  a bundle: the repository's schema and policies,
                             fixtures/entities.json with the same workspace
  bodies/teamgate/*.json     POST /v1/is_authorized and batch bodies
                             (view, edit, delete = viewProject, createTask,
                             deleteProject: see TEAMGATE_ACTION)

Usage: gen_data.py [--users N] [--projects M] [--out DIR] [--repo DIR]
"""
import argparse
import json
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
N_USERS, N_PROJECTS = 1000, 100


def workspace_role(i):
    return "admin" if i <= 10 else ("user" if i <= 600 else "guest")


def build(n_users=N_USERS, n_projects=N_PROJECTS):
    rng = random.Random(20261123)
    users = {f"u{i}": workspace_role(i) for i in range(1, n_users + 1)}
    projects = {}
    pool = [f"u{i}" for i in range(11, n_users + 1)]  # admins hold no project roles
    for p in range(1, n_projects + 1):
        picks = rng.sample(pool, 10)
        roles = {picks[0]: "manager"}
        roles.update({u: "member" for u in picks[1:5]})
        roles.update({u: "viewer" for u in picks[5:10]})
        projects[f"p{p}"] = roles
    # Pin p42 for the four test cases.
    r = {u: ro for u, ro in projects["p42"].items() if u not in ("u700", "u701", "u999", "u1")}
    r = {u: ("member" if ro == "manager" else ro) for u, ro in r.items()}
    r["u700"] = "manager"
    r["u701"] = "viewer"
    projects["p42"] = r
    return users, projects


def ent(t, i):
    return {"type": t, "id": i}


def cedar_entities(users, projects):
    out = [{"uid": ent("Role", r), "attrs": {}, "parents": []} for r in ("admin", "user", "guest")]
    for u, role in users.items():
        out.append({"uid": ent("User", u), "attrs": {}, "parents": [ent("Role", role)]})
    for p, roles in projects.items():
        attrs = {k: [{"__entity": ent("User", u)} for u, ro in sorted(roles.items()) if ro == want]
                 for k, want in (("managers", "manager"), ("members", "member"), ("viewers", "viewer"))}
        out.append({"uid": ent("Project", p), "attrs": attrs, "parents": []})
    return out


def teamgate_entities(users, projects, demo):
    """The same workspace in teamgate's vocabulary; roles, project roles and
    the workspace are taken from the demo fixtures (their attributes are the
    permission settings)."""
    keep = {"Role", "ProjectRole"}
    out = [e for e in demo if e["uid"]["type"] in keep]
    ws = next(e for e in demo if e["uid"] == ent("Workspace", "acme"))
    ws = json.loads(json.dumps(ws))
    ws["attrs"]["guestEmailsUsed"] = 0
    ws["attrs"]["ownProjects"] = len(projects)
    out.append(ws)
    member_of = {u: [] for u in users}
    for p, roles in projects.items():
        for u in roles:
            member_of[u].append(p)
    acme = {"__entity": ent("Workspace", "acme")}
    for u, role in users.items():
        out.append({"uid": ent("User", u), "attrs": {
            "userId": u, "email": f"{u}@acme.com", "workspace": acme,
            "role": {"__entity": ent("Role", TEAMGATE_ROLE[role])},
            "license": "guest" if role == "guest" else "full",
            "memberOf": [{"__entity": ent("Project", p)} for p in member_of[u]],
        }, "parents": [ent("Workspace", "acme")]})
    for p, roles in projects.items():
        out.append({"uid": ent("Project", p), "attrs": {
            "workspace": acme, "creator": {"__entity": ent("User", "u1")},
            "sharingEnabled": False, "sharedWith": [], "sharedFields": [],
        }, "parents": [ent("Workspace", "acme")],
            "tags": {u: {"__entity": ent("ProjectRole", ro)} for u, ro in sorted(roles.items())}})
    return out


# The peers' workspace roles in teamgate's: its built-in `user` role edits
# every project of the workspace (awork), so the peers' view-only `user` is
# the demo's custom `controller` role (project details read, tasks none).
TEAMGATE_ROLE = {"admin": "admin", "user": "controller", "guest": "guest"}

# name, principal, action, resource, expected
CASES = [
    ("allow_admin", "u1", "delete", "p42", "allow"),
    ("allow_manager", "u700", "delete", "p42", "allow"),
    ("deny_viewer_delete", "u701", "delete", "p42", "deny"),
    ("deny_guest_nonmember", "u999", "view", "p42", "deny"),
]
# The peers' three actions in teamgate's vocabulary.
TEAMGATE_ACTION = {"view": "viewProject", "edit": "createTask", "delete": "deleteProject"}


def write(out, path, obj):
    path = os.path.join(out, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=None, separators=(",", ":"), sort_keys=False)
        f.write("\n")


def teamgate_request(u, a, p):
    return {"principal": f'User::"{u}"', "action": f'Action::"{TEAMGATE_ACTION[a]}"',
            "resource": f'Project::"{p}"'}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=N_USERS)
    ap.add_argument("--projects", type=int, default=N_PROJECTS)
    ap.add_argument("--out", default=os.path.join(HERE, "work"))
    ap.add_argument("--repo", default=os.path.normpath(os.path.join(HERE, "..", "..")),
                    help="teamgate checkout whose schemas/ and policies/ the bundle uses")
    args = ap.parse_args()
    out = args.out
    users, projects = build(args.users, args.projects)
    write(out, "cedar/data.json", cedar_entities(users, projects))

    bundle = os.path.join(out, "teamgate")
    for d in ("schemas", "policies"):
        shutil.rmtree(os.path.join(bundle, d), ignore_errors=True)
        shutil.copytree(os.path.join(args.repo, d), os.path.join(bundle, d))
    with open(os.path.join(args.repo, "fixtures", "entities.json")) as f:
        demo = json.load(f)
    write(bundle, "fixtures/entities.json", teamgate_entities(users, projects, demo))

    for name, u, a, p, _ in CASES:
        write(out, f"bodies/cedar-agent/{name}.json",
              {"principal": f'User::"{u}"', "action": f'Action::"{a}"',
               "resource": f'Project::"{p}"', "context": {}})
        write(out, f"bodies/cerbos/{name}.json",
              {"requestId": name,
               "principal": {"id": u, "roles": [users[u]]},
               "resources": [{"actions": [a],
                              "resource": {"kind": "project", "id": p,
                                           "attr": {"roles": projects[p]}}}]})
        write(out, f"bodies/teamgate/{name}.json", teamgate_request(u, a, p))
    # Batch: guest u700 asks for edit on 10 projects p41..p50 (1 allow: p42),
    # then for view, edit and delete on each (3 allows: p42).
    span = range(41, 51)
    batch = [{"actions": ["edit"], "resource": {"kind": "project", "id": f"p{i}",
                                                 "attr": {"roles": projects[f"p{i}"]}}}
             for i in span]
    write(out, "bodies/cerbos/batch10.json",
          {"requestId": "batch10", "principal": {"id": "u700", "roles": ["guest"]},
           "resources": batch})
    batch3 = [dict(b, actions=["view", "edit", "delete"]) for b in batch]
    write(out, "bodies/cerbos/batch10x3.json",
          {"requestId": "batch10x3", "principal": {"id": "u700", "roles": ["guest"]},
           "resources": batch3})
    write(out, "bodies/teamgate/batch10.json",
          {"requests": [teamgate_request("u700", "edit", f"p{i}") for i in span]})
    # Cerbos answers actions in name order (delete, edit, view) per resource.
    write(out, "bodies/teamgate/batch10x3.json",
          {"requests": [teamgate_request("u700", a, f"p{i}") for i in span
                        for a in ("delete", "edit", "view")]})
    print(json.dumps({"users": len(users), "projects": len(projects), "out": out,
                      "p42": projects["p42"]}))


if __name__ == "__main__":
    main()
