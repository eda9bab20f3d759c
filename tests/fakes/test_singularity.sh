#!/usr/bin/env bash
# Self-test of the singularity / apptainer stand-in in tests/fakes (see README.md there).
# Exits 0 when every check passes, 1 after printing each failure, and 77 (skipped, with the
# reason) when bubblewrap, squashfs-tools or siftool are missing or bwrap cannot make a sandbox.
# As root it also builds and runs an image as an unprivileged user (softpack-it, else nobody).
# shellcheck disable=SC2016 # the single-quoted $VARs are expanded inside the container
set -euo pipefail

FAKES="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
SING="$FAKES/singularity"
APPT="$FAKES/apptainer"
unset SINGULARITY_BIND SINGULARITY_BINDPATH APPTAINER_BIND APPTAINER_BINDPATH SINGULARITY_TMPDIR \
  APPTAINER_TMPDIR FAKE_SINGULARITY_SPACK FAKE_SINGULARITY_SPACK_CONFIG \
  FAKE_SINGULARITY_SPACK_CACHE SINGULARITY_NO_CLEANUP || true

skip() { echo "SKIPPED: $*"; exit 77; }
for tool in bwrap mksquashfs unsquashfs siftool; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (Debian packages bubblewrap, squashfs-tools, siftool)"
done
if ! out=$(bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid /bin/true 2>&1); then
  skip "bwrap cannot make a sandbox here: $out"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/softpack-sing-test.XXXXXX")"
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# The stand-in's extraction cache, private to this run.
export FAKE_SINGULARITY_CACHEDIR="$WORK/cache"
mkdir -p bt

# shellcheck source=self_test.bash
source "$FAKES/self_test.bash"
no_build_dirs() { [[ -z "$(ls -A "$WORK/bt")" ]]; }

case "$(uname -m)" in
  x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; *) ARCH="$(uname -m)" ;;
esac

# ---------------------------------------------------------------- versions
run "$SING" --version
expect_eq "$OUT" "singularity-ce version 3.11.4" "singularity --version"
run "$SING" version
expect_eq "$OUT" "3.11.4" "singularity version"
run "$APPT" --version
expect_eq "$OUT" "apptainer version 1.1.9" "apptainer --version"

# ---------------------------------------------------------------- a two-stage build
cat >two.def <<'EOF'
Bootstrap: docker
From: ubuntu:22.04
Stage: build

%post
  mkdir /opt/x
  echo hi > /opt/x/f
  echo only-build > /opt/only-build
  echo "export FROM_BUILD_STAGE=1" >> $SINGULARITY_ENVIRONMENT
  echo post-stdout-line

Bootstrap: docker
From: ubuntu:22.04
Stage: final

%files from build
  /opt/x /opt

%post
  test -f /opt/x/f
  test ! -e /opt/only-build
  echo "export FROM_POST=yes" >> $SINGULARITY_ENVIRONMENT
  echo "postlabel set-by-post" >> $SINGULARITY_LABELS

%environment
  export MYVAR=hello

%runscript
  echo "runscript args: $*"

%labels
  app test
