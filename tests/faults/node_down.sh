#!/bin/bash
# The node is set DOWN while a build's build stage runs, then resumed. On Slurm 22.05 the
# running job ends NODE_FAIL at once (squeue reason NodeDown); the stage's script gets TERM.
#   requeue: false (the default, --no-requeue) - the stage is node_fail with Slurm's reason, the
#            rest of the build is cancelled, and the build ends failed, builder.out published once;
#   requeue: true (--requeue) - Slurm requeues the job, which runs again once the node is back,
#            and the build ends published, exactly once.
source "$(dirname "$0")/lib/faults.bash"
require_slurm_control

v="$$-$RANDOM"
trap 'stop_service; cancel_test_jobs; restore_cluster' EXIT
repo="$IT_DIR/var/artifacts.git"

node_down_during_build() { # id
  wait_build_where "$1" '.stages[1].state == "running"' 90 "the build stage running"
  scontrol update nodename="$NODE" state=down reason=softpack-fault-test
  sleep 3
  scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true # may be back already
  restore_cluster
}

for requeue in false true; do
  service_config slurm <<YAML
  slurm:
    requeue: $requeue
container:
  build_command: [bash, -c, 'sleep "\$(cat stage-sleep 2>/dev/null || echo 8)"; exec singularity build "\$@"', slow-build]
YAML
  start_service
  name=nd-$requeue
  id=$(submit_build "$name" "$v")
  node_down_during_build "$id"
  if [[ $requeue == false ]]; then
    assert_eq failed "$(wait_build "$id" 90)" "the build after its node went down"
    b=$(build_json "$id")
    assert_eq node_fail "$(jq -r .stages[1].state <<<"$b")" "the build stage"
    assert_eq NodeDown "$(jq -r .stages[1].reason <<<"$b")" "the build stage's reason (Slurm's)"
    # The script's result file (exit 143, TERM) may or may not be read before squeue's answer.
    assert_matches "$(jq -r .error <<<"$b")" '^stage build node_fail: NodeDown( \(exit code 143\))?$' \
      "the build's error"
    assert_eq cancelled "$(jq -r .stages[2].state <<<"$b")" "the module stage"
    stop_service
    assert_published_once "$repo" "$id" "environments/users/faults/$name-$v" failed builder.out
    assert_matches "$(git -C "$repo" show "main:environments/users/faults/$name-$v/builder.out")" \
      "==> stage build \(job [0-9]+\): node_fail(, exit code 143)?, NodeDown" "builder.out"
    assert_eq "concretize=completed build=node_fail module=cancelled" "$(store_stages "$id")" \
      "the store's stages"
    assert_eq 3 "$(jobs_of "$name-$v")" "jobs submitted"
  else
    # Slurm holds a requeued job back for a while (BeginTime, about two minutes): the stage
    # shows it, and the test lets the job start at once.
    wait_build_where "$id" '.stages[1].state == "pending" and .stages[1].reason == "BeginTime"' 30 \
      "the requeued build stage waiting"
    scontrol update jobid="$(build_json "$id" | jq -r .stages[1].job_id)" starttime=now
    assert_eq published "$(wait_build "$id" 120)" "the build after its node went down and back"
    stop_service
    assert_published_once "$repo" "$id" "environments/users/faults/$name-$v" published "$SUCCESS_FILES"
    assert_eq "concretize=completed build=completed module=completed" "$(store_stages "$id")" \
      "the store's stages"
    assert_eq 3 "$(jobs_of "$name-$v")" "jobs submitted (the requeued one once)"
    assert_matches "$(sacct -X -n -P -D -S now-1hour -o JobName,State | grep "^sp.faults.$name-$v.build|")" \
      'NODE_FAIL|REQUEUED' "the build stage's job was requeued"
  fi
done
echo "PASS"
