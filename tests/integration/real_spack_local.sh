#!/bin/bash
# The real Spack (0.21) on the local executor, run by an unprivileged user: a build of real
# builtin packages concretizes with real Spack (the concretize stage's lock is Spack's); the
# concretize stage writes nothing outside the build directory but the shared Spack cache, and
# never changes the environment file it is given; an unknown package fails in the concretize
# stage, and builder.out carries softpack-core's concretization phrase. The image stages use the
# singularity stand-in with the fake Spack tree (builtin packages cannot be fetched offline;
# real_spack_recipe.sh builds images with the real Spack).
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/real_spack.bash"
require_real_spack

write_config < <(real_spack_config)
chown "$REAL_SPACK_USER" "$IT_DIR/config.yaml"
home=$(getent passwd "$REAL_SPACK_USER" | cut -d: -f6)
touch "$IT_DIR/marker"
sleep 1

# 1. Real packages.
printf 'description: real packages\npackages:\n  - xxhash@0.8.1\n  - zlib\n' >"$IT_DIR/good.yml"
chown "$REAL_SPACK_USER" "$IT_DIR/good.yml"
rc=0
out=$(as_test_user "$SP_SUBMIT" "$IT_DIR/good.yml" --name users/softpack-it/real --version 1 \
  --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out" | tail -5
build_dir=$(ls -d "$IT_DIR"/var/builds/*/ | head -1)
[[ "$rc" == 0 ]] || fail "the build failed ($rc): $(tail -30 "$build_dir/logs/concretize.out")"

# The concretize stage's lock (the published one is the image's).
lock="$build_dir/concretize/spack.lock"
# One line of JSON with no newline at all, as Spack writes it.
assert_eq 0 "$(wc -l <"$lock" | tr -d ' ')" "newlines in Spack's lock"
assert_eq 5 "$(jq -r '._meta["lockfile-version"]' "$lock")" "lockfile version"
assert_eq 0.21.0.dev0 "$(jq -r '.spack.version' "$lock")" "the lock is the real Spack's, not the stand-in's"
assert_eq "xxhash@0.8.1 zlib" "$(jq -r '[.roots[].spec] | sort | join(" ")' "$lock")" "the lock's roots"
# The image's spack.yaml is as rendered: no compilers (or anything else) added by concretize.
cmp -s "$build_dir/env/spack.yaml" "$build_dir/concretize/spack.yaml" ||
  fail "env/spack.yaml and the concretized copy differ (the rendered file was changed?)"
! grep -q "compilers:" "$build_dir/env/spack.yaml" || fail "compilers were added to env/spack.yaml"
grep -q "Packages: .*xxhash@0.8.1" "$build_dir/out/module" || fail "the module names xxhash@0.8.1"

# Nothing written outside the build directory but the shared cache: not the Spack tree, not the
# user's home, not /tmp or /opt.
# (The Singularity stand-in's image cache, ~/.cache/softpack-fake-singularity, and its build
# directories, /tmp/build-temp-*, are the image stages' own, as real Singularity's are; other
# tests running as the same user at the same time make them too.)
written=$(find "$REAL_SPACK_ROOT" "$home" /tmp /var/tmp /opt -xdev -newer "$IT_DIR/marker" \
  -user "$REAL_SPACK_USER" 2>/dev/null | grep -v "^$IT_DIR" | grep -v "^$REAL_SPACK_ROOT/cache" |
  grep -v "^$home/\.cache\(/softpack-fake-singularity\(/.*\)\?\)\?$" |
  grep -v "^/tmp/build-temp-[^/]*\(/.*\)\?$" || true)
assert_eq "" "$written" "files the test user wrote outside the build directory and data_dir"
[[ -n "$(ls -A "$REAL_SPACK_ROOT/cache")" ]] || fail "nothing in the shared Spack cache"

# 2. An unknown package fails in the concretize stage, as a concretization failure for core.
printf 'description: unknown\npackages:\n  - nosuchpkg-softpack\n' >"$IT_DIR/bad.yml"
chown "$REAL_SPACK_USER" "$IT_DIR/bad.yml"
rc=0
out=$(as_test_user "$SP_SUBMIT" "$IT_DIR/bad.yml" --name users/softpack-it/unknown --version 1 \
  --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
assert_eq 1 "$rc" "exit code of a failed build"
bad_dir=$(grep -l unknown "$IT_DIR"/var/builds/*/build.json | head -1 | xargs dirname)
builder_out="$bad_dir/out/builder.out"
[[ -f "$builder_out" ]] || fail "no builder.out for the failed build"
assert_contains "$(cat "$builder_out")" "failed stage: concretize" "builder.out's failed stage"
assert_contains "$(cat "$builder_out")" "concretization failed for the following reasons:" \
  "softpack-core's phrase (the original concretizer never prints it)"
assert_matches "$(cat "$builder_out")" "Package 'spack\\.pkg\\.[A-Za-z0-9_]+\\.nosuchpkg-softpack' not found" \
  "real Spack's error in the log"
echo "PASS"
