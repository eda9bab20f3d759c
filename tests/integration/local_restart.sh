#!/bin/bash
# The local executor after a kill -9 of the service: its jobs are the service's children and do
# not survive it, so the restarted service ends what the dead one left running, keeps the stages
# that had completed, runs the unfinished ones again, and says so in the build and builder.out.
source "$(dirname "$0")/lib/common.bash"

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
# The build stage records its pid and sleeps as long as $IT_DIR/sleep says.
echo 300 >"$IT_DIR/sleep"
write_config <<YAML
container:
  build_command: [bash, -c, 'echo \$\$ >>"$IT_DIR/build-pids"; sleep "\$(cat "$IT_DIR/sleep")"; exec singularity build "\$@"', build]
server:
  address: 127.0.0.1
  port: $PORT
YAML
trap 'stop_service; [[ -s "$IT_DIR/build-pids" ]] && kill -KILL $(cat "$IT_DIR/build-pids") 2>/dev/null || true' EXIT
start_service

r=$(http POST /environments/build -d '{"name":"users/alice/restart-env","version":"1","model":{"description":"restart","packages":[{"name":"xxhash","version":"0.8.1"}]}}')
assert_eq 200 "${r%% *}" "POST /environments/build"
id=$(jq -r .id <<<"${r#* }")
wait_for "[[ -s '$IT_DIR/build-pids' ]]" 60 || fail "the build stage did not start"
stage_state() { curl -fsS "$URL/builds/$id" | jq -r ".stages[] | select(.name==\"$1\") | .$2"; }
wait_for "[[ \$(stage_state build state) == running ]]" 20 || fail "the build stage is not running"
concretize_job=$(stage_state concretize job_id)
assert_eq completed "$(stage_state concretize state)" "concretize before the kill"
old_build_pid=$(head -1 "$IT_DIR/build-pids")
kill -0 "$old_build_pid" || fail "the build stage's process is not running"

# kill -9: the build stage's process runs on, orphaned.
kill -KILL "$SERVICE_PID"
wait "$SERVICE_PID" 2>/dev/null || true
kill -0 "$old_build_pid" 2>/dev/null || fail "the orphaned stage ended by itself; the test needs it running"
echo 0 >"$IT_DIR/sleep"
start_service

# The restarted service ended the orphan at once, rather than letting two runs share the build
# directory.
wait_for "! kill -0 $old_build_pid 2>/dev/null" 10 || fail "the orphaned build stage still runs"
assert_eq published "$(wait_build "$id" 120)" "the build after the restart"
b=$(curl -fsS "$URL/builds/$id")
assert_eq "$concretize_job" "$(jq -r '.stages[] | select(.name=="concretize") | .job_id' <<<"$b")" \
  "the completed concretize stage is kept, not run again"
assert_eq 2 "$(wc -l <"$IT_DIR/build-pids")" "the build stage ran twice (once per service run)"
grep -q "these stages run again: build (job " "$IT_DIR/service.log" ||
  fail "the log does not say which stages run again"
out=$(find "$IT_DIR/var" -path "*$id*/out/builder.out" | head -1)
[[ -f "$out" ]] || fail "no builder.out"
assert_matches "$(sed '/^$/q' "$out")" \
  '^restarted: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z the service restarted; these stages run again: build \(job local-[0-9a-f]+-2\), module \(job local-[0-9a-f]+-3\)$' \
  "builder.out's header notes the restart"
assert_contains "$(sed '/^$/q' "$out")" "outcome: succeeded" "builder.out's outcome"
[[ -z "$(ls "$IT_DIR/var/local-jobs/"*/ 2>/dev/null)" ]] ||
  fail "records of ended jobs are left in var/local-jobs: $(ls -R "$IT_DIR/var/local-jobs")"

# 2. A stage that finishes while the service is down: its result file says so, and it is kept,
# not run again (nor is the new job judged by the old result).
echo 4 >"$IT_DIR/sleep"
: >"$IT_DIR/build-pids"
r=$(http POST /environments/build -d '{"name":"users/alice/restart-env","version":"2","model":{"description":"restart","packages":[{"name":"xxhash","version":"0.8.1"}]}}')
assert_eq 200 "${r%% *}" "POST /environments/build (2)"
id=$(jq -r .id <<<"${r#* }")
wait_for "[[ -s '$IT_DIR/build-pids' ]]" 60 || fail "the second build's build stage did not start"
wait_for "[[ \$(stage_state build state) == running ]]" 20 || fail "the second build stage is not running"
old_build_pid=$(head -1 "$IT_DIR/build-pids")
kill -KILL "$SERVICE_PID"
wait "$SERVICE_PID" 2>/dev/null || true
wait_for "! kill -0 $old_build_pid 2>/dev/null" 60 || fail "the orphaned build stage did not finish"
echo 0 >"$IT_DIR/sleep"
start_service
assert_eq published "$(wait_build "$id" 120)" "the second build after the restart"
assert_eq 1 "$(wc -l <"$IT_DIR/build-pids")" "the build stage that finished while the service was down ran once"
assert_eq "completed while the service was down" \
  "$(curl -fsS "$URL/builds/$id" | jq -r '.stages[] | select(.name=="build") | .reason')" \
  "the build stage's reason"
echo "PASS"
