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
# The sandbox's Spack: its own system scope (the original concretizer, the host's gcc said to be
# 11.4.0, a source cache and build stage in the sandbox's /tmp: the tree is read-only).
mkdir -p "$IT_DIR/sandbox-etc" "$IT_DIR/cache" "$IT_DIR/cache-c" "$IT_DIR/modules"
printf 'config:\n  concretizer: original\n  source_cache: /tmp/spack-source-cache\n  build_stage: [/tmp/spack-stage]\n' \
  >"$IT_DIR/sandbox-etc/config.yaml"
python3 - "$REAL_SPACK_ROOT/scope/compilers.yaml" >"$IT_DIR/sandbox-etc/compilers.yaml" <<'EOF' ||
import sys, yaml
compilers = yaml.safe_load(open(sys.argv[1]))["compilers"]
gcc = [c for c in compilers if c["compiler"]["spec"].startswith("gcc@")]
assert gcc, "no gcc in the tests' compilers.yaml"
gcc[0]["compiler"]["spec"] = "gcc@=11.4.0"
yaml.safe_dump({"compilers": gcc[:1]}, sys.stdout, default_flow_style=False)
EOF
  fail "cannot write the sandbox's compilers.yaml"
chown -R "$REAL_SPACK_USER" "$IT_DIR"

config_for() { # cache-dir
  cat <<EOF
data_dir: $IT_DIR/var
scheduler:
  backend: local
  poll_interval: 2s
  min_poll_interval: 200ms
$(real_spack_config)
  repo: $IT_DIR/repo
  binary_caches: [file://$1]
  unsigned: true
module:
  module_dir: $IT_DIR/modules
jobs:
  path: $FAKES:/usr/local/bin:/usr/bin:/bin
  environment:
    FAKE_SINGULARITY_SPACK: $REAL_SPACK_ROOT/tree
    FAKE_SINGULARITY_SPACK_CONFIG: $IT_DIR/sandbox-etc
    FAKE_SINGULARITY_SPACK_CACHE: $REAL_SPACK_ROOT/cache
    SINGULARITY_BIND: $1
publish:
  destinations: [install, git]
EOF
}
config_for "$IT_DIR/cache" >"$IT_DIR/config-ab.yaml"
config_for "$IT_DIR/cache-c" >"$IT_DIR/config-c.yaml"
chown "$REAL_SPACK_USER" "$IT_DIR"/config-*.yaml

submit() { # name config packages...
  local name=$1 config=$2
  shift 2
  printf 'description: recipe test %s\npackages:\n' "$name" >"$IT_DIR/$name.yml"
  printf '  - %s\n' "$@" >>"$IT_DIR/$name.yml"
  chown "$REAL_SPACK_USER" "$IT_DIR/$name.yml"
  as_test_user "$SP_SUBMIT" "$IT_DIR/$name.yml" --name "users/$REAL_SPACK_USER/$name" --version 1 \
    --wait --config "$config" >"$IT_DIR/$name.submit" 2>&1
}
build_dir_of() { grep -l "\"name\":\"$1\"" "$IT_DIR"/var/builds/*/build.json | head -1 | xargs dirname; }
start=$SECONDS

# A.
submit a "$IT_DIR/config-ab.yaml" sp-liba sp-libb sp-tool ||
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
submit b "$IT_DIR/config-ab.yaml" sp-libb sp-tool sp-hello ||
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
if submit c "$IT_DIR/config-c.yaml" sp-tool; then
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
