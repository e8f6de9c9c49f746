#!/usr/bin/env python3
"""Before any timing: does a running server decide like the peers' model?

Sends SAMPLES (user, action, project) requests drawn with a fixed seed (plus
the whole action matrix on p42 for the pinned users) to one server and
compares every answer with the model the three policy sets encode:
admin -> every action; workspace user -> view; project manager -> view,
edit, delete; member -> view, edit; viewer -> view; anything else -> deny.
teamgate is asked in batches (its own pack, far larger than the peers'
eight policies, gives the same answers on this data); Cerbos and cedar-agent
one request at a time. Exit 1 on the first disagreement.

Usage: check.py cerbos|cedar-agent|teamgate URL [SAMPLES]
"""
import json
import random
import sys
import urllib.request

sys.path.insert(0, __import__("os").path.dirname(__file__))
import gen_data  # noqa: E402

ACTIONS = ("view", "edit", "delete")


def model(users, projects, u, a, p):
    if users[u] == "admin":
        return "allow"
    ro = projects[p].get(u)
    if ro == "manager":
        return "allow"
    if ro == "member" and a in ("view", "edit"):
        return "allow"
    if a == "view" and (ro == "viewer" or users[u] == "user"):
        return "allow"
    return "deny"


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def ask(server, url, users, projects, triples):
    if server == "teamgate":
        got = []
        for i in range(0, len(triples), 100):
            chunk = triples[i:i + 100]
            resp = post(url.replace("/v1/is_authorized", "/v1/batch_is_authorized"),
                        {"requests": [gen_data.teamgate_request(u, a, p) for u, a, p in chunk]})
            got += [r["decision"].lower() for r in resp["responses"]]
        return got
    got = []
    for u, a, p in triples:
        if server == "cedar-agent":
            resp = post(url, {"principal": f'User::"{u}"', "action": f'Action::"{a}"',
                              "resource": f'Project::"{p}"', "context": {}})
            got.append(resp["decision"].lower())
        else:
            resp = post(url, {"requestId": "check", "principal": {"id": u, "roles": [users[u]]},
                              "resources": [{"actions": [a], "resource": {
                                  "kind": "project", "id": p, "attr": {"roles": projects[p]}}}]})
            eff = resp["results"][0]["actions"][a]
            got.append("allow" if eff == "EFFECT_ALLOW" else "deny")
    return got


def main():
    server, url = sys.argv[1], sys.argv[2]
    samples = int(sys.argv[3]) if len(sys.argv) > 3 else 600
    users, projects = gen_data.build()
    rng = random.Random(7)
    names, pnames = sorted(users), sorted(projects)
    triples = [(u, a, "p42") for u in ("u1", "u700", "u701", "u516", "u999", "u11") for a in ACTIONS]
    # Half the samples are members of the project, so that every role is asked.
    for i in range(samples):
        p = rng.choice(pnames)
        u = rng.choice(sorted(projects[p])) if i % 2 else rng.choice(names)
        triples.append((u, rng.choice(ACTIONS), p))
    got = ask(server, url, users, projects, triples)
    allows = 0
    for (u, a, p), g in zip(triples, got):
        want = model(users, projects, u, a, p)
        allows += want == "allow"
        if g != want:
            print(f"{server}: {u} {a} {p}: got {g}, the model says {want}", file=sys.stderr)
            sys.exit(1)
    print(f"{server}: {len(triples)} decisions ({allows} allows) agree with the model")


if __name__ == "__main__":
    main()