EOF
run "$SING" build --fakeroot --tmpdir bt two.sif two.def
expect_rc 0 "two-stage build"
expect_in "$ERR" "INFO:    Starting build..." "build progress start"
expect_in "$ERR" "INFO:    Running post scriptlet" "post scriptlet line"
expect_in "$ERR" "+ mkdir /opt/x" "%post runs as /bin/sh -ex: the trace is on stderr"
expect_in "$ERR" "INFO:    Copying /opt/x to /opt" "%files from build is logged"
expect_in "$ERR" "INFO:    Adding environment to container" "environment logged"
expect_in "$ERR" "INFO:    Creating SIF file..." "SIF line"
expect_in "$ERR" "INFO:    Build complete: two.sif" "build complete"
expect_in "$OUT" "post-stdout-line" "%post's stdout is the build's stdout"
check "no build directory left behind" no_build_dirs
check "image written" test -f two.sif
expect_eq "$(head -c 31 two.sif)" "#!/usr/bin/env run-singularity" "SIF launch script"
expect_eq "$(dd if=two.sif bs=1 skip=32 count=9 status=none)" "SIF_MAGIC" "SIF magic at byte 32"
run siftool list two.sif
expect_rc 0 "siftool reads the image"
expect_in "$OUT" "Def.FILE" "SIF has the definition file"
expect_in "$OUT" "JSON.Generic" "SIF has the inspect metadata"
expect_in "$OUT" "FS (Squashfs/*System/$ARCH)" "SIF has a primary squashfs partition"
offset=$(siftool info 3 two.sif 2>/dev/null | awk '/Offset:/ {print $2}') || offset=0
run unsquashfs -o "$offset" -lc two.sif
expect_rc 0 "unsquashfs lists the partition"
for f in opt/x/f .singularity.d/Singularity .singularity.d/env/90-environment.sh \
  .singularity.d/env/91-environment.sh .singularity.d/runscript .singularity.d/labels.json; do
  expect_in "$OUT" "squashfs-root/$f" "image holds /$f"
done
expect_not_in "$OUT" "only-build" "the build stage's other files stay out of the image"
expect_not_in "$OUT" "opt/spack" "/opt/spack stays out of the image"
run "$SING" inspect --deffile two.sif
expect_eq "$OUT" "$(cat two.def)" "inspect --deffile returns the whole def"
run "$SING" inspect two.sif
expect_in "$OUT" "app: test" "inspect: %labels"
expect_in "$OUT" "postlabel: set-by-post" "inspect: labels written by %post"
expect_in "$OUT" "org.label-schema.usage.singularity.deffile.from: ubuntu:22.04" "inspect: header labels"

# ---------------------------------------------------------------- exec / run
run "$SING" exec two.sif cat /opt/x/f
expect_rc 0 "exec cat"
expect_eq "$OUT" "hi" "exec sees the image's /opt"
run "$SING" exec two.sif sh -c 'echo "$MYVAR|$FROM_POST|${FROM_BUILD_STAGE:-}"'
expect_eq "$OUT" "hello|yes|" "image environment: %environment and what the final %post appended"
run "$SING" exec two.sif ls /opt
expect_eq "$OUT" "x" "/opt is the image's alone"
run "$SING" exec two.sif cat /etc/debian_version
expect_eq "$OUT" "$(cat /etc/debian_version 2>/dev/null)" "the host OS stands in for the base image"
run "$SING" exec two.sif touch /opt/x/new
check "the image's /opt is read-only" test "$RC" -ne 0
run "$SING" exec two.sif sh -c 'echo in-cwd > ./written-by-exec'
expect_rc 0 "the working directory is writable"
expect_eq "$(cat written-by-exec 2>/dev/null)" "in-cwd" "the working directory is the host's"
run "$SING" exec two.sif sh -c 'exit 3'
expect_rc 3 "exec passes the command's exit code on"
run "$SING" exec two.sif no-such-command
expect_rc 255 "exec of a missing command"
# shellcheck disable=SC2016 # literal $PATH
expect_eq "$ERR" 'FATAL:   "no-such-command": executable file not found in $PATH' "missing command message"
run "$SING" exec two.sif /no/such/file
expect_rc 255 "exec of a missing path"
expect_eq "$ERR" "FATAL:   stat /no/such/file: no such file or directory" "missing path message"
run env HOSTVAR=h SINGULARITYENV_FROMENV=e "$SING" exec --env "CLI=c,PATH2=p" two.sif \
  sh -c 'echo "${HOSTVAR:-}|$FROMENV|$CLI|$PATH2|$HOME"'
