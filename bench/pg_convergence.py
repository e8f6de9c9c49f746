#!/usr/bin/env python3
"""Commit-to-decision latency and convergence of sidecars that follow
PostgreSQL (`serve --entities-from`).

Starts a throw-away PostgreSQL cluster (Debian's postgresql package; as root
it runs as the postgres user), creates and loads the table from BUNDLE's
entity files with `teamgate db`, starts SIDECARS sidecars on it, then flips
one user's workspace role ROUNDS times with UPDATE statements (each its own
transaction, through one psql session) and times, for each sidecar, from
the commit to the first decision that sees it. At the end it checks that
every sidecar serves the same data version.

usage: bench/pg_convergence.py [BUNDLE] [USER] [ROUNDS] [SIDECARS]
       (defaults: the demo bundle, bob, 200, 2; on `teamgate generate` data
       use USER u1)
Needs target/release/teamgate (cargo build --release). SHOW_LOG=1 prints the
tail of each sidecar's log."""
import glob, http.client, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bundle = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else repo
user = sys.argv[2] if len(sys.argv) > 2 else "bob"
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 200
sidecars = int(sys.argv[4]) if len(sys.argv) > 4 else 2
teamgate = os.path.join(repo, "target/release/teamgate")
bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
if not bins:
    sys.exit("PostgreSQL is not installed (apt-get install postgresql)")
pgbin = bins[-1]
root = os.geteuid() == 0

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def as_pg(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if root else cmd

work = tempfile.mkdtemp(prefix="teamgate-pg-")
os.chmod(work, 0o777)
data, port = os.path.join(work, "data"), free_port()
procs = []
try:
    subprocess.run(as_pg([f"{pgbin}/initdb", "-A", "trust", "-U", "postgres", "--no-sync", "-D", data]),
                   check=True, capture_output=True)
    opts = f"-p {port} -k {work} -c listen_addresses=127.0.0.1"
    subprocess.run(as_pg([f"{pgbin}/pg_ctl", "-w", "-D", data, "-o", opts, "-l", f"{work}/log", "start"]),
                   check=True, capture_output=True)
    url = f"postgres://postgres@127.0.0.1:{port}/postgres"
    subprocess.run([teamgate, "db", "init", url], check=True, capture_output=True)
    files = sorted(glob.glob(os.path.join(bundle, "fixtures", "*.json")))
    t = time.perf_counter()
    subprocess.run([teamgate, "db", "load", "--bundle", bundle, *files, url], check=True, capture_output=True)
    print(f"db load of {bundle}/fixtures: {time.perf_counter() - t:.1f} s")

    servers = []
    for i in range(sidecars):
        store = os.path.join(work, f"sidecar{i}.redb")
        t = time.perf_counter()
        p = subprocess.Popen([teamgate, "serve", "--bundle", bundle, "--listen", "127.0.0.1:0",
                              "--entities-from", url, "--data-store", store, "--no-watch"],
                             stdout=subprocess.PIPE, stderr=open(os.path.join(work, f"sidecar{i}.log"), "w"), text=True, env={**os.environ, "RUST_LOG": "info"})
        procs.append(p)
        line = p.stdout.readline()
        addr = line.split("http://")[1].split()[0]
        host, hport = addr.split(":")
        servers.append(http.client.HTTPConnection(host, int(hport)))
        print(f"sidecar {i}: first read and ready in {time.perf_counter() - t:.2f} s")

    def get(conn, method, path, body=None):
        for attempt in (1, 2):
            try:
                conn.request(method, path, body=body)
                r = conn.getresponse()
                return json.loads(r.read())
            except (http.client.HTTPException, ConnectionError):
                conn.close()  # an idle kept-alive connection the server closed
                if attempt == 2:
                    raise

    me = get(servers[0], "GET", "/v1/policies")  # warm up
    psql = subprocess.Popen([f"{pgbin}/psql", "-X", "-q", "-A", "-t", "-d", url],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    psql.stdin.write(f"SELECT entity->'attrs'->'workspace'->'__entity'->>'id' FROM teamgate_entities WHERE uid = 'User::\"{user}\"';\n")
    psql.stdin.flush()
    ws = psql.stdout.readline().strip()
    ask = json.dumps({"principal": f'User::"{user}"', "action": 'Action::"managePermissions"',
                      "resource": f'Workspace::"{ws}"'})
    latencies = [[] for _ in servers]
    for i in range(rounds):
        role = "admin" if i % 2 == 0 else "user"
        want = "Allow" if role == "admin" else "Deny"
        psql.stdin.write(
            "UPDATE teamgate_entities SET entity = jsonb_set(entity, '{attrs,role}', "
            f"'{{\"__entity\": {{\"type\": \"Role\", \"id\": \"{role}\"}}}}') WHERE uid = 'User::\"{user}\"';\n"
            "\\echo committed\n")
        psql.stdin.flush()
        assert psql.stdout.readline().strip() == "committed"
        t0 = time.perf_counter()
        waiting = set(range(len(servers)))
        while waiting:
            for s in list(waiting):
                if get(servers[s], "POST", "/v1/is_authorized", ask)["decision"] == want:
                    latencies[s].append((time.perf_counter() - t0) * 1000)
                    waiting.discard(s)
            if time.perf_counter() - t0 > 5:
                sys.exit(f"round {i}: not seen within 5 s by sidecars {sorted(waiting)}")

    def q(xs, p):
        xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))]
    print(f"{rounds} role changes of User::\"{user}\", each its own transaction:")
    for s, xs in enumerate(latencies):
        print(f"  sidecar {s}: commit to decision p50 {q(xs, .5):.2f} ms, p99 {q(xs, .99):.2f} ms, max {max(xs):.2f} ms")
    time.sleep(float(os.environ.get("SETTLE", "0.2")))
    versions = {get(c, "GET", "/v1/policies")["data_version"] for c in servers}
    print(f"  data versions served: {sorted(versions)} -> {'converged' if len(versions) == 1 else 'DIFFERENT'}")
    for i, p in enumerate(procs):
        status = open(f"/proc/{p.pid}/status").read()
        mem = {l.split(":")[0]: l.split(":")[1].strip() for l in status.splitlines() if l.startswith(("VmRSS", "VmHWM"))}
        print(f"  sidecar {i}: RSS {mem.get('VmRSS')}, peak {mem.get('VmHWM')}")
    sys.exit(0 if len(versions) == 1 else 1)
finally:
    for p in procs:
        p.kill()
    for i in range(sidecars):
        log = os.path.join(work, f"sidecar{i}.log")
        if os.environ.get("SHOW_LOG") and os.path.exists(log):
            print(open(log).read()[-3000:])
    subprocess.run(as_pg([f"{pgbin}/pg_ctl", "-m", "immediate", "-D", data, "stop"]), capture_output=True)
    shutil.rmtree(work, ignore_errors=True)
