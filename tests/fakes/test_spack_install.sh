#!/usr/bin/env bash
# Self-test of the stand-in spack's install-side commands (tests/fakes/README.md, "spack
# install" and after): what softpack-builder's image recipe (templates/singularity.def.mustache)
# runs inside the image's build stage. Runs them on temporary environments with the fake
# package universe and a small custom repository: install from source, the executables and the
# view, find's formats, mirror add, buildcache keys and push with its index, a fresh store
# installing from that cache, failing builds with and without --fail-fast, --cache-only, gc,
# and env activate --sh sourced by sh. Exits 0 when every check passes; otherwise prints each
# failure and exits 1.
# shellcheck disable=SC2016 # the sh -c scripts expand their own $1 and $PATH
set -euo pipefail

FAKES="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
TREE="$FAKES/spack-tree"
unset FAKE_SPACK_PACKAGES SPACK_ENV FAKE_SPACK_VERBOSE SPACK_ROOT || true

WORK="$(mktemp -d "${TMPDIR:-/tmp}/softpack-spack-install-test.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
mkdir -p ucfg tmp
# The stand-in reads the user scope; keep the caller's ~/.spack out, and its stage in $WORK.
export SPACK_USER_CONFIG_PATH="$WORK/ucfg" TMPDIR="$WORK/tmp"

# shellcheck source=self_test.bash
source "$FAKES/self_test.bash"
count() { # text pattern: the number of lines of text matching the extended regex
  grep -cE -- "$2" <<<"$1" || true
}

# ---------------------------------------------------------------- the tree: setup-env.sh
check "spack-tree/bin/spack is a relative symlink to the stand-in" \
  test "$(readlink "$TREE/bin/spack")" = ../../spack -a "$(readlink -f "$TREE/bin/spack")" = "$FAKES/spack"
run env -i PATH=/usr/bin:/bin HOME="$WORK" sh -c '. "$1/share/spack/setup-env.sh" && printf "%s\n" "$SPACK_ROOT" "$PATH" && command -v spack && spack --version' _ "$TREE"
expect_rc 0 "setup-env.sh sourced by sh"
expect_eq "$OUT" "$TREE"$'\n'"$TREE/bin:/usr/bin:/bin"$'\n'"$TREE/bin/spack"$'\n'"0.21.2" \
  "setup-env.sh: SPACK_ROOT, the tree's bin first on PATH, spack found there"
run env -i PATH=/usr/bin:/bin bash -c '. "$1/share/spack/setup-env.sh"; . "$1/share/spack/setup-env.sh"; echo "$PATH"' _ "$TREE"
expect_eq "$OUT" "$TREE/bin:/usr/bin:/bin" "setup-env.sh sourced twice by bash adds bin once"
cp "$TREE/share/spack/setup-env.sh" "$WORK/lost-setup-env.sh"
run env -i PATH=/usr/bin:/bin sh -c '. "$1"' _ "$WORK/lost-setup-env.sh"
expect_rc 1 "setup-env.sh outside a tree, without SPACK_ROOT"
expect_in "$OUT" "==> Error: SPACK_ROOT must point to spack's prefix when using sh" \
  "setup-env.sh outside a tree: the real script's message"

export PATH="$TREE/bin:$PATH"

# ---------------------------------------------------------------- install from source
# xxhash is a makefile package (so gmake is a build-only dependency); samtools needs zlib.
mkdir -p env1
cat >env1/spack.yaml <<EOF
spack:
  specs:
  - xxhash
  - samtools
  concretizer:
    unify: true
  config:
    install_tree:
      root: $WORK/software
      padded_length: 128
  view: $WORK/views/view
EOF
run spack -e env1 concretize --fresh
expect_rc 0 "concretize"
run spack -e env1 install --fail-fast
expect_rc 0 "install from source"
expect_eq "$(count "$OUT" '^==> No binary for [a-z0-9.-]+-[a-z2-7]{32} found: installing from source$')" 4 \
  "install: 4 packages from source"
