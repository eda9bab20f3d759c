#!/bin/bash
# softpack-builder next to softpack-core, as core really works (issue 12): the stand-in in
# tests/support/softpack_core/ follows core's published code (its clone made once and never
# fetched, the commits and pushes of environment creation and /upload, the call to
# POST /environments/build, /resend-pending-builds). The real service builds with the local
# scheduler and the fakes, publishes to [install, core], and after each case core's view of the
# environment is checked: state, failure_reason, the files (core's meta.yml and softpack.yml
# kept), and that none of core's pushes was refused.
#   1. a successful build                    4. a failed environment created again (core
#   2. a concretization failure                 removes it and reuses the version)
#   3. a build failure                       5. core restarted with pending builds, the
#   6. core down while the builder uploads      builder started after it (its resend)
#   7. an API token set: core, which sends no credentials, still gets its builds and status
#   8. the default destinations with core.url set, and artifacts.repo naming core's repository:
#      the builder uploads to core and never writes the repository itself
#  10. core commits an upload but its answer comes too late: the retry gets core's 500 for an
#      upload that changes nothing, and the builder confirms the files in core's repository
#   9. the check itself: a second writer of the repository makes core's push fail, and the
#      stand-in reports it
# Core's build-status page (its reading of GET /environments/status) is checked on the way.
source "$(dirname "$0")/lib/common.bash"

STANDIN="$SOFTPACK_SOURCE_DIR/tests/support/softpack_core/softpack_core_standin.py"
/usr/bin/python3 -c 'import fastapi, uvicorn, multipart' 2>/dev/null ||
  fail "the softpack-core stand-in needs Debian's python3-fastapi, python3-uvicorn and python3-multipart (scripts/test installs them)"

CORE_PID=
cleanup() {
  stop_service
  stop_core
}
trap cleanup EXIT

# The artifacts repository, with one commit on main (core clones a branch).
ART="$IT_DIR/artifacts.git"
git init -q --bare -b main "$ART"
export GIT_AUTHOR_NAME=tester GIT_AUTHOR_EMAIL=tester@localhost
export GIT_COMMITTER_NAME=tester GIT_COMMITTER_EMAIL=tester@localhost
blob=$(echo "softpack artifacts" | git -C "$ART" hash-object -w --stdin)
tree=$(printf '100644 blob %s\tREADME.md\n' "$blob" | git -C "$ART" mktree)
git -C "$ART" update-ref refs/heads/main "$(git -C "$ART" commit-tree "$tree" -m "initial")"

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
CORE_PORT=$(free_port)
CORE="http://127.0.0.1:$CORE_PORT"
EVENTS="$IT_DIR/core-events.jsonl"

start_core() { # [stand-in options...]
  rm -f "$IT_DIR/core.port"
  /usr/bin/python3 "$STANDIN" --artifacts "$ART" --clone "$IT_DIR/core-clone" \
    --builder-host 127.0.0.1 --builder-port "$PORT" --port "$CORE_PORT" \
    --port-file "$IT_DIR/core.port" --events "$EVENTS" "$@" >>"$IT_DIR/core.log" 2>&1 &
  CORE_PID=$!
  wait_for "[[ -s '$IT_DIR/core.port' ]] && curl -fsS '$CORE/standin/git' >/dev/null 2>&1" 30 ||
    fail "the softpack-core stand-in did not start: $(tail -20 "$IT_DIR/core.log")"
}

stop_core() {
  if [[ -n "$CORE_PID" ]] && kill -0 "$CORE_PID" 2>/dev/null; then
    kill -TERM "$CORE_PID"
    wait "$CORE_PID" || true
  fi
  CORE_PID=
}

# Core's view of an environment (as its from_artifact reads it from its clone).
core_view() { curl -fsS "$CORE/standin/environment?$1"; }
core_events() { curl -fsS "$CORE/standin/events" | jq -c "[.[] | $1]"; }

# POST /create-environment as core's UI does (GraphQL createEnvironment does the same).
create_env() { # name packages-json [username]
  curl -sS -X POST "$CORE/create-environment" -H 'Content-Type: application/json' \
    -d "{\"name\":\"$1\",\"path\":\"users/alice\",\"description\":\"conformance test: $1\",\"packages\":$2,\"username\":\"${3:-alice}\",\"tags\":[\"conformance\"]}"
}

