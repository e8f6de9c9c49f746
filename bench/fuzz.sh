#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60: the smoke run),
# one after the other, seeded from fuzz/seeds/; prints each target's input
# count and fails on the first crash (its input is kept in fuzz/artifacts/).
#
# usage: bench/fuzz.sh [SECONDS]   (needs a nightly toolchain and cargo-fuzz:
#        rustup toolchain install nightly; cargo install cargo-fuzz --locked)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
for t in http_body entity_ref entity_json scenario_yaml context policy_text; do
  mkdir -p "corpus/$t"
  cp -n seeds/$t/* "corpus/$t/" 2>/dev/null || true
  out=$(cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1) || {
    echo "$out" | tail -40
    echo "FAIL: $t crashed (see fuzz/artifacts/$t)" >&2
    exit 1
  }
  echo "$t: $(echo "$out" | grep -E '^Done [0-9]+ runs' | tail -1)"
done
