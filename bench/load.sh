#!/usr/bin/env bash
# Sidecar load run: server pinned to core 0 (one worker thread), wrk pinned to
# core 1, on loopback, single and batch requests at concurrency 1, 8 and 32,
# then the same single bodies at c=8 to the floor route of the same server
# (a constant answer: the HTTP floor) and teamgate's ratio to it.
# Usage: bash bench/load.sh [BUNDLE]   (needs wrk: apt-get install wrk)
# e.g. teamgate generate --users 100000 /tmp/g100000 && bash bench/load.sh /tmp/g100000
# TEAMGATE_BIN runs another build (e.g. an older commit's, for an A/B run
# in the same minute of a noisy host) instead of building this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${1:-.}
# A bundle written by `teamgate generate` brings its own sample requests.
if [ -f "$bundle/requests.jsonl" ]; then export TEAMGATE_REQUESTS="$bundle/requests.jsonl"; fi
bin=${TEAMGATE_BIN:-./target/release/teamgate}
if [ -z "${TEAMGATE_BIN:-}" ]; then cargo build --release --quiet; fi
# TEAMGATE_SERVE_ARGS adds flags, e.g. "--decision-cache 0" for uncached decisions.
taskset -c 0 "$bin" serve --bundle "$bundle" --listen 127.0.0.1:8187 --workers 1 --no-watch --floor-route ${TEAMGATE_SERVE_ARGS:-} > /tmp/teamgate-load.out 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null' EXIT
# Ready when /readyz answers (a 100,000-user bundle takes seconds to load).
for _ in $(seq 600); do curl -fsS -o /dev/null http://127.0.0.1:8187/readyz 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null http://127.0.0.1:8187/readyz || { echo "the server did not become ready: /tmp/teamgate-load.out" >&2; exit 1; }
for run in "single 1" "single 8" "single 32" "batch 1" "batch 8" "batch 32" "floor 8"; do
  read -r script c <<<"$run"
  path=/v1/is_authorized
  if [ "$script" = floor ]; then script=single; path=/v1/floor; fi
  out=$(WRK_PATH=$path taskset -c 1 wrk -t1 -c$c -d10s --latency -s bench/$script.lua http://127.0.0.1:8187)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/' | tr '\n' ' ')
  if [ -n "$errors" ]; then echo "$script c=$c: FAILED: $errors" >&2; exit 1; fi
  per=$([ $script = batch ] && echo 8 || echo 1)
  if [ $path = /v1/floor ]; then
    echo "floor c=$c: $rps req/s (constant answers), p50 $p50, p99 $p99"
    echo "teamgate single c=8 / floor c=8: $(awk -v a="$single8" -v b="$rps" 'BEGIN{printf "%.2f", a/b}')"
  else
    echo "$script c=$c: $rps req/s ($(awk -v r="$rps" -v p="$per" 'BEGIN{printf "%.0f", r*p}') decisions/s), p50 $p50, p99 $p99 $errors"
  fi
  if [ "$script $c" = "single 8" ] && [ $path != /v1/floor ]; then single8=$rps; fi
done
