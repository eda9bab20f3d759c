#!/bin/bash
# The real service binary on 127.0.0.1, driven over HTTP: go-softpack-builder's build request
# and status array, tokens, limits, errors, the GitLab webhook (exactly one build per push, none
# for a duplicate delivery or a wrong token), and a clean stop on SIGTERM.
source "$(dirname "$0")/lib/common.bash"

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
echo "gitlab-secret" >"$IT_DIR/gitlab.token"
write_config </dev/null
cat >>"$IT_DIR/config.yaml" <<YAML
container:
  # A build stage that takes a few seconds, so a second request arrives while it runs.
  build_command: [bash, -c, 'sleep 3; exec singularity build "\$@"', slow-build]
server:
  address: 127.0.0.1
  port: $PORT
  gitlab_token_file: $IT_DIR/gitlab.token
  max_body: 1M
  # No softpack-core here (the default, loopback, would let these requests in without a token).
  core_clients: [192.0.2.0/24]
YAML
export SOFTPACK_API_TOKEN="api-secret"
trap stop_service EXIT
start_service

request='{"name":"users/alice/web-env","version":"1","model":{"description":"from softpack-core","packages":[{"name":"xxhash","version":"0.8.1"},{"name":"hello","version":""}]}}'

# Without the token: 401 and nothing started.
r=$(http POST /environments/build -d "$request")
assert_eq 401 "${r%% *}" "POST without a token"
assert_eq "[]" "$(curl -fsS "$URL/builds")" "builds after a refused request"
r=$(http POST /environments/build -H 'Authorization: Bearer wrong' -d "$request")
assert_eq 401 "${r%% *}" "POST with a wrong token"

AUTH=(-H "Authorization: Bearer $SOFTPACK_API_TOKEN")
r=$(http POST /environments/build "${AUTH[@]}" -d "$request")
assert_eq 200 "${r%% *}" "POST /environments/build"
id=$(jq -r .id <<<"${r#* }")
[[ -n "$id" && "$id" != null ]] || fail "no build id in ${r#* }"

