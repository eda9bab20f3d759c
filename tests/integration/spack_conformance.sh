#!/bin/bash
# The stand-in tests/fakes/spack agrees with the real Spack 0.21 (issue 13): the same commands,
# run as the same unprivileged user in identical directories through both, give the same exit
# code, the same error messages (after replacing the random `spack.pkg.<NAMESPACE>.` and the
# directory), the same files written, the same lock shape and, for containerize, the same recipe.
# What may differ is compared as a pattern: Spack's version, the host's target, hashes. Skipped
# without the real Spack (see lib/real_spack.bash).
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/real_spack.bash"
source "$(dirname "$0")/lib/spack_repo.bash"
require_real_spack

SCOPE="$REAL_SPACK_ROOT/scope"
mkdir -p "$IT_DIR/ucfg" "$IT_DIR/ro" "$IT_DIR/noc"
# A user scope of its own (empty), a root-owned directory, and a scope without compilers.
cp "$SCOPE/config.yaml" "$IT_DIR/noc/"
chown -R "$REAL_SPACK_USER" "$IT_DIR/ucfg" "$IT_DIR/noc"
chmod 755 "$IT_DIR/ro"
FAILED=0

side_spack() { # side
  if [[ "$1" == fake ]]; then echo "$FAKES/spack"; else echo "$REAL_SPACK_ROOT/tree/bin/spack"; fi
}

# Makes the case's directory on both sides from stdin: lines "FILE<TAB>content with \n escapes".
setup() { # case
  local input side
  input=$(cat)
  for side in fake real; do
    local dir="$IT_DIR/$side/$1"
    mkdir -p "$dir/tmp"
    while IFS=$'\t' read -r file content; do
      [[ -n "$file" ]] || continue
      mkdir -p "$(dirname "$dir/$file")"
      printf '%b' "$content" >"$dir/$file"
    done <<<"$input"
  done
  chown -R "$REAL_SPACK_USER" "$IT_DIR/fake" "$IT_DIR/real"
}

# Runs `spack ARGS` in the case's directory on both sides, as the test user; @W@ in an argument
# is the directory. Records rc, stdout, stderr and the files written, normalized.
run_both() { # case args...
  local case=$1 side
  shift
  for side in fake real; do
    local dir="$IT_DIR/$side/$case" rc=0 args=() a
    for a in "$@"; do args+=("${a//@W@/$dir}"); done
    (cd "$dir" && find . -mindepth 1 | sort) >"$dir.before"
    as_test_user env SPACK_USER_CONFIG_PATH="$IT_DIR/ucfg" \
      SPACK_USER_CACHE_PATH="$REAL_SPACK_ROOT/cache" TMPDIR="$dir/tmp" \
      ${PYTHONHASHSEED:+PYTHONHASHSEED=$PYTHONHASHSEED} \
      ${FAKE_SPACK_TARGET:+FAKE_SPACK_TARGET=$FAKE_SPACK_TARGET} \
      bash -c 'cd "$1" && shift && exec "$@"' _ "$dir" "$(side_spack $side)" "${args[@]}" \
      >"$dir.out" 2>"$dir.err" || rc=$?
    echo "$rc" >"$dir.rc"
    (cd "$dir" && find . -mindepth 1 | sort) | comm -13 "$dir.before" - | normalize "$dir" |
      { grep -vE '__pycache__|\.patch$' || true; } | sort -u >"$dir.files"
    normalize "$dir" <"$dir.err" >"$dir.err.n"
    normalize "$dir" <"$dir.out" >"$dir.out.n"
  done
}

# The run's directory becomes $W; the original concretizer's random namespace, temporary
# directories and view hashes become placeholders.
normalize() { # dir
  sed -E -e "s|$1|\$W|g" -e 's/spack\.pkg\.[A-Z]{10}\./spack.pkg.NS./g' \
    -e "s/'[A-Z]{10}' repository/'NS' repository/g" \
    -e 's|tmp/tmp[a-z0-9_]{8}|tmp/tmpXXXXXXXX|g' -e 's|\._view/[a-z0-9]{32}|._view/HASH|g'
}

