#!/usr/bin/env bash
# Schema-driven API fuzzing: schemathesis generates requests from
# openapi.yaml (valid and invalid ones) against a running sidecar with the
# data API on, over a scratch copy of the demo bundle, and checks every
# answer against the document: no 5xx, documented status codes, content
# types and schemas, and schema-violating requests refused. (Requests that
# fit the document's schemas but name unknown entities or types are still
# refused with a documented 4xx: the document cannot spell out the bundle's
# schema, so "positive data acceptance" is left out.)
#
# usage: bench/api_fuzz.sh [MAX_EXAMPLES]   (pip install schemathesis; a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-200}
bin=${TEAMGATE:-target/release/teamgate}
command -v st >/dev/null || { echo "schemathesis is missing: pip install schemathesis" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cp -r schemas policies fixtures "$work/"
token=schemathesis-token-0123456789
echo "$token" > "$work/token"
port=18590
"$bin" serve --bundle "$work" --listen 127.0.0.1:$port --admin-token-file "$work/token" \
  --data-store "$work/data.redb" --no-watch > "$work/serve.log" 2>&1 &
pid=$!
until curl -sf localhost:$port/healthz >/dev/null; do sleep 0.2; done
st run openapi.yaml --url "http://127.0.0.1:$port" \
  -H "Authorization: Bearer $token" \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --max-examples "$examples" \
  --phases examples,coverage,fuzzing \
  --request-timeout 10 \
  --suppress-health-check all
