#!/usr/bin/env bash
# Self-test of the fake spack in tests/fakes (the singularity / apptainer stand-in has its own,
# test_singularity.sh).
# Exits 0 when every check passes; otherwise prints each failure and exits 1.
set -euo pipefail

FAKES="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
SPACK="$FAKES/spack"
PY=/usr/bin/python3
unset FAKE_SPACK_PACKAGES SPACK_ENV FAKE_SPACK_VERBOSE || true

WORK="$(mktemp -d "${TMPDIR:-/tmp}/softpack-fakes-test.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# shellcheck source=self_test.bash
source "$FAKES/self_test.bash"
expect_eq() {
  if [[ "$1" == "$2" ]]; then pass; else fail "$3: got [$1], expected [$2]"; fi
}

mkenv() { # dir, then spack.yaml content on stdin
  mkdir -p "$1"
  cat >"$1/spack.yaml"
}

# ---------------------------------------------------------------- versions
run "$SPACK" --version
expect_rc 0 "spack --version"
expect_eq "$OUT" "0.21.2" "spack --version stdout"
expect_eq "$ERR" "" "spack --version is silent on stderr"
run env FAKE_SPACK_VERBOSE=1 "$SPACK" --version
expect_eq "$OUT" "0.21.2" "verbose spack --version stdout unchanged"
expect_in "$ERR" "fake spack" "FAKE_SPACK_VERBOSE identifies the fake on stderr"
# pipefail-friendly
if "$SPACK" --version | grep -q '^0\.21\.2$'; then pass; else fail "spack --version in a pipeline"; fi

# ---------------------------------------------------------------- concretize: success
mkenv env1 <<EOF
spack:
  specs:
  - xxhash@0.8.1 arch=None-None-x86_64_v3
  - samtools
  - py-numpy
  view: true
  concretizer:
    unify: true
    reuse: false
    targets:
      granularity: generic
  config:
    install_tree:
      root: $WORK/store
      padded_length: 128
  container:
    format: singularity
    images:
      os: ubuntu:22.04
      spack: 0.21.2
    strip: false
    labels:
      app: test
EOF
run "$SPACK" -e env1 concretize --force --fresh
expect_rc 0 "concretize -e DIR concretize --force --fresh"
expect_in "$OUT" "==> Concretized xxhash@0.8.1 arch=None-None-x86_64_v3" "concretize summary header"
expect_in "$OUT" "xxhash@0.8.1%gcc@12.2.0 build_system=makefile arch=linux-debian12-x86_64_v3" \
  "concretize summary line"
expect_in "$OUT" "^zlib@1.3" "dependency shown in summary"
check "spack.lock written" test -f env1/spack.lock
expect_eq "$(wc -l <env1/spack.lock | tr -d ' ')" "0" "spack.lock is one line with no final newline, as Spack writes it"
expect_eq "$(cd env1 && printf '%s ' * .[!.]*)" "spack.lock spack.yaml .spack-env " "spack.lock and .spack-env are written"
expect_eq "$(cd env1/.spack-env && printf '%s ' * ._*)" "repos transaction_lock view ._view " ".spack-env: lock, package files, view"
check "the view links into ._view" test -L env1/.spack-env/view -a -d env1/.spack-env/view
# With padded_length the store's root (and its database) is the padded path, as in Spack.
padded_db=$(find store -type d -name .spack-db -path '*/__spack_path_placeholder__/*' | head -1)
check "the configured store is opened, at its padded root" test -n "$padded_db" -a -d "$padded_db/failures" -a -f "$padded_db/lock"
expect_eq "$(printf %s "$(dirname "$WORK/$padded_db")" | wc -c | tr -d ' ')" "128" "the padded store root is 128 characters long"

