#!/bin/bash
# Bad input is refused before anything starts: exit 2, a message naming the field, the value
# and the line, and no build directory.
source "$(dirname "$0")/lib/common.bash"

write_config </dev/null
cat >"$IT_DIR/bad.yml" <<'YML'
description: fine
packages:
  - xxhash
  - "evil; rm -rf /"
YML
rc=0
out=$("$SP_SUBMIT" "$IT_DIR/bad.yml" --name users/alice/env --version 1 \
  --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 2 "$rc" "exit code for a bad package"
assert_contains "$out" "bad.yml:4" "line of the bad package"
assert_contains "$out" "packages[1]" "field of the bad package"

rc=0
out=$("$SP_SUBMIT" "$IT_DIR/bad.yml" --name 'users/alice/$(id)' --version 1 \
  --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 2 "$rc" "exit code for a bad name"

rc=0
out=$(echo '{"name":"users/x/y","version":"1","model":{"description":"d","packages":[]}}' |
  "$SP_SUBMIT" - --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 2 "$rc" "exit code for a request without packages"

[[ ! -e "$IT_DIR/var/builds" ]] || fail "a build directory was created for bad input"

# --dry-run writes the scripts and spack.yaml and submits nothing.
cat >"$IT_DIR/good.yml" <<'YML'
packages: [xxhash@0.8.1]
YML
"$SP_SUBMIT" "$IT_DIR/good.yml" --name users/alice/env --version 1 --config "$IT_DIR/config.yaml" \
  --dry-run "$IT_DIR/dry" || fail "dry run"
for f in concretize.sh build.sh module.sh spack.yaml; do
  [[ -s "$IT_DIR/dry/$f" ]] || fail "dry run did not write $f"
done
bash -n "$IT_DIR/dry/build.sh" || fail "dry-run script syntax"
[[ ! -e "$IT_DIR/var/builds" ]] || fail "dry run created a build"

# Options come in any order, before or after the spec.
"$SP_SUBMIT" "$IT_DIR/good.yml" --dry-run "$IT_DIR/dry2" --config "$IT_DIR/config.yaml" \
  --name users/alice/env --version 1 >/dev/null || fail "SPEC --dry-run DIR --config X"
"$SP_SUBMIT" --version 1 --config "$IT_DIR/config.yaml" --dry-run "$IT_DIR/dry3" \
  --name users/alice/env "$IT_DIR/good.yml" >/dev/null || fail "options before the spec"
# An option given no value is an error naming it, not a value for it.
rc=0
out=$("$SP_SUBMIT" "$IT_DIR/good.yml" --name users/alice/env --version 1 --dry-run \
  --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 2 "$rc" "exit code for --dry-run without a directory"
assert_contains "$out" "--dry-run: expects a value, found the option '--config'" "message"
[[ ! -e ./--config && ! -e "$IT_DIR/--config" ]] || fail "a directory named --config was made"

# Name and version come from a directory laid out as softpack-core's: <name>-<number>.
mkdir -p "$IT_DIR/environments/users/alice/my-env-3" "$IT_DIR/environments/users/alice/my-env"
cp "$IT_DIR/good.yml" "$IT_DIR/environments/users/alice/my-env-3/softpack.yml"
cp "$IT_DIR/good.yml" "$IT_DIR/environments/users/alice/my-env/softpack.yml"
for spec in "$IT_DIR/environments/users/alice/my-env-3/softpack.yml" \
  "$IT_DIR/environments/users/alice/my-env-3"; do
  out=$("$SP_SUBMIT" "$spec" --config "$IT_DIR/config.yaml" --dry-run "$IT_DIR/dry4" 2>&1) ||
    fail "inferred name and version: $out"
  assert_contains "$out" "(job sp.alice.my-env-3.concretize)" "name and version from the directory"
done
rc=0
out=$("$SP_SUBMIT" "$IT_DIR/environments/users/alice/my-env" --config "$IT_DIR/config.yaml" \
  --dry-run "$IT_DIR/dry5" 2>&1) || rc=$?
echo "$out"
assert_eq 2 "$rc" "exit code for a directory that is not <name>-<number>"
assert_contains "$out" "cannot tell the environment's name and version from the directory 'my-env'" \
  "message"
assert_contains "$out" "give --name users/<user>/<env>" "message"
rc=0
out=$("$SP_SUBMIT" "$IT_DIR/good.yml" --version 1 --config "$IT_DIR/config.yaml" \
  --dry-run "$IT_DIR/dry6" 2>&1) || rc=$?
assert_eq 2 "$rc" "exit code for --version without --name"
assert_contains "$out" "give both --name and --version" "message"
[[ ! -e "$IT_DIR/dry5" && ! -e "$IT_DIR/dry6" ]] || fail "a refused dry run wrote files"
echo "PASS"
