#!/bin/bash
# sp-submit --wait runs the example environment end to end on the local executor with the
# stand-in spack/singularity, and publishes softpack-core's layout to the artifacts repository.
source "$(dirname "$0")/lib/common.bash"

write_config <<'YAML'
publish:
  destinations: [install, git]
YAML
cat >"$IT_DIR/softpack.yml" <<'YML'
description: |
  Integration test environment.
  Second line with "quotes", $(dollar) and [brackets].
packages:
  - xxhash@0.8.1
  - hello
YML

out=$("$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/alice/it-env --version 2 --wait \
  --config "$IT_DIR/config.yaml" 2>&1) || fail "sp-submit exited $?: $out"
echo "$out"
assert_matches "$out" "concretize  job local-[0-9a-f-]+  completed" "progress output"
assert_matches "$out" "module  job local-[0-9a-f-]+  completed" "progress output"
assert_contains "$out" "published" "final state"

repo="$IT_DIR/var/artifacts.git"
dir=environments/users/alice/it-env-2
files=$(repo_files "$repo" main "$dir" | tr '\n' ' ')
assert_eq ".built_by_softpack README.md builder.out module singularity.def softpack.yml spack.lock " \
  "$files" "published files"
assert_eq 1 "$(git -C "$repo" rev-list --count main)" "commits on main"
msg=$(git -C "$repo" log -1 --format=%B main)
assert_contains "$msg" "users/alice/it-env-2" "commit message"
assert_contains "$msg" "Softpack-Build-Id: " "commit message"

show() { git -C "$repo" show "main:$dir/$1"; }
lock=$(show spack.lock)
assert_eq 5 "$(jq -r '._meta["lockfile-version"]' <<<"$lock")" "spack.lock's lockfile version"
yml=$(show softpack.yml)
assert_contains "$yml" "The following executables are added to your PATH:" "softpack.yml"
assert_contains "$yml" '"xxhash@0.8.1"' "softpack.yml concrete packages"
assert_contains "$yml" '"hello@2.12.1"' "softpack.yml concrete version of an unversioned package"
# The concrete softpack.yml must read back as YAML with the description intact.
/usr/bin/python3 - "$repo" "$dir" <<'PY' || fail "softpack.yml does not read back"
import subprocess, sys, yaml
repo, d = sys.argv[1], sys.argv[2]
doc = yaml.safe_load(subprocess.run(["git", "-C", repo, "show", f"main:{d}/softpack.yml"],
                                    check=True, capture_output=True, text=True).stdout)
assert doc["description"].startswith("Integration test environment.\nSecond line with \"quotes\", $(dollar) and [brackets].\n"), doc
assert "  - xxhsum" in doc["description"], doc
assert doc["packages"] == ["xxhash@0.8.1", "hello@2.12.1"], doc
PY
module=$(show module)
assert_contains "$module" "#%Module" "module file"
assert_contains "$module" 'module-whatis "Name: it-env"' "module file"
assert_contains "$module" 'Packages: xxhash@0.8.1, hello@2.12.1' "module file"
assert_contains "$module" '\$(dollar) and \[brackets\]' "module file escapes Tcl metacharacters"
def=$(show singularity.def)
assert_contains "$def" "Bootstrap: docker" "singularity.def"
readme=$(show README.md)
assert_contains "$readme" "module load users/alice/it-env/2" "README.md"
builder_out=$(show builder.out)
assert_matches "$builder_out" "==> stage build \\(job local-[0-9a-f-]+\\): completed" "builder.out"

# The install destination put the module file, the image and the wrappers in place.
moddir="$IT_DIR/var/installs/modules"
scripts="$IT_DIR/var/installs/scripts/users/alice/it-env/2-scripts"
assert_eq "$(show module)" "$(cat "$moddir/users/alice/it-env/2")" "installed module file"
assert_eq "hello singularity.sif xxh128sum xxh32sum xxh64sum xxhsum " "$(ls "$scripts" | tr '\n' ' ')" "installed scripts directory"
assert_eq 755 "$(stat -c %a "$scripts/xxhsum")" "wrapper mode"
assert_eq 644 "$(stat -c %a "$scripts/singularity.sif")" "image mode"
assert_eq 644 "$(stat -c %a "$moddir/users/alice/it-env/2")" "module file mode"
assert_contains "$out" "publish install  done" "progress output"

# The installed module loads with the real `module` command (environment-modules), and the
# executable runs through its wrapper inside the image.
if [[ -r /usr/share/modules/init/bash ]]; then # installed by scripts/install-deps
  mod_out=$(PATH="$FAKES:$PATH" bash -c '
    set -e
    source /usr/share/modules/init/bash
    module use "$1"
    module load users/alice/it-env/2
    echo "PATH=$PATH"
    module help users/alice/it-env/2 2>&1
    module whatis users/alice/it-env/2 2>&1
    xxhsum --version
  ' _ "$moddir") || fail "module load failed: $mod_out"
  assert_contains "$mod_out" "fake xxhsum (from xxhash@0.8.1) args: --version" \
    "the wrapper runs the executable in the installed image"
  assert_contains "$mod_out" "PATH=$IT_DIR/var/installs/scripts/users/alice/it-env/2-scripts:" \
    "module load prepends the scripts directory"
  assert_contains "$mod_out" 'Second line with "quotes", $(dollar) and [brackets].' \
    "module help shows the description verbatim"
  assert_contains "$mod_out" "Packages: xxhash@0.8.1, hello@2.12.1" "module whatis"
else
  fail "environment-modules is not installed (scripts/install-deps installs it)"
fi

# The image and wrappers were made in the build directory.
build_dir=$(ls -d "$IT_DIR"/var/builds/*/)
head -c 64 "$build_dir/out/singularity.sif" | grep -q SIF_MAGIC || fail "image lacks the SIF magic"
[[ -x "$build_dir/out/scripts/xxhsum" ]] || fail "no wrapper for xxhsum"
for stage in concretize build module; do
  grep -q '^exit=0$' "$build_dir/logs/$stage.result" || fail "$stage result file"
  bash -n "$build_dir/scripts/$stage.sh" || fail "$stage script syntax"
done
echo "PASS"
