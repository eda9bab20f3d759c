#!/bin/bash
# The image goes to Debian's docker-registry (the real OCI registry, started here on 127.0.0.1)
# as Apptainer's oras:// reads it, anonymously and with htpasswd (Basic) auth; it is read back
# with curl and skopeo, and the digests compared with the image in the build directory.
source "$(dirname "$0")/lib/common.bash"

command -v docker-registry >/dev/null ||
  skip "docker-registry is not installed (scripts/test installs it: apt-get install docker-registry)"
command -v skopeo >/dev/null || skip "skopeo is not installed (scripts/test installs it)"

REGISTRY_PID=
cleanup() {
  if [[ -n "$REGISTRY_PID" ]]; then
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# Starts docker-registry on a free port with storage under $1; "htpasswd" as $2 turns on auth
# for alice. Sets REGISTRY (host:port).
start_registry() { # dir [htpasswd]
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
    fi
  } >"$dir/config.yml"
  docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  REGISTRY_PID=$!
  REGISTRY=127.0.0.1:$port
  wait_for "curl -s -o /dev/null -w '%{http_code}' http://$REGISTRY/v2/ | grep -qE '200|401'" 20 ||
    fail "docker-registry did not start: $(cat "$dir/registry.log")"
}

# Builds users/alice/reg-env version $1 and publishes to the registry then git; checks what the
# registry holds. $2: curl/skopeo credentials ("" = anonymous).
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

  local curl_auth=() skopeo_auth=(--no-creds)
  if [[ -n "$creds" ]]; then
    curl_auth=(-u "$creds")
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
build_and_check 1 'alice:s3cret!pw'
# The password is nowhere in the data directory (scripts, logs, state).
if grep -rlF 's3cret!pw' "$IT_DIR/var"; then
  fail "the registry password leaked into the data directory"
fi

# 3. A name the registry cannot take is refused at submission, before anything runs.
out=$("$SP_SUBMIT" "$IT_DIR/softpack.yml" --name users/alice/_bad --version 1 \
  --config "$IT_DIR/config.yaml" 2>&1) && fail "a bad repository name was accepted: $out"
assert_contains "$out" "cannot be part of an OCI repository name" "refusal message"
echo "PASS"
