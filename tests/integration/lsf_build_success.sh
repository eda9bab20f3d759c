#!/bin/bash
# A full build through sp-submit --wait on the fake LSF cluster (tests/fakes/lsf): the three stage
# jobs are in the build's job group with done() dependencies and -ti, they run for real and
# complete, and the artifacts are published. Each poll is one bjobs call for all jobs.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/fake_lsf.bash"

# Jobs wait 2 s before dispatch, so the chain can be seen pending in bjobs.
fake_lsf_knob FAKE_DISPATCH_DELAY 2
write_lsf_config <<'YAML'
  defaults:
    partition: normal
    account: hgi
    mem: 1536M
    time: 30m
  stages:
    build:
      cpus: 2
YAML
printf 'description: lsf test\npackages:\n  - xxhash@0.8.1\n' >"$IT_DIR/softpack.yml"

"$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/lsftest/chain --version 1 --wait \
  --config "$IT_DIR/config.yaml" >"$IT_DIR/out.txt" 2>&1 &
pid=$!

prefix="sp.lsftest.chain-1"
module_pending() {
  bjobs -a -noheader -o "job_name stat dependency delimiter='|'" 2>/dev/null |
    grep -q "^$prefix\.module|PEND|done("
}
wait_for module_pending 20 ||
  fail "bjobs never showed the module job pending on a done() dependency: $(bjobs -a 2>&1)"
queue=$(bjobs -a -noheader -o "job_name stat job_group dependency delimiter='|'" -J "$prefix.*")
echo "$queue"
assert_matches "$queue" "^$prefix\.concretize\|(PEND|RUN|DONE)\|/softpack/[0-9TZ]+-[0-9a-f]+\|-$" "the concretize job"
assert_matches "$queue" "$prefix\.build\|PEND\|/softpack/[^|]+\|done\([0-9]+\)" "build after concretize"
assert_matches "$queue" "$prefix\.module\|PEND\|/softpack/[^|]+\|done\([0-9]+\)" "module after build"
assert_eq 1 "$(cut -d'|' -f3 <<<"$queue" | sort -u | wc -l)" "one job group for the build"

rc=0
wait "$pid" || rc=$?
out=$(cat "$IT_DIR/out.txt")
echo "$out"
assert_eq 0 "$rc" "sp-submit exit code"
assert_contains "$out" "published" "final state"

for stage in concretize build module; do
  id=$(job_id_of "$out" "$stage")
  [[ -n "$id" ]] || fail "no job id for $stage in the output"
  assert_eq "$prefix.$stage|DONE|-" "$(bjobs_field "$id" "job_name stat exit_code")" "bjobs for $stage"
done
dir=environments/users/lsftest/chain-1
files=$(repo_files "$IT_DIR/var/artifacts.git" main "$dir" | tr '\n' ' ')
assert_eq ".built_by_softpack README.md builder.out module singularity.def softpack.yml spack.lock " \
  "$files" "published files"

# What bsub was given: LSF's units (MB here), -env none, the script on stdin, dependencies.
build_bsub=$(lsf_calls bsub | grep "\"$prefix.build\"")
for part in '"-env", "none"' '"-q", "normal"' '"-P", "hgi"' '"-n", "2"' '"-W", "30"' '"-M", "1536"' \
  '"-R", "select[mem>1536] rusage[mem=1536] span[hosts=1]"' '"-ti"' '"-Jd", "2'; do
  assert_contains "$build_bsub" "$part" "bsub of the build stage"
done
assert_matches "$build_bsub" '"-w", "done\([0-9]+\)"' "bsub of the build stage"
log="$IT_DIR/var/builds/$(ls "$IT_DIR/var/builds")/logs/build.out"
assert_contains "$(cat "$log")" "softpack-builder: stage build finished" "the build log"
assert_contains "$(cat "$log.lsf")" "Successfully completed." "LSF's job report beside the build log"
if grep -q "Sender: LSF System" "$log"; then fail "LSF's job report is in the build log"; fi
# Every poll names all tracked jobs in one bjobs call; bhist was not needed.
polls=$(lsf_calls bjobs | grep -c '"-o", "jobid stat exit_code exit_reason pend_reason')
((polls >= 2)) || fail "expected several bjobs polls, got $polls"
assert_eq 0 "$(lsf_calls bhist | wc -l)" "bhist calls"
echo "PASS"
