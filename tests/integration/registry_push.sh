#!/bin/bash
# The image goes to Debian's docker-registry (the real OCI registry, started here on 127.0.0.1)
# as Apptainer's oras:// reads it: anonymously, with htpasswd (Basic) auth, and with token auth
# (the Bearer flow, against tests/support/registry_token_server.py); it is read back with curl
# and skopeo, and the digests compared with the image in the build directory.
source "$(dirname "$0")/lib/common.bash"

command -v docker-registry >/dev/null ||
  skip "docker-registry is not installed (scripts/test installs it: apt-get install docker-registry)"
command -v skopeo >/dev/null || skip "skopeo is not installed (scripts/test installs it)"

REGISTRY_PID=
TOKEN_PID=
cleanup() {
  local p
  for p in $REGISTRY_PID $TOKEN_PID; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  REGISTRY_PID= TOKEN_PID=
}
trap cleanup EXIT

# Starts docker-registry on a free port with storage under $1; $2 "htpasswd" or "token" turns
# on auth for alice (token: with its token server). Sets REGISTRY (host:port), and TOKEN_URL.
start_registry() { # dir [htpasswd|token]
  local dir=$1 port
  port=$(free_port)
  mkdir -p "$dir/data"
  {
    echo "version: 0.1"
    echo "log: {level: warn}"
    echo "storage: {filesystem: {rootdirectory: $dir/data}}"
    echo "http: {addr: 127.0.0.1:$port}"
    if [[ "${2:-}" == htpasswd ]]; then
      htpasswd -Bbn alice 's3cret!pw' >"$dir/htpasswd"
      echo "auth: {htpasswd: {realm: softpack-test, path: $dir/htpasswd}}"
    elif [[ "${2:-}" == token ]]; then
      mkdir -p "$dir/token"
      /usr/bin/python3 "$SOFTPACK_SOURCE_DIR/tests/support/registry_token_server.py" "$dir/token" \
        'alice:s3cret!pw' softpack-test-registry softpack-test-issuer >"$dir/token.log" 2>&1 &
      TOKEN_PID=$!
      wait_for "[[ -s '$dir/token/port' ]]" 20 || fail "token server did not start: $(cat "$dir/token.log")"
      TOKEN_URL="http://127.0.0.1:$(cat "$dir/token/port")/token"
      echo "auth: {token: {realm: '$TOKEN_URL', service: softpack-test-registry, issuer: softpack-test-issuer, rootcertbundle: $dir/token/cert.pem}}"
    fi
  } >"$dir/config.yml"
  docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  REGISTRY_PID=$!
  REGISTRY=127.0.0.1:$port
  wait_for "curl -s -o /dev/null -w '%{http_code}' http://$REGISTRY/v2/ | grep -qE '200|401'" 20 ||
    fail "docker-registry did not start: $(cat "$dir/registry.log")"
}