expect_eq "$(count "$OUT" '^==> Installing [a-z0-9.-]+-[a-z2-7]{32} \[[1-4]/4\]$')" 4 "install: 4 Installing lines"
for p in gmake-4.4.1 zlib-1.3 samtools-1.17 xxhash-0.8.1; do
  expect_eq "$(count "$OUT" "^\[\+\] $WORK/software/\[padded-to-128-chars\]/linux-debian12-x86_64/gcc-12.2.0/$p-[a-z2-7]{32}\$")" 1 \
    "install: the [+] line of $p, its padded store path shown as Spack shows it"
done
expect_in "$OUT" "==> zlib: Executing phase: 'build'" "install: a makefile package's phases"
expect_in "$OUT" "==> Updating view at $WORK/views/view" "install: the view is updated"
expect_eq "$(count "$OUT" '^  Stage: [0-9.]+s\.  .*Post-install: [0-9.]+s\.  Total: [0-9.]+s$')" 4 "install: timing lines"
lock_hashes=$(jq -r '.concrete_specs | keys[]' env1/spack.lock | sort)
prefix_of() { find "$WORK/software" -maxdepth 8 -type d -name "$1-*" | head -1; }
xx_prefix=$(prefix_of xxhash-0.8.1)
check "xxhash is installed in the store" test -d "$xx_prefix"
expect_eq "$(dirname "$(dirname "$(dirname "$xx_prefix")")" | tr -d '\n' | wc -c)" 128 "the padded store root is 128 characters"
check "the store is padded with __spack_path_placeholder__ directories" \
  grep -qE "^$WORK/software(/__spack_path_placeholder__)+(/_[_a-z]*)?/linux-" <<<"$xx_prefix"
check "the prefix has .spack/spec.json" jq -e '.spec.nodes[0].name == "xxhash"' "$xx_prefix/.spack/spec.json"
check "the store has its database" jq -e '.database.version == "7" and (.database.installs | length) == 4' \
  "$(dirname "$(dirname "$(dirname "$xx_prefix")")")/.spack-db/index.json"
run "$xx_prefix/bin/xxhsum" --version -c
expect_eq "$OUT" "fake xxhsum (from xxhash@0.8.1) args: --version -c" "an installed executable"
for exe in xxhsum xxh32sum xxh64sum xxh128sum samtools; do
  check "the view has bin/$exe" test -L "$WORK/views/view/bin/$exe"
done
run "$WORK/views/view/bin/samtools" view x.bam
expect_eq "$OUT" "fake samtools (from samtools@1.17) args: view x.bam" "an executable through the view"
run "$WORK/views/view/bin/xxh64sum"
expect_eq "$OUT" "fake xxh64sum (from xxhash@0.8.1) args: " "an executable without arguments"
check "the view is a link into ._view" test -L "$WORK/views/view" -a -d "$WORK/views/._view"
expect_eq "$(find "$WORK/views/._view" -mindepth 1 -maxdepth 1 | wc -l | tr -d ' ')" 1 "only the current view directory is kept"
check "the view holds zlib's metadata (a link dependency)" test -d "$WORK/views/view/.spack/zlib"
check "the view leaves out gmake (a build-only dependency)" test ! -e "$WORK/views/view/.spack/gmake"
run spack -e env1 install
expect_rc 0 "install again"
expect_eq "$OUT" "==> All of the packages are already installed" "install again: nothing to do"

# ---------------------------------------------------------------- find, location
run spack -e env1 find --format '/{hash}'
expect_rc 0 "find --format /{hash}"
expect_eq "$(tr -d / <<<"$OUT" | sort)" "$lock_hashes" "find --format /{hash}: every installed spec"
expect_eq "$(count "$OUT" '^/[a-z2-7]{32}$')" 4 "find --format /{hash}: only hashes, no headers"
run spack -e env1 find --format '{name} {prefix}'
expect_in "$OUT" "xxhash $xx_prefix" "find --format '{name} {prefix}'"
expect_eq "$(cut -d' ' -f1 <<<"$OUT" | tr '\n' ' ')" "gmake samtools xxhash zlib " "find --format: sorted by name"
run spack -e env1 find
expect_eq "$OUT" "==> In environment $WORK/env1
==> Root specs
samtools
xxhash