expect_eq "$OUT" "h|e|c|p|$(getent passwd "$(id -u)" | cut -d: -f6)" "host environment, SINGULARITYENV_, --env, HOME"
run env HOSTVAR=h "$SING" exec --cleanenv two.sif sh -c 'echo "${HOSTVAR:-gone}|$LANG|$MYVAR"'
expect_eq "$OUT" "gone|C|hello" "--cleanenv"
run env SINGULARITYENV_MYVAR=over "$SING" exec two.sif sh -c 'echo $MYVAR'
expect_eq "$OUT" "over" "SINGULARITYENV_ wins over the image's environment"
mkdir -p execbind
echo bound >execbind/f
run "$SING" exec -B "$WORK/execbind:/opt/new/deep:ro" two.sif sh -c 'cat /opt/new/deep/f; stat -c %a /opt/new; cat /opt/x/f'
expect_eq "$OUT" $'bound\n755\nhi' "exec -B to a new directory under the image's /opt"
run "$SING" run two.sif a b
expect_eq "$OUT" "runscript args: a b" "run runs %runscript"
run "$APPT" exec two.sif sh -c 'echo $APPTAINER_NAME'
expect_eq "$OUT" "two.sif" "apptainer exec"
echo "not a sif" >plain.sif
run "$SING" exec plain.sif true
expect_rc 255 "exec of a non-SIF file"
expect_in "$ERR" "image format not recognized" "non-SIF message"
run "$SING" exec nonexistent.sif true
expect_rc 255 "exec of a missing image"
expect_in "$ERR" "no such file or directory" "missing image message"

# ---------------------------------------------------------------- target checks, rebuilds
run "$SING" build two.sif two.def
expect_rc 255 "refuse to overwrite without --force"
expect_in "$ERR" "FATAL:   While checking build target: build target 'two.sif' already exists. Use --force if you want to overwrite it" \
  "overwrite refusal message"
printf 'Bootstrap: docker\nFrom: x\n\n%%post\n  mkdir -p /opt/x; echo second > /opt/x/f\n' >second.def
run "$SING" -q build -F two.sif second.def
expect_rc 0 "-F overwrites"
expect_not_in "$ERR" "INFO:" "-q silences INFO (not the script's own trace)"
run "$SING" exec two.sif cat /opt/x/f
expect_eq "$OUT" "second" "exec sees the rebuilt image, not a stale unpacked copy"
unpacked=("$FAKE_SINGULARITY_CACHEDIR"/*)
expect_eq "${#unpacked[@]}" "1" "the stale unpacked copy is dropped"
run "$SING" run two.sif echo via-run
expect_eq "$OUT" "via-run" "without %runscript, run runs its arguments"
run "$SING" run two.sif
expect_rc 0 "without %runscript and arguments, run starts bash (no terminal: exits 0)"

# ---------------------------------------------------------------- failures
printf 'Bootstrap: docker\nFrom: x\n\n%%post\n  echo before\n  exit 3\n  echo after\n' >fail.def
run "$SING" build --tmpdir bt fail.sif fail.def
expect_rc 255 "failing %%post"
expect_in "$ERR" "FATAL:   While performing build: while running engine: exit status 3" "failing %post message"
expect_in "$OUT" "before" "the output before the failure"
expect_not_in "$OUT" "after" "the script stops at the failure"
check "no image after a failed build" test ! -e fail.sif
check "no build directory after a failed build" no_build_dirs
leftovers=(.*fake-sif*)
check "no temporary SIF left" test ! -e "${leftovers[0]}"
run "$SING" build --no-cleanup --tmpdir bt fail.sif fail.def
expect_in "$ERR" "INFO:    Build performed with no clean up option, build bundle(s) located at: [$WORK/bt/build-temp-" \
  "--no-cleanup keeps the build directory"
check "--no-cleanup leaves the stage's /opt" test -d "$(echo "$WORK"/bt/build-temp-*/stage-0/rootfs/opt)"
rm -rf "$WORK"/bt/build-temp-*
printf 'Bootstrap: docker\nFrom: x\n\n%%post\n  touch /usr/softpack-sing-test\n' >rofs.def
run "$SING" build rofs.sif rofs.def
expect_rc 255 "the host OS is read-only in %post"
expect_in "$ERR" "Read-only file system" "read-only host message"
printf '%%post\n  echo hi\n' >noheader.def
run "$SING" build nh.sif noheader.def
expect_rc 255 "def without a header"
expect_in "$ERR" "FATAL:" "missing header is FATAL"
printf 'Bootstrap: docker\n\n%%post\n  echo hi\n' >nofrom.def
run "$SING" build nf.sif nofrom.def
expect_rc 255 "def without From"
printf 'Bootstrap: docker\nFrom: x\n\n%%bogus\n  echo hi\n' >badsection.def
run "$SING" build bs.sif badsection.def
expect_rc 255 "unknown section"
expect_in "$ERR" "invalid section(s) specified: bogus" "unknown section message"
printf 'Bootstrap: docker\nFrom: x\nColour: blue\n' >badheader.def
run "$SING" build bh.sif badheader.def
expect_rc 255 "unknown header keyword"
expect_in "$ERR" "invalid header keyword found: colour" "unknown header message"
run "$SING" build x.sif missing.def
expect_rc 255 "missing def file"
check "no image after def errors" test ! -e nh.sif -a ! -e nf.sif -a ! -e bs.sif -a ! -e bh.sif -a ! -e x.sif