LOCKCHECK='
import json, re, sys
lock = json.load(open(sys.argv[1]))
assert lock["_meta"] == {"file-type": "spack-lockfile", "lockfile-version": 5, "specfile-version": 4}, lock["_meta"]
roots = lock["roots"]
specs = lock["concrete_specs"]
want = sys.argv[2:]
got = []
for r in roots:
    assert re.fullmatch(r"[a-z2-7]{32}", r["hash"]), r
    n = specs[r["hash"]]
    got.append("%s@%s" % (n["name"], n["version"]))
for h, n in specs.items():
    assert n["hash"] == h and re.fullmatch(r"[a-z2-7]{32}", h)
    for k in ("name", "version", "arch", "compiler", "namespace", "parameters", "package_hash"):
        assert k in n, (k, n)
    assert set(n["arch"]) == {"platform", "platform_os", "target"}
    assert set(n["compiler"]) == {"name", "version"}
    for d in n.get("dependencies", []):
        assert d["hash"] in specs, d
# The order of the roots follows the Python set order, as in Spack, not the spack.yaml order.
assert sorted(got) == sorted(want), (got, want)
print(" ".join(sorted(r["hash"] for r in roots)))
'
run "$PY" -c "$LOCKCHECK" env1/spack.lock xxhash@0.8.1 samtools@1.17 py-numpy@1.26.1
expect_rc 0 "lockfile v5 structure, roots, newest default versions"
H1="$OUT"
run "$PY" -c 'import json,sys; l=json.load(open(sys.argv[1])); t=[n["arch"]["target"] for n in l["concrete_specs"].values() if n["name"]=="xxhash"][0]; print(t["name"] if isinstance(t,dict) else t)' env1/spack.lock
expect_eq "$OUT" "x86_64_v3" "arch=None-None-<target> recorded as the target"

run "$SPACK" --env "$WORK/env1" concretize -f
expect_rc 0 "spack --env DIR concretize -f"
run "$PY" -c "$LOCKCHECK" env1/spack.lock xxhash@0.8.1 samtools@1.17 py-numpy@1.26.1
expect_eq "$OUT" "$H1" "hashes are deterministic"
run "$SPACK" --env=env1 concretize -U -f -q
expect_rc 0 "spack --env=DIR concretize -U -f -q"
expect_eq "$OUT" "" "concretize -q is quiet"
run "$SPACK" -D env1 concretize
expect_rc 0 "spack -D DIR concretize"
run env SPACK_ENV="$WORK/env1" "$SPACK" concretize --force
expect_rc 0 "SPACK_ENV selects the environment"
run "$SPACK" concretize -f
expect_rc 1 "concretize without an environment"
expect_in "$ERR" "==> Error: \`spack concretize\` requires an environment" "no-env message"
run "$SPACK" concretize -e env1 -f
expect_rc 2 "-e after the subcommand is rejected like argparse"
run "$SPACK" -e "$WORK/nope" concretize
expect_rc 1 "nonexistent environment"
expect_in "$ERR" "==> Error: no environment in $WORK/nope" "nonexistent environment message"

# custom repo in repos:
mkdir -p repo1/packages/my-tool
cat >repo1/repo.yaml <<'EOF'
repo:
  namespace: softpack
EOF
cat >repo1/packages/my-tool/package.py <<'EOF'
from spack.package import *

# fake-executables: my-tool my-tool-helper
class MyTool(Package):
    version("2.0", sha256="0" * 64)
    version("1.5", sha256="1" * 64)
    depends_on("zlib")
EOF
mkenv env2 <<EOF
spack:
  specs:
  - my-tool@1.5
  - hello
  repos:
  - $WORK/repo1
  view: false
EOF
run "$SPACK" -e env2 concretize -f
expect_rc 0 "package from a custom repo"
run "$PY" -c 'import json,sys; l=json.load(open(sys.argv[1])); print(sorted((n["name"],n["version"],n["namespace"]) for n in l["concrete_specs"].values()))' env2/spack.lock
expect_eq "$OUT" "[('gmake', '4.4.1', 'builtin'), ('hello', '2.12.1', 'builtin'), ('my-tool', '1.5', 'softpack'), ('zlib', '1.3', 'builtin')]" \
  "custom repo namespace, version and dependency"

