#!/bin/bash
# Jobs removed from Slurm's memory: slurmctld restarted with its state cleared (slurmctld -c,
# as after a lost StateSaveLocation; the same as MinJobAge passing for ended jobs).
#   W, with its result files: the service is down while W's jobs all end; the controller then
#      forgets them and accounting is off (sacct fails, as on a site without slurmdbd): the
#      restarted service decides from the result files and publishes W, exactly once;
#   L, without: L's build stage runs when the controller's state is cleared; Slurm kills it
#      (no result file) and forgets its jobs:
#        with accounting, sacct has them CANCELLED by no user (slurmctld ends, in accounting,
#        the jobs it had when it went down): L's build stage is lost and L ends failed, never
#        `cancelled` (nobody cancelled it);
#        without accounting, nobody knows the jobs: after scheduler.lost_grace they are lost
#        and M ends failed, saying so.
source "$(dirname "$0")/lib/faults.bash"
require_slurm_control

v="$$-$RANDOM"
# sacct as the service runs it: fails like a cluster without accounting while no-accounting exists.
mkdir -p "$IT_DIR/bin"
real_sacct=$(command -v sacct)
cat >"$IT_DIR/bin/sacct" <<WRAP
#!/bin/bash
if [[ -e "$IT_DIR/no-accounting" ]]; then
  echo "sacct: error: Slurm accounting storage is disabled" >&2
  exit 1
fi
exec "$real_sacct" "\$@"
WRAP
chmod +x "$IT_DIR/bin/sacct"
service_config slurm <<YAML
  lost_grace: 6s
container:
  build_command: [bash, -c, 'sleep "\$(cat stage-sleep 2>/dev/null || echo 6)"; exec singularity build "\$@"', slow-build]
YAML
start() { PATH="$IT_DIR/bin:$PATH" start_service; }
trap 'stop_service; cancel_test_jobs; rm -f "$IT_DIR/no-accounting"; restore_cluster' EXIT
repo="$IT_DIR/var/artifacts.git"
builds="$IT_DIR/var/builds"
clear_controller_state() {
  slurmctld_stop
  slurmctld_start -c
  [[ -z $(squeue -h) ]] || fail "jobs left after slurmctld -c: $(squeue)"
}
start

# --- L, with accounting.
l=$(submit_build l "$v")
echo 600 >"$builds/$l/stage-sleep"
wait_build_where "$l" '.stages[1].state == "running"' 90 "L's build stage running"
clear_controller_state
assert_eq failed "$(wait_build "$l" 60)" "L after the controller forgot its jobs"
b=$(build_json "$l")
assert_eq lost "$(jq -r .stages[1].state <<<"$b")" "L's build stage"
[[ -e "$builds/$l/logs/build.result" ]] && fail "L's build stage left a result file"
# Accounting's record of the killed job says CANCELLED with reason None, or with the Dependency
# it once waited for (start and end times vary too): either way the stage is lost.
assert_matches "$(jq -r .error <<<"$b")" '^stage build lost: .*without anyone cancelling it' "L's error"
assert_eq false "$(jq -r .cancel_requested <<<"$b")" "L's cancel_requested"

# --- W (result files, no accounting) and M (no result file, no accounting).
w=$(submit_build w "$v")
m=$(submit_build m "$v")
echo 600 >"$builds/$m/stage-sleep"
wait_build_where "$w" '.stages[1].state == "running"' 90 "W's build stage running"
wait_build_where "$m" '.stages[1].state == "running"' 90 "M's build stage running"
kill9_service
wait_for "[[ -e '$builds/$w/logs/module.result' ]]" 90 || fail "W's module stage never ended"
touch "$IT_DIR/no-accounting"
clear_controller_state
start
assert_eq published "$(wait_build "$w" 60)" "W, from its result files"
assert_eq failed "$(wait_build "$m" 60)" "M, its jobs lost"
b=$(build_json "$m")
assert_eq lost "$(jq -r .stages[1].state <<<"$b")" "M's build stage"
assert_contains "$(jq -r .error <<<"$b")" "no longer knows the job and it left no result file" "M's error"
rm -f "$IT_DIR/no-accounting"

stop_service
assert_published_once "$repo" "$w" "environments/users/faults/w-$v" published "$SUCCESS_FILES"
assert_eq "concretize=completed build=completed module=completed" "$(store_stages "$w")" "W's stages"
assert_published_once "$repo" "$l" "environments/users/faults/l-$v" failed builder.out
assert_published_once "$repo" "$m" "environments/users/faults/m-$v" failed builder.out
assert_eq "concretize=completed build=lost module=lost" "$(store_stages "$m")" "M's stages"
for x in w l m; do
  assert_eq 3 "$(store_sql "SELECT count(DISTINCT job_id) FROM stages WHERE build_id = '${!x}' AND job_id != ''")" \
    "job ids stored for $x"
done
# Accounting keeps W's job names; the jobs the controller forgot lose theirs (JobName
# "allocation"), so only W can be counted by name.
assert_eq 3 "$(jobs_of "w-$v")" "jobs submitted for w"
echo "PASS"
