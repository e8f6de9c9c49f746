#!/usr/bin/env bash
# Peak memory of a full entity reload: start `teamgate serve` on a bundle,
# note its resident size, reset the peak counter (/proc/PID/clear_refs),
# change one entity in the entity file, SIGHUP, wait for the new version,
# and read the peak (VmHWM) and the resident size after.
#
# usage: bench/reload_peak.sh BUNDLE [ROUNDS]   (Linux; a release build)
set -euo pipefail
bundle=$1
rounds=${2:-3}
bin=${TEAMGATE:-target/release/teamgate}
port=18555
file=$(ls "$bundle"/fixtures/*.json | head -1)
cp "$file" "$file.orig"
trap 'mv "$file.orig" "$file"; kill $pid 2>/dev/null || true' EXIT
"$bin" serve --bundle "$bundle" --no-watch --listen 127.0.0.1:$port >/dev/null 2>&1 &
pid=$!
until curl -sf localhost:$port/healthz >/dev/null; do sleep 0.2; done
sleep 1
kb() { awk -v k="$1:" '$1 == k { print $2 }' /proc/$pid/status; }
echo "steady: $(kb VmRSS) KB resident"
version() { curl -s localhost:$port/v1/policies | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])'; }
for i in $(seq 1 "$rounds"); do
  before=$(kb VmRSS)
  echo 5 > /proc/$pid/clear_refs
  old=$(version)
  sed -i -E "0,/\"email\": ?\"[^\"]*\"/s//\"email\":\"reload$i@peak.example\"/" "$file"
  start=$(date +%s.%N)
  kill -HUP $pid
  n=0
  while [ "$(version)" = "$old" ]; do
    sleep 0.05; n=$((n + 1))
    [ $n -lt 1200 ] || { echo "no new version after 60 s" >&2; exit 1; }
  done
  end=$(date +%s.%N)
  sleep 0.5
  peak=$(kb VmHWM); after=$(kb VmRSS)
  printf 'reload %d: %.2f s, resident before %d KB, peak %d KB (%.2fx), after %d KB\n' \
    "$i" "$(echo "$end - $start" | bc)" "$before" "$peak" "$(echo "$peak / $before" | bc -l)" "$after"
done
