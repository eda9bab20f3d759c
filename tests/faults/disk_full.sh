#!/bin/bash
# The data directory's filesystem (a small tmpfs) fills up while build A runs on Slurm. Saving
# state fails: the service says so (GET /healthz 503 naming the store, the log, the metric), a
# new request is refused with the reason (nothing is half-accepted), and build A goes on. Once
# space is freed, A's state is saved again and it is published exactly once, and a new request
# is accepted and built. The build directories are on another filesystem (a symlink, as a site
# would put them on shared storage), so that the jobs themselves have room: this is about the
# service's own state (the SQLite store, the publisher's mirror).
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
service_config slurm <<YAML
artifacts:
  repo: $remote
container:
  build_command: [bash, -c, 'sleep "\$(cat stage-sleep 2>/dev/null || echo 4)"; exec singularity build "\$@"', slow-build]
publish:
  retry_initial: 1s
  retry_max: 2s
YAML
trap 'stop_service; cancel_test_jobs; umount "$data" 2>/dev/null || umount -l "$data"' EXIT
start_service

a=$(submit_build a "$v")
echo 15 >"$IT_DIR/builds/$a/stage-sleep"
wait_build_where "$a" '.stages[1].state == "running"' 90 "A's build stage running"
# Fill the filesystem to the last block.
dd if=/dev/zero of="$data/filler" bs=64k >/dev/null 2>&1 || true
dd if=/dev/zero of="$data/filler2" bs=4k >/dev/null 2>&1 || true
assert_eq 0 "$(df --output=avail "$data" | tail -1 | tr -d ' ')" "free space after filling"

# A new request cannot be recorded: refused, with the reason.
r=$(http POST /environments/build -d "{\"name\":\"users/faults/b\",\"version\":\"$v\",\"model\":{\"description\":\"d\",\"packages\":[{\"name\":\"hello\"}]}}")
assert_eq 503 "${r%% *}" "POST while the disk is full"
assert_contains "${r#* }" "full" "the refusal says why"
assert_eq 1 "$(curl -fsS "$URL/builds" | jq length)" "builds known (the refused one is not)"
r=$(http GET /healthz)
assert_eq 503 "${r%% *}" "health while the disk is full"
assert_contains "${r#* }" "store" "health names the store"
assert_matches "$(curl -fsS "$URL/metrics")" 'softpack_store_healthy 0' "metrics"

# A's build stage ends meanwhile: its state cannot be saved; the build goes on regardless.
wait_build_where "$a" '.stages[1].state == "completed"' 60 "A's build stage completed"
assert_matches "$(cat "$IT_DIR/service.log")" "build $a: saving state failed: .*full" "the log"
assert_eq running "$(store_sql "SELECT state FROM stages WHERE build_id = '$a' AND name = 'build'")" \
  "the stored build stage (the save failed)"
# Publishing fails too (the publisher's mirror is in the data directory) and is retried.
wait_build_where "$a" '.destinations[0].attempts >= 1' 90 "a failed publish attempt of A"
assert_eq publishing "$(build_json "$a" | jq -r .state)" "A while the disk is full"
assert_contains "$(build_json "$a" | jq -r .destinations[0].error)" "space" "A's publish error"
rm -f "$data/filler" "$data/filler2"

assert_eq published "$(wait_build "$a" 90)" "A after space was freed"
wait_for "curl -fsS '$URL/healthz' >/dev/null" 10 || fail "still unhealthy: $(http GET /healthz)"
b=$(submit_build b "$v")
assert_eq published "$(wait_build "$b" 120)" "B, requested after space was freed"
stop_service
for x in a b; do
  id=${!x}
  assert_published_once "$remote" "$id" "environments/users/faults/$x-$v" published "$SUCCESS_FILES"
  assert_eq "concretize=completed build=completed module=completed" "$(store_stages "$id")" \
    "the store's stages of $x"
  assert_eq 3 "$(jobs_of "$x-$v")" "jobs submitted for $x"
done
echo "PASS"
