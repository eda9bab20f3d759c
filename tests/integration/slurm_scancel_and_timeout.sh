#!/bin/bash
# A stage job killed with scancel mid-run ends the build `cancelled`; a stage over its time
# limit ends `timeout`. Both publish builder.out. (The time limit case takes a minute or two:
# Slurm's limits are whole minutes, enforced by a periodic sweep.)
source "$(dirname "$0")/lib/common.bash"
require_slurm

slow_config() { # time limit for the build stage
  write_config slurm <<YAML
  stages:
    build:
      time: $1
container:
  # A build that takes 10 minutes: the real fake build, after a long sleep.
  build_command: [bash, -c, 'sleep 600; exec singularity build "\$@"', slow-build]
YAML
}
printf 'packages:\n  - hello\n' >"$IT_DIR/softpack.yml"

# 1. scancel while the build stage runs.
slow_config 0
"$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/slurmtest/cancelme --version "$$" --wait \
  --config "$IT_DIR/config.yaml" >"$IT_DIR/cancel.txt" 2>&1 &
pid=$!
name="sp.slurmtest.cancelme-$$.build"
wait_for "squeue -h -n $name -o %T | grep -q RUNNING" 60 || fail "the build job never ran"
scancel -n "$name"
rc=0
wait "$pid" || rc=$?
out=$(cat "$IT_DIR/cancel.txt")
echo "$out"
assert_eq 1 "$rc" "exit code after scancel"
assert_contains "$out" "cancelled: stage build cancelled" "final line after scancel"
assert_eq "builder.out" \
  "$(repo_files "$IT_DIR/var/artifacts.git" main "environments/users/slurmtest/cancelme-$$" | tr -d '\n')" \
  "only builder.out is published after scancel"

# 2. A time limit of one minute.
slow_config 1m
rc=0
out=$(timeout 400 "$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/slurmtest/slow --version "$$" \
  --wait --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 1 "$rc" "exit code after the time limit"
assert_contains "$out" "failed: stage build timeout" "final line after the time limit"
id=$(job_id_of "$out" build)
assert_eq "TIMEOUT" "$(sacct -X -n -P -j "$id" -o State)" "sacct state of the timed-out job"
echo "PASS"
