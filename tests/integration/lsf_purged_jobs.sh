#!/bin/bash
# LSF forgets finished jobs: bjobs after CLEAN_PERIOD (here at once), bhist when its event log
# no longer has them. A new job may also not be visible for a moment. The build still completes:
# the adapter asks bhist for the jobs bjobs no longer shows, and without bhist the jobs' result
# files decide.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/fake_lsf.bash"

lsb_param CLEAN_PERIOD 0
fake_lsf_knob FAKE_VISIBILITY_DELAY 1
write_lsf_config </dev/null
printf 'packages:\n  - hello\n' >"$IT_DIR/softpack.yml"

# 1. bjobs forgets at once, bhist remembers.
out=$("$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/lsftest/purged --version 1 --wait \
  --config "$IT_DIR/config.yaml" 2>&1) || fail "sp-submit exited $?: $out"
echo "$out"
assert_contains "$out" "published" "final state with bhist"
bhist_calls=$(lsf_calls bhist | wc -l)
((bhist_calls >= 1)) || fail "bhist was never asked"
assert_contains "$(lsf_calls bhist | head -1)" '["bhist", "-a", "-l"' "the bhist call"
id=$(job_id_of "$out" concretize)
assert_eq "Job <$id> is not found" "$(bjobs -a "$id" 2>&1 >/dev/null)" "bjobs forgot the job"

# 2. bhist forgets at once too: only the result files are left.
fake_lsf_knob FAKE_BHIST_RETENTION 0
out=$("$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/lsftest/forgotten --version 1 --wait \
  --config "$IT_DIR/config.yaml" 2>&1) || fail "sp-submit exited $?: $out"
echo "$out"
assert_contains "$out" "published" "final state from the result files"
for stage in concretize build module; do
  assert_contains "$out" "$stage  job" "the $stage stage"
done
echo "PASS"