# ---------------------------------------------------------------- %post's sandbox
mkdir -p hostrw hostro
echo from-host >hostro/a
cat >sandbox.def <<'EOF'
Bootstrap: docker
From: x

%post
  echo "uid=$(id -u) home=$HOME path=$PATH lang=$LANG env=$SINGULARITY_ENVIRONMENT pwd=$(pwd)"
  echo "hostvar=${SOFTPACK_HOSTVAR:-unset}"
  touch "$HOME/home-is-writable"
  echo tmp > /tmp/softpack-sing-test-marker
  echo vartmp > /var/tmp/softpack-sing-test-marker
  echo rw > /rw/written
  cat /ro/a
  if touch /ro/b 2>/dev/null; then echo ro-is-writable; fi
  echo rw2 > /rw2/written
EOF
run env SOFTPACK_HOSTVAR=x SINGULARITY_BIND="$WORK/hostro:/ro:ro" "$SING" build \
  -B "$WORK/hostrw:/rw" --bind "$WORK/bt:/rw2:rw" sandbox.sif sandbox.def
expect_rc 0 "build with binds"
expect_in "$OUT" "uid=0 home=/root path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin lang=C env=/.singularity.d/env/91-environment.sh pwd=/" \
  "%post's environment (singularity exec --cleanenv)"
expect_in "$OUT" "hostvar=unset" "the host's environment does not reach %post"
expect_in "$OUT" "from-host" "SINGULARITY_BIND binds"
expect_not_in "$OUT" "ro-is-writable" ":ro binds are read-only"
expect_eq "$(cat hostrw/written 2>/dev/null)" "rw" "-B binds are writable"
expect_eq "$(cat bt/written 2>/dev/null)" "rw2" "--bind SRC:DST:rw"
rm -f bt/written
check "%post's /tmp is the build's own" test ! -e /tmp/softpack-sing-test-marker
check "%post's /var/tmp is the build's own" test ! -e /var/tmp/softpack-sing-test-marker
run "$SING" build -B "$WORK/no-such-dir:/x" nb.sif sandbox.def
expect_rc 255 "a bind source that does not exist"
expect_in "$ERR" "mount source $WORK/no-such-dir doesn't exist" "missing bind source message"

# %files from the host, and its limits
mkdir -p hostfiles/sub
echo f1 >hostfiles/sub/f1
cat >files.def <<EOF
Bootstrap: docker
From: x

%files
  $WORK/hostfiles /opt/copied
  $WORK/hostfiles/sub/f1 /tmp/

