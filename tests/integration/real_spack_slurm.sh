#!/bin/bash
# The real Spack (0.21) on Slurm, submitted by an unprivileged user: the concretize job runs as
# that user on the node, concretizes real builtin packages with real Spack (the shared, warm
# cache): its lock is Spack's. The image stages use the singularity stand-in with the fake Spack
# tree (builtin packages cannot be fetched offline; tests/integration/real_spack_recipe.sh builds
# images with the real Spack), so the published lock, the image's, is the stand-in's.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/real_spack.bash"
require_slurm
require_real_spack

write_config slurm < <(real_spack_config)
chown "$REAL_SPACK_USER" "$IT_DIR/config.yaml"
printf 'description: real packages on slurm\npackages:\n  - xxhash@0.8.1\n  - zlib\n' >"$IT_DIR/good.yml"
chown "$REAL_SPACK_USER" "$IT_DIR/good.yml"
rc=0
out=$(as_test_user "$SP_SUBMIT" "$IT_DIR/good.yml" --name users/softpack-it/real-slurm \
  --version 1 --wait --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out" | tail -5
build_dir=$(ls -d "$IT_DIR"/var/builds/*/ | head -1)
[[ "$rc" == 0 ]] || fail "the build failed ($rc): $(tail -30 "$build_dir/logs/concretize.out")"
# The concretize stage's lock (the published one is the image's).
lock="$build_dir/concretize/spack.lock"
assert_eq 0.21.0.dev0 "$(jq -r '.spack.version' "$lock")" "the lock is the real Spack's"
assert_eq "xxhash@0.8.1 zlib" "$(jq -r '[.roots[].spec] | sort | join(" ")' "$lock")" "the lock's roots"
assert_eq "$REAL_SPACK_USER" "$(stat -c %U "$lock")" "the concretize job ran as the submitting user"
job=$(job_id_of "$out" concretize)
[[ -n "$job" ]] || fail "no concretize job id in: $out"
# sacct keeps every job a cluster ran; job ids start again when the controller's state is
# cleared (the fault tests do): this job is the one with this id and the stage's name. The
# controller sends job records to slurmdbd in the background, so the record may come later.
sacct_user() {
  sacct -n -X -P -j "$job" -S now-1hours -o User,JobName |
    awk -F'|' '$2 == "sp.softpack-it.real-slurm-1.concretize" { user = $1 } END { print user }'
}
wait_for '[[ -n "$(sacct_user)" ]]' 60 ||
  fail "no sacct record of job $job after 60 s: $(sacct -n -X -P -j "$job" -o JobID,User,JobName,Submit,State 2>&1)"
assert_eq "$REAL_SPACK_USER" "$(sacct_user)" "sacct's user of the job"
echo "PASS"
