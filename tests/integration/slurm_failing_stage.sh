#!/bin/bash
# A failing middle stage on Slurm: the build job fails, the module job is cancelled (sacct shows
# CANCELLED), builder.out alone is published, and sp-submit exits 1.
source "$(dirname "$0")/lib/common.bash"
require_slurm

write_config slurm </dev/null
printf 'description: fails\npackages:\n  - broken-build\n' >"$IT_DIR/softpack.yml"
rc=0
out=$("$SP_SUBMIT" "$IT_DIR/softpack.yml" --name groups/slurmtest/broken --version "$$" --wait \
  --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 1 "$rc" "sp-submit exit code"
assert_contains "$out" "failed: stage build failed" "final line"

build_id=$(job_id_of "$out" build)
module_id=$(job_id_of "$out" module)
assert_eq "FAILED" "$(sacct -X -n -P -j "$build_id" -o State)" "sacct state of the build job"
module_state=$(sacct -X -n -P -j "$module_id" -o State)
assert_contains "$module_state" "CANCELLED" "sacct state of the module job"

dir=environments/groups/slurmtest/broken-$$
assert_eq "builder.out" "$(repo_files "$IT_DIR/var/artifacts.git" main "$dir" | tr -d '\n')" \
  "only builder.out is published"
echo "PASS"
