#!/usr/bin/env bash
# The race: teamgate, Cerbos and cedar-agent on the same 1,000-user workspace.
# Adapted from ../shared/peers/run.sh (the reference harness). For each
# target, start the server pinned to one core, check its answers (every case
# body's expected decision, then check.py: 600+ sampled requests against the
# model all three policy sets encode), then drive each case with oha pinned to
# the other core and print one table, and teamgate's ratio to each peer in
# decisions per second per core of server CPU. Loopback only.
#
# Usage:   bash bench/peers/run.sh [TARGET ...]   TARGET = targets/NAME.env
#          (default: teamgate teamgate-cached cerbos cedar-agent)
#
# Prerequisites (the script says which is missing and how to get it):
#   oha          cargo install oha --locked
#   Cerbos       npm install @cerbos/cerbos-linux-x64@0.55.0 in bench/peers/.peers/cerbos-npm
#                (or CERBOS_BIN=...)
#   cedar-agent  cargo install cedar-agent --version '=0.2.2-x86.64-unknown-linux-gnu'
#                (or CEDAR_AGENT_BIN=...)
#   jq, curl, taskset, python3
# Data, bundle and bodies are written by ./gen_data.py into ./work (not committed).
#
# Knobs (environment):
#   DURATION=10s      measured run length per (case, concurrency)
#   WARMUP=3s         warm-up run before each measured run (0 = none)
#   CONCURRENCY="1 8 32"
#   SERVER_CPU=0      CPU the server is pinned to (taskset -c)
#   LOAD_CPU=1        CPU oha is pinned to (taskset -c)
#   CASES_FILTER=     regex; only cases whose name matches are load-tested
#   OHA=oha           oha binary
#   QUIET_WAIT=600    before each measured run, wait up to this many seconds
#                     for the rest of the machine to be idle (other processes
#                     using < QUIET_MAX_PCT of one CPU); the "other CPU %"
#                     column shows what else ran during each measured run
#   QUIET_MAX_PCT=10
#   OUT=./work/out/<timestamp>   where logs, oha JSON and results.tsv go
#
# A target file is bash, sourced in a subshell with the current directory =
# ./work, and sets:
#   NAME          label in the table
#   VERSION_CMD   (optional) command printing the server's version
#   PRECHECK      (optional) command that must succeed first (e.g. policy compile)
#   START         command that starts the server in the foreground;
#                 run.sh runs it as `taskset -c $SERVER_CPU bash -c "exec $START"`
#   HEALTH_URL    GET that answers 2xx once the server is ready
#   URL           endpoint every case body is POSTed to
#   CHECK         check.py's server name (cerbos | cedar-agent | teamgate)
#   DECISION_JQ   jq filter turning a response into "allow"/"deny", or a
#                 comma-joined list of them for batch bodies
#   CASES         bash array of "case expected body_file decisions_per_request [url]"
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TARGET_DIR="$HERE/targets"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONCURRENCY=${CONCURRENCY:-"1 8 32"}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
CASES_FILTER=${CASES_FILTER:-}
OHA=${OHA:-oha}
QUIET_WAIT=${QUIET_WAIT:-600}
QUIET_MAX_PCT=${QUIET_MAX_PCT:-10}
OUT=${OUT:-$HERE/work/out/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"
CLK_TCK=$(getconf CLK_TCK)

command -v "$OHA" >/dev/null || { echo "oha not found: cargo install oha --locked (or set OHA=...)" >&2; exit 1; }
for tool in jq curl taskset python3; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=(teamgate teamgate-cached cerbos cedar-agent); fi

# teamgate's release binary from this checkout, then data and bodies.
(cd "$REPO" && cargo build --release --quiet)
export TEAMGATE_BIN=${TEAMGATE_BIN:-$REPO/target/release/teamgate}
python3 "$HERE/gen_data.py" --out "$HERE/work" > "$OUT/gen_data.json"
cd "$HERE/work"

printf 'target\tcase\tconc\treq_s\tdecisions_s\tp50_ms\tp99_ms\trequests\tnon200_or_err\tserver_cpu_pct\toha_cpu_pct\tother_cpu_pct\trss_idle_mb\trss_load_max_mb\n' > "$RESULTS"
echo "# output in $OUT" >&2

secs() { awk -v d="$1" 'BEGIN{ if (d ~ /ms$/) print d / 1000; else if (d ~ /m$/) print d * 60; else if (d ~ /h$/) print d * 3600; else print d + 0 }'; }
rss_kb() { ps -o rss= -p "$1" 2>/dev/null | tr -d ' ' || true; }
# busy ticks of the whole machine (all CPUs): user nice system irq softirq steal
machine_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
# Wait until processes other than server $1 use < QUIET_MAX_PCT of one CPU.
wait_quiet() {
  local spid=$1 waited=0 m0 m1 s0 s1 pct
  while :; do
    m0=$(machine_ticks); s0=$( [ -n "$spid" ] && cpu_ticks "$spid" || echo 0 ); sleep 1
    m1=$(machine_ticks); s1=$( [ -n "$spid" ] && cpu_ticks "$spid" || echo 0 )
    pct=$(( ( (m1 - m0) - (s1 - s0) ) * 100 / CLK_TCK ))
    [ "$pct" -lt "$QUIET_MAX_PCT" ] && return 0
    [ "$waited" = 0 ] && echo "   machine busy (${pct}% of a CPU used by other processes); waiting up to ${QUIET_WAIT}s" >&2
    waited=$((waited + 1))
    [ "$waited" -ge "$QUIET_WAIT" ] && { echo "   still busy after ${QUIET_WAIT}s; measuring anyway (see other CPU %)" >&2; return 0; }
  done
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

run_target() (
  local tname=$1 envf="$TARGET_DIR/$1.env"
  [ -f "$envf" ] || { echo "no such target file: $envf" >&2; return 1; }
  NAME=$tname; VERSION_CMD=; PRECHECK=; START=; PID=; HEALTH_URL=; URL=; CHECK=; DECISION_JQ=; CASES=()
  # shellcheck disable=SC1090
  source "$envf"
  local log="$OUT/$NAME.server.log" spid=""
  [ -n "$VERSION_CMD" ] && { echo "== $NAME version: $(bash -c "$VERSION_CMD" 2>&1 | head -1)" >&2; }

  if [ -n "$PRECHECK" ]; then
    bash -c "$PRECHECK" > "$OUT/$NAME.precheck.log" 2>&1 || { echo "!! $NAME precheck failed:" >&2; cat "$OUT/$NAME.precheck.log" >&2; return 1; }
    echo "== $NAME precheck ok: $(tail -1 "$OUT/$NAME.precheck.log")" >&2
  fi
  if [ -n "$START" ]; then
    taskset -c "$SERVER_CPU" bash -c "exec $START" > "$log" 2>&1 &
    spid=$!
    trap 'kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true' EXIT
  else
    spid=${PID:-}
  fi

  local ok=0
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null --max-time 1 "$HEALTH_URL" 2>/dev/null; then ok=1; break; fi
    [ -n "$START" ] && ! kill -0 "$spid" 2>/dev/null && break
    sleep 0.2
  done
  [ $ok = 1 ] || { echo "!! $NAME did not become healthy at $HEALTH_URL; log: $log" >&2; tail -20 "$log" >&2 || true; return 1; }
  sleep 1
  local rss_idle="n/a"
  [ -n "$spid" ] && rss_idle=$(awk -v k="$(rss_kb "$spid")" 'BEGIN{printf "%.1f", k/1024}')
  echo "== $NAME up (pid ${spid:-?}), idle RSS ${rss_idle} MB" >&2

  # 1. correctness check of every body with curl
  local line cname expected body dpr got code
  for line in "${CASES[@]}"; do
    read -r cname expected body dpr curl <<<"$line"; u=${curl:-$URL}
    code=$(curl -s -o "$OUT/$NAME.$cname.response.json" -w '%{http_code}' -X POST \
           -H 'content-type: application/json' --data-binary "@$body" "$u")
    got=$(jq -r "$DECISION_JQ" "$OUT/$NAME.$cname.response.json" 2>/dev/null || echo "unparseable")
    if [ "$code" != 200 ] || [ "$got" != "$expected" ]; then
      echo "!! $NAME $cname: HTTP $code, got '$got', expected '$expected'" >&2
      cat "$OUT/$NAME.$cname.response.json" >&2; echo >&2
      return 1
    fi
    echo "   ok  $cname -> $got" >&2
  done
  if [ -n "$CHECK" ]; then
    python3 "$HERE/check.py" "$CHECK" "$URL" >&2 || return 1
  fi

  # 2. load runs
  local c t0 t1 m0 m1 other rmax r json tfile ohacpu
  for line in "${CASES[@]}"; do
    read -r cname expected body dpr curl <<<"$line"; u=${curl:-$URL}
    if [ -n "$CASES_FILTER" ] && ! [[ $cname =~ $CASES_FILTER ]]; then continue; fi
    for c in $CONCURRENCY; do
      wait_quiet "$spid"
      if [ "$WARMUP" != 0 ]; then
        taskset -c "$LOAD_CPU" "$OHA" -z "$WARMUP" -c "$c" --no-tui -w --output-format json \
          -m POST -H 'content-type: application/json' -D "$body" "$u" > /dev/null 2>&1 || true
      fi
      json="$OUT/$NAME.$cname.c$c.json"; tfile="$OUT/$NAME.$cname.c$c.time"
      wait_quiet "$spid"
      t0=$( [ -n "$spid" ] && cpu_ticks "$spid" || echo 0 ); m0=$(machine_ticks)
      ( TIMEFORMAT='%U %S %R'
        time taskset -c "$LOAD_CPU" "$OHA" -z "$DURATION" -c "$c" --no-tui -w --output-format json \
          -m POST -H 'content-type: application/json' -D "$body" "$u" > "$json" ) 2> "$tfile" &
      local opid=$! 
      rmax=0
      while kill -0 "$opid" 2>/dev/null; do
        if [ -n "$spid" ]; then r=$(rss_kb "$spid"); [ -n "$r" ] && [ "$r" -gt "$rmax" ] && rmax=$r; fi
        sleep 0.5
      done
      wait "$opid" || true
      t1=$( [ -n "$spid" ] && cpu_ticks "$spid" || echo 0 ); m1=$(machine_ticks)
      # other = machine busy - server - oha (includes this script's ps sampler)
      other=$(tail -1 "$tfile" | awk -v m="$((m1 - m0))" -v s="$((t1 - t0))" -v hz="$CLK_TCK" -v d="$(secs "$DURATION")" \
              '{ printf "%.0f", ((m - s) / hz - ($1 + $2)) / d * 100 }')
      ohacpu=$(tail -1 "$tfile" | awk '{ if ($3 > 0) printf "%.0f", ($1 + $2) / $3 * 100; else print "n/a" }')
      jq -r --arg t "$NAME" --arg cs "$cname" --arg c "$c" --arg dpr "$dpr" \
            --arg cpu "$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v d="$(secs "$DURATION")" -v p="$spid" 'BEGIN{ if (p=="") print "n/a"; else printf "%.0f", (b-a)/hz/d*100 }')" \
            --arg ocpu "$ohacpu" --arg oth "$other" --arg ri "$rss_idle" \
            --arg rl "$( [ -n "$spid" ] && awk -v k="$rmax" 'BEGIN{printf "%.1f", k/1024}' || echo n/a)" '
        def ms: if . == null then "n/a" else (. * 1000 * 1000 | round / 1000 | tostring) end;
        (.statusCodeDistribution // {}) as $sc
        | ([$sc | to_entries[] | .value] | add // 0) as $resp
        | ([$sc | to_entries[] | select(.key != "200") | .value] | add // 0) as $bad
        | ([(.errorDistribution // {}) | to_entries[] | .value] | add // 0) as $err
        | [$t, $cs, $c,
           (.summary.requestsPerSec | round | tostring),
           (.summary.requestsPerSec * ($dpr | tonumber) | round | tostring),
           (.latencyPercentiles.p50 | ms), (.latencyPercentiles.p99 | ms),
           ($resp | tostring), (($bad + $err) | tostring), $cpu, $ocpu, $oth, $ri, $rl] | @tsv' "$json" >> "$RESULTS"
      echo "   $(tail -1 "$RESULTS")" >&2
    done
  done
  [ -n "$START" ] && { echo "   final RSS $(awk -v k="$(rss_kb "$spid")" 'BEGIN{printf "%.1f", k/1024}') MB" >&2; }
  return 0
)

failed=0
for t in "${TARGETS[@]}"; do
  run_target "$t" || { echo "!! target $t failed" >&2; failed=1; }
done

# Markdown table
{
  echo "| target | case | c | req/s | decisions/s | p50 ms | p99 ms | requests | non-200/err | server CPU % | oha CPU % | other CPU % | idle RSS MB | max RSS under load MB |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  tail -n +2 "$RESULTS" | awk -F'\t' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n" }'
} | tee "$OUT/table.md"
python3 "$HERE/ratio.py" "$RESULTS" | tee "$OUT/ratio.md"
exit $failed