==> Installed packages
-- linux-debian12-x86_64 / gcc@12.2.0 ---------------------------
gmake@4.4.1
samtools@1.17
xxhash@0.8.1
zlib@1.3" "find in an environment: Spack's sections"
run spack -e env1 find -H
expect_eq "$(count "$OUT" '^/[a-z2-7]{32}$')" 4 "find -H"
run spack -e env1 find -p xxhash
expect_in "$OUT" "xxhash@0.8.1  $xx_prefix" "find -p SPEC"
run spack -e env1 find nosuch
expect_rc 1 "find with no match"
expect_in "$OUT" "==> No package matches the query: nosuch" "find with no match: the message"
run spack -e env1 location -i xxhash
expect_eq "$OUT" "$xx_prefix" "location -i"
run spack -e env1 location -i hello
expect_rc 1 "location -i of what is not installed"
expect_eq "$ERR" "==> Error: Spec 'hello' matches no installed packages." "location -i: the error"

# ---------------------------------------------------------------- mirror add, buildcache keys
run spack buildcache keys --install --trust
expect_rc 1 "buildcache keys with no mirror"
expect_eq "$ERR" "==> Error: Please add a spack mirror to allow download of build caches." \
  "buildcache keys with no mirror: the error"
run spack -e env1 mirror add cache1 "file://$WORK/mirror"
expect_rc 0 "mirror add"
expect_eq "$(tail -2 env1/spack.yaml)" "  mirrors:
    cache1: file://$WORK/mirror" "mirror add: mirrors: at the end of spack.yaml"
run spack -e env1 mirror add cache1 "file://$WORK/other"
expect_rc 1 "mirror add of a name already there"
expect_eq "$ERR" "==> Error: Mirror with name cache1 already exists." "mirror add: the error for a name already there"
run spack -e env1 buildcache keys --install --trust
expect_rc 0 "buildcache keys with a mirror"
expect_eq "$OUT$ERR" "" "buildcache keys: nothing to say (the mirror has no keys)"

# ---------------------------------------------------------------- buildcache push
run spack -e env1 buildcache push --update-index cache1
expect_rc 1 "signed push (no key, no network)"
expect_in "$OUT" "==> Selected 4 specs to push to file://$WORK/mirror" "signed push: the specs are selected"
expect_in "$ERR" "==> Error: The following 4 errors occurred while pushing specs to the buildcache" \
  "signed push: Spack's error"
expect_in "$ERR" "RuntimeError: cannot bootstrap any of the patchelf executables" "signed push: the cause"
check "signed push: nothing in the mirror" test ! -e "$WORK/mirror"
run spack -e env1 buildcache push --unsigned --update-index cache1
expect_rc 0 "push --unsigned --update-index"
expect_eq "$(head -1 <<<"$OUT")" "==> Selected 4 specs to push to file://$WORK/mirror" "push: the Selected line"
expect_eq "$(count "$OUT" '^==> \[[1-4]/4\] Pushed [a-z0-9-]+@[0-9.]+/[a-z2-7]{7}$')" 4 "push: 4 Pushed lines"
expect_in "$OUT" "Pushed xxhash@0.8.1/$(basename "$xx_prefix" | sed 's/.*-//' | cut -c1-7)" "push: name@version/hash7"
bc="$WORK/mirror/build_cache"
xx_hash=$(basename "$xx_prefix" | sed 's/.*-//')
check "push: the spec.json" jq -e '.spec.nodes[0].name == "xxhash" and .buildcache_layout_version == 1' \
  "$bc/linux-debian12-x86_64-gcc-12.2.0-xxhash-0.8.1-$xx_hash.spec.json"