# The same environment and version again while it builds: the same build.
r=$(http POST /environments/build "${AUTH[@]}" -d "$request")
assert_eq 200 "${r%% *}" "second POST"
assert_eq "$id" "$(jq -r .id <<<"${r#* }")" "a second request joins the first build"
assert_eq true "$(jq -r .existing <<<"${r#* }")" "existing flag"

# Bad input: 400 naming the field, nothing started.
r=$(http POST /environments/build "${AUTH[@]}" -d '{"name":"users/alice/x","version":"1","model":{"packages":[{"name":"a;b"}]}}')
assert_eq 400 "${r%% *}" "POST with a bad package"
assert_contains "${r#* }" "packages[0]" "400 names the field"
r=$(http POST /environments/build "${AUTH[@]}" -d '{not json')
assert_eq 400 "${r%% *}" "POST with bad JSON"
jq -e .error <<<"${r#* }" >/dev/null || fail "error body is not JSON: ${r#* }"
head -c 2000000 /dev/zero | tr '\0' 'x' >"$IT_DIR/big.json"
r=$(http POST /environments/build "${AUTH[@]}" --data-binary "@$IT_DIR/big.json")
assert_eq 413 "${r%% *}" "an oversized body"
r=$(http GET /nowhere)
assert_eq 404 "${r%% *}" "unknown route"
r=$(http PUT /environments/status)
assert_eq 405 "${r%% *}" "wrong method"
assert_eq 1 "$(curl -fsS "$URL/builds" | jq length)" "builds after the refused requests"

assert_eq published "$(wait_build "$id" 120)" "build state"
# Every time in a build's status is RFC 3339 in UTC (softpack-core and jq's fromdateiso8601 read
# them), and they are in order.
b=$(curl -fsS "$URL/builds/$id")
times=$(jq -r '[.requested, .started, .done] + [.stages[] | .submitted, .started, .ended] | .[]' <<<"$b")
while read -r t; do
  assert_matches "$t" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' "RFC 3339 time"
done <<<"$times"
jq -e '(.requested | sub("\\.[0-9]+";"") | fromdateiso8601) <= (.done | sub("\\.[0-9]+";"") | fromdateiso8601)' <<<"$b" >/dev/null ||
  fail "requested after done: $b"

# The status array, byte-compatible with go-softpack-builder's shape.
status=$(curl -fsS "$URL/environments/status")
echo "$status"
/usr/bin/python3 - "$status" <<'PY' || fail "status array shape"
import json, re, sys
a = json.loads(sys.argv[1])
assert isinstance(a, list) and len(a) == 1, a
e = a[0]
assert list(e.keys()) == ["Name", "Requested", "BuildStart", "BuildDone"], e.keys()
assert e["Name"] == "users/alice/web-env-1", e
rfc = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
for k in ("Requested", "BuildStart", "BuildDone"):
    assert isinstance(e[k], str) and rfc.match(e[k]), (k, e[k])
PY
repo="$IT_DIR/var/artifacts.git"
assert_eq 1 "$(git -C "$repo" rev-list --count main -- environments/users/alice/web-env-1)" \
  "commits for the environment"

# The GitLab webhook: someone pushes a new softpack.yml to the artifacts repo.
clone="$IT_DIR/clone"
git clone -q "$repo" "$clone"
mkdir -p "$clone/environments/groups/hgi/hooked-2"
printf 'description: via webhook\npackages:\n  - hello\n' >"$clone/environments/groups/hgi/hooked-2/softpack.yml"
git -C "$clone" add -A
git -C "$clone" -c user.name=Carol -c user.email=carol@example.org commit -qm "Add hooked-2"
git -C "$clone" push -q origin main
sha=$(git -C "$clone" rev-parse HEAD)
before=$(git -C "$clone" rev-parse HEAD^)
payload=$(jq -n --arg sha "$sha" --arg before "$before" '{
  object_kind: "push", event_name: "push", ref: "refs/heads/main", before: $before, after: $sha,
  checkout_sha: $sha, user_name: "Carol", project: {path_with_namespace: "hgi/softpack-artifacts"},
  commits: [{id: $sha, message: "Add hooked-2\n", author: {name: "Carol", email: "carol@example.org"},
             added: ["environments/groups/hgi/hooked-2/softpack.yml"], modified: [], removed: []}],
  total_commits_count: 1}')
hook() { # token uuid
  http POST /webhooks/gitlab -H "X-Gitlab-Event: Push Hook" -H "X-Gitlab-Token: $1" \
    -H "X-Gitlab-Event-UUID: $2" -H 'Content-Type: application/json' -d "$payload"
}
r=$(hook wrong-secret uuid-0)
assert_eq 401 "${r%% *}" "webhook with a wrong token"
r=$(hook gitlab-secret uuid-1)
assert_eq 202 "${r%% *}" "webhook delivery"
wait_for "curl -fsS '$URL/builds' | jq -e 'map(select(.name == \"groups/hgi/hooked-2\")) | length == 1' >/dev/null" 30 ||
  fail "the webhook started no build: $(curl -fsS "$URL/builds")"
r=$(hook gitlab-secret uuid-1)
assert_eq 202 "${r%% *}" "duplicate delivery"
assert_contains "${r#* }" "duplicate" "duplicate delivery is recognised"
hook_id=$(curl -fsS "$URL/builds" | jq -r 'map(select(.name == "groups/hgi/hooked-2"))[0].id')
assert_eq published "$(wait_build "$hook_id" 120)" "webhook build state"
sleep 1
assert_eq 1 "$(curl -fsS "$URL/builds" | jq 'map(select(.name == "groups/hgi/hooked-2")) | length')" \
  "exactly one build for the push"
assert_eq 2 "$(curl -fsS "$URL/builds" | jq length)" "builds in all (no build from our own commits)"


# A user submits through the service with sp-submit and follows the build.
printf 'description: via sp-submit\npackages:\n  - xxhash\n' >"$IT_DIR/mine.yml"
out=$("$SP_SUBMIT" "$IT_DIR/mine.yml" --name users/bob/cli-env --version 1 --server "$URL" --wait \
  --config "$IT_DIR/config.yaml" 2>&1) || fail "sp-submit --server exited $?: $out"
echo "$out"
assert_contains "$out" "module  job " "sp-submit --server shows stage progress"
assert_contains "$out" "published" "sp-submit --server final state"
# Admin commands.
status_out=$("$SOFTPACK_BUILDER" status --json --server "$URL" --config "$IT_DIR/config.yaml")
assert_eq 3 "$(jq length <<<"$status_out")" "softpack-builder status lists the builds"
rc=0
"$SOFTPACK_BUILDER" cancel no-such-build --server "$URL" --config "$IT_DIR/config.yaml" >/dev/null || rc=$?
assert_eq 2 "$rc" "cancel of an unknown build"

metrics=$(curl -fsS "$URL/metrics")
assert_contains "$metrics" 'softpack_builds{state="published"} 3' "metrics"

kill -TERM "$SERVICE_PID"
rc=0
wait "$SERVICE_PID" || rc=$?
assert_eq 0 "$rc" "exit status after SIGTERM"
echo "PASS"