# Compares what the two sides produced (FILE: rc, err.n, files, or any file in the case dir).
same() { # case file what
  local f="$IT_DIR/fake/$1" r="$IT_DIR/real/$1"
  case "$2" in
    rc | err.n | files | out | out.n | by) f="$f.$2" r="$r.$2" ;;
    *) f="$f/$2" r="$r/$2" ;;
  esac
  if diff -u --label "real Spack" --label "stand-in" "$r" "$f" >"$IT_DIR/diff" 2>&1; then
    echo "ok: $1: $3"
  else
    echo "DIFFERS: $1: $3" >&2
    cat "$IT_DIR/diff" >&2
    FAILED=$((FAILED + 1))
  fi
}

# Both sides' output of a filter command, compared.
same_by() { # case what filter-command...
  local case=$1 what=$2 side
  shift 2
  for side in fake real; do
    (cd "$IT_DIR/$side/$case" && "$@") >"$IT_DIR/$side/$case.by" 2>&1 || true
  done
  same "$case" by "$what"
}

# The lock's shape: one line, no newline; _meta; the roots' specs (a set); each node's keys,
# parameters, versions, dependency types, hash and package_hash forms; the target's type.
lock_shape() {
  python3 - spack.lock <<'EOF'
import json, re, sys
raw = open(sys.argv[1], encoding="utf-8").read()
print("lines:", raw.count("\n"), "compact:", raw == json.dumps(json.loads(raw), separators=(",", ":")))
lock = json.loads(raw)
print("_meta:", lock["_meta"])
print("spack:", sorted(lock["spack"]), "type:", lock["spack"]["type"],
      "version 0.21:", lock["spack"]["version"].startswith("0.21."))
print("roots:", sorted(r["spec"] for r in lock["roots"]), "keys:", sorted(set(k for r in lock["roots"] for k in r)))
specs = lock["concrete_specs"]
for r in lock["roots"]:
    assert r["hash"] in specs
for h, n in sorted(specs.items(), key=lambda kv: kv[1]["name"]):
    t = n["arch"]["target"]
    print(n["name"], n["version"], list(n), n["namespace"], n["compiler"]["name"],
          json.dumps(n["parameters"], sort_keys=False),
          "target:", type(t).__name__, re.sub(r"x86_64\w*", "x86_64*", t) if isinstance(t, str) else t["name"],
          "arch:", n["arch"]["platform"], n["arch"]["platform_os"],
          "hash:", n["hash"] == h and bool(re.fullmatch(r"[a-z2-7]{32}", h)),
          "package_hash:", bool(re.fullmatch(r"[a-z2-7]{52}====", n["package_hash"])),
          "deps:", [(d["name"], d["parameters"]) for d in n.get("dependencies", [])])
EOF
}

# stdout of concretize: the roots' headers (a set) and the tree lines without hashes and target.
concretized() {
  sed -E -e 's/^ -   [a-z0-9]{7}  / -   HASH  /' -e 's/arch=(\w+)-(\w+)-x86_64\w*/arch=\1-\2-x86_64*/' "$1" | sort
}

yaml_data() { # file: the parsed YAML, as canonical JSON
  python3 -c 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])), sort_keys=True, indent=1))' "$1"
}

CONCRETIZE=(-C "$SCOPE" -c "config:install_tree:root:@W@/store" -D env concretize -f --fresh)

# 1. A good environment: what is written, where, and the lock.
setup ok <<'EOF'
env/spack.yaml	# a comment\nspack:\n  specs:\n  - 'xxhash'\n  - zlib@1.2\n  concretizer:\n    unify: true\n
EOF
run_both ok "${CONCRETIZE[@]}"
same ok rc "exit code"
same ok err.n "stderr (the original concretizer's warning)"
same ok files "files written: .spack-env (lock, package files, view), the store's database, the temporary repository"
same_by ok "stdout: the roots and their trees" concretized ../ok.out
same_by ok "the lock's shape" bash -c "$(declare -f lock_shape); cd env && lock_shape"
cmp -s "$IT_DIR/real/ok/env/spack.yaml" <(printf '# a comment\nspack:\n  specs:\n  - '"'"'xxhash'"'"'\n  - zlib@1.2\n  concretizer:\n    unify: true\n') ||
  { echo "DIFFERS: ok: real Spack changed spack.yaml although compilers are configured" >&2; FAILED=$((FAILED + 1)); }
