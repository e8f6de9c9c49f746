#!/usr/bin/env bash
# Checks the Kubernetes example (run by .ci/run):
# 1. deploy/kubernetes/teamgate.yaml is what generate.py writes for the repository's bundle;
# 2. every manifest passes the Kubernetes schemas, strictly (kubernetes-validate,
#    which bundles the OpenAPI schemas of each Kubernetes release);
# 3. the bundle as the kubelet lays out the ConfigMap's items loads in teamgate.
#
# usage: deploy/kubernetes/check.sh [TEAMGATE]   (default: cargo run --quiet --)
set -euo pipefail
cd "$(dirname "$0")/../.."
teamgate=${1:-"cargo run --quiet --"}
python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate==1.37.0 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages kubernetes-validate==1.37.0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 deploy/kubernetes/generate.py > "$tmp/teamgate.yaml"
if ! diff -q "$tmp/teamgate.yaml" deploy/kubernetes/teamgate.yaml >/dev/null; then
  echo "deploy/kubernetes/teamgate.yaml is stale: run python3 deploy/kubernetes/generate.py > deploy/kubernetes/teamgate.yaml" >&2
  exit 1
fi
python3 -m kubernetes_validate --strict --kubernetes-version 1.37.0 deploy/kubernetes/*.yaml
python3 - "$tmp/bundle" <<'PY'
import os, sys, yaml
out = sys.argv[1]
docs = list(yaml.safe_load_all(open("deploy/kubernetes/teamgate.yaml")))
cm = next(d for d in docs if d["kind"] == "ConfigMap")
dep = next(d for d in docs if d["kind"] == "Deployment")
vol = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "bundle")
for item in vol["configMap"]["items"]:
    path = os.path.join(out, item["path"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(cm["data"][item["key"]])
assert len(vol["configMap"]["items"]) == len(cm["data"]), "every key is mounted"
PY
$teamgate validate --bundle "$tmp/bundle" >/dev/null
echo "deploy/kubernetes: up to date, valid for Kubernetes 1.37, and the mounted bundle loads"
