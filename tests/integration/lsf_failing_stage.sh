#!/bin/bash
# A failing middle stage on LSF: the build job exits non-zero, LSF terminates the module job
# (-ti: its done() dependency can never be met), builder.out alone is published, and sp-submit
# exits 1.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/fake_lsf.bash"

write_lsf_config </dev/null
printf 'description: fails\npackages:\n  - broken-build\n' >"$IT_DIR/softpack.yml"
rc=0
out=$("$SP_SUBMIT" "$IT_DIR/softpack.yml" --name groups/lsftest/broken --version 1 --wait \
  --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 1 "$rc" "sp-submit exit code"
assert_contains "$out" "failed: stage build failed" "final line"

build_id=$(job_id_of "$out" build)
module_id=$(job_id_of "$out" module)
assert_matches "$(bjobs_field "$build_id" "stat exit_code")" '^EXIT\|[1-9][0-9]*$' "bjobs of the build job"
assert_eq "EXIT|TERM_ORPHAN_SYSTEM: orphan job was automatically terminated by LSF" \
  "$(bjobs_field "$module_id" "stat exit_reason")" "bjobs of the module job"
assert_contains "$out" "module  job $module_id  cancelled" "the module stage"
[[ ! -e "$IT_DIR/var/builds/$(ls "$IT_DIR/var/builds")/logs/module.started" ]] ||
  fail "the module job ran"

dir=environments/groups/lsftest/broken-1
assert_eq "builder.out" "$(repo_files "$IT_DIR/var/artifacts.git" main "$dir" | tr -d '\n')" \
  "only builder.out is published"
echo "PASS"
