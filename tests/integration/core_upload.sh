#!/bin/bash
# The service as a drop-in for go-softpack-builder next to softpack-core: at start it asks core
# to resend pending builds; a finished build's files are uploaded to core's /upload as
# multipart/form-data, a failed build's builder.out alone; an upload that fails at first is
# retried until core takes it, and the build ends published. With core.url set and no
# destinations given, core is the default destination, and the builder never writes the
# artifacts repository (core commits what is uploaded).
source "$(dirname "$0")/lib/common.bash"

STUB_PID=
cleanup() {
  stop_service
  [[ -n "$STUB_PID" ]] && kill "$STUB_PID" 2>/dev/null || true
}
trap cleanup EXIT

# softpack-core's stand-in: the first two uploads get 503.
/usr/bin/python3 "$SOFTPACK_SOURCE_DIR/tests/support/core_stub.py" "$IT_DIR/core.port" \
  "$IT_DIR/core.log" 2 &
STUB_PID=$!
wait_for "[[ -s '$IT_DIR/core.port' ]]" 10 || fail "core stub did not start"
CORE="http://127.0.0.1:$(cat "$IT_DIR/core.port")"

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
write_config <<YAML
core:
  url: $CORE
publish:
  retry_initial: 300ms
  retry_max: 1s
server:
  address: 127.0.0.1
  port: $PORT
YAML
# A token is configured, and softpack-core sends none: its address (loopback, the default
# server.core_clients) needs none for POST /environments/build and GET /environments/status.
export SOFTPACK_API_TOKEN="api-secret"
start_service
wait_for "grep -q resend-pending-builds '$IT_DIR/core.log'" 10 ||
  fail "the service did not ask core to resend pending builds"

submit() { # name version packages-json
  local r
  r=$(http POST /environments/build -d "{\"name\":\"$1\",\"version\":\"$2\",\"model\":{\"description\":\"core test\",\"packages\":$3}}")
  assert_eq 200 "${r%% *}" "POST /environments/build"
  jq -r .id <<<"${r#* }"
}

# 1. A good build: uploaded (after two refusals) with all seven files, whose contents are the
# build's.
id=$(submit users/alice/core-env 1 '[{"name":"xxhash","version":"0.8.1"}]')
assert_eq published "$(wait_build "$id" 120)" "final state"
status=$(curl -fsS "$URL/builds/$id")
assert_eq 3 "$(jq -r '.destinations[] | select(.name=="core") | .attempts' <<<"$status")" \
  "core upload attempts (two 503s, then 200)"
uploads=$(grep '"/upload"' "$IT_DIR/core.log")
assert_eq 3 "$(wc -l <<<"$uploads")" "upload requests"
last=$(tail -1 <<<"$uploads")
assert_eq "users/alice/core-env-1" "$(jq -r .query <<<"$last")" "upload query"
assert_eq ".built_by_softpack README.md builder.out module singularity.def softpack.yml spack.lock" \
  "$(jq -r '.files | keys | join(" ")' <<<"$last")" "uploaded files"
out=$(find "$IT_DIR/var" -type d -path "*$id*/out" | head -1)
[[ -d "$out" ]] || fail "no out directory for build $id under $IT_DIR/var"
for f in softpack.yml spack.lock module builder.out; do
  assert_eq "$(sha256sum <"$out/$f" | cut -d' ' -f1)" \
    "$(jq -r ".files[\"$f\"]" <<<"$last")" "uploaded $f = the build's $f"
done
assert_eq "core" "$(jq -r '[.destinations[].name] | join(" ")' <<<"$status")" \
  "core.url set, no destinations given: core alone"
[[ ! -e "$IT_DIR/var/artifacts.git" && ! -e "$IT_DIR/var/artifacts-mirror.git" ]] ||
  fail "the builder wrote an artifacts repository next to core"

# 2. A failed build: builder.out alone.
id=$(submit users/alice/core-fail 1 '[{"name":"broken-build"}]')
assert_eq failed "$(wait_build "$id" 120)" "failed build's final state"
wait_for "grep -q 'core-fail-1' '$IT_DIR/core.log'" 20 || fail "the failed build was not uploaded"
last=$(grep 'core-fail-1' "$IT_DIR/core.log" | tail -1)
assert_eq "builder.out" "$(jq -r '.files | keys | join(" ")' <<<"$last")" "a failed build uploads builder.out alone"
# Every other mutating route still needs the token, also from core's address.
r=$(http DELETE "/builds/$id")
assert_eq 401 "${r%% *}" "DELETE /builds/ID without a token from core's address"
echo "PASS"