# Waits until core's view of an environment has left `queued` (the builder uploaded to it).
wait_core_done() { # env-path seconds
  wait_for "core_view '$1' | jq -e '.state == \"ready\" or .state == \"failed\"' >/dev/null" "$2" ||
    fail "$1: core's view did not leave 'queued' within $2 s: $(core_view "$1"); builder: $(curl -sS "$URL/builds" | head -c 3000)"
}

# Core's view after a build: state, failure_reason, files present (and absent), core's own
# meta.yml fields, and the user's softpack.yml still readable by core.
assert_core_env() { # env-path state failure_reason(or null) files-that-must-be-there...
  local env=$1 state=$2 reason=$3 view f base
  shift 3
  view=$(core_view "$env")
  assert_eq true "$(jq -r .visible <<<"$view")" "$env: visible in core (its from_artifact reads it; view: $view)"
  assert_eq "$state" "$(jq -r .state <<<"$view")" "$env: core's state"
  assert_eq "$reason" "$(jq -r .failure_reason <<<"$view")" "$env: core's failure_reason"
  for f in .built_by_softpack softpack.yml meta.yml "$@"; do
    jq -e --arg f "$f" '.files | index($f)' <<<"$view" >/dev/null ||
      fail "$env: $f missing from core's environment folder: $(jq -c .files <<<"$view")"
  done
  if [[ "$state" == failed ]]; then
    jq -e '.files | index("module") | not' <<<"$view" >/dev/null ||
      fail "$env: a failed environment has a module: $(jq -c .files <<<"$view")"
  fi
  assert_eq '["conformance"]' "$(jq -c .meta.tags <<<"$view")" "$env: meta.yml tags kept"
  jq -e '.meta.created | type == "number" and . > 0' <<<"$view" >/dev/null ||
    fail "$env: meta.yml lost 'created': $(jq -c .meta <<<"$view")"
  assert_eq null "$(jq -r .meta.username <<<"$view")" "$env: meta.yml username (core removes it once built or failed)"
  base=${env##*/}
  assert_contains "$(jq -r .description <<<"$view")" "conformance test: ${base%-*}" \
    "$env: softpack.yml description"
  jq -e '.packages | length > 0' <<<"$view" >/dev/null ||
    fail "$env: softpack.yml has no packages: $(jq -c .packages <<<"$view")"
}

# None of core's pushes was refused, and its clone, its remote-tracking branch and the
# repository agree.
assert_no_rejected_push() { # what
  local git
  git=$(curl -fsS "$CORE/standin/git")
  assert_eq 0 "$(jq '.rejected_pushes | length' <<<"$git")" "$1: core's refused pushes ($(jq -c .rejected_pushes <<<"$git"))"
  assert_eq "$(jq -r .remote <<<"$git")" "$(jq -r .local <<<"$git")" "$1: core's branch = the repository's"
  assert_eq "$(jq -r .remote <<<"$git")" "$(jq -r .tracking <<<"$git")" "$1: core's remote-tracking branch = the repository's"
  assert_eq "$(git -C "$ART" rev-parse main)" "$(jq -r .remote <<<"$git")" "$1: the repository's main"
}

# The builder's build of an environment (its latest).
builder_build() { # env-path
  curl -fsS "$URL/builds" | jq -c --arg n "$1" '[.[] | select(.name == $n)] | last'
}

# Core's build-status page: it must read the builder's GET /environments/status (a failed read
# shows as an empty page in core, so the stand-in's event log is checked too), and nothing is
# queued or building once the builds are done.
assert_build_status_idle() { # what
  local r failed_before
  failed_before=$(core_events 'select(.kind == "build_status" and .ok == false)' | jq length)
  r=$(curl -sS -X POST "$CORE/build-status" -w ' %{http_code}')
  assert_eq 200 "${r##* }" "$1: core's /build-status ($r)"
  r=${r% *}
  assert_eq "$failed_before" "$(core_events 'select(.kind == "build_status" and .ok == false)' | jq length)" \
    "$1: core could not read the builder's status: $(core_events 'select(.kind == "build_status")' | jq -c last)"
  assert_eq '[] []' "$(jq -c '.queue, .building' <<<"$r" | paste -sd' ')" "$1: core's queue and building lists"
  jq -e '.avgBuildSeconds | type == "number" and . >= 0' <<<"$r" >/dev/null ||
    fail "$1: core's average build time: $r"
  jq -e '[.[].Name] | length == (unique | length)' <<<"$(curl -fsS "$URL/environments/status")" >/dev/null ||
    fail "$1: GET /environments/status lists an environment twice (core averages and lists duplicates): $(curl -fsS "$URL/environments/status")"
}

# core's uploads of an environment: their status and file order.
uploads_of() { core_events "select(.kind == \"upload\" and .environment == \"$1\")"; }

write_config <<YAML
core:
  url: $CORE
publish:
  destinations: [install, core]
  retry_initial: 300ms
  retry_max: 1s
server:
  address: 127.0.0.1
  port: $PORT
YAML

start_core
start_service
wait_for "[[ \$(core_events 'select(.kind == \"resend\")' | jq length) -ge 1 ]]" 20 ||
  fail "the builder did not ask core to resend pending builds at start"

# 1. A successful build: ready, no failure_reason, every file, core's meta.yml kept.
r=$(create_env good '[{"name":"xxhash","version":"0.8.1"}]')
assert_eq '{"message":"Successfully scheduled environment creation"}' "$r" "create good"
wait_core_done users/alice/good-1 120
assert_core_env users/alice/good-1 ready null module builder.out spack.lock singularity.def README.md
up=$(uploads_of users/alice/good-1)
assert_eq 1 "$(jq length <<<"$up")" "good-1: uploads ($up)"
assert_eq 200 "$(jq -r '.[0].status' <<<"$up")" "good-1: upload status"
jq -e '.[0].files | index("module") < index("builder.out")' <<<"$up" >/dev/null ||
  fail "good-1: module must come before builder.out in the upload: $(jq -c '.[0].files' <<<"$up")"
wait_for "builder_build users/alice/good-1 | jq -e '.state == \"published\"' >/dev/null" 20 ||
  fail "good-1: the builder's build did not end published: $(builder_build users/alice/good-1)"
assert_no_rejected_push "after a successful build"
assert_build_status_idle "after a successful build"

# 2. A concretization failure: failed, failure_reason concretization, builder.out only.
r=$(create_env conc '[{"name":"xxhash","version":"9.9"}]')
assert_eq '{"message":"Successfully scheduled environment creation"}' "$r" "create conc"
wait_core_done users/alice/conc-1 120
assert_core_env users/alice/conc-1 failed concretization builder.out
assert_eq '["builder.out"]' "$(uploads_of users/alice/conc-1 | jq -c '.[0].files')" "conc-1: uploaded files"
assert_eq '["xxhash@9.9"]' "$(core_view users/alice/conc-1 | jq -c '[.packages[] | .name + "@" + .version]')" \
  "conc-1: the user's softpack.yml"
assert_no_rejected_push "after a concretization failure"

# 3. A build failure: failed, failure_reason build.
r=$(create_env broken '[{"name":"broken-build"}]')
assert_eq '{"message":"Successfully scheduled environment creation"}' "$r" "create broken"
wait_core_done users/alice/broken-1 120
assert_core_env users/alice/broken-1 failed build builder.out
assert_no_rejected_push "after a build failure"

# 4. The failed environment created again: core removes broken-1 and creates it anew, then asks
# the builder for users/alice/broken version 1 once more; the builder must build it.
r=$(create_env broken '[{"name":"xxhash"}]')
assert_eq '{"message":"Successfully scheduled environment creation"}' "$r" "create broken again"
assert_eq queued "$(core_view users/alice/broken-1 | jq -r .state)" "broken-1 re-created"
wait_core_done users/alice/broken-1 120
assert_core_env users/alice/broken-1 ready null module builder.out
assert_no_rejected_push "after re-creating a failed environment"

# 5. Core restarted with pending builds: environments created while the builder was down stay
# queued in core's repository; after core's restart (a new clone) the builder starts and asks
# core to resend them. Only queued environments are resent, not waiting (a requested recipe),
# failed or ready ones.
stop_service
r=$(create_env pending '[{"name":"xxhash","version":"0.8.0"}]')
assert_contains "$r" "Connection to builder failed" "create pending while the builder is down"
r=$(create_env waiting '[{"name":"*newtool","version":"1.0"}]')
assert_eq '{"message":"Successfully scheduled environment creation"}' "$r" "create waiting (requested recipe)"
stop_core
start_core
assert_eq queued "$(core_view users/alice/pending-1 | jq -r .state)" "pending-1 after core's restart"
assert_eq waiting "$(core_view users/alice/waiting-1 | jq -r .state)" "waiting-1 after core's restart"
resends_before=$(core_events 'select(.kind == "resend")' | jq length)
start_service
wait_for "[[ \$(core_events 'select(.kind == \"resend\")' | jq length) -gt $resends_before ]]" 20 ||
  fail "the restarted builder did not ask core to resend pending builds"
resend=$(core_events 'select(.kind == "resend")' | jq -c last)
assert_eq '["users/alice/pending-1"]' "$(jq -c .environments <<<"$resend")" "environments core resent"
assert_eq "200 1 0" "$(jq -r '"\(.status) \(.successes) \(.failures)"' <<<"$resend")" "core's resend answer (status successes failures)"
wait_core_done users/alice/pending-1 120
assert_core_env users/alice/pending-1 ready null module builder.out spack.lock
assert_eq waiting "$(core_view users/alice/waiting-1 | jq -r .state)" "waiting-1 stays waiting"
assert_eq 0 "$(core_events 'select(.kind == "builder_request" and (.environment | endswith("/waiting-1")))' | jq length)" \
  "builder requests for waiting-1"
# Nothing is queued any more: core's own resend sends nothing.
r=$(curl -sS -X POST "$CORE/resend-pending-builds" -w ' %{http_code}')
assert_eq '{"message":"Successfully triggered resends","successes":0,"failures":0} 200' "$r" "resend with nothing queued"
# The earlier environments are as they were.
assert_core_env users/alice/good-1 ready null module builder.out
assert_core_env users/alice/conc-1 failed concretization builder.out
assert_core_env users/alice/broken-1 ready null module builder.out
assert_no_rejected_push "after core's restart"
assert_build_status_idle "after core's restart (broken-1 was built twice)"

# 6. Core down while the builder uploads: the upload is retried until core is back, and lands
# in core's new clone.
r=$(create_env late '[{"name":"xxhash","version":"0.8.1"}]')
assert_eq '{"message":"Successfully scheduled environment creation"}' "$r" "create late"
stop_core
wait_for "builder_build users/alice/late-1 | jq -e '[.destinations[]? | select(.name == \"core\" and .attempts >= 1 and .error != \"\")] | length > 0' >/dev/null" 120 ||
  fail "late-1: the builder never tried core while it was down: $(builder_build users/alice/late-1)"
start_core
wait_core_done users/alice/late-1 60
assert_core_env users/alice/late-1 ready null module builder.out spack.lock
wait_for "builder_build users/alice/late-1 | jq -e '.state == \"published\"' >/dev/null" 20 ||
  fail "late-1: the builder's build did not end published: $(builder_build users/alice/late-1)"
assert_no_rejected_push "after core was down during an upload"

# 7. An API token set (server.api_token_file): core sends no credentials, and still gets its
# builds (POST /environments/build) and its status page (GET /environments/status) from
# loopback (server.core_clients' default); other mutating routes still need the token.
stop_service
echo "core-conformance-token-0123456789" >"$IT_DIR/api-token"
chmod 600 "$IT_DIR/api-token"
write_config <<YAML
core:
  url: $CORE
publish:
  destinations: [install, core]
  retry_initial: 300ms
  retry_max: 1s
server:
  address: 127.0.0.1
  port: $PORT
  api_token_file: $IT_DIR/api-token
YAML
start_service
assert_eq 401 "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$URL/builds/no-such-build")" \
  "DELETE /builds/ID without the token"
