#!/bin/bash
# check-config refuses what serve refuses, the same way: token files that are missing or empty,
# an address that is not an IP address, and every mistake in the file at once, each with its
# key and file:line; an error at the end of the file is on its last line.
source "$(dirname "$0")/lib/common.bash"

unset SOFTPACK_API_TOKEN SOFTPACK_GITLAB_TOKEN
PORT=$(free_port)
: >"$IT_DIR/empty.token"
write_config <<YAML
  local_max_running: 0
server:
  address: localhost
  port: $PORT
  api_token_file: $IT_DIR/missing.token
  gitlab_token_file: $IT_DIR/empty.token
YAML
cat -n "$IT_DIR/config.yaml"
cfg="$IT_DIR/config.yaml"
line_of() { grep -n "$1" "$cfg" | head -1 | cut -d: -f1; }

for cmd in check-config serve; do
  rc=0
  out=$(timeout 20 "$SOFTPACK_BUILDER" "$cmd" --config "$cfg" 2>&1) || rc=$?
  echo "$out"
  assert_eq 3 "$rc" "$cmd: exit code"
  assert_contains "$out" "$cfg:$(line_of local_max_running): scheduler.local_max_running: expected a whole number" \
    "$cmd: the number out of range"
  assert_contains "$out" "$cfg:$(line_of 'address: localhost'): server.address: 'localhost' is not an IP address" \
    "$cmd: the host name"
  assert_contains "$out" "$cfg:$(line_of api_token_file): server.api_token_file: $IT_DIR/missing.token" \
    "$cmd: the missing token file"
  assert_contains "$out" "$cfg:$(line_of gitlab_token_file): server.gitlab_token_file: $IT_DIR/empty.token: the secret file is empty" \
    "$cmd: the empty token file"
  assert_contains "$out" "4 errors in the configuration" "$cmd: the count"
done

# Once they are fixed it is OK, and serve starts with it.
echo "api-secret" >"$IT_DIR/api.token"
echo "gitlab-secret" >"$IT_DIR/gitlab.token"
sed -i -e '/local_max_running: 0/d' -e 's/address: localhost/address: 127.0.0.1/' \
  -e "s|missing.token|api.token|" -e "s|empty.token|gitlab.token|" "$cfg"
out=$("$SOFTPACK_BUILDER" check-config --config "$cfg") || fail "check-config: $out"
assert_contains "$out" "configuration OK" "check-config of the fixed file"
URL="http://127.0.0.1:$PORT"
trap stop_service EXIT
start_service
stop_service

# A token from the environment needs no file.
sed -i "s|$IT_DIR/api.token|$IT_DIR/missing.token|" "$cfg"
SOFTPACK_API_TOKEN=from-env "$SOFTPACK_BUILDER" check-config --config "$cfg" >/dev/null ||
  fail "check-config with \$SOFTPACK_API_TOKEN set"

# A YAML error at the end of the file is on its last line, not the line after it.
printf 'data_dir: %s\nscheduler:\n  stages: {build: {cpus: 2}\n' "$IT_DIR/var" >"$IT_DIR/eof.yaml"
rc=0
out=$("$SOFTPACK_BUILDER" check-config --config "$IT_DIR/eof.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 3 "$rc" "exit code for a YAML error"
assert_contains "$out" "$IT_DIR/eof.yaml:3: not valid YAML" "the last line"
echo "PASS"
