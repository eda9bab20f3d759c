#!/bin/bash
# The test package repository (tests/fixtures/spack-repo) with the real Spack (0.21), run by an
# unprivileged user, offline: an environment of its four packages installs from source (with
# the build-time knob at 2 s, which must reach each install()), its executables run, the
# installs go into a file:// binary cache (buildcache push --unsigned, update-index), and a fresh
# environment, using a second copy of the repository made elsewhere, installs the same hashes
# from that cache only into a fresh store, building nothing. Nothing is written into the Spack
# tree, and Spack's stage is under the test's TMPDIR.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/real_spack.bash"
source "$(dirname "$0")/lib/spack_repo.bash"
require_real_spack

knob_seconds=2
declare -A expected_output=(
  [sp-liba]="sp-liba 1.0"
  [sp-libb]="sp-libb 1.0 (sp-liba 1.0)"
  [sp-tool]="sp-tool 1.0 (sp-libb 1.0 (sp-liba 1.0))"
  [sp-hello]="sp-hello 1.0"
)
[[ ${#expected_output[@]} == "${#SPACK_REPO_PACKAGES[@]}" ]] ||
  fail "expected_output does not cover the repository's packages (${SPACK_REPO_PACKAGES[*]})"

make_spack_repo "$IT_DIR/repo" || fail "make_spack_repo $IT_DIR/repo"
make_spack_repo "$IT_DIR/repo-copy" || fail "make_spack_repo $IT_DIR/repo-copy"
write_env() { # dir repo
  mkdir -p "$1"
  {
    printf 'spack:\n  specs:\n'
    printf '    - %s\n' "${SPACK_REPO_PACKAGES[@]}"
    printf '  concretizer:\n    unify: true\n  repos:\n    - %s\n' "$2"
  } >"$1/spack.yaml"
}
write_env "$IT_DIR/from-source" "$IT_DIR/repo"
write_env "$IT_DIR/from-cache" "$IT_DIR/repo-copy"
mkdir -p "$IT_DIR/user-config" "$IT_DIR/tmp" "$IT_DIR/mirror-scope"
printf 'mirrors:\n  test-cache: file://%s/mirror\n' "$IT_DIR" >"$IT_DIR/mirror-scope/mirrors.yaml"
chown -R "$REAL_SPACK_USER" "$IT_DIR"

# The real Spack as the test user: an empty user scope, the shared cache, the stage under the
# test's TMPDIR and the source cache in the test's directory (the default is in the tree). The
# stores are padded to 128 characters: relocating a binary into a store with a longer path
# needs patchelf, which Spack tries to bootstrap from the network (see the fixture's README.md).
# Each run's output goes to $IT_DIR/spack-N.out, named by $spack_log.
spack_runs=0
run_spack() { # store [NAME=VALUE...] -- spack-args...
  local store=$1 assignments=()
  shift
  while [[ $1 != -- ]]; do
    assignments+=("$1")
    shift
  done
  shift
  spack_runs=$((spack_runs + 1))
  spack_log="$IT_DIR/spack-$spack_runs.out"
  as_test_user SPACK_USER_CONFIG_PATH="$IT_DIR/user-config" \
    SPACK_USER_CACHE_PATH="$REAL_SPACK_ROOT/cache" TMPDIR="$IT_DIR/tmp" "${assignments[@]}" \
    "${REAL_SPACK[@]}" -c "config:install_tree:root:$store" \
    -c config:install_tree:padded_length:128 -c "config:source_cache:$IT_DIR/source-cache" "$@" \
    >"$spack_log" 2>&1
}
spack_failed() { fail "$1 failed: $(tail -30 "$spack_log")"; }

# Spack's "Install:" time in seconds for a package, from the lines after its
# "==> NAME: Successfully installed NAME-VER-HASH".
install_seconds() { # output package
  awk -v done_line="==> $2: Successfully installed " '
    found && match($0, /Install: [0-9.]+s/) { print substr($0, RSTART + 9, RLENGTH - 10); exit }
    index($0, done_line) == 1 { found = 1 }' <<<"$1"
}

# The executables, run as the test user from an environment's view.
check_executables() { # env-dir store what
  local p path
  for p in "${SPACK_REPO_PACKAGES[@]}"; do
    path=$(readlink -f "$1/.spack-env/view/bin/$p") || fail "$3: no $p in the view"
    [[ "$path" == "$2/"* ]] || fail "$3: the view's $p is $path, not in $2"
    assert_eq "${expected_output[$p]}" "$(as_test_user "$1/.spack-env/view/bin/$p" 2>&1)" \
      "$3: what $p prints"
  done
}

touch "$IT_DIR/marker"
sleep 1
start=$SECONDS

# 1. From source, with the knob.
run_spack "$IT_DIR/store" "$SPACK_REPO_KNOB=$knob_seconds" -- -D "$IT_DIR/from-source" install ||
  spack_failed "spack install"
out=$(<"$spack_log")
declare -A hash
for p in "${SPACK_REPO_PACKAGES[@]}"; do
  line=$(grep -E "^==> No binary for $p-1\.0-[a-z0-9]{32} found: installing from source\$" \
    <<<"$out") ||
    fail "spack install: no 'No binary for $p-1.0-… found: installing from source' in: $out"
  hash[$p]=$(sed -E "s/^==> No binary for $p-1\.0-([a-z0-9]{32}) .*/\1/" <<<"$line")
  grep -qx "==> $p: Successfully installed $p-1.0-${hash[$p]}" <<<"$out" ||
    fail "spack install: $p-1.0-${hash[$p]} not installed: $out"
  # The knob reached install(): it said so in the build log and slept.
  prefix=$(find "$IT_DIR/store" -type d -name "$p-1.0-${hash[$p]}" -print -quit)
  [[ -n "$prefix" ]] || fail "no $p-1.0-${hash[$p]} in the store"
  grep -qx "$SPACK_REPO_KNOB=$knob_seconds" "$prefix/.spack/spack-build-out.txt" ||
    fail "no '$SPACK_REPO_KNOB=$knob_seconds' line in $p's build log:" \
      "$(cat "$prefix/.spack/spack-build-out.txt")"
  seconds=$(install_seconds "$out" "$p")
  [[ -n "$seconds" ]] || fail "spack install: no 'Install: …s' for $p in: $out"
  awk -v s="$seconds" -v k="$knob_seconds" 'BEGIN { exit !(s >= k) }' ||
    fail "$p's install took ${seconds}s, less than the knob's ${knob_seconds}s"
done
assert_eq "${#SPACK_REPO_PACKAGES[@]}" "$(grep -c 'installing from source$' <<<"$out")" \
  "packages installed from source"
check_executables "$IT_DIR/from-source" "$IT_DIR/store" "from source"
echo "installed from source in $((SECONDS - start)) s (knob: ${knob_seconds} s per package)"

# 2. Into a binary cache.
run_spack "$IT_DIR/store" -- -D "$IT_DIR/from-source" buildcache push --unsigned "$IT_DIR/mirror" ||
  spack_failed "spack buildcache push"
out=$(<"$spack_log")
for p in "${SPACK_REPO_PACKAGES[@]}"; do
  assert_matches "$out" \
    "^==> \[[0-9]+/${#SPACK_REPO_PACKAGES[@]}\] Pushed $p@1\.0/${hash[$p]:0:7}\$" "buildcache push"
done
run_spack "$IT_DIR/store" -- -D "$IT_DIR/from-source" buildcache update-index "$IT_DIR/mirror" ||
  spack_failed "spack buildcache update-index"
[[ -s "$IT_DIR/mirror/build_cache/index.json" ]] ||
  fail "update-index wrote no build_cache/index.json"

# 3. From the cache only, into a fresh store (with a longer path), from the second copy of the
# repository: the same hashes, extracted, nothing built.
run_spack "$IT_DIR/store-from-cache" -- -C "$IT_DIR/mirror-scope" -D "$IT_DIR/from-cache" \
  install --cache-only --no-check-signature || spack_failed "spack install --cache-only"
out=$(<"$spack_log")
for p in "${SPACK_REPO_PACKAGES[@]}"; do
  grep -qx "==> Extracting $p-1.0-${hash[$p]} from binary cache" <<<"$out" ||
    fail "install --cache-only: no 'Extracting $p-1.0-${hash[$p]} from binary cache' in: $out"
  grep -qx "==> $p: Successfully installed $p-1.0-${hash[$p]}" <<<"$out" ||
    fail "install --cache-only: $p-1.0-${hash[$p]} not installed: $out"
done
! grep -E "installing from source|Executing phase" <<<"$out" ||
  fail "install --cache-only built something"
check_executables "$IT_DIR/from-cache" "$IT_DIR/store-from-cache" "from the cache"

# 4. The knobs from the file test-knobs in the repository (for builds that do not pass the
# environment through): a package asked to fail fails, and says why.
mkdir -p "$IT_DIR/fail"
printf 'spack:\n  specs: [sp-hello]\n  repos: [%s]\n' "$IT_DIR/repo" >"$IT_DIR/fail/spack.yaml"
printf 'SOFTPACK_TEST_FAIL=sp-liba,sp-hello\n' >"$IT_DIR/repo/test-knobs"
chown -R "$REAL_SPACK_USER" "$IT_DIR/fail" "$IT_DIR/repo/test-knobs"
if run_spack "$IT_DIR/store-fail" -- -D "$IT_DIR/fail" install; then
  fail "sp-hello installed although test-knobs says it fails"
fi
assert_contains "$(<"$spack_log")" "sp-hello fails on purpose (SOFTPACK_TEST_FAIL)" \
  "the failure asked for by test-knobs"
rm -f "$IT_DIR/repo/test-knobs"

# Nothing written into the Spack tree; the stage was under TMPDIR.
written=$(find "$REAL_SPACK_ROOT/tree" -newer "$IT_DIR/marker" 2>/dev/null | head -5)
assert_eq "" "$written" "files written into the Spack tree"
[[ -d "$IT_DIR/tmp/$REAL_SPACK_USER/spack-stage" ]] || fail "no Spack stage under the test's TMPDIR"
echo "PASS ($((SECONDS - start)) s)"
