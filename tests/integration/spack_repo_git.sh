#!/bin/bash
# spack.repo as a git URL (issue 14): the concretize stage clones it at spack.repo_ref and
# records the commit; the image's recipe checks out that same commit (the build stage fills it
# in), and builder.out names it. With the stand-ins (tests/fakes): the image's build clones the
# repository for real in the Singularity stand-in's sandbox.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/spack_repo.bash"
for tool in bwrap mksquashfs unsquashfs siftool git; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps installs it)"
done

# The test package repository in a git repository with two commits on a branch `stable`, and a
# newer commit on `main` that removes sp-hello: the build must use stable's.
make_spack_repo "$IT_DIR/repo" || fail "make_spack_repo"
git_in() { git -C "$IT_DIR/repo" -c user.name=t -c user.email=t@example.org "$@"; }
git_in init -q -b main
git_in add -A && git_in commit -q -m "the test packages"
git_in branch stable
git_in rm -q -r packages/sp-hello && git_in commit -q -m "no sp-hello on main"
stable=$(git_in rev-parse stable)

write_config <<YAML
spack:
  repo: file://$IT_DIR/repo
  repo_ref: stable
publish:
  destinations: [git]
YAML
# The image's build clones the repository from the host: bind it into the sandbox (the test's
# directory may be under /tmp, which the sandbox has its own of).
sed -i "s|^jobs:\$|jobs:\n  environment:\n    SINGULARITY_BIND: $IT_DIR/repo:$IT_DIR/repo:ro|" "$IT_DIR/config.yaml"
grep -q "SINGULARITY_BIND" "$IT_DIR/config.yaml" || fail "could not add SINGULARITY_BIND to the config"
printf 'description: a package from a git repository\npackages:\n  - sp-hello\n' >"$IT_DIR/env.yml"
out=$("$SP_SUBMIT" "$IT_DIR/env.yml" --name users/alice/git-repo --version 1 --wait \
  --config "$IT_DIR/config.yaml" 2>&1) || fail "the build failed: $out
$(tail -30 "$IT_DIR"/var/builds/*/logs/*.out)"
build_dir=$(ls -d "$IT_DIR"/var/builds/*/ | head -1)
assert_eq "$stable" "$(cat "$build_dir/concretize/repo.commit")" "the commit the concretize stage used"
assert_contains "$(cat "$build_dir/out/singularity.def")" \
  "git -C /opt/spack-repo checkout --quiet $stable" "the recipe's commit"
! grep -q "@SPACK_REPO_COMMIT@" "$build_dir/out/singularity.def" || fail "the placeholder was left in"
assert_contains "$(cat "$build_dir/out/builder.out")" "spack repo: file://$IT_DIR/repo at $stable" \
  "builder.out names the commit"
assert_contains "$(cat "$build_dir/logs/concretize.out")" "spack repo: file://$IT_DIR/repo at $stable" \
  "the concretize stage's log"
# The image was built from that commit: sp-hello, which main no longer has, is in it.
assert_eq "sp-hello" "$(cat "$build_dir/out/executables")" "the executables (from sp-hello)"
assert_contains "$(PATH="$FAKES:$PATH" singularity exec "$build_dir/out/singularity.sif" sp-hello)" \
  "fake sp-hello (from sp-hello@1.0)" "sp-hello runs in the image"

# A ref that does not exist fails in the concretize stage, saying so.
sed -i 's/repo_ref: stable/repo_ref: no-such-branch/' "$IT_DIR/config.yaml"
if out=$("$SP_SUBMIT" "$IT_DIR/env.yml" --name users/alice/git-repo --version 2 --wait \
  --config "$IT_DIR/config.yaml" 2>&1); then
  fail "a build with a missing repo_ref succeeded: $out"
fi
bad=$(grep -l '"version":"2"' "$IT_DIR"/var/builds/*/build.json | xargs dirname)
assert_contains "$(cat "$bad/out/builder.out")" "failed stage: concretize" "a missing ref fails the concretize stage"
assert_contains "$(cat "$bad/logs/concretize.out")" "no-such-branch" "git names the missing ref"
echo "PASS"
