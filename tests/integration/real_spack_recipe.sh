#!/bin/bash
# The image recipe with the real Spack (issue 14), end to end on the local executor, as an
# unprivileged user, with the test package repository (tests/fixtures/spack-repo) and a file://
# binary cache. The Singularity stand-in runs the recipe's %post in a sandbox with the real Spack
# tree at /opt/spack, whose system scope (/etc/spack) says its gcc is 11.4.0, not the host's
# 12.2.0, as a build image's Spack differs from the submit host's.
#  A. sp-liba, sp-libb, sp-tool: built from source, pushed to the cache. The concretize stage's
#     lock and the image's differ (the compiler); the published lock, softpack.yml and the
#     module's whatis are the image's. The module loads and its wrapper runs sp-liba in the image.
#  B. sp-libb, sp-tool, sp-hello: sp-libb and sp-tool (and sp-liba) come from the cache, only
#     sp-hello is built.
#  C. sp-tool, asked to fail (the repository's test-knobs), with an empty cache: the build fails,
#     and what it built (sp-liba, sp-libb) is in the cache.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/real_spack.bash"
source "$(dirname "$0")/lib/spack_repo.bash"
require_real_spack
for tool in bwrap mksquashfs unsquashfs siftool; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps installs it)"
done
[[ -r /usr/share/modules/init/bash ]] || skip "environment-modules is not installed"

make_spack_repo "$IT_DIR/repo" "$REAL_SPACK_USER" || fail "make_spack_repo"
write_sandbox_spack_scope
mkdir -p "$IT_DIR/cache" "$IT_DIR/cache-c" "$IT_DIR/modules"
chown -R "$REAL_SPACK_USER" "$IT_DIR"

recipe_config "file://$IT_DIR/cache" "$IT_DIR/cache" "install, git" >"$IT_DIR/config-ab.yaml"
recipe_config "file://$IT_DIR/cache-c" "$IT_DIR/cache-c" "install, git" >"$IT_DIR/config-c.yaml"
chown "$REAL_SPACK_USER" "$IT_DIR"/config-*.yaml
start=$SECONDS

# A.
submit_packages a "$IT_DIR/config-ab.yaml" sp-liba sp-libb sp-tool ||
  fail "build A failed: $(tail -40 "$IT_DIR/a.submit"; tail -40 "$(build_dir_of a)/logs/build.out")"
a=$(build_dir_of a)
log=$(<"$a/logs/build.out")
for p in sp-liba sp-libb sp-tool; do
  assert_matches "$log" "No binary for $p-1\.0-[a-z0-9]+ found: installing from source" "A builds $p"
done
assert_matches "$log" "Pushed sp-tool@1\.0/" "A pushes to the cache"
[[ -s "$IT_DIR/cache/build_cache/index.json" ]] || fail "A: no index.json in the cache"
echo "A built in $((SECONDS - start)) s"

# The one lock: the image's, not the concretize stage's.
compilers() { jq -r '[.concrete_specs[] | .compiler.name + "@" + .compiler.version] | unique | join(" ")' "$1"; }
assert_eq "gcc@12.2.0" "$(compilers "$a/concretize/spack.lock")" "the concretize stage's compiler"
assert_eq "gcc@11.4.0" "$(compilers "$a/out/spack.lock")" "the published lock's compiler (the image's)"
image_lock=$(as_test_user env PATH="$FAKES:/usr/bin:/bin" singularity exec "$a/out/singularity.sif" \
  cat /opt/spack-environment/spack.lock) || fail "cannot read the image's lock"
[[ "$image_lock" == "$(<"$a/out/spack.lock")" ]] || fail "the published spack.lock is not the image's"
assert_eq "sp-liba@1.0 sp-libb@1.0 sp-tool@1.0" \
  "$(python3 -c 'import sys, yaml; print(" ".join(sorted(yaml.safe_load(open(sys.argv[1]))["packages"])))' "$a/out/softpack.yml")" \
  "the concrete softpack.yml's versions"
assert_eq "sp-liba sp-libb sp-tool" "$(sort "$a/out/executables" | tr '\n' ' ' | sed 's/ $//')" \
  "the executables of the requested packages"

# The module loads; its wrapper runs sp-liba in the image.
mod_out=$(as_test_user env PATH="$FAKES:/usr/bin:/bin" bash -c '
  set -e
  source /usr/share/modules/init/bash
  module use "$1"
  module load "users/$2/a/1"
  module whatis "users/$2/a/1" 2>&1
  sp-liba
  sp-tool' _ "$IT_DIR/modules" "$REAL_SPACK_USER" 2>&1) || fail "module load or the wrappers failed: $mod_out"
assert_contains "$mod_out" "sp-liba 1.0" "the wrapper runs sp-liba from the image"
assert_contains "$mod_out" "sp-tool 1.0 (sp-libb 1.0 (sp-liba 1.0))" "the wrapper runs sp-tool"
assert_matches "$mod_out" "Packages: .*sp-liba@1\.0" "the module's whatis"

# B.
t=$SECONDS
submit_packages b "$IT_DIR/config-ab.yaml" sp-libb sp-tool sp-hello ||
  fail "build B failed: $(tail -40 "$(build_dir_of b)/logs/build.out")"
b=$(build_dir_of b)
log=$(<"$b/logs/build.out")
for p in sp-liba sp-libb sp-tool; do
  assert_matches "$log" "Extracting $p-1\.0-[a-z0-9]+ from binary cache" "B installs $p from the cache"
  ! grep -q "No binary for $p-" <<<"$log" || fail "B built $p from source"
done
assert_matches "$log" "No binary for sp-hello-1\.0-[a-z0-9]+ found: installing from source" "B builds sp-hello"
echo "B built in $((SECONDS - t)) s"

# C.
printf 'SOFTPACK_TEST_FAIL=sp-tool\n' >"$IT_DIR/repo/test-knobs"
chown "$REAL_SPACK_USER" "$IT_DIR/repo/test-knobs"
t=$SECONDS
if submit_packages c "$IT_DIR/config-c.yaml" sp-tool; then
  fail "build C succeeded although sp-tool was asked to fail"
fi
rm -f "$IT_DIR/repo/test-knobs"
c=$(build_dir_of c)
assert_contains "$(<"$c/logs/build.out")" "sp-tool fails on purpose" "C's install failed as asked"
assert_contains "$(<"$c/out/builder.out")" "failed stage: build" "C failed in the build stage"
for p in sp-liba sp-libb; do
  ls "$IT_DIR/cache-c/build_cache/"*"-$p-1.0-"*.spec.json >/dev/null 2>&1 ||
    fail "C did not push $p, which it built, to the cache: $(ls -R "$IT_DIR/cache-c" | head -20)"
done
! ls "$IT_DIR/cache-c/build_cache/"*-sp-tool-1.0-*.spec.json >/dev/null 2>&1 ||
  fail "C pushed sp-tool, which failed"
echo "C failed in $((SECONDS - t)) s"
echo "PASS ($((SECONDS - start)) s)"
