#!/bin/bash
# The artifacts repository behind HTTP Basic auth (git smart HTTP, git-http-backend): sp-submit
# publishes with artifacts.credentials_file; a wrong password ends the build unpublished. The
# password appears nowhere: not in sp-submit's output, not in any file under the data
# directory; and the credentials file is never rewritten.
source "$(dirname "$0")/lib/common.bash"

backend=/usr/lib/git-core/git-http-backend
[[ -x "$backend" ]] || skip "git-http-backend is not installed ($backend, package git)"
[[ -x /usr/bin/python3 ]] || skip "/usr/bin/python3 is not installed"

password="right-$RANDOM$RANDOM-secret"
wrong="wrong-$RANDOM$RANDOM-guess"
srv="$IT_DIR/server"
mkdir -p "$srv/repos"
git init -q --bare --initial-branch=main "$srv/repos/artifacts.git"
/usr/bin/python3 "$SOFTPACK_SOURCE_DIR/tests/support/git_http_server.py" --root "$srv/repos" \
  --user softpack --password "$password" --port-file "$srv/port" 2>"$srv/server.log" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
wait_for "[[ -s '$srv/port' ]]" 20 || fail "the git server did not start: $(cat "$srv/server.log")"
port=$(<"$srv/port")
url="http://127.0.0.1:$port/artifacts.git"
served="$srv/repos/artifacts.git"

# Credentials live outside the data directory, readable by the owner only.
printf 'http://softpack:%s@127.0.0.1:%s\n' "$password" "$port" >"$IT_DIR/credentials"
printf 'http://softpack:%s@127.0.0.1:%s\n' "$wrong" "$port" >"$IT_DIR/credentials-wrong"
chmod 600 "$IT_DIR/credentials" "$IT_DIR/credentials-wrong"
cp -p "$IT_DIR/credentials" "$IT_DIR/credentials.orig"
cp -p "$IT_DIR/credentials-wrong" "$IT_DIR/credentials-wrong.orig"

configure() { # credentials-file
  write_config local <<YML
artifacts:
  repo: $url
  credentials_file: $1
publish:
  retry_initial: 100ms
  retry_max: 100ms
  give_up_after: 1s
YML
}

cat >"$IT_DIR/softpack.yml" <<'YML'
description: published over HTTP with credentials
packages:
  - xxhash@0.8.1
YML

# 1. The right password: published, and the commit is in the served repository.
configure "$IT_DIR/credentials"
out=$("$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/alice/https-env --version 1 --wait \
  --config "$IT_DIR/config.yaml" 2>&1) || fail "sp-submit exited $?: $out"
echo "$out"
assert_contains "$out" "published" "final state"
dir=environments/users/alice/https-env-1
files=$(repo_files "$served" main "$dir" | tr '\n' ' ')
assert_eq ".built_by_softpack README.md builder.out module singularity.def softpack.yml spack.lock " \
  "$files" "files in the served repository"
assert_eq 1 "$(git -C "$served" rev-list --count main)" "commits in the served repository"
assert_contains "$(git -C "$served" log -1 --format=%B main)" "Softpack-Build-Id: " "commit message"
# Authentication really happened: refused without credentials, the push accepted with them.
log=$(cat "$srv/server.log")
assert_contains "$log" "401 (without credentials)" "server log"
assert_contains "$log" "POST /artifacts.git/git-receive-pack 200 (with credentials)" "server log"

# 2. A wrong password: the build ends failed, unpublished, and says so without the password.
configure "$IT_DIR/credentials-wrong"
rc=0
out=$(timeout 300 "$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/alice/https-bad --version 1 \
  --wait --config "$IT_DIR/config.yaml" 2>&1) || rc=$?
echo "$out"
assert_eq 1 "$rc" "exit code when publishing fails"
assert_contains "$out" "publishing to git failed" "final line"
assert_contains "$out" "Authentication failed" "the reason"
assert_eq 1 "$(git -C "$served" rev-list --count main)" "commits after the refused push"
assert_contains "$(cat "$srv/server.log")" "401 (with credentials)" "server log"

# 3. No secret anywhere.
for secret in "$password" "$wrong"; do
  [[ "$out" != *"$secret"* ]] || fail "sp-submit's output holds a password"
  if found=$(grep -rlaF -- "$secret" "$IT_DIR/var"); then
    fail "a password is in the data directory: $found"
  fi
done
[[ -n "$(find "$IT_DIR/var/builds" -type f -name builder.out)" ]] ||
  fail "no build directories were searched"
cmp -s "$IT_DIR/credentials" "$IT_DIR/credentials.orig" || fail "the credentials file was rewritten"
cmp -s "$IT_DIR/credentials-wrong" "$IT_DIR/credentials-wrong.orig" ||
  fail "the credentials file of the refused password was rewritten"
echo "PASS"