cmp -s "$IT_DIR/real/ok/env/spack.yaml" "$IT_DIR/fake/ok/env/spack.yaml" ||
  { echo "DIFFERS: ok: spack.yaml after concretize" >&2; FAILED=$((FAILED + 1)); }
[[ -L "$IT_DIR/fake/ok/env/.spack-env/view" && "$(readlink "$IT_DIR/fake/ok/env/.spack-env/view")" == "$IT_DIR/fake/ok/env/.spack-env/._view/"* ]] ||
  { echo "DIFFERS: ok: the stand-in's view is not an absolute link into ._view" >&2; FAILED=$((FAILED + 1)); }
[[ -L "$IT_DIR/real/ok/env/.spack-env/view" && "$(readlink "$IT_DIR/real/ok/env/.spack-env/view")" == "$IT_DIR/real/ok/env/.spack-env/._view/"* ]] ||
  { echo "DIFFERS: ok: the real view is not an absolute link into ._view" >&2; FAILED=$((FAILED + 1)); }

# 2. The roots' order is not spack.yaml's: with fixed hash seeds both sides give several orders.
setup order <<'EOF'
env/spack.yaml	spack:\n  specs:\n  - xxhash\n  - zlib\n  - gmake\n
EOF
for side in fake real; do : >"$IT_DIR/$side/order.orders"; done
for seed in 1 2 3 4 5 6; do
  PYTHONHASHSEED=$seed run_both order "${CONCRETIZE[@]}"
  for side in fake real; do
    jq -r '[.roots[].spec] | join(" ")' "$IT_DIR/$side/order/env/spack.lock" >>"$IT_DIR/$side/order.orders"
  done
done
for side in fake real; do
  n=$(sort -u "$IT_DIR/$side/order.orders" | wc -l)
  if ((n > 1)); then echo "ok: order: $side: $n orders of the roots in 6 runs"; else
    echo "DIFFERS: order: $side: the roots always come in one order: $(head -1 "$IT_DIR/$side/order.orders")" >&2
    FAILED=$((FAILED + 1))
  fi
done
same_by order "stdout headers follow the lock's order" bash -c \
  "diff <(sed -n 's/^==> Concretized //p' ../order.out) <(jq -r '.roots[].spec' env/spack.lock)"

# 3. An unknown package.
setup unknown <<'EOF'
env/spack.yaml	spack:\n  specs:\n  - nosuchpkg-softpack\n
EOF
run_both unknown "${CONCRETIZE[@]}"
same unknown rc "exit code"
same_by unknown "the error (first 4 lines; the suggestions depend on the package universe)" \
  bash -c 'head -4 ../unknown.err.n'
same unknown files "files written"

# 4. Versions: @99 is concretized as 99 by the original concretizer; a range with no known
#    version is an error.
setup v99 <<'EOF'
env/spack.yaml	spack:\n  specs:\n  - xxhash@99\n  - zlib\n
EOF
run_both v99 "${CONCRETIZE[@]}"
same v99 rc "exit code of xxhash@99"
same_by v99 "the lock of xxhash@99" bash -c "$(declare -f lock_shape); cd env && lock_shape"
setup range <<'EOF'
env/spack.yaml	spack:\n  specs:\n  - 'xxhash@0.9:1.0'\n
EOF
run_both range "${CONCRETIZE[@]}"
same range rc "exit code of a range with no version"
same range err.n "the error of a range with no version"
setup conflict <<'EOF'
env/spack.yaml	spack:\n  specs:\n  - xxhash@0.8.1\n  - xxhash@0.8.0\n
EOF
run_both conflict "${CONCRETIZE[@]}"
same conflict rc "exit code of two versions of one package"
# Which of the two comes first follows the set order (see 2).
same_by conflict "the error of two versions of one package" \
  sed -E 's/: (0\.8\.[01]) does not satisfy (0\.8\.[01])$/: A does not satisfy B/' ../conflict.err.n