spackfile="$bc/linux-debian12-x86_64/gcc-12.2.0/xxhash-0.8.1/linux-debian12-x86_64-gcc-12.2.0-xxhash-0.8.1-$xx_hash.spack"
check "push: the .spack archive" test -s "$spackfile"
expect_eq "$(jq -r .binary_cache_checksum.hash "$bc/linux-debian12-x86_64-gcc-12.2.0-xxhash-0.8.1-$xx_hash.spec.json")" \
  "$(sha256sum "$spackfile" | cut -d' ' -f1)" "push: the spec.json has the archive's sha256"
check "push: the archive holds the executables" bash -c "tar -tzf '$spackfile' | grep -q '/bin/xxhsum\$'"
check "push: index.json lists the 4 specs" jq -e '(.database.installs | length) == 4' "$bc/index.json"
expect_eq "$(cat "$bc/index.json.hash")" "$(sha256sum "$bc/index.json" | cut -d' ' -f1)" "push: index.json.hash"
run spack -e env1 buildcache push --unsigned --update-index cache1
expect_eq "$OUT" "==> Selected 4 specs to push to file://$WORK/mirror
==> All specs are already in the buildcache. Use --force to overwrite them." "push again"
run spack -e env1 buildcache push --unsigned -f --only package "$WORK/mirror" "/$xx_hash"
expect_eq "$OUT" "==> Pushed xxhash@0.8.1/${xx_hash:0:7} to file://$WORK/mirror" "push -f --only package of one /hash, to a path"
run spack -e env1 buildcache push --unsigned "$WORK/mirror" "/$xx_hash"
expect_eq "$OUT" "==> Selected 2 specs to push to file://$WORK/mirror
==> All specs are already in the buildcache. Use --force to overwrite them." "push of one /hash takes its dependencies too"
run spack -e env1 buildcache push --unsigned cache1 /nosuchhash
expect_rc 1 "push of a hash that is not installed"
expect_eq "$ERR" "==> Error: Spec '/nosuchhash' matches no installed packages." "push of an unknown hash: the error"

# ---------------------------------------------------------------- install from the cache
# A fresh environment with the same specs, a longer store path and the cache as its mirror.
mkdir -p env2
sed -e "s|$WORK/software|$WORK/software-from-the-cache|" -e "s|$WORK/views/view|$WORK/views2/view|" \
  -e '/mirrors:/,$d' env1/spack.yaml >env2/spack.yaml
run spack -e env2 mirror add cache1 "file://$WORK/mirror"
run spack -e env2 install --fail-fast
expect_rc 1 "install from an unsigned cache without --no-check-signature"
expect_in "$ERR" "UnsignedPackageException: To install unsigned packages, use the --no-check-signature option." \
  "unsigned binaries: Spack's error"
expect_in "$ERR" "==> Error: Terminating after first install failure: To install unsigned packages" \
  "unsigned binaries with --fail-fast"
run spack -e env2 install --fail-fast --no-check-signature
expect_rc 0 "install from the cache"
expect_eq "$(count "$OUT" '^==> Extracting [a-z0-9.-]+-[a-z2-7]{32} from binary cache$')" 4 "install from the cache: 4 Extracting lines"
expect_not_in "$OUT" "installing from source" "install from the cache builds nothing"
expect_in "$OUT" "==> Fetching file://$WORK/mirror/build_cache/linux-debian12-x86_64-gcc-12.2.0-xxhash-0.8.1-$xx_hash.spec.json" \
  "install from the cache: the spec.json is fetched"
