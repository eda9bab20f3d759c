#!/bin/bash
# The data directory's filesystem (a small tmpfs) fills up while builds run on Slurm:
#   A's build stage is running;
#   B was accepted and its first job is being submitted (a slow sbatch).
# Saving state fails: the service says so (GET /healthz 503 naming the store, the log, the
# metric), a new request C is refused with the reason (nothing is half-accepted), A goes on
# (its publishing fails and is retried: the publisher's mirror is in the data directory), and B
# submits nothing more until its write-ahead `submitting` records can be written. Then kill -9,
# space is freed, and a restart: nothing accepted was lost, A and B are published exactly once,
# each stage submitted once, and C, requested again, is built.
# The build directories are on another filesystem (a symlink, as a site would put them on
# shared storage) so that the jobs themselves have room: this is about the service's own state.
source "$(dirname "$0")/lib/faults.bash"
require_slurm
[[ $(id -u) -eq 0 ]] || skip "mounting a tmpfs needs root"

v="$$-$RANDOM"
data="$IT_DIR/var"
mkdir -p "$data"
mount -t tmpfs -o size=8m softpack-fault-test "$data" 2>"$IT_DIR/mount.err" ||
  skip "mount -t tmpfs not permitted here: $(cat "$IT_DIR/mount.err")"
mkdir -p "$IT_DIR/builds"
ln -s "$IT_DIR/builds" "$data/builds"
remote="$IT_DIR/remote.git"
git init -q --bare -b main "$remote"
install_sbatch_wrapper
service_config slurm <<YAML
artifacts:
  repo: $remote
container:
  build_command: [bash, -c, 'sleep "\$(cat stage-sleep 2>/dev/null || echo 4)"; exec singularity build "\$@"', slow-build]
publish:
  retry_initial: 1s
  retry_max: 2s
YAML
start() { PATH="$IT_DIR/bin:$PATH" start_service; }
trap 'stop_service; cancel_test_jobs; umount "$data" 2>/dev/null || umount -l "$data"' EXIT
start
request() { # name
  http POST /environments/build -d "{\"name\":\"users/faults/$1\",\"version\":\"$v\",\"model\":{\"description\":\"d\",\"packages\":[{\"name\":\"hello\"}]}}"
}

a=$(submit_build a "$v")
echo 12 >"$IT_DIR/builds/$a/stage-sleep"
wait_build_where "$a" '.stages[1].state == "running"' 90 "A's build stage running"
touch "$IT_DIR/slow-sp.faults.b-$v.concretize"
b=$(submit_build b "$v")
wait_build_where "$b" '.stages[0].state == "submitting"' 30 "B's first stage being submitted"
# Fill the filesystem to the last block.
dd if=/dev/zero of="$data/filler" bs=64k >/dev/null 2>&1 || true
dd if=/dev/zero of="$data/filler2" bs=4k >/dev/null 2>&1 || true
assert_eq 0 "$(df --output=avail "$data" | tail -1 | tr -d ' ')" "free space after filling"

# A new request cannot be recorded: refused, with the reason.
r=$(request c)
assert_eq 503 "${r%% *}" "POST while the disk is full"
assert_contains "${r#* }" "disk full" "the refusal says why"
assert_eq 2 "$(curl -fsS "$URL/builds" | jq length)" "builds known (the refused one is not)"
r=$(http GET /healthz)
assert_eq 503 "${r%% *}" "health while the disk is full"
assert_contains "${r#* }" "store" "health names the store"
assert_matches "$(curl -fsS "$URL/metrics")" 'softpack_store_healthy 0' "metrics"

# B's next stage waits for its write-ahead record; nothing more of B is submitted.
wait_build_where "$b" '.stages[1].reason | startswith("waiting to record the submission")' 30 \
  "B's build stage waiting for the store"
assert_contains "$(build_json "$b" | jq -r .stages[1].reason)" "disk full" "B's reason"
# A's build stage ends meanwhile: its state cannot be saved; the build goes on regardless, and
# publishing fails (the mirror cannot be written either) and is retried.
wait_build_where "$a" '.destinations[0].attempts >= 1' 60 "a failed publish attempt of A"
assert_eq publishing "$(build_json "$a" | jq -r .state)" "A while the disk is full"
assert_contains "$(build_json "$a" | jq -r .destinations[0].error)" "No space left" "A's publish error"
assert_matches "$(cat "$IT_DIR/service.log")" "build $a: saving state failed: .*disk full" "the log"
assert_eq null "$(build_json "$b" | jq -r .stages[1].job_id)" "B's build stage (not submitted)"

kill9_service
assert_eq "concretize=completed build=running module=pending" "$(store_stages "$a")" \
  "the stored stages of A (saves failed since the disk filled)"
assert_eq "||" "$(store_sql "SELECT group_concat(job_id, '|') FROM stages WHERE build_id = '$b'")" \
  "job ids stored for B"
rm -f "$data/filler" "$data/filler2"
start
assert_eq published "$(wait_build "$a" 90)" "A after space was freed and a restart"
assert_eq published "$(wait_build "$b" 120)" "B after space was freed and a restart"
curl -fsS "$URL/healthz" >/dev/null || fail "still unhealthy: $(http GET /healthz)"
c=$(submit_build c "$v")
assert_eq published "$(wait_build "$c" 120)" "C, requested again"
stop_service
assert_builds_completed_once "$remote" "$v" a b c
echo "PASS"