# Builds users/alice/reg-env version $1 and publishes to the registry then git; checks what the
# registry holds. $2: skopeo's credentials ("" = anonymous); curl reads with CURL_AUTH.
CURL_AUTH=()
build_and_check() { # version creds
  local version=$1 creds=$2 out
  out=$("$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/alice/Reg-Env --version "$version" \
    --wait --config "$IT_DIR/config.yaml" 2>&1) || fail "sp-submit exited $?: $out"
  echo "$out"
  assert_contains "$out" "publish registry  done" "progress output"
  local build_dir image_digest image_size
  build_dir=$(ls -dt "$IT_DIR"/var/builds/*/ | head -1)
  image_digest=sha256:$(sha256sum "$build_dir/out/singularity.sif" | cut -d' ' -f1)
  image_size=$(stat -c %s "$build_dir/out/singularity.sif")

  local curl_auth=("${CURL_AUTH[@]}") skopeo_auth=(--no-creds)
  if [[ -n "$creds" ]]; then
    skopeo_auth=(--creds "$creds")
  fi
  local repo=softpack/users-alice/reg-env
  curl -fsS "${curl_auth[@]}" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -D "$IT_DIR/manifest.headers" -o "$IT_DIR/manifest.json" \
    "http://$REGISTRY/v2/$repo/manifests/$version" || fail "cannot read the manifest back"
  local m
  m=$(cat "$IT_DIR/manifest.json")
  assert_eq "application/vnd.oci.image.manifest.v1+json" "$(jq -r .mediaType <<<"$m")" "manifest media type"
  assert_eq "application/vnd.sylabs.sif.config.v1+json" "$(jq -r .config.mediaType <<<"$m")" "config media type"
  assert_eq "application/vnd.sylabs.sif.layer.v1.sif" "$(jq -r '.layers[0].mediaType' <<<"$m")" "layer media type"
  assert_eq "singularity.sif" "$(jq -r '.layers[0].annotations["org.opencontainers.image.title"]' <<<"$m")" "layer title"
  assert_eq "$image_digest" "$(jq -r '.layers[0].digest' <<<"$m")" "layer digest = the image's"
  assert_eq "$image_size" "$(jq -r '.layers[0].size' <<<"$m")" "layer size"
  # The blobs read back are the image and {}.
  assert_eq "$image_digest" "sha256:$(curl -fsS "${curl_auth[@]}" "http://$REGISTRY/v2/$repo/blobs/$image_digest" -L | sha256sum | cut -d' ' -f1)" "layer blob read back"
  assert_eq "{}" "$(curl -fsS "${curl_auth[@]}" -L "http://$REGISTRY/v2/$repo/blobs/$(jq -r .config.digest <<<"$m")")" "config blob"
  # The manifest digest the registry computed is the one the build reported.
  local manifest_digest
  manifest_digest=sha256:$(sha256sum "$IT_DIR/manifest.json" | cut -d' ' -f1)
  grep -qi "^docker-content-digest: $manifest_digest" "$IT_DIR/manifest.headers" ||
    fail "registry's digest differs: $(cat "$IT_DIR/manifest.headers")"
  assert_contains "$out" "published to registry: $REGISTRY/$repo:$version@$manifest_digest" "reported reference"
  # skopeo, an independent client, sees the same manifest.
  local raw
  raw=$(skopeo inspect --raw --tls-verify=false "${skopeo_auth[@]}" "docker://$REGISTRY/$repo:$version") ||
    fail "skopeo inspect failed: $raw"
  assert_eq "$manifest_digest" "sha256:$(printf '%s' "$raw" | sha256sum | cut -d' ' -f1)" "skopeo's manifest digest"
  # (skopeo's non-raw inspect refuses artifacts that are not container images, as SIF is.)
  assert_eq "$image_digest" "$(jq -r '.layers[0].digest' <<<"$raw")" "skopeo's layer digest"
}

cat >"$IT_DIR/softpack.yml" <<'YML'
description: Registry test environment.
packages:
  - xxhash@0.8.1
YML

# 1. Anonymous registry.
start_registry "$IT_DIR/anon"
write_config <<YAML
registry:
  url: http://$REGISTRY/softpack
publish:
  destinations: [registry, git]
YAML
build_and_check 1 ""
# Publishing a second version reuses nothing wrongly: a new tag, both readable.
build_and_check 2 ""
curl -fsS "http://$REGISTRY/v2/softpack/users-alice/reg-env/tags/list" | jq -e '.tags | sort == ["1","2"]' >/dev/null ||
  fail "tags: $(curl -sS "http://$REGISTRY/v2/softpack/users-alice/reg-env/tags/list")"
cleanup
REGISTRY_PID=

# 2. htpasswd (Basic) auth, credentials from a file named in config.
start_registry "$IT_DIR/auth" htpasswd
printf '%s\n' 'alice:s3cret!pw' >"$IT_DIR/registry-credentials"
chmod 600 "$IT_DIR/registry-credentials"
rm -rf "$IT_DIR/var"
write_config <<YAML
registry:
  url: http://$REGISTRY/softpack
  credentials_file: $IT_DIR/registry-credentials
publish:
  destinations: [registry, git]
YAML
anon=$(curl -s -o /dev/null -w '%{http_code}' "http://$REGISTRY/v2/")
assert_eq 401 "$anon" "the registry wants credentials"
CURL_AUTH=(-u 'alice:s3cret!pw')
build_and_check 1 'alice:s3cret!pw'
# The password is nowhere in the data directory (scripts, logs, state).
if grep -rlF 's3cret!pw' "$IT_DIR/var"; then
  fail "the registry password leaked into the data directory"
fi

cleanup

# 3. Token auth: the registry answers 401 with a Bearer challenge; the builder gets a token from
# the realm with the credentials and pushes with it.
start_registry "$IT_DIR/token" token
rm -rf "$IT_DIR/var"
write_config <<YAML
registry:
  url: http://$REGISTRY/softpack
publish:
  destinations: [registry, git]
YAML
export SOFTPACK_REGISTRY_CREDENTIALS='alice:s3cret!pw' # the environment variable this time
assert_contains "$(curl -sS -D - -o /dev/null "http://$REGISTRY/v2/")" 'Bearer realm=' "the registry's challenge"
token=$(curl -fsS -u 'alice:s3cret!pw' "$TOKEN_URL?service=softpack-test-registry&scope=repository:softpack/users-alice/reg-env:pull" | jq -r .token)
CURL_AUTH=(-H "Authorization: Bearer $token")
build_and_check 1 'alice:s3cret!pw'
unset SOFTPACK_REGISTRY_CREDENTIALS
# (The builder asks for the scope of the registry's challenge, whose actions docker-registry lists
# in either order: "pull,push" or "push,pull".)
jq -se 'any(.[]; .authorised and (.query.scope | length) == 1 and
  (.query.scope[0] | split(":")) as $s | $s[0:2] == ["repository", "softpack/users-alice/reg-env"] and
  ($s[2] | split(",") | sort) == ["pull", "push"])' \
  "$IT_DIR/token/token/requests.log" >/dev/null || fail "the builder did not get a push token: $(cat "$IT_DIR/token/token/requests.log")"

# 4. A name the registry cannot take is refused at submission, before anything runs.
out=$("$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/alice/_bad --version 1 \
  --config "$IT_DIR/config.yaml" 2>&1) && fail "a bad repository name was accepted: $out"
assert_contains "$out" "cannot be part of an OCI repository name" "refusal message"
echo "PASS"
