#!/usr/bin/env python3
"""teamgate's ratio to each peer, per core, from run.sh's results.tsv.

For every (case, concurrency) measured for teamgate and a peer: decisions per
second divided by the server's CPU use (in cores), teamgate's over the
peer's. A failed request in either run makes the cell "n/a (failures)".

Usage: ratio.py results.tsv
"""
import csv
import sys


def per_core(row):
    cpu = float(row["server_cpu_pct"]) / 100
    return float(row["decisions_s"]) / cpu if cpu > 0 else float("nan")


def main():
    rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
    by = {(r["target"], r["case"], r["conc"]): r for r in rows}
    ours = sorted({r["target"] for r in rows if r["target"].startswith("teamgate")})
    peers = sorted({r["target"] for r in rows} - set(ours))
    print("| server | case | c | decisions/s per core | "
          + " | ".join(f"{p} decisions/s per core | ratio to {p}" for p in peers) + " |")
    print("|---|---|---:|---:|" + "---:|---:|" * len(peers))
    for (t, case, c), r in by.items():
        if t not in ours:
            continue
        cells = [t, case, c, f"{per_core(r):,.0f}"]
        for p in peers:
            q = by.get((p, case, c))
            if q is None:
                cells += ["-", "-"]
            elif int(r["non200_or_err"]) or int(q["non200_or_err"]):
                cells += [f"{per_core(q):,.0f}", "n/a (failures)"]
            else:
                cells += [f"{per_core(q):,.0f}", f"{per_core(r) / per_core(q):.1f}x"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
