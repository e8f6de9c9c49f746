#!/usr/bin/env python3
"""Update-to-decision latency of the data API: flip one user's workspace role
with POST /v1/entities and time until the next decision sees it.

usage: bench/update_latency.py BASE_URL TOKEN [USER] [ROUNDS]
(the server runs with --admin-token-file; e.g. on `teamgate generate` data,
USER u1)."""
import http.client, json, sys, time, statistics, urllib.parse

base, token = sys.argv[1], sys.argv[2]
user = sys.argv[3] if len(sys.argv) > 3 else "u1"
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 200
u = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port)
auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

def call(method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    return r.status, json.loads(data) if data else None

status, me = call("GET", f"/v1/entities/User/{user}", headers=auth)
assert status == 200, me
ws = me["attrs"]["workspace"]["__entity"]["id"]
ask = json.dumps({"principal": f'User::"{user}"', "action": 'Action::"managePermissions"',
                  "resource": f'Workspace::"{ws}"'})
change_ms, visible_ms = [], []
for i in range(rounds):
    role = "admin" if i % 2 == 0 else "user"
    me["attrs"]["role"] = {"__entity": {"type": "Role", "id": role}}
    t0 = time.perf_counter()
    status, answer = call("POST", "/v1/entities", json.dumps([me]), auth)
    t1 = time.perf_counter()
    assert status == 200, answer
    status, d = call("POST", "/v1/is_authorized", ask)
    t2 = time.perf_counter()
    want = "Allow" if role == "admin" else "Deny"
    assert d["decision"] == want, (role, d)
    change_ms.append((t1 - t0) * 1000)
    visible_ms.append((t2 - t0) * 1000)

def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]

print(f"{rounds} role changes of User::\"{user}\" (each followed by a decision that sees it)")
print(f"  POST /v1/entities answered: p50 {q(change_ms, .5):.2f} ms, p99 {q(change_ms, .99):.2f} ms")
print(f"  change to decision:         p50 {q(visible_ms, .5):.2f} ms, p99 {q(visible_ms, .99):.2f} ms, max {max(visible_ms):.2f} ms")
