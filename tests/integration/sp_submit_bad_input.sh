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
echo "PASS"