%post
  cat /opt/copied/sub/f1 /tmp/f1
EOF
run "$SING" -q build files.sif files.def
expect_rc 0 "%files from the host"
expect_eq "$OUT" $'f1\nf1' "%files copies into /opt and /tmp"
printf 'Bootstrap: docker\nFrom: x\n\n%%files\n  %s/hostfiles /etc/hostfiles\n' "$WORK" >files2.def
run "$SING" -q build files2.sif files2.def
expect_rc 255 "%files outside /opt and /tmp"
expect_in "$ERR" "(%files line: $WORK/hostfiles /etc/hostfiles)" "the refusal names the line"
printf 'Bootstrap: docker\nFrom: x\nStage: one\n\n%%post\n  mkdir /opt/a\n\nBootstrap: docker\nFrom: x\n\n%%files from one\n  /opt/b /opt\n' >files3.def
run "$SING" -q build files3.sif files3.def
expect_rc 255 "%files from a stage without the file"
expect_in "$ERR" "no source files found matching: /opt/b" "missing stage file message"
sed -i 's/from one/from two/' files3.def
run "$SING" -q build files3.sif files3.def
expect_rc 255 "%files from an unknown stage"
expect_in "$ERR" "stage two was not found" "unknown stage message"

# ---------------------------------------------------------------- Spack in the sandbox
cat >spack.def <<'EOF'
Bootstrap: docker
From: x

%post
  . /opt/spack/share/spack/setup-env.sh
  echo "spack=$(command -v spack) version=$(spack --version)"
  if touch /opt/spack/x 2>/dev/null; then echo spack-tree-is-writable; fi
  if [ -d /etc/spack ]; then cat /etc/spack/config.yaml; cat /etc/debian_version; fi
  echo "cache=${SPACK_USER_CACHE_PATH:-unset}"
  if [ -n "${SPACK_USER_CACHE_PATH:-}" ]; then touch "$SPACK_USER_CACHE_PATH/written"; fi
EOF
run "$SING" -q build spack.sif spack.def
expect_rc 0 "the default Spack tree"
# (/opt/spack is a link to the tree; setup-env.sh may name the tree by either path)
if [[ "$OUT" =~ spack=(/opt/spack|$FAKES/spack-tree)/bin/spack\ version=0\.21\.2 ]]; then pass; else
  fail "setup-env.sh puts the fake spack on PATH: $OUT"
fi
expect_not_in "$OUT" "spack-tree-is-writable" "/opt/spack is read-only"
expect_in "$OUT" "cache=unset" "no SPACK_USER_CACHE_PATH without the knob"
mkdir -p scope spcache
printf 'config:\n  concretizer: original\n' >scope/config.yaml
run env FAKE_SINGULARITY_SPACK_CONFIG="$WORK/scope" FAKE_SINGULARITY_SPACK_CACHE="$WORK/spcache" \
  "$SING" -q build spack2.sif spack.def
expect_rc 0 "FAKE_SINGULARITY_SPACK_CONFIG and FAKE_SINGULARITY_SPACK_CACHE"
expect_in "$OUT" "concretizer: original" "the config scope is /etc/spack"
expect_in "$OUT" "$(cat /etc/debian_version 2>/dev/null)" "the rest of the host's /etc stays"
expect_in "$OUT" "cache=$WORK/spcache" "SPACK_USER_CACHE_PATH is the cache"
check "the cache is writable" test -e spcache/written
mkdir -p mytree/bin mytree/share/spack
printf '#!/bin/sh\necho "my tree: $*"\nmkdir -p /opt/spack/var/spack/cache/x /opt/spack/opt/spack/gpg\n' >mytree/bin/spack
chmod +x mytree/bin/spack
printf 'PATH=/opt/spack/bin:$PATH\n' >mytree/share/spack/setup-env.sh
run env FAKE_SINGULARITY_SPACK="$WORK/mytree" "$SING" -q build spack3.sif spack.def
expect_rc 0 "FAKE_SINGULARITY_SPACK"
expect_in "$OUT" "version=my tree: --version" "FAKE_SINGULARITY_SPACK is /opt/spack"
check "the source cache and keyring places stay out of the tree" test ! -e mytree/var -a ! -e mytree/opt

