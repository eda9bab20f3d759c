#!/bin/bash
# Who is asking, on real parts: two real local users (and a group), this test's own MUNGE daemons
# (one with the service's key, one with another realm's), the real service with its Unix socket
# and MUNGE on TCP, and sp-submit run as each user. Each user builds in their own space and is
# refused another's and a group they are not in; a group member is admitted; forged, altered,
# expired, replayed, other-realm and moved credentials are refused; the socket tells the second
# user apart; the per-user limit holds builds back, durably and with the reason; check-config
# refuses loopback core_clients with identity on.
source "$(dirname "$0")/lib/common.bash"

[[ $(id -u) == 0 ]] || skip "makes two local users and runs MUNGE daemons, which needs root"
command -v munged >/dev/null && command -v mungekey >/dev/null ||
  skip "munge is not installed (scripts/test installs it: apt-get install munge)"

ALICE=spauth-alice BOB=spauth-bob GROUP=spauth-hgi
MUNGED_PIDS=()
cleanup() {
  stop_service
  for d in "$IT_DIR/munge-a" "$IT_DIR/munge-b"; do
    [[ -S "$d/sock" ]] && munged -s -S "$d/sock" >/dev/null 2>&1 || true
  done
  userdel "$ALICE" >/dev/null 2>&1 || true
  userdel "$BOB" >/dev/null 2>&1 || true
  groupdel "$GROUP" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# Left over from an interrupted run.
userdel "$ALICE" >/dev/null 2>&1 || true
userdel "$BOB" >/dev/null 2>&1 || true
groupdel "$GROUP" >/dev/null 2>&1 || true
groupadd "$GROUP" || fail "groupadd $GROUP"
useradd -M -N -g users -G "$GROUP" -s /bin/bash "$ALICE" || fail "useradd $ALICE"
useradd -M -N -g users -s /bin/bash "$BOB" || fail "useradd $BOB"

# A MUNGE daemon of our own: its directory must be searchable by all (munged checks), its key
# its own.
start_munged() { # dir
  local d=$1
  mkdir -p "$d"
  chmod 0711 "$d"
  mungekey -c -k "$d/key" -b 1024 >/dev/null 2>&1 || fail "mungekey in $d"
  munged -S "$d/sock" --key-file="$d/key" --pid-file="$d/pid" --seed-file="$d/seed" \
    --log-file="$d/log" || fail "munged in $d: $(tail -3 "$d/log" 2>/dev/null)"
  wait_for "munge -S '$d/sock' -n | unmunge -S '$d/sock' >/dev/null 2>&1" 10 ||
    fail "munged in $d does not answer"
}
start_munged "$IT_DIR/munge-a"
start_munged "$IT_DIR/munge-b"
MUNGE_A="$IT_DIR/munge-a/sock"

PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
mkdir -p "$IT_DIR/run"
chmod 0755 "$IT_DIR" "$IT_DIR/run"
SOCK="$IT_DIR/run/api.sock"
echo "ci-secret" >"$IT_DIR/ci.token"
chmod 0600 "$IT_DIR/ci.token"
write_config </dev/null
cat >>"$IT_DIR/config.yaml" <<YAML
container:
  # Builds that take a while, so that a user's second build waits for the first.
  build_command: [bash, -c, 'sleep 6; exec singularity build "\$@"', slow-build]
server:
  address: 127.0.0.1
  port: $PORT
  socket: $SOCK
  munge: true
  munge_socket: $MUNGE_A
  core_clients: []
  tokens:
    - {name: ci, file: $IT_DIR/ci.token, routes: [build, read]}
  max_builds_per_user: 1
YAML
chmod 0644 "$IT_DIR/config.yaml"
start_service_identity() {
  "$SOFTPACK_BUILDER" serve --config "$IT_DIR/config.yaml" >>"$IT_DIR/service.log" 2>&1 &
  SERVICE_PID=$!
  wait_for "curl -fsS '$URL/healthz' >/dev/null 2>&1" 20 ||
    fail "the service did not come up: $(tail -20 "$IT_DIR/service.log")"
}
start_service_identity
[[ -S "$SOCK" ]] || fail "no socket at $SOCK"
assert_eq 666 "$(stat -c %a "$SOCK")" "the socket's mode"

printf 'description: identity\npackages:\n  - hello\n' >"$IT_DIR/env.yml"
chmod 0644 "$IT_DIR/env.yml"
as() { # user command...
  local user=$1
  shift
  runuser -u "$user" -- env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@"
}
submit() { # user name [sp-submit args...]
  local user=$1 name=$2
  shift 2
  rc=0
  out=$(as "$user" "$SP_SUBMIT" "$IT_DIR/env.yml" --name "$name" --version 1 \
    --config "$IT_DIR/config.yaml" "$@" 2>&1) || rc=$?
}
CI=(-H "Authorization: Bearer ci-secret")
build_of() { curl -fsS "${CI[@]}" "$URL/builds/$1"; }
id_in() { sed -n 's/^build \([^ ]*\) of .*/\1/p' <<<"$1" | head -1; }

# 1. alice builds in her own space, over TCP with MUNGE; the service says who it saw.
submit "$ALICE" "users/$ALICE/first" --server "$URL"
assert_eq 0 "$rc" "alice's build in users/$ALICE ($out)"
assert_contains "$out" " as $ALICE" "sp-submit prints the identity the service saw"
first=$(id_in "$out")
assert_eq "user $ALICE $(id -u "$ALICE")" \
  "$(build_of "$first" | jq -r '.requested_by | "\(.kind) \(.name) \(.uid)"')" "requested_by"

# 2. Another user's space, and a group she is not in... (alice is in the group; bob is not).
submit "$ALICE" "users/$BOB/theirs" --server "$URL"
assert_eq 2 "$rc" "alice in users/$BOB: exit code"
assert_contains "$out" "refused the request (403)" "alice in users/$BOB"
assert_contains "$out" "users/$BOB" "the reason names the space"
submit "$BOB" "groups/$GROUP/shared" --server "$URL"
assert_eq 2 "$rc" "bob in groups/$GROUP: exit code"
assert_contains "$out" "$BOB is not in group $GROUP" "the reason"

# 3. A member of the group is admitted; alice has a build in flight, so this one waits.
submit "$ALICE" "groups/$GROUP/shared" --server "$URL"
assert_eq 0 "$rc" "alice in groups/$GROUP ($out)"
second=$(id_in "$out")
assert_contains "$out" "max_builds_per_user" "sp-submit says why the build waits"
assert_eq queued "$(build_of "$second" | jq -r .state)" "alice's second build waits"
assert_contains "$(build_of "$second" | jq -r .queue_reason)" "$ALICE has 1 builds in flight" \
  "the queue reason"

# 4. The socket: bob is who the kernel says; not let into alice's space.
submit "$BOB" "users/$BOB/local" --server "$SOCK"
assert_eq 0 "$rc" "bob over the socket ($out)"
assert_contains "$out" " as $BOB" "the socket's identity"
submit "$BOB" "users/$ALICE/local" --server "$SOCK"
assert_eq 2 "$rc" "bob in users/$ALICE over the socket"
assert_contains "$out" "(403)" "bob in users/$ALICE over the socket"

# A token's builds are not held by the per-user limit.
r=$(http POST /environments/build "${CI[@]}" -d "{\"name\":\"users/$BOB/by-ci\",\"version\":\"1\",\"model\":{\"description\":\"d\",\"packages\":[{\"name\":\"hello\"}]}}")
assert_eq 200 "${r%% *}" "a token's build"
assert_eq "token ci" "$(jq -r '"\(.requested_by.kind) \(.requested_by.name)"' <<<"${r#* }")" \
  "the token's build is attributed to the token"

# 5. Hand-made credentials, with curl.
binding() { # method path body
  printf 'softpack-builder-v1\n%s\n%s\n%s\n' "$1" "$2" "$(printf %s "$3" | sha256sum | cut -d' ' -f1)"
}
# A credential made by `user` with the daemon at `sock`, its payload the binding (on stdin: a
# command substitution would drop the binding's last newline).
cred() { # user socket method path body [munge args]
  local user=$1 sock=$2 method=$3 path=$4 body=$5
  shift 5
  binding "$method" "$path" "$body" | as "$user" munge -S "$sock" "$@"
}
get_builds() { http GET /builds -H "Authorization: MUNGE $1"; }
good=$(cred "$ALICE" "$MUNGE_A" GET /builds "")
r=$(get_builds "$good")
assert_eq 200 "${r%% *}" "a good credential"
r=$(get_builds "$good")
assert_eq 401 "${r%% *}" "the same credential again"
assert_contains "$r" "already used" "a replayed credential"
r=$(http GET /builds)
assert_eq 401 "${r%% *}" "no credential"
r=$(get_builds "MUNGE:AAAAAAAA:")
assert_eq 401 "${r%% *}" "a forged credential"
fresh=$(cred "$ALICE" "$MUNGE_A" GET /builds "")
mid=$((${#fresh} / 2))
c=${fresh:$mid:1}
[[ $c == A ]] && n=B || n=A
r=$(get_builds "${fresh:0:$mid}$n${fresh:$((mid + 1))}")
assert_eq 401 "${r%% *}" "an altered credential"
other=$(cred "$ALICE" "$IT_DIR/munge-b/sock" GET /builds "")
r=$(get_builds "$other")
assert_eq 401 "${r%% *}" "a credential of another realm"
assert_contains "$r" "another key" "the reason for another realm"
old=$(cred "$ALICE" "$MUNGE_A" GET /builds "" -t 1)
sleep 3
r=$(get_builds "$old")
assert_eq 401 "${r%% *}" "an expired credential"
assert_contains "$r" "expired" "the reason for an expired credential"
body_a="{\"name\":\"users/$ALICE/moved\",\"version\":\"1\",\"model\":{\"description\":\"d\",\"packages\":[{\"name\":\"hello\"}]}}"
body_b=${body_a/moved/elsewhere}
moved=$(cred "$ALICE" "$MUNGE_A" POST /environments/build "$body_a")
r=$(http POST /environments/build -H "Authorization: MUNGE $moved" -d "$body_b")
assert_eq 401 "${r%% *}" "a credential moved to another body"
assert_contains "$r" "another request" "the reason for a moved credential"

# 6. The limit lets alice's second build go once her first has ended.
deadline=$((SECONDS + 120))
while [[ $(build_of "$first" | jq -r .state) != published ]] && ((SECONDS < deadline)); do
  sleep 1
done
assert_eq published "$(build_of "$first" | jq -r .state)" "alice's first build"
wait_for "[[ \$(build_of $second | jq -r .state) != queued ]]" 30 ||
  fail "alice's second build did not start after her first ended"
assert_eq "" "$(build_of "$second" | jq -r .queue_reason)" "the reason is cleared when it starts"

# 7. The record: builder.out, and one audit line per mutating request, no credential in the log.
out_file="$IT_DIR/var/builds/$first/out/builder.out"
[[ -f "$out_file" ]] || fail "no builder.out for $first"
assert_contains "$(cat "$out_file")" "requested by: $ALICE (uid $(id -u "$ALICE"))" "builder.out"
grep -q "audit: POST /environments/build users/$ALICE/first-1 by $ALICE uid=$(id -u "$ALICE") via=munge" \
  "$IT_DIR/service.log" || fail "no audit line for alice's build: $(grep audit "$IT_DIR/service.log")"
grep -q "audit: POST /environments/build groups/$GROUP/shared-1 by $BOB .* -> 403 $BOB is not in group $GROUP" \
  "$IT_DIR/service.log" || fail "no audit line for bob's refusal: $(grep audit "$IT_DIR/service.log")"
grep -q "via=socket peer=socket" "$IT_DIR/service.log" || fail "no audit line for the socket"
if grep -q "MUNGE:" "$IT_DIR/service.log"; then
  fail "a credential in the service's log: $(grep -m1 MUNGE: "$IT_DIR/service.log")"
fi
stop_service

# 8. check-config: identity on with loopback core_clients is refused, unless trusted.
sed 's/^  core_clients: \[\]$/  core_clients: [127.0.0.0\/8]/' "$IT_DIR/config.yaml" >"$IT_DIR/loopback.yaml"
rc=0
msg=$("$SOFTPACK_BUILDER" check-config --config "$IT_DIR/loopback.yaml" 2>&1) || rc=$?
assert_eq 3 "$rc" "check-config with loopback core_clients"
assert_contains "$msg" "server.core_clients" "check-config names the key"
rc=0
msg=$(timeout 20 "$SOFTPACK_BUILDER" serve --config "$IT_DIR/loopback.yaml" 2>&1) || rc=$?
assert_eq 3 "$rc" "serve with loopback core_clients"
assert_contains "$msg" "server.core_clients" "serve names the key"
printf '  core_clients_trust_local: true\n' >>"$IT_DIR/loopback.yaml"
"$SOFTPACK_BUILDER" check-config --config "$IT_DIR/loopback.yaml" >/dev/null 2>&1 ||
  fail "check-config refused core_clients_trust_local: true"
echo "PASS"
