#!/bin/bash
# kill -9 of the service in each phase of a build on Slurm, then a restart; every build ends
# published, exactly once, with each stage submitted once:
#   submitting - sbatch of build A's build stage is slow (a wrapper on the service's PATH); the
#                service dies while it runs, the orphaned sbatch still creates the job, and the
#                restarted service finds it (job name + build id) instead of submitting again;
#   queued     - build B's jobs are held (sbatch --hold through the wrapper) when the service dies;
#   running    - at that same moment build A's build stage runs (its container build sleeps);
#   publishing - build C's push hangs in the remote's pre-receive hook when the service dies;
#                the orphaned push may or may not land; publishing again makes no second commit.
source "$(dirname "$0")/lib/faults.bash"
require_slurm

v="$$-$RANDOM"
remote="$IT_DIR/remote.git"
git init -q --bare -b main "$remote"
# A push waits while $IT_DIR/slow-push exists, after saying it has started.
cat >"$remote/hooks/pre-receive" <<HOOK
#!/bin/bash
cat >/dev/null
if [[ -e "$IT_DIR/slow-push" ]]; then
  touch "$IT_DIR/push-started"
  sleep 6
fi
HOOK
chmod +x "$remote/hooks/pre-receive"

install_sbatch_wrapper # held or slow submissions for the job names the test marks

service_config slurm <<YAML
artifacts:
  repo: $remote
container:
  build_command: [bash, -c, 'sleep 6; exec singularity build "\$@"', slow-build]
publish:
  retry_initial: 1s
  retry_max: 2s
YAML
start() { PATH="$IT_DIR/bin:$PATH" start_service; }
trap 'stop_service; cancel_test_jobs' EXIT
start

# --- submitting: the service dies while sbatch of A's build stage runs.
touch "$IT_DIR/slow-sp.faults.a-$v.build"
a=$(submit_build a "$v")
wait_build_where "$a" '.stages[1].state == "submitting"' 60 "A's build stage being submitted"
kill9_service
wait_for "[[ -e '$IT_DIR/sbatch-done-sp.faults.a-$v.build' ]]" 30 || fail "the orphaned sbatch never ended"
assert_eq "submitting" "$(store_sql "SELECT state FROM stages WHERE build_id = '$a' AND name = 'build'")" \
  "the stored state of the stage whose sbatch was cut off"
start
wait_build_where "$a" '.stages[2].job_id != null' 60 "A's module stage submitted after the restart"

# --- queued (B held) and running (A's build stage) at the same time.
touch "$IT_DIR/hold-sp.faults.b-$v.concretize"
b=$(submit_build b "$v")
wait_build_where "$b" '.stages[2].job_id != null and .stages[0].reason == "JobHeldUser"' 60 \
  "B's jobs submitted, the first held"
wait_build_where "$a" '.stages[1].state == "running"' 60 "A's build stage running"
kill9_service
sleep 1
start
b_json=$(build_json "$b")
assert_eq "running pending" "$(jq -r '[.state, .stages[0].state] | join(" ")' <<<"$b_json")" \
  "B after the restart, still held"
scontrol release "$(jq -r '.stages[0].job_id' <<<"$b_json")"

# --- publishing: the service dies while C's push hangs in the remote.
assert_eq published "$(wait_build "$a" 120)" "A"
assert_eq published "$(wait_build "$b" 120)" "B"
touch "$IT_DIR/slow-push"
c=$(submit_build c "$v")
wait_for "[[ -e '$IT_DIR/push-started' ]]" 120 || fail "C's push never started: $(build_json "$c")"
assert_eq publishing "$(build_json "$c" | jq -r .state)" "C while its push hangs"
kill9_service
rm -f "$IT_DIR/slow-push"
sleep 7 # the orphaned push ends (or dies of a closed pipe) before the restart
if git -C "$remote" log main --format=%s | grep -q "faults/c-$v"; then
  echo "the orphaned push of C landed before the restart"
else
  echo "the orphaned push of C did not land"
fi
start
assert_eq published "$(wait_build "$c" 60)" "C"

stop_service
assert_builds_completed_once "$remote" "$v" a b c
assert_eq 3 "$(git -C "$remote" rev-list --count main)" "commits on the remote"
echo "PASS"