# ---------------------------------------------------------------- concretize: failures
mkenv bad1 <<'EOF'
spack:
  specs: [hello]
bogus: 1
EOF
run "$SPACK" -e bad1 concretize -f
expect_rc 1 "unknown top-level key"
expect_in "$ERR" "==> Error: bad1/spack.yaml:1: Additional properties are not allowed ('bogus' was unexpected)" \
  "unknown top-level key message"
check "no lockfile after a validation error" test ! -e bad1/spack.lock

mkenv bad2 <<'EOF'
spack:
  specs: [hello]
  contianer:
    format: singularity
EOF
run "$SPACK" -e bad2 concretize -f
expect_rc 1 "unknown key under spack:"
expect_in "$ERR" "spack.yaml:2: Additional properties are not allowed ('contianer' was unexpected)" \
  "unknown section message"

mkenv bad3 <<'EOF'
spack:
  specs: [hello]
  concretizer:
    unify: sometimes
EOF
run "$SPACK" -e bad3 concretize -f
expect_rc 1 "bad concretizer:unify"
expect_in "$ERR" "'sometimes' is not valid under any of the given schemas" "bad unify message"

mkenv bad4 <<'EOF'
spack:
  specs: [hello]
  container:
    format: podman
EOF
run "$SPACK" -e bad4 concretize -f
expect_rc 1 "bad container:format"
expect_in "$ERR" "'podman' is not one of ['docker', 'singularity']" "bad format message"

mkenv bad5 <<'EOF'
spack:
  specs: [hello]
  view:
    default:
      link: all
EOF
run "$SPACK" -e bad5 concretize -f
expect_rc 1 "view dict without root"
expect_in "$ERR" "is not valid under any of the given schemas" "bad view message"

mkenv bad6 <<'EOF'
spack:
  specs:
  - hello
  - no-such-package@1.0
EOF
run "$SPACK" -e bad6 concretize --force --fresh
expect_rc 1 "unknown package"
expect_in "$ERR" "==> Error: Package 'no-such-package' not found." "unknown package message"
expect_in "$ERR" "Use 'spack create' to create a new package." "unknown package hint"

mkenv bad7 <<'EOF'
spack:
  specs:
  - xxhash@9.9
EOF
run "$SPACK" -e bad7 concretize -f
expect_rc 1 "unknown version"
expect_in "$ERR" "==> Error: concretization failed for the following reasons:" "bad version header"
expect_in "$ERR" "1. Cannot satisfy 'xxhash@9.9'" "bad version reason"

mkenv bad8 <<'EOF'
spack:
  specs: [xxhash@0.8.1, xxhash@0.8.0]
  concretizer: {unify: true}
EOF
run "$SPACK" -e bad8 concretize -f
expect_rc 1 "two versions with unify: true"
expect_in "$ERR" 'Cannot select a single "version" for package "xxhash"' "unify conflict message"
sed -i 's/unify: true/unify: false/' bad8/spack.yaml
run "$SPACK" -e bad8 concretize -f
expect_rc 0 "two versions with unify: false"

mkenv bad9 <<'EOF'
spack:
  specs: [hello]
  config:
    install_tree: 42
EOF
run "$SPACK" -e bad9 concretize -f
expect_rc 1 "bad config:install_tree"

mkenv old1 <<'EOF'
spack:
  specs: [hello]
  config:
    install_tree: /opt/software
  repos: []
EOF
run "$SPACK" -e old1 concretize -f
expect_rc 0 "install_tree as a string (old spack) is accepted"

