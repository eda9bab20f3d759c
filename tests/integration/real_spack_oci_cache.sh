#!/bin/bash
# The image recipe with the real Spack (issue 14) and an oci:// binary cache: Debian's
# docker-registry, started here on 127.0.0.1 with a self-signed certificate, as Spack 0.21's OCI
# client only speaks https:// and checks certificates against the default trust store (it ignores
# config:verify_ssl). The sandbox's trust store is the host's plus that certificate, bound over
# /etc/ssl/certs/ca-certificates.crt, as a site's build image would carry its registry's CA.
# (Without it the build still succeeds: the install silently ignores the cache and the push fails
# with CERTIFICATE_VERIFY_FAILED, which the recipe only reports; hence the checks on the log.)
# Otherwise as tests/integration/real_spack_recipe.sh (A and B there):
#  A. sp-liba, sp-libb: built from source, pushed to the registry (a tag per spec, and the index).
#  B. sp-libb, sp-hello: sp-libb and sp-liba come from the registry, only sp-hello is built.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/real_spack.bash"
source "$(dirname "$0")/lib/spack_repo.bash"
command -v docker-registry >/dev/null ||
  skip "docker-registry is not installed (scripts/test installs it: apt-get install docker-registry)"
for tool in openssl bwrap mksquashfs siftool; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps installs it)"
done
[[ -r /etc/ssl/certs/ca-certificates.crt ]] || skip "no system trust store to add the test CA to"
require_real_spack

REGISTRY_PID=
cleanup() {
  if [[ -n "$REGISTRY_PID" ]]; then
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# The registry, over TLS with a certificate for 127.0.0.1 made now.
mkdir -p "$IT_DIR/registry/data"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$IT_DIR/registry/key.pem" -out "$IT_DIR/registry/cert.pem" \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >"$IT_DIR/registry/openssl.log" 2>&1 ||
  fail "openssl could not make the certificate: $(cat "$IT_DIR/registry/openssl.log")"
port=$(free_port)
cat >"$IT_DIR/registry/config.yml" <<EOF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $IT_DIR/registry/data}}
http:
  addr: 127.0.0.1:$port
  tls: {certificate: $IT_DIR/registry/cert.pem, key: $IT_DIR/registry/key.pem}
EOF
docker-registry serve "$IT_DIR/registry/config.yml" >"$IT_DIR/registry/registry.log" 2>&1 &
REGISTRY_PID=$!
REGISTRY=127.0.0.1:$port
CURL=(curl -fsS --cacert "$IT_DIR/registry/cert.pem")
wait_for "curl -fs --cacert '$IT_DIR/registry/cert.pem' -o /dev/null https://$REGISTRY/v2/" 20 ||
  fail "docker-registry did not start: $(cat "$IT_DIR/registry/registry.log")"
cat /etc/ssl/certs/ca-certificates.crt "$IT_DIR/registry/cert.pem" >"$IT_DIR/ca-certificates.crt"

make_spack_repo "$IT_DIR/repo" "$REAL_SPACK_USER" || fail "make_spack_repo"
write_sandbox_spack_scope
mkdir -p "$IT_DIR/modules"
recipe_config "oci://$REGISTRY/spack-cache" \
  "$IT_DIR/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro" install >"$IT_DIR/config.yaml"
chown -R "$REAL_SPACK_USER" "$IT_DIR"

tags() { "${CURL[@]}" "https://$REGISTRY/v2/spack-cache/tags/list" | jq -r '.tags[]' | sort; }
start=$SECONDS

# A.
submit_packages a "$IT_DIR/config.yaml" sp-liba sp-libb ||
  fail "build A failed: $(tail -40 "$IT_DIR/a.submit"; tail -40 "$(build_dir_of a)/logs/build.out")"
log=$(<"$(build_dir_of a)/logs/build.out")
for p in sp-liba sp-libb; do
  assert_matches "$log" "No binary for $p-1\.0-[a-z0-9]+ found: installing from source" "A builds $p"
  assert_matches "$log" "Pushed $p@1\.0/[a-z0-9]+ to $REGISTRY/spack-cache:$p-1\.0-[a-z0-9]+\.spack" \
    "A pushes $p to the registry"
done
! grep -q "could not push to the binary cache" <<<"$log" || fail "A's push failed: $log"
tags_a=$(tags) || fail "cannot list the registry's tags"
for p in sp-liba sp-libb; do
  assert_matches "$tags_a" "^$p-1\.0-[a-z0-9]{32}\.spack$" "the registry's tag for $p"
  tag=$(grep "^$p-" <<<"$tags_a")
  manifest=$("${CURL[@]}" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "https://$REGISTRY/v2/spack-cache/manifests/$tag") || fail "cannot read the manifest of $tag"
  assert_eq "application/vnd.oci.image.layer.v1.tar+gzip" "$(jq -r '.layers[-1].mediaType' <<<"$manifest")" \
    "the layer of $tag"
done
assert_matches "$tags_a" "^index\.spack$" "the registry's index (--update-index)"
echo "A built in $((SECONDS - start)) s; tags: $(tr '\n' ' ' <<<"$tags_a")"

# B.
t=$SECONDS
submit_packages b "$IT_DIR/config.yaml" sp-libb sp-hello ||
  fail "build B failed: $(tail -40 "$IT_DIR/b.submit"; tail -40 "$(build_dir_of b)/logs/build.out")"
log=$(<"$(build_dir_of b)/logs/build.out")
assert_matches "$log" "Fetching https://$REGISTRY/v2/spack-cache/blobs/sha256:" "B fetches from the registry"
for p in sp-liba sp-libb; do
  assert_matches "$log" "Extracting $p-1\.0-[a-z0-9]+ from binary cache" "B installs $p from the cache"
  ! grep -q "No binary for $p-" <<<"$log" || fail "B built $p from source"
done
assert_matches "$log" "No binary for sp-hello-1\.0-[a-z0-9]+ found: installing from source" "B builds sp-hello"
assert_matches "$(tags)" "^sp-hello-1\.0-[a-z0-9]{32}\.spack$" "B pushes sp-hello"
echo "B built in $((SECONDS - t)) s"
echo "PASS ($((SECONDS - start)) s)"