r=$(create_env token '[{"name":"xxhash","version":"0.8.1"}]')
assert_eq '{"message":"Successfully scheduled environment creation"}' "$r" \
  "create token (core sends no credentials to a builder with an API token)"
wait_core_done users/alice/token-1 120
assert_core_env users/alice/token-1 ready null module builder.out spack.lock
assert_build_status_idle "with an API token"
assert_no_rejected_push "with an API token"

# 8. No publish.destinations, core.url set, artifacts.repo = core's repository (a site moving
# from the git destination): the default is to upload to core, and the builder never commits
# to the repository, so none of core's pushes is refused.
stop_service
write_config <<YAML
core:
  url: $CORE
artifacts:
  repo: $ART
publish:
  retry_initial: 300ms
  retry_max: 1s
server:
  address: 127.0.0.1
  port: $PORT
YAML
start_service
r=$(create_env defaults '[{"name":"xxhash","version":"0.8.1"}]')
assert_eq '{"message":"Successfully scheduled environment creation"}' "$r" "create defaults"
wait_for "builder_build users/alice/defaults-1 | jq -e '.state == \"published\" or .state == \"failed\"' >/dev/null" 120 ||
  fail "defaults-1: the builder's build did not end: $(builder_build users/alice/defaults-1)"
dests=$(builder_build users/alice/defaults-1 | jq -c '[.destinations[].name]')
jq -e 'index("core") != null and index("git") == null' <<<"$dests" >/dev/null ||
  fail "defaults-1: the default destinations with core.url set must include core and not git; got $dests"
