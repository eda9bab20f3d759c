#!/bin/bash
# sp-submit --server and `softpack-builder status/cancel` against the real service (scheduler:
# local) with an API token: the token comes from --token-file or $SOFTPACK_API_TOKEN; a 401 or
# 403 exits 2 with the service's reason and a hint; status prints a table (--json the service's
# JSON) and one build as a block.
source "$(dirname "$0")/lib/common.bash"

# The service listens on this host's own address, not loopback: requests from loopback may be
# let in without a token (server.core_clients), and these checks need the token to be asked for.
HOST_IP=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+(\.[0-9]+){3}$' |
  grep -v '^127\.' | head -1 || true)
[[ -n "$HOST_IP" ]] || skip "this host has no IPv4 address besides loopback"
PORT=$(free_port)
URL="http://$HOST_IP:$PORT"
echo "api-secret" >"$IT_DIR/api.token"
echo "wrong" >"$IT_DIR/wrong.token"
: >"$IT_DIR/empty.token"
write_config </dev/null
cat >>"$IT_DIR/config.yaml" <<YAML
server:
  address: $HOST_IP
  port: $PORT
  api_token_file: $IT_DIR/api.token
YAML
unset SOFTPACK_API_TOKEN
trap stop_service EXIT
start_service

# The users' config: the same service, without the token file (users cannot read it).
grep -v api_token_file "$IT_DIR/config.yaml" >"$IT_DIR/user.yaml"
printf 'description: via the service\npackages:\n  - xxhash\n' >"$IT_DIR/env.yml"
submit() {
  rc=0
  out=$("$SP_SUBMIT" "$IT_DIR/env.yml" --name users/alice/srv-env --version 1 --server "$URL" \
    --config "$IT_DIR/user.yaml" "$@" 2>&1) || rc=$?
  echo "$out"
}

submit
assert_eq 2 "$rc" "exit code without a token"
assert_contains "$out" "refused the request (401): missing bearer token" "the service's reason"
assert_contains "$out" "--token-file FILE or \$SOFTPACK_API_TOKEN" "the hint"
submit --token-file "$IT_DIR/wrong.token"
assert_eq 2 "$rc" "exit code with a wrong token"
assert_contains "$out" "(401): invalid bearer token" "the service's reason"
SOFTPACK_API_TOKEN=wrong submit
assert_eq 2 "$rc" "exit code with a wrong token in the variable"
assert_contains "$out" "invalid bearer token" "the service's reason"
for f in "$IT_DIR/missing.token" "$IT_DIR/empty.token"; do
  submit --token-file "$f"
  assert_eq 2 "$rc" "exit code for an unusable --token-file"
  assert_contains "$out" "--token-file: $f" "the error names the file"
done
assert_eq "[]" "$(curl -fsS "$URL/builds")" "no build from refused requests"

# The token from the variable, and (options in any order) from --token-file.
SOFTPACK_API_TOKEN=api-secret submit --wait
assert_eq 0 "$rc" "sp-submit --server with \$SOFTPACK_API_TOKEN"
assert_contains "$out" "published" "final state"
id=$(sed -n 's/^build \([^ ]*\) of users\/alice\/srv-env.*/\1/p' <<<"$out" | head -1)
[[ -n "$id" ]] || fail "no build id in: $out"
rc=0
out=$("$SP_SUBMIT" --token-file "$IT_DIR/api.token" --server "$URL" "$IT_DIR/env.yml" \
  --version 2 --config "$IT_DIR/user.yaml" --name users/alice/srv-env 2>&1) || rc=$?
echo "$out"
assert_eq 0 "$rc" "sp-submit --server with --token-file"
id2=$(sed -n 's/^build \([^ ]*\) of users\/alice\/srv-env-2.*/\1/p' <<<"$out")
[[ -n "$id2" ]] || fail "no build id in: $out"
assert_eq published "$(wait_build "$id2" 120)" "second build"

# status: a table by default, one row per build.
table=$("$SOFTPACK_BUILDER" status --server "$URL" --config "$IT_DIR/user.yaml")
echo "$table"
assert_eq 3 "$(wc -l <<<"$table")" "a header and a line per build"
assert_matches "$(head -1 <<<"$table")" "^ID +ENVIRONMENT +STATE +REQUESTED \\(UTC\\) +BY +STAGES$" "header"
# BY: whoever the service took the token's request to be ("-" when it records nobody).
assert_matches "$table" "$id +users/alice/srv-env-1 +published +[0-9-]{10} [0-9:]{8} +[^ ].* +3/3 done" "row"
json=$("$SOFTPACK_BUILDER" status --json --server "$URL" --config "$IT_DIR/user.yaml")
assert_eq 2 "$(jq length <<<"$json")" "status --json is the service's JSON"
block=$("$SOFTPACK_BUILDER" status "$id" --server "$URL" --config "$IT_DIR/user.yaml")
echo "$block"
assert_matches "$block" "environment +users/alice/srv-env-1" "block: environment"
assert_matches "$block" "requested by +[^ ]" "block: who asked"
assert_matches "$block" "state +published" "block: state"
assert_matches "$block" "  build +job local-[0-9a-f-]+ +completed +exit 0" "block: stages"
assert_matches "$block" "  git +published +1 attempt" "block: destinations"
rc=0
"$SOFTPACK_BUILDER" status no-such-build --server "$URL" --config "$IT_DIR/user.yaml" || rc=$?
assert_eq 2 "$rc" "status of an unknown build"

# cancel needs the token: 401 exits 2 with the reason; with it, a finished build is refused (409).
rc=0
out=$("$SOFTPACK_BUILDER" cancel "$id" --server "$URL" --config "$IT_DIR/user.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 2 "$rc" "cancel without a token"
assert_contains "$out" "answered 401: missing bearer token" "cancel: the service's reason"
assert_contains "$out" "--token-file FILE" "cancel: the hint"
rc=0
out=$("$SOFTPACK_BUILDER" cancel --token-file "$IT_DIR/api.token" "$id" --server "$URL" \
  --config "$IT_DIR/user.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 2 "$rc" "cancel of a finished build"
assert_contains "$out" "answered 409" "cancel of a finished build"
echo "PASS"