# ---------------------------------------------------------------- the original concretizer, scopes
# What tests/integration/spack_conformance.sh checks against the real Spack, here without it.
mkdir -p scope-orig ucfg-empty tmp-orig
printf 'config:\n  concretizer: original\n' >scope-orig/config.yaml
ORIG=(env SPACK_USER_CONFIG_PATH="$WORK/ucfg-empty" TMPDIR="$WORK/tmp-orig" "$SPACK" -C "$WORK/scope-orig")
mkenv orig1 <<'EOF'
spack:
  specs: [xxhash@99, 'zlib@1.2']
EOF
run "${ORIG[@]}" -D orig1 concretize -f
expect_rc 0 "original concretizer: xxhash@99 falls back to version 99"
expect_in "$ERR" "==> Warning: the original concretizer is currently being used." "deprecation warning"
run "$PY" -c 'import json,sys; l=json.load(open(sys.argv[1])); print(sorted((n["name"],n["version"]) for n in l["concrete_specs"].values()))' orig1/spack.lock
expect_eq "$OUT" "[('gmake', '4.4.1'), ('xxhash', '99'), ('zlib', '1.2.13')]" "versions from the original concretizer"
check "the temporary concretizationroot repository is left in TMPDIR" \
  grep -qF 'depends_on("xxhash@99")' tmp-orig/tmp*/packages/concretizationroot/package.py
if command -v gcc >/dev/null; then
  check "compilers added to spack.yaml when none are configured" grep -q "spec: gcc@=" orig1/spack.yaml
fi
printf 'spack:\n  specs: [nosuchpkg]\n' >orig1/spack.yaml
run "${ORIG[@]}" -D orig1 concretize -f
expect_rc 1 "original concretizer: unknown package"
if [[ "$ERR" =~ "==> Error: Package 'spack.pkg."[A-Z]{10}".nosuchpkg' not found." ]]; then pass; else
  fail "unknown package named through the temporary namespace: $ERR"
fi
printf "spack:\n  specs: ['xxhash@0.9:1.0']\n" >orig1/spack.yaml
run "${ORIG[@]}" -D orig1 concretize -f
expect_rc 1 "original concretizer: a range with no version"
expect_in "$ERR" "==> Error: There are no valid versions for xxhash that match '0.9:1.0'" \
  "no valid versions message"
# -e NAME: a managed environment (config:environments_root) before a directory; -D: the directory.
mkenv envs/orig1 <<'EOF'
spack:
  specs: [zlib]
EOF
printf 'spack:\n  specs: [xxhash]\n' >orig1/spack.yaml
rm -f orig1/spack.lock
run "${ORIG[@]}" -c "config:environments_root:$WORK/envs" -e orig1 concretize -f
expect_rc 0 "-e NAME with a managed environment NAME"
check "-e NAME concretizes the managed environment" test -f envs/orig1/spack.lock -a ! -f orig1/spack.lock
run "${ORIG[@]}" -c "config:environments_root:$WORK/envs" -D orig1 concretize -f
check "-D DIR concretizes the directory" test -f orig1/spack.lock
printf 'spack:\n  specs: [zlib]\n  view: %s/no-such-dir/sub/view\n' "$WORK/file" >orig1/spack.yaml
touch file
run "${ORIG[@]}" -D orig1 concretize -f
expect_rc 3 "a view that cannot be made"
check "the lock is written before the view fails" test -f orig1/spack.lock
printf 'spack:\n  specs: [zlib]\n  compilers: {}\n' >orig1/spack.yaml
run "${ORIG[@]}" -D orig1 concretize -f
expect_rc 1 "compilers: must be a list"
expect_in "$ERR" "==> Error: orig1/spack.yaml:3: ordereddict() is not of type 'array'" \
  "compilers mapping message"

# ---------------------------------------------------------------- containerize
run bash -c "cd env1 && '$SPACK' containerize"
expect_rc 0 "spack containerize in ENVDIR"
DEF1="$OUT"
expect_eq "$(head -3 <<<"$DEF1" | tr '\n' '|')" "Bootstrap: docker|From: spack/ubuntu-jammy:0.21.2|Stage: build|" \
  "singularity def header"
