#!/usr/bin/env bash
# The pre-commit hooks as a policy repository meets them: a scratch git
# repository with the demo bundle uses this repository's
# .pre-commit-hooks.yaml (at its HEAD commit); a commit of a broken policy is
# refused naming the file and line, a commit of a fixed one goes through.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin="${CARGO_TARGET_DIR:-$repo/target}/debug/teamgate"
[ -x "$bin" ] || cargo build --quiet --manifest-path "$repo/Cargo.toml"
command -v pre-commit >/dev/null || pip install --quiet pre-commit
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/repo"
ln -s "$bin" "$work/bin/teamgate"
export PATH="$work/bin:$PATH" PRE_COMMIT_HOME="$work/cache"
cd "$work/repo"
git init -q
git config user.email ci@example.com
git config user.name CI
cp -r "$repo/schemas" "$repo/policies" "$repo/fixtures" .
mkdir -p tests && cp -r "$repo/tests/scenarios" tests/
cat > .pre-commit-config.yaml <<YAML
repos:
  - repo: $repo
    rev: $(git -C "$repo" rev-parse HEAD)
    hooks:
      - id: teamgate-validate
      - id: teamgate-test
YAML
pre-commit install >/dev/null
git add -A
git commit -qm "the bundle" >/dev/null
sed -i 's/^forbid/forbidd/' policies/rules/admin-only.cedar
git add -A
if git commit -qm "a broken policy" > "$work/out.txt" 2>&1; then
  echo "FAIL: the broken policy was committed" >&2
  exit 1
fi
grep -q "policies/rules/admin-only.cedar:[0-9]*:[0-9]*" "$work/out.txt" || {
  cat "$work/out.txt"
  echo "FAIL: the refusal does not name the file and line" >&2
  exit 1
}
sed -i 's/^forbidd/forbid/' policies/rules/admin-only.cedar
echo "// reviewed" >> policies/rules/admin-only.cedar
git add -A
git commit -qm "the fixed policy" > "$work/out.txt" 2>&1 || {
  cat "$work/out.txt"
  echo "FAIL: the fixed policy was refused" >&2
  exit 1
}
echo "pre-commit hooks: a broken policy is refused with its file and line; a fixed one is committed"
