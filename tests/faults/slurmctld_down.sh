#!/bin/bash
# slurmctld is stopped for 60 s while build A's build stage runs, and build B is requested
# during the outage. Scheduler commands fail meanwhile (squeue, sbatch): they are retried, no
# build fails, and once the controller is back both builds end published, exactly once, each
# stage submitted once.
source "$(dirname "$0")/lib/faults.bash"
require_slurm_control

v="$$-$RANDOM"
service_config slurm <<YAML
  slurm:
    command_timeout: 20s
container:
  build_command: [bash, -c, 'sleep 10; exec singularity build "\$@"', slow-build]
YAML
trap 'stop_service; cancel_test_jobs; restore_cluster' EXIT
start_service

a=$(submit_build a "$v")
wait_build_where "$a" '.stages[1].state == "running"' 90 "A's build stage running"
errors_before=$(curl -fsS "$URL/metrics" | sed -n 's/^softpack_scheduler_command_errors_total //p')
slurmctld_stop
down_at=$SECONDS
timeout 10 squeue -h >/dev/null 2>&1 && fail "squeue still answers with slurmctld stopped"

sleep 5
b=$(submit_build b "$v") # accepted durably; its submission has to wait for the controller
while ((SECONDS - down_at < 60)); do
  for id in "$a" "$b"; do
    state=$(build_json "$id" | jq -r .state)
    [[ $state == failed ]] && fail "build $id failed while the controller was down: $(build_json "$id")"
  done
  sleep 2
done
# A's stage has ended meanwhile (its result file says so), but nothing is decided without the
# scheduler: A waits, and the failures show in the metrics and the log.
assert_eq running "$(build_json "$a" | jq -r .state)" "A while the controller is down"
assert_eq submitting "$(build_json "$b" | jq -r .state)" "B while the controller is down"
errors_after=$(curl -fsS "$URL/metrics" | sed -n 's/^softpack_scheduler_command_errors_total //p')
((errors_after > errors_before)) || fail "no scheduler command errors counted ($errors_before -> $errors_after)"
assert_matches "$(cat "$IT_DIR/service.log")" 'polling slurm failed' "the log"
slurmctld_start

assert_eq published "$(wait_build "$a" 180)" "A after the controller came back"
assert_eq published "$(wait_build "$b" 180)" "B after the controller came back"
stop_service
repo="$IT_DIR/var/artifacts.git"
assert_builds_completed_once "$repo" "$v" a b
echo "PASS"