# The recipe's Spack commands with the fake spack, once it has `install` (issue 14, another
# engineer's part): its executables must come out of the image.
if "$FAKES/spack" install --help >/dev/null 2>&1; then
  cat >recipe.def <<'EOF'
Bootstrap: docker
From: spack/ubuntu-jammy:0.21.2
Stage: build

%post
  set -e
  mkdir -p /opt/spack-environment && cd /opt/spack-environment
  cat << 'EOF2' > spack.yaml
spack:
  specs:
  - xxhash@0.8.1
  concretizer:
    unify: true
  config:
    install_tree:
      root: /opt/software
      padded_length: 128
  view: /opt/views/view
EOF2
  . /opt/spack/share/spack/setup-env.sh
  spack -e . concretize --fresh
  spack -e . install --fail-fast
  spack gc -y
  spack env activate --sh -d . > /opt/spack-environment/environment_modifications.sh

Bootstrap: docker
From: ubuntu:22.04
Stage: final

%files from build
  /opt/spack-environment /opt
  /opt/software /opt
  /opt/views /opt

%post
  ln -s /opt/views/view /opt/view
  cat /opt/spack-environment/environment_modifications.sh >> $SINGULARITY_ENVIRONMENT
EOF
  run "$SING" -q build recipe.sif recipe.def
  expect_rc 0 "a recipe with the fake spack"
  run "$SING" exec recipe.sif xxhsum --version
  expect_eq "$OUT" "fake xxhsum (from xxhash@0.8.1) args: --version" "the fake spack's executable in the image"
  run "$SING" exec recipe.sif ls /opt/view/bin
  expect_in "$OUT" "xxhsum" "the view's bin/"
else
  echo "skipped: the recipe with the fake spack (tests/fakes/spack has no install yet)"
fi

# ---------------------------------------------------------------- as an unprivileged user
if [[ $(id -u) == 0 ]] && command -v runuser >/dev/null; then
  user=softpack-it
  id "$user" >/dev/null 2>&1 || user=nobody
  mkdir -p user
  cp second.def user/
  chown -R "$user" user
  home=$(getent passwd "$user" | cut -d: -f6)
  run runuser -u "$user" -- env -i HOME="$home" PATH=/usr/local/bin:/usr/bin:/bin \
    FAKE_SINGULARITY_CACHEDIR="$WORK/user/cache" bash -c \
    "cd '$WORK/user' && '$SING' -q build --fakeroot u.sif second.def && '$SING' exec u.sif sh -c 'cat /opt/x/f; id -un'"
  expect_rc 0 "build and exec as $user"
  expect_eq "$OUT" $'second\n'"$user" "as $user: the image's file, and exec runs as the user"
  expect_eq "$(stat -c %U user/u.sif 2>/dev/null)" "$user" "the image belongs to $user"
fi

# ---------------------------------------------------------------- timing (information only:
# speed belongs in benchmarks, not in pass/fail checks)
printf 'Bootstrap: docker\nFrom: x\n\n%%post\n  echo hi\n' >tiny.def
start=$(date +%s%N)
for _ in 1 2 3; do "$SING" -q build -F tiny.sif tiny.def >/dev/null 2>&1; done
build_ms=$(( ($(date +%s%N) - start) / 3000000 ))
"$SING" exec tiny.sif true
start=$(date +%s%N)
for _ in 1 2 3 4 5; do "$SING" exec tiny.sif true; done
exec_ms=$(( ($(date +%s%N) - start) / 5000000 ))
echo "timing: singularity build of a tiny def ${build_ms}ms, exec ${exec_ms}ms per call"

self_test_summary test_singularity.sh
