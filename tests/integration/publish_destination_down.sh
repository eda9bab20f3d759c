#!/bin/bash
# The artifacts repository is unreachable when a build's jobs end: the build waits in
# `publishing`, retrying with backoff, shows the error in GET /builds/ID, survives kill -9 of
# the service, and once the repository is back ends `published` with exactly one commit.
source "$(dirname "$0")/lib/common.bash"

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
remote="$IT_DIR/remote.git" # does not exist yet: every push fails
write_config <<YAML
artifacts:
  repo: $remote
publish:
  destinations: [git]
  retry_initial: 300ms
  retry_max: 1s
server:
  address: 127.0.0.1
  port: $PORT
YAML
trap stop_service EXIT
start_service

r=$(http POST /environments/build -d '{"name":"users/alice/down","version":"1","model":{"description":"d","packages":[{"name":"hello"}]}}')
assert_eq 200 "${r%% *}" "POST"
id=$(jq -r .id <<<"${r#* }")

wait_for "curl -fsS '$URL/builds/$id' | jq -e '.destinations[0].attempts >= 2' >/dev/null" 60 ||
  fail "no failed publish attempts recorded: $(curl -fsS "$URL/builds/$id")"
b=$(curl -fsS "$URL/builds/$id")
assert_eq publishing "$(jq -r .state <<<"$b")" "state while the repository is down"
assert_eq git "$(jq -r '.destinations[0].name' <<<"$b")" "destination"
assert_eq pending "$(jq -r '.destinations[0].state' <<<"$b")" "destination state"
assert_contains "$(jq -r '.destinations[0].error' <<<"$b")" "$remote" "the error names the remote"
assert_matches "$(curl -fsS "$URL/metrics")" 'softpack_publish_retrying\{destination="git"\} 1' \
  "metrics"
# The jobs have ended: BuildDone is set while publishing is retried (go-softpack-builder sets it
# when its job ends, before uploading), so softpack-core does not show the build as building.
assert_matches "$(curl -fsS "$URL/environments/status" | jq -r '.[0].BuildDone')" \
  '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "BuildDone while publishing"

# kill -9 while retrying; the repository comes back while the service is down.
kill -KILL "$SERVICE_PID"
wait "$SERVICE_PID" 2>/dev/null || true
attempts_before=$(jq -r '.destinations[0].attempts' <<<"$b")
git init -q --bare -b main "$remote"
start_service
assert_eq published "$(wait_build "$id" 60)" "state after the repository came back"
b=$(curl -fsS "$URL/builds/$id")
assert_eq published "$(jq -r '.destinations[0].state' <<<"$b")" "destination state"
(($(jq -r '.destinations[0].attempts' <<<"$b") > attempts_before)) || fail "attempts not kept: $b"
commit=$(git -C "$remote" rev-parse main)
assert_eq "$commit" "$(jq -r '.destinations[0].reference' <<<"$b")" "reference is the commit"
assert_eq 1 "$(git -C "$remote" rev-list --count main)" "commits on the remote (no duplicate)"
files=$(repo_files "$remote" main environments/users/alice/down-1 | tr '\n' ' ')
assert_eq ".built_by_softpack README.md builder.out module singularity.def softpack.yml spack.lock " \
  "$files" "published files"
# Another restart publishes nothing again.
stop_service
start_service
sleep 1
assert_eq 1 "$(git -C "$remote" rev-list --count main)" "commits after another restart"
echo "PASS"