assert_eq "" "$(git -C "$ART" log --format='%an: %s' main | grep -v '^softpack: ' | grep -v '^tester: initial$' || true)" \
  "commits to core's repository by anyone but core"
wait_core_done users/alice/defaults-1 60
assert_core_env users/alice/defaults-1 ready null module builder.out spack.lock
# One more change by core after the build: its push must still go through.
r=$(create_env after-defaults '[{"name":"xxhash"}]')
assert_eq '{"message":"Successfully scheduled environment creation"}' "$r" "create after-defaults"
wait_core_done users/alice/after-defaults-1 120
assert_no_rejected_push "with the default destinations"

# 10. Core commits an upload, but its answer comes after the builder's timeout: the retry is an
# upload that changes nothing, which core answers with a 500 ("No changes made" in its log). The
# builder reads core's repository (artifacts.repo), finds the files there, and ends published
# instead of retrying until publish.give_up_after.
stop_service
stop_core
start_core --upload-answer-delay 3
write_config <<YAML
core:
  url: $CORE
  timeout: 1s
artifacts:
  repo: $ART
publish:
  retry_initial: 300ms
  retry_max: 1s
server:
  address: 127.0.0.1
  port: $PORT
YAML
start_service
r=$(create_env slow-answer '[{"name":"xxhash","version":"0.8.1"}]')
assert_eq '{"message":"Successfully scheduled environment creation"}' "$r" "create slow-answer"
wait_for "builder_build users/alice/slow-answer-1 | jq -e '.state == \"published\" or .state == \"failed\"' >/dev/null" 120 ||
  fail "slow-answer-1: the build did not end (core's 500 for an unchanged upload retried forever?): $(builder_build users/alice/slow-answer-1)"
assert_eq published "$(builder_build users/alice/slow-answer-1 | jq -r .state)" "slow-answer-1's state"
assert_contains "$(cat "$IT_DIR/service.log")" "already holds these files" \
  "the builder's log says why it took core's 500"
assert_core_env users/alice/slow-answer-1 ready null module builder.out spack.lock
assert_no_rejected_push "after an answer that came too late"

# 9. The check can fail: a second writer of the repository (as the builder's `git` destination
# was) makes core's next push fail, and the stand-in reports it.
work="$IT_DIR/second-writer"
git clone -q "$ART" "$work"
echo "another writer" >"$work/other.txt"
git -C "$work" add other.txt
git -C "$work" commit -q -m "a second writer"
git -C "$work" push -q origin HEAD:main
r=$(create_env after-writer '[{"name":"xxhash"}]' | head -c 200)
assert_eq "Internal Server Error" "$r" "create after a second writer pushed (core's push is refused)"
git=$(curl -fsS "$CORE/standin/git")
assert_eq 1 "$(jq '.rejected_pushes | length' <<<"$git")" "refused pushes reported by the stand-in"
assert_contains "$(jq -r '.rejected_pushes[0].detail' <<<"$git")" "rejected" "the refused push's detail"
echo "PASS"
