#!/bin/bash
# kill -9 of the service while a build's jobs run on Slurm; after a restart the service
# re-attaches to the jobs, and the build completes and is published exactly once. The jobs'
# comments say who asked (`<build id> by <who>`).
source "$(dirname "$0")/lib/common.bash"
require_slurm

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
write_config slurm <<YAML
container:
  build_command: [bash, -c, 'sleep 8; exec singularity build "\$@"', slow-build]
server:
  address: 127.0.0.1
  port: $PORT
YAML
trap stop_service EXIT
start_service
version=$$
r=$(http POST /environments/build -d "{\"name\":\"users/slurmtest/restart\",\"version\":\"$version\",\"model\":{\"description\":\"d\",\"packages\":[{\"name\":\"hello\"}]}}")
assert_eq 200 "${r%% *}" "POST"
id=$(jq -r .id <<<"${r#* }")
wait_for "curl -fsS '$URL/builds/$id' | jq -e '.stages[1].state == \"running\"' >/dev/null" 60 ||
  fail "the build stage never ran: $(curl -fsS "$URL/builds/$id")"
# The job's comment names who asked: softpack-core, by the address rule (loopback here).
assert_eq "$id by softpack-core 127.0.0.1" \
  "$(squeue -h -o '%k' -n "sp.slurmtest.restart-$version.build")" "the build job's comment (squeue %k)"
kill -KILL "$SERVICE_PID"
wait "$SERVICE_PID" 2>/dev/null || true
sleep 1
start_service
assert_eq published "$(wait_build "$id" 120)" "state after the restart"
repo="$IT_DIR/var/artifacts.git"
assert_eq 1 "$(git -C "$repo" rev-list --count main -- "environments/users/slurmtest/restart-$version")" \
  "commits for the environment (published exactly once)"
# Each stage was submitted once: three jobs with the build's names.
assert_eq 3 "$(sacct -X -n -P -S now-1hour -o JobName | grep -c "^sp.slurmtest.restart-$version\.")" \
  "jobs submitted for the build"
echo "PASS"