expect_eq "$(jq -r '.concrete_specs | keys[]' env2/spack.lock | sort)" "$lock_hashes" "the fresh environment has the same hashes"
run "$WORK/views2/view/bin/xxhsum" a
expect_eq "$OUT" "fake xxhsum (from xxhash@0.8.1) args: a" "an executable installed from the cache"
check "from the cache into the new store" bash -c "readlink -f '$WORK/views2/view/bin/xxhsum' | grep -q '^$WORK/software-from-the-cache/'"
mkdir -p env3
printf 'spack:\n  specs: [xxhash, hello]\n  config:\n    install_tree:\n      root: %s/store3\n  mirrors:\n    cache1: %s/mirror\n' "$WORK" "$WORK" >env3/spack.yaml
run spack -e env3 install --cache-only --no-check-signature
expect_rc 1 "--cache-only with a package not in the cache"
expect_in "$ERR" "==> Error: No binary for hello-2.12.1-" "--cache-only: the missing binary"
expect_in "$ERR" "found when cache-only specified" "--cache-only: Spack's wording"
expect_in "$ERR" "==> Error: Installation request failed.  Refer to reported errors for failing package(s)." \
  "--cache-only: the request fails"
expect_in "$OUT" "==> Extracting xxhash-0.8.1-$xx_hash from binary cache" "--cache-only: what the cache has is installed"

# ---------------------------------------------------------------- failing builds
# A repository of its own: two packages that fail to build, one that needs one of them, and
# one that builds.
mkdir -p repo/packages/{t-fail1,t-fail2,t-top,t-ok}
printf 'repo:\n  namespace: failtest\n' >repo/repo.yaml
for p in t-fail1 t-fail2; do
  printf 'class X(Package):\n    version("1.0", sha256="%064d")\n    # fake-build-fails: true\n' 0 \
    >"repo/packages/$p/package.py"
done
printf 'class X(Package):\n    version("2.0", sha256="%064d")\n    depends_on("t-fail1")\n    # fake-executables: t-top\n' 0 \
  >repo/packages/t-top/package.py
printf 'class X(Package):\n    url = "file:///nowhere/t-ok-1.0.tar.gz"\n    version("1.0", sha256="%064d")\n    # fake-executables: t-ok\n' 1 \
  >repo/packages/t-ok/package.py
for mode in fail-fast keep-going; do
  mkdir -p "env-$mode"
  printf 'spack:\n  specs: [t-fail1, t-fail2, t-top, t-ok]\n  repos: [%s/repo]\n  config:\n    install_tree:\n      root: %s/store-%s\n' \
    "$WORK" "$WORK" "$mode" >"env-$mode/spack.yaml"
done
run spack -e env-fail-fast install --fail-fast
expect_rc 1 "a failing build with --fail-fast"
expect_eq "$(count "$ERR" '^==> Error: ProcessError: Command exited with status 1:$')" 1 \
  "--fail-fast: one build failed, and it stopped there"
expect_in "$ERR" "    'false'
See build log for details:
  $WORK/tmp/$(id -un)/spack-stage/spack-stage-t-fail" "--fail-fast: the failed command and the build log"
expect_in "$ERR" "==> Error: Terminating after first install failure: ProcessError: Command exited with status 1:" \
  "--fail-fast: Spack's last words"
expect_not_in "$ERR" "Installation request failed" "--fail-fast: no summary"
expect_not_in "$OUT" "Installing t-top" "--fail-fast: t-top is never tried"
run spack -e env-keep-going install
expect_rc 1 "failing builds without --fail-fast"
expect_eq "$(count "$ERR" '^==> Error: ProcessError: Command exited with status 1:$')" 2 \
  "without --fail-fast: both failing packages were tried"
expect_in "$ERR" "==> Warning: Skipping build of t-top-2.0-" "without --fail-fast: t-top is skipped"
for p in t-fail1-1.0 t-fail2-1.0 t-top-2.0; do
  expect_eq "$(count "$ERR" "^==> Error: $p-[a-z2-7]{32}: Package was not installed\$")" 1 "without --fail-fast: $p was not installed"
