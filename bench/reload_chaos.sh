#!/usr/bin/env bash
# The reload chaos test, longer: ROUNDS edits, breakages, restores, symlink
# swaps, deletions and recreations of a watched bundle while a reader
# decides without pause; fails on any decision from a state that was never
# a complete, valid bundle, a failed decision, or memory growing.
#
# usage: bench/reload_chaos.sh [ROUNDS]   (default 20,000)
set -euo pipefail
cd "$(dirname "$0")/.."
CHAOS_ROUNDS=${1:-20000} cargo test --release --test reload reload_chaos -- --nocapture
