#!/bin/bash
# On LSF: sp-submit interrupted while the build stage runs cancels the build with one bkill of
# all its jobs; an administrator's bkill of a running stage ends the build `cancelled`; a stage
# over its run limit (-W) ends `timeout` (TERM_RUNLIMIT). All publish builder.out only.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/fake_lsf.bash"

# A "minute" of -W lasts 2 s in the fake cluster.
fake_lsf_knob FAKE_SECONDS_PER_MINUTE 2
slow_config() { # time limit for the build stage
  write_lsf_config <<YAML
  stages:
    build:
      time: $1
container:
  # A build that takes 10 minutes: the real fake build, after a long sleep.
  build_command: [bash, -c, 'sleep 600; exec singularity build "\$@"', slow-build]
YAML
}
printf 'packages:\n  - hello\n' >"$IT_DIR/softpack.yml"
published() { repo_files "$IT_DIR/var/artifacts.git" main "environments/users/lsftest/$1" | tr -d '\n'; }

# 1. sp-submit interrupted while the build stage runs.
slow_config 0
"$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/lsftest/interrupted --version 1 --wait \
  --config "$IT_DIR/config.yaml" >"$IT_DIR/interrupt.txt" 2>&1 &
pid=$!
name="sp.lsftest.interrupted-1"
wait_for "bjobs -noheader -o stat -J $name.build 2>/dev/null | grep -q RUN" 30 || fail "the build job never ran"
# Interrupt once sp-submit has seen it run (so it knows concretize has ended): until then it
# would rightly bkill the concretize job too. On a loaded machine its poll comes a little later.
wait_for "grep -qE '  build  job [0-9]+  running' '$IT_DIR/interrupt.txt'" 30 ||
  fail "sp-submit never saw the build job run: $(cat "$IT_DIR/interrupt.txt")"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
out=$(cat "$IT_DIR/interrupt.txt")
echo "$out"
assert_eq 1 "$rc" "exit code after the interrupt"
assert_contains "$out" "cancelled: stage build cancelled" "final line after the interrupt"
build_id=$(job_id_of "$out" build)
module_id=$(job_id_of "$out" module)
assert_eq "[\"bkill\", \"$build_id\", \"$module_id\"]" "$(lsf_calls bkill)" "one bkill for all the build's jobs"
assert_eq "EXIT|TERM_OWNER: job killed by owner" "$(bjobs_field "$build_id" "stat exit_reason")" "the build job"
assert_eq "EXIT" "$(bjobs_field "$module_id" stat)" "the module job"
assert_eq "builder.out" "$(published interrupted-1)" "only builder.out is published after the interrupt"

# 2. An administrator's bkill of the running build stage.
"$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/lsftest/killed --version 1 --wait \
  --config "$IT_DIR/config.yaml" >"$IT_DIR/bkill.txt" 2>&1 &
pid=$!
name="sp.lsftest.killed-1"
wait_for "bjobs -noheader -o stat -J $name.build 2>/dev/null | grep -q RUN" 30 || fail "the build job never ran"
bkill "$(bjobs -noheader -o jobid -J "$name.build")"
rc=0
wait "$pid" || rc=$?
out=$(cat "$IT_DIR/bkill.txt")
echo "$out"
assert_eq 1 "$rc" "exit code after bkill"
assert_contains "$out" "cancelled: stage build cancelled" "final line after bkill"
assert_eq "builder.out" "$(published killed-1)" "only builder.out is published after bkill"
# The job script recorded the termination (bkill sends SIGINT and SIGTERM together).
result="$IT_DIR/var/builds/$(ls -t "$IT_DIR/var/builds" | head -1)/logs/build.result"
assert_contains "$(cat "$result")" "signal=TERM" "the build job's result file"
assert_contains "$(cat "$result")" "exit=143" "the build job's result file"

# 3. A run limit of one (fake, 2 s) minute.
slow_config 1m
rc=0
out=$(timeout 120 "$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/lsftest/slow --version 1 \
  --wait --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 1 "$rc" "exit code after the run limit"
assert_contains "$out" "failed: stage build timeout" "final line after the run limit"
id=$(job_id_of "$out" build)
assert_eq "EXIT|TERM_RUNLIMIT: job killed after reaching LSF run time limit" \
  "$(bjobs_field "$id" "stat exit_reason")" "bjobs of the timed-out job"
assert_contains "$(lsf_calls bsub | grep '"sp.lsftest.slow-1.build"')" '"-W", "1"' "bsub -W"
result="$IT_DIR/var/builds/$(ls -t "$IT_DIR/var/builds" | head -1)/logs/build.result"
assert_contains "$(cat "$result")" "signal=USR2" "the job script saw LSF's SIGUSR2"
assert_eq "builder.out" "$(published slow-1)" "only builder.out is published after the run limit"
echo "PASS"