done
expect_eq "$(count "$ERR" '^==> Error: t-fail[12]-1.0-[a-z2-7]{32}: ProcessError: Command exited with status 1:$')" 2 \
  "without --fail-fast: the failed explicit specs are summarised"
expect_eq "$(tail -1 <<<"$ERR")" "==> Error: Installation request failed.  Refer to reported errors for failing package(s)." \
  "without --fail-fast: the request failed"
expect_in "$OUT" "==> Fetching file:///nowhere/t-ok-1.0.tar.gz" "a repository package's url is fetched"
run "$WORK/env-keep-going/.spack-env/view/bin/t-ok"
expect_eq "$OUT" "fake t-ok (from t-ok@1.0) args: " "without --fail-fast: the others are installed and in the view"
run spack -e env-keep-going find --format '{name}'
expect_eq "$OUT" "t-ok" "find lists only what was installed"

# ---------------------------------------------------------------- gc
run spack gc -y
expect_eq "$OUT" "==> There are no unused specs. Spack's store is clean." "gc without a store"
run spack -e env1 gc -y
expect_rc 0 "gc in an environment"
expect_eq "$OUT" "==> Restricting the garbage collection to the \"$WORK/env1\" environment
==> Successfully uninstalled gmake@4.4.1%gcc@12.2.0~guile build_system=generic arch=linux-debian12-x86_64/$(jq -r '.concrete_specs[] | select(.name == "gmake") | .hash[:7]' env1/spack.lock)" \
  "gc removes the build-only gmake"
check "gc removed gmake's prefix" test -z "$(prefix_of gmake-4.4.1)"
run spack -e env1 gc -y
expect_in "$OUT" "==> There are no unused specs. Spack's store is clean." "gc again"
run spack -e env1 find --format '{name}'
expect_eq "$(tr '\n' ' ' <<<"$OUT")" "samtools xxhash zlib " "after gc: what the roots need stays"
run "$WORK/views/view/bin/xxhsum"
expect_rc 0 "after gc: the view still works"

# ---------------------------------------------------------------- env activate --sh
run env PATH="$TREE/bin:/usr/bin:/bin:/usr/bin" spack env activate --sh -d env1
expect_rc 0 "env activate --sh -d"
expect_eq "$(head -3 <<<"$OUT")" "export SPACK_ENV=$WORK/env1;
export SPACK_ENV_VIEW=default;
alias despacktivate='spack env deactivate';" "env activate: the environment's lines"
expect_eq "$(sed -n 's/^export \([A-Z_]*\)=.*/\1/p' <<<"$OUT" | tr '\n' ' ')" \
  "SPACK_ENV SPACK_ENV_VIEW ACLOCAL_PATH CMAKE_PREFIX_PATH MANPATH PATH PKG_CONFIG_PATH " \
  "env activate: the variables, as Spack sorts them"
expect_in "$OUT" "export MANPATH=$WORK/views/view/share/man:$WORK/views/view/man:;" "env activate: MANPATH keeps the default"
printf '%s\n' "$OUT" >activate.sh
check "env activate: valid sh" sh -n activate.sh
run env -i PATH=/usr/bin:/bin sh -c '. ./activate.sh && echo "$PATH" && xxhsum 1 2'
expect_eq "$OUT" "$WORK/views/view/bin:$TREE/bin:/usr/bin:/bin
fake xxhsum (from xxhash@0.8.1) args: 1 2" \
  "env activate: sourced by sh, the view's bin comes first on PATH (then spack's PATH, without duplicates)"
run spack -e env1 env activate --sh -d env1
expect_rc 1 "env activate with -e"
expect_eq "$ERR" "==> Error: Calling spack env activate with --env, --env-dir and --no-env is ambiguous" \
  "env activate with -e: the error"
run spack env activate --sh -d "$WORK/nosuchenv"
expect_eq "$ERR" "==> Error: No such environment: '$WORK/nosuchenv'" "env activate of a missing environment"

self_test_summary test_spack_install.sh
