# Shared by the scripts in scripts/: locations and the dependency installer.
# shellcheck shell=bash

SP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SP_BUILD_DIR="${SP_BUILD_DIR:-$SP_ROOT/build}"

# Debian 12 packages the project needs to build, test and run (nothing else is downloaded).
SP_DEBIAN_PACKAGES=(
  cmake g++ make git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libyaml-cpp-dev libcurl4-openssl-dev libssl-dev libspdlog-dev catch2 libsqlite3-dev
  libkainjow-mustache-dev libcli11-dev libmunge-dev pkg-config
  python3 python3-yaml environment-modules tcl curl
)
# Only the tests need these: the real OCI registry the image is pushed to (docker-registry),
# htpasswd for its auth, skopeo to read pushed images back, and FastAPI/uvicorn/python-multipart
# for the softpack-core stand-in (tests/support/softpack_core/), and bubblewrap, squashfs-tools
# and siftool for the Singularity stand-in, which runs a recipe's %post in a sandbox and makes a
# real SIF; munge for the identity tests' own MUNGE daemons (munged, munge, unmunge, mungekey).
SP_TEST_PACKAGES=(munge docker-registry apache2-utils skopeo jq sqlite3 wrk
  python3-fastapi python3-uvicorn python3-multipart bubblewrap squashfs-tools siftool)
# Only scripts/fuzz needs these: clang, and its runtime libraries (libFuzzer, ASan, UBSan).
SP_FUZZ_PACKAGES=(clang libclang-rt-14-dev)

sp_log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

# Installs the missing packages with apt-get (as root); idempotent and quick when all are there.
sp_install_deps() {
  local missing=() pkg
  for pkg in "${SP_DEBIAN_PACKAGES[@]}" "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    sp_log "missing Debian packages: ${missing[*]}"
    sp_log "install them as root: apt-get install -y ${missing[*]}"
    return 1
  fi
  sp_log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Configures and builds into $SP_BUILD_DIR. Extra arguments go to cmake's configure step.
sp_build() {
  cmake -S "$SP_ROOT" -B "$SP_BUILD_DIR" -DCMAKE_BUILD_TYPE="${SP_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
  cmake --build "$SP_BUILD_DIR" -j "$(nproc)"
}