# 5. -e NAME is a managed environment first; -D DIR is always the directory.
setup managed <<'EOF'
envs/env/spack.yaml	spack:\n  specs:\n  - zlib\n
env/spack.yaml	spack:\n  specs:\n  - xxhash\n
EOF
run_both managed -C "$SCOPE" -c "config:install_tree:root:@W@/store" \
  -c "config:environments_root:@W@/envs" -e env concretize -f
same managed rc "exit code of -e env"
same managed files "-e env: the managed environment is concretized"
run_both managed -C "$SCOPE" -c "config:install_tree:root:@W@/store" \
  -c "config:environments_root:@W@/envs" -D env concretize -f
same managed files "-D env: the directory is concretized"
for args in "-D nodir" "-e nodir" "-D tmp"; do
  # shellcheck disable=SC2086
  run_both managed -C "$SCOPE" $args concretize
  same managed rc "exit code of $args"
  same managed err.n "the error of $args"
done
run_both managed -C "$SCOPE" concretize
same managed rc "exit code without an environment"
same managed err.n "the error without an environment"

# 6. compilers: a list is accepted, a mapping is not; with no compilers configured anywhere,
#    Spack writes the host's into spack.yaml.
compilers_yaml=$(sed 's/^compilers:/  compilers:/; /^  compilers:/!s/^/  /' "$SCOPE/compilers.yaml" | sed -z 's/\n/\\n/g')
printf 'env/spack.yaml\tspack:\\n  specs:\\n  - zlib\\n%s\n' "$compilers_yaml" | setup clist
run_both clist "${CONCRETIZE[@]}"
same clist rc "exit code with a compilers: list"
same clist err.n "stderr with a compilers: list"
setup cmap <<'EOF'
env/spack.yaml	spack:\n  specs:\n  - zlib\n  compilers: {}\n
EOF
run_both cmap "${CONCRETIZE[@]}"
same cmap rc "exit code with compilers: {}"
same cmap err.n "the error with compilers: {}"
setup cadd <<'EOF'
env/spack.yaml	# kept\nspack:\n  specs:\n  - 'zlib'\n
EOF
run_both cadd -C "$IT_DIR/noc" -c "config:install_tree:root:@W@/store" -D env concretize -f
same cadd rc "exit code with no compilers configured"
same_by cadd "spack.yaml gets the host's compilers" bash -c "$(declare -f yaml_data); yaml_data env/spack.yaml"
same_by cadd "spack.yaml keeps its leading comment" head -1 env/spack.yaml

# 7. What cannot be written: the store before anything else, the view after the lock.
setup rostore <<'EOF'
env/spack.yaml	spack:\n  specs:\n  - zlib\n
EOF
run_both rostore -C "$SCOPE" -c "config:install_tree:root:$IT_DIR/ro/store" -D env concretize -f
same rostore rc "exit code with a store that cannot be written"
same rostore err.n "the error with a store that cannot be written"
same rostore files "files written with a store that cannot be written"
printf 'env/spack.yaml\tspack:\\n  specs:\\n  - zlib\\n  view: %s/ro/view\\n\n' "$IT_DIR" | setup roview
run_both roview "${CONCRETIZE[@]}"
same roview rc "exit code with a view that cannot be written"
same roview err.n "the error with a view that cannot be written"
same roview files "files written with a view that cannot be written (the lock is)"