expect_in "$DEF1" "  cat << EOF > spack.yaml"$'\n'"spack:"$'\n'"  specs:"$'\n'"  - xxhash@0.8.1 arch=None-None-x86_64_v3" \
  "def embeds the manifest in a heredoc"
expect_in "$DEF1" "  view: /opt/views/view" "manifest view forced to /opt/views/view (Spack 0.21)"
expect_in "$DEF1" "  ln -s /opt/views/view /opt/view" "the final stage links the former /opt/view"
expect_in "$DEF1" "  /opt/views /opt" "the final stage copies /opt/views"
expect_in "$DEF1" "    install_tree: /opt/software" "manifest install_tree forced"
expect_not_in "$DEF1" "container:" "container section stripped from manifest"
expect_in "$DEF1" "  spack -e . install" "def installs"
expect_in "$DEF1" "  spack gc -y" "def garbage collects"
expect_in "$DEF1" $'Bootstrap: docker\nFrom: ubuntu:22.04\nStage: final' "final stage"
expect_in "$DEF1" $'%labels\n  app test' "labels"
expect_in "$ERR" '==> Warning: the "view" attribute has been set explicitly' "view warning"
run "$SPACK" -e env1 containerize
expect_rc 0 "spack -e DIR containerize"
expect_eq "$OUT" "$DEF1" "containerize with -e gives the same recipe"

mkenv env3 <<'EOF'
spack:
  specs: [hello@2.12.1, broken-build]
  container:
    format: singularity
    images:
      build: myregistry/spack-build:1
      final: myregistry/runtime:1
EOF
run "$SPACK" -e env3 containerize
expect_rc 0 "custom build/final images"
expect_in "$OUT" $'From: myregistry/spack-build:1\nStage: build' "custom build image"
expect_in "$OUT" $'From: myregistry/runtime:1\nStage: final' "custom final image"

mkenv env4 <<'EOF'
spack:
  specs: [hello]
EOF
run "$SPACK" -e env4 containerize
expect_rc 0 "containerize without a container section"
expect_in "$OUT" "FROM spack/ubuntu-jammy:develop as builder" "default format is docker, os ubuntu:22.04, spack develop"
expect_in "$OUT" "spack env activate . && spack install --fail-fast && spack gc -y" "Dockerfile install line"

mkenv env5 <<'EOF'
spack:
  specs: [hello]
  container:
    format: singularity
    images: {os: "windows:11", spack: "0.21.2"}
EOF
run "$SPACK" -e env5 containerize
expect_rc 1 "containerize with an unknown os"
expect_in "$ERR" 'invalid operating system name "windows:11"' "unknown os message"
run bash -c "cd bad1 && '$SPACK' containerize"
expect_rc 1 "containerize validates like concretize"
expect_in "$ERR" "('bogus' was unexpected)" "containerize validation message"
run bash -c "cd '$WORK' && '$SPACK' containerize"
expect_rc 1 "containerize without spack.yaml"
expect_in "$ERR" "==> Error: file not found: $WORK/spack.yaml" "containerize missing file message"

# ---------------------------------------------------------------- symlinks, overrides
mkdir bin
ln -s "$SPACK" bin/spack
run bin/spack -e env1 concretize -f -q
expect_rc 0 "spack via a symlink finds packages.yaml"
cat >alt.yaml <<'EOF'
packages:
  only-this:
    versions: ["3.0"]
    executables: [only]
EOF
mkenv env6 <<'EOF'
spack:
  specs: [only-this]
EOF
run env FAKE_SPACK_PACKAGES="$WORK/alt.yaml" bin/spack -e env6 concretize -f
expect_rc 0 "FAKE_SPACK_PACKAGES overrides the universe"
run env FAKE_SPACK_PACKAGES="$WORK/alt.yaml" "$SPACK" -e env1 concretize -f
expect_rc 1 "overridden universe lacks the default packages"

self_test_summary test_fakes.sh
