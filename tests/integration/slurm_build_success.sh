#!/bin/bash
# A full build through sp-submit --wait on the local Slurm cluster: the three stage jobs are
# visible in squeue by name, chained with afterok dependencies, they complete, and the
# artifacts are published.
source "$(dirname "$0")/lib/common.bash"
require_slurm

# --begin holds the first stage a few seconds so the chain can be seen waiting in squeue.
write_config slurm <<'YAML'
  stages:
    concretize:
      extra_args: ["--begin=now+4"]
YAML
printf 'description: slurm test\npackages:\n  - xxhash@0.8.1\n' >"$IT_DIR/softpack.yml"

"$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/slurmtest/chain --version "$$" --wait \
  --config "$IT_DIR/config.yaml" >"$IT_DIR/out.txt" 2>&1 &
pid=$!

name_prefix="sp.slurmtest.chain-$$"
wait_for "squeue -h -o '%j %E' | grep -q '^$name_prefix.module afterok:'" 20 ||
  fail "squeue never showed the module job with an afterok dependency: $(squeue -h -o '%i %j %T %E')"
queue=$(squeue -h -o '%j|%T|%E' | grep "^$name_prefix\.")
echo "$queue"
assert_contains "$queue" "$name_prefix.concretize|PENDING|" "squeue shows the concretize job"
assert_contains "$queue" "$name_prefix.build|PENDING|afterok:" "squeue shows build after concretize"
assert_contains "$queue" "$name_prefix.module|PENDING|afterok:" "squeue shows module after build"

rc=0
wait "$pid" || rc=$?
out=$(cat "$IT_DIR/out.txt")
echo "$out"
assert_eq 0 "$rc" "sp-submit exit code"
assert_contains "$out" "published" "final state"

for stage in concretize build module; do
  id=$(job_id_of "$out" "$stage")
  [[ -n "$id" ]] || fail "no job id for $stage in the output"
  acct=$(sacct -X -n -P -j "$id" -o JobName,State,ExitCode)
  assert_eq "$name_prefix.$stage|COMPLETED|0:0" "$acct" "sacct for $stage"
done
dir=environments/users/slurmtest/chain-$$
files=$(repo_files "$IT_DIR/var/artifacts.git" main "$dir" | tr '\n' ' ')
assert_eq ".built_by_softpack README.md builder.out module singularity.def softpack.yml spack.lock " \
  "$files" "published files"
echo "PASS"