# 8. Invalid spack.yaml.
setup badkey <<'EOF'
env/spack.yaml	spack:\n  specs: [zlib]\n  bogus: 1\n
EOF
run_both badkey "${CONCRETIZE[@]}"
same badkey rc "exit code with an unknown section"
same badkey err.n "the error with an unknown section"
setup badyaml <<'EOF'
env/spack.yaml	spack:\n  specs: [zlib\n
EOF
run_both badyaml "${CONCRETIZE[@]}"
same badyaml rc "exit code with broken YAML"
same badyaml err.n "the error with broken YAML"

# 9. containerize: the recipe for the spack.yaml the builder renders, in both formats, byte for
#    byte; with OS packages, labels, Singularity sections and no stripping; and the warnings for
#    an explicit view and install_tree.
rendered='# generated\nspack:\n  specs:\n  - "xxhash@0.8.1"\n  - "zlib"\n  concretizer:\n    unify: true\n\n  container:\n    format: FORMAT\n    images:\n      os: "ubuntu:22.04"\n      spack: "0.21.2"\nEXTRA'
extra='    os_packages:\n      build: [gcc, make]\n      final: [libgomp1]\n    labels:\n      app: "x"\n    strip: false\n    singularity:\n      runscript: |\n        exec "$@"\n      help: |\n        Help text\n'
for format in singularity docker; do
  r=${rendered/FORMAT/$format}
  printf 'env/spack.yaml\t%s\n' "${r/EXTRA/}" | setup "c$format"
  printf 'env/spack.yaml\t%s\n' "${r/EXTRA/$extra}" | setup "cfull$format"
done
printf 'env/spack.yaml\tspack:\\n  specs:\\n  - zlib\\n  view: /opt/view\\n  config:\\n    install_tree: /opt/software\\n  container:\\n    format: singularity\\n    images: {os: "ubuntu:22.04", spack: "0.21.2"}\\n\n' | setup cwarn
for case in csingularity cdocker cfullsingularity cfulldocker cwarn; do
  for side in fake real; do
    rc=0
    (cd "$IT_DIR/$side/$case/env" && as_test_user env SPACK_USER_CONFIG_PATH="$IT_DIR/ucfg" \
      SPACK_USER_CACHE_PATH="$REAL_SPACK_ROOT/cache" "$(side_spack $side)" containerize) \
      >"$IT_DIR/$side/$case.out" 2>"$IT_DIR/$side/$case.err.n" || rc=$?
    echo "$rc" >"$IT_DIR/$side/$case.rc"
  done
  same "$case" rc "containerize: exit code"
  same "$case" err.n "containerize: stderr"
  same "$case" out "containerize: the recipe"
done

# 10. --version.
for side in fake real; do
  v=$(as_test_user "$(side_spack $side)" --version)
  [[ "$v" =~ ^0\.21\.[0-9]+(\.dev0)?$ ]] && echo "ok: --version: $side: $v" ||
    { echo "DIFFERS: --version: $side: $v" >&2; FAILED=$((FAILED + 1)); }
done

# 11. The stand-in's package universe: every package not marked fake_only is a builtin package
#     of this Spack, with those versions, that build system and those variant defaults.
python3 - "$FAKES/packages.yaml" "$REAL_SPACK_ROOT/tree/var/spack/repos/builtin/packages" <<'EOF' || FAILED=$((FAILED + 1))
import os, re, sys, yaml
universe = yaml.safe_load(open(sys.argv[1]))["packages"]
bases = {"MakefilePackage": "makefile", "AutotoolsPackage": "autotools", "CMakePackage": "cmake",
         "PythonPackage": "python_pip", "Package": "generic", "RPackage": "r"}
bad = 0
for name, info in universe.items():
    if info.get("fake_only"):
        continue
    path = os.path.join(sys.argv[2], name, "package.py")
    if not os.path.isfile(path):
        print("DIFFERS: universe: %s is not a builtin package" % name, file=sys.stderr); bad += 1; continue
    text = open(path).read()
    known = set(re.findall(r'version\(\s*"([^"]+)"', text))
    for v in info["versions"]:
        if v not in known:
            print("DIFFERS: universe: %s has no version %s" % (name, v), file=sys.stderr); bad += 1
    m = re.search(r"^class \w+\((\w+)", text, re.M)
    want = bases.get(m.group(1)) if m else None
    if want and want != info.get("build_system", "generic"):
        print("DIFFERS: universe: %s builds with %s, not %s" % (name, want, info.get("build_system")), file=sys.stderr); bad += 1
    for var, default in (info.get("variants") or {}).items():
        if not re.search(r'variant\(\s*"%s",\s*default=%s\b' % (re.escape(var), default), text):
            print("DIFFERS: universe: %s has no variant %s with default %s" % (name, var, default), file=sys.stderr); bad += 1
print("ok: universe: %d packages checked against the builtin repository" % sum(1 for i in universe.values() if not i.get("fake_only")))
sys.exit(1 if bad else 0)
EOF

# 12. What the image recipe runs after concretize (issue 14), on the test package repository
#     (tests/fixtures/spack-repo) plus sp-broken, which fails to build (its install() runs
#     `false`): install from source, find, env activate, buildcache push, mirror add, install
#     from the cache only, and failing builds with and without --fail-fast. Hashes differ
#     between the two (the stand-in's are its own), so they are compared as HASH; the stand-in
#     is given the real one's host target. The stores are padded (see SPACK-0.21.md, section 7).
make_spack_repo "$IT_DIR/repo" || fail "make_spack_repo $IT_DIR/repo"
hello_sha=$(sed -n 's/.*version("1.0", sha256="\([0-9a-f]\{64\}\)").*/\1/p' "$IT_DIR/repo/packages/sp-hello/package.py")
mkdir -p "$IT_DIR/repo/packages/sp-broken"
cat >"$IT_DIR/repo/packages/sp-broken/package.py" <<EOF
from spack.package import *


class SpBroken(Package):
    """Fails to build: its install() runs \`false\`. For spack_conformance.sh."""

    homepage = "https://example.invalid/softpack-test"
    url = "file://$IT_DIR/repo/tarballs/sp-hello-1.0.tar.gz"

    version("1.0", sha256="$hello_sha")

    depends_on("sp-liba")

    # fake-build-fails: true

    def install(self, spec, prefix):
        Executable("false")()
EOF
chown -R "$REAL_SPACK_USER" "$IT_DIR/repo"
FAKE_SPACK_TARGET=$(jq -r '[.concrete_specs[].arch.target | strings][0]' "$IT_DIR/real/ok/env/spack.lock")
STORE=(-C "$SCOPE" -c "config:install_tree:root:@W@/store" -c config:install_tree:padded_length:128
  -c "config:source_cache:@W@/sources")
# The hashes (32 characters, and 7 after a version) become HASH.
unhash() { sed -E -e 's/[a-z2-7]{32}/HASH/g' -e 's|(@[0-9.]+/)[a-z2-7]{7}|\1HASH|g' "$@"; }
UNHASH=$(declare -f unhash)
printf 'env/spack.yaml\tspack:\\n  specs:\\n  - sp-tool\\n  - sp-hello\\n  concretizer:\\n    unify: true\\n  repos:\\n  - %s/repo\\n  view: ../views/view\\n\n' "$IT_DIR" |
  setup inst
run_both inst "${STORE[@]}" -D env install --fail-fast
same inst rc "install: exit code"
same inst err.n "install: stderr (the original concretizer's warning)"
same_by inst "install: the packages installed from source, and their [+] lines" bash -c \
  "$UNHASH; grep -E '^==> No binary for .* found: installing from source\$|^\[\+\] |^==> Updating view at ' ../inst.out.n | unhash | sort"
same_by inst "install: the executables in the view" bash -c 'ls views/view/bin'
same_by inst "install: where the view's executables point" bash -c \
  "$UNHASH; for f in views/view/bin/*; do readlink \"\$f\"; done | sed 's|^$IT_DIR/[a-z]*/inst|W|' | unhash"

# 13. find, in the environment: its sections, and the formats the recipe uses.
run_both inst "${STORE[@]}" -D env find
same inst rc "find: exit code"
same inst out.n "find: the environment's roots and installed packages"
run_both inst "${STORE[@]}" -D env find --format '/{hash}'
same_by inst "find --format /{hash}" bash -c "$UNHASH; unhash ../inst.out.n"
run_both inst "${STORE[@]}" -D env find --format '{name} {prefix}'
same_by inst "find --format '{name} {prefix}'" bash -c "$UNHASH; unhash ../inst.out.n"

# 14. env activate --sh: the whole output (the variables, PATH starting with the view's bin).
#     It reads the store (without one configured, Spack's default store in its own tree: exit
#     3 here, where the tree is root's).
run_both inst "${STORE[@]}" env activate --sh -d env
same inst rc "env activate --sh: exit code"
same inst out.n "env activate --sh: the shell code"
for side in fake real; do
  grep -q "^export PATH=$IT_DIR/$side/inst/views/view/bin:" "$IT_DIR/$side/inst.out" ||
    { echo "DIFFERS: inst: $side: env activate's PATH does not start with the view's bin" >&2; FAILED=$((FAILED + 1)); }
done

# 15. buildcache push into a mirror directory, with the index; a second environment adds it
#     with mirror add and installs from it only, into a longer store path: first without
#     --no-check-signature (the binaries are unsigned), then with it.
run_both inst "${STORE[@]}" -D env buildcache push --unsigned --update-index @W@/mirror
same inst rc "buildcache push: exit code"
same_by inst "buildcache push: what it prints (the order aside)" bash -c \
  "$UNHASH; head -1 ../inst.out.n; tail -n +2 ../inst.out.n | sed -E 's/^==> \[[0-9]+\/[0-9]+\] /==> [i\/n] /' | unhash | sort"
same_by inst "buildcache push: the mirror's files" bash -c "$UNHASH; cd mirror && find . | unhash | sort"
same_by inst "buildcache push: index.json lists the specs, index.json.hash is its sha256" bash -c \
  'jq -r ".database.installs[] | [.spec.name, .ref_count, .in_buildcache] | @tsv" mirror/build_cache/index.json | sort; [ "$(cat mirror/build_cache/index.json.hash)" = "$(sha256sum <mirror/build_cache/index.json | cut -d" " -f1)" ] && echo hash-ok'
for side in fake real; do
  mkdir -p "$IT_DIR/$side/inst/env2"
  sed 's|view: ../views/view|view: ../views2/view|' "$IT_DIR/$side/inst/env/spack.yaml" >"$IT_DIR/$side/inst/env2/spack.yaml"
  chown -R "$REAL_SPACK_USER" "$IT_DIR/$side/inst/env2"
done
STORE2=(-C "$SCOPE" -c "config:install_tree:root:@W@/store-from-the-cache" -c config:install_tree:padded_length:128)
run_both inst "${STORE2[@]}" -D env2 mirror add testmirror file://@W@/mirror
same inst rc "mirror add: exit code"
same inst err.n "mirror add: stderr"
same_by inst "mirror add: spack.yaml afterwards" bash -c "sed 's|$IT_DIR/[a-z]*/inst|W|' env2/spack.yaml"
run_both inst "${STORE2[@]}" -D env2 install --cache-only
same inst rc "install --cache-only of unsigned binaries: exit code"
same_by inst "install --cache-only of unsigned binaries: the errors" bash -c \
  "$UNHASH; grep '^==> Error' ../inst.err.n | unhash | sort"
run_both inst "${STORE2[@]}" -D env2 install --cache-only --no-check-signature
same inst rc "install --cache-only --no-check-signature: exit code"
same inst err.n "install --cache-only --no-check-signature: stderr"
same_by inst "install --cache-only: what was extracted, and the [+] lines" bash -c \
  "$UNHASH; grep -E '^==> Extracting |^\[\+\] |installing from source' ../inst.out.n | unhash | sort"
same_by inst "install --cache-only: the executables in the new view" bash -c 'ls views2/view/bin'

# 16. A failing build: Spack's error lines with --fail-fast, and without it (the summary).
for case in broken brokenff; do
  printf 'env/spack.yaml\tspack:\\n  specs:\\n  - sp-broken\\n  - sp-hello\\n  repos:\\n  - %s/repo\\n\n' "$IT_DIR" |
    setup $case
done
run_both broken "${STORE[@]}" -D env install
same broken rc "a failing build: exit code"
same_by broken "a failing build: stderr" bash -c "$UNHASH; unhash ../broken.err.n"
run_both brokenff "${STORE[@]}" -D env install --fail-fast
same brokenff rc "a failing build with --fail-fast: exit code"
same_by brokenff "a failing build with --fail-fast: stderr" bash -c "$UNHASH; unhash ../brokenff.err.n"

((FAILED == 0)) || fail "$FAILED differences between the stand-in and the real Spack (above)"
echo "PASS"
