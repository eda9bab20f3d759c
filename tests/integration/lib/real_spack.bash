# The real Spack for the integration tests (issue 13): a source tarball or tree from
# $SOFTPACK_TEST_SPACK, else ../shared/spack/*.tar.xz next to the checkout; the tests that
# source this skip, saying why, when there is none. Nothing is fetched from the network.
#
# Sets up once per build tree, under $SOFTPACK_TEST_TMP/real-spack/ (reused by later tests):
#   tree/     the Spack tree, root-owned and read-only for the test user: a write into it fails
#   scope/    the tests' own config scope (-C): concretizer: original (clingo cannot be
#             bootstrapped offline; this never reaches a template or an image) and the host's
#             compilers, so that Spack does not add them to the environment's spack.yaml
#   cache/    one Spack cache (spack.cache_dir) shared by the tests: cold, a concretize takes
#             about 30 s, warm about 1 s
# and an unprivileged user, softpack-it, that the tests run softpack-builder as.

REAL_SPACK_ROOT="${SOFTPACK_TEST_TMP:-/tmp/softpack-it}/real-spack"
REAL_SPACK_USER=softpack-it

find_real_spack() { # prints the tarball or tree, or nothing
  local src="${SOFTPACK_TEST_SPACK:-}"
  if [[ -z "$src" ]]; then
    src=$(ls "$SOFTPACK_SOURCE_DIR"/../shared/spack/spack-*.tar.* 2>/dev/null | head -1 || true)
  fi
  [[ -n "$src" && -e "$src" ]] && echo "$src"
  return 0
}

require_real_spack() {
  local src
  src=$(find_real_spack)
  [[ -n "$src" ]] || skip "no real Spack: set SOFTPACK_TEST_SPACK to a Spack 0.21 tarball or tree, or put one in ../shared/spack/"
  [[ $(id -u) == 0 ]] || skip "the real-Spack tests make an unprivileged user to run as, which needs root"
  id "$REAL_SPACK_USER" >/dev/null 2>&1 ||
    useradd --system --create-home --shell /bin/bash "$REAL_SPACK_USER" ||
    fail "cannot create the test user $REAL_SPACK_USER"
  (
    flock 9
    if [[ ! -x "$REAL_SPACK_ROOT/tree/bin/spack" ]]; then
      rm -rf "$REAL_SPACK_ROOT"
      mkdir -p "$REAL_SPACK_ROOT/tree" "$REAL_SPACK_ROOT/scope"
      if [[ -d "$src" ]]; then
        cp -a "$src/." "$REAL_SPACK_ROOT/tree/"
      else
        tar -xf "$src" -C "$REAL_SPACK_ROOT/tree" --strip-components=1 ||
          fail "cannot unpack $src"
      fi
      printf 'config:\n  concretizer: original\n' >"$REAL_SPACK_ROOT/scope/config.yaml"
      local user_scope
      user_scope=$(mktemp -d)
      SPACK_USER_CONFIG_PATH="$user_scope" SPACK_USER_CACHE_PATH="$user_scope/cache" \
        "$REAL_SPACK_ROOT/tree/bin/spack" compiler find --scope=user >/dev/null 2>&1 ||
        fail "spack compiler find failed"
      cp "$user_scope/compilers.yaml" "$REAL_SPACK_ROOT/scope/" ||
        fail "spack compiler find wrote no compilers.yaml"
      rm -rf "$user_scope"
      chown -R root:root "$REAL_SPACK_ROOT"
      chmod -R go-w "$REAL_SPACK_ROOT"
    fi
    mkdir -p "$REAL_SPACK_ROOT/cache"
    chown "$REAL_SPACK_USER" "$REAL_SPACK_ROOT/cache"
  ) 9>"${SOFTPACK_TEST_TMP:-/tmp}/real-spack.lock"
  REAL_SPACK=("$REAL_SPACK_ROOT/tree/bin/spack" -C "$REAL_SPACK_ROOT/scope")
  # The test's directory is the user's.
  chown -R "$REAL_SPACK_USER" "$IT_DIR"
}

# Runs a command as the test user, with its own home and a minimal environment.
as_test_user() {
  runuser -u "$REAL_SPACK_USER" -- env -i HOME="$(getent passwd "$REAL_SPACK_USER" | cut -d: -f6)" \
    USER="$REAL_SPACK_USER" LOGNAME="$REAL_SPACK_USER" PATH=/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 "$@"
}

# The config lines for the real Spack (spack: command: [...]).
real_spack_config() {
  printf 'spack:\n  command: [%s, -C, %s]\n  cache_dir: %s\n' "$REAL_SPACK_ROOT/tree/bin/spack" \
    "$REAL_SPACK_ROOT/scope" "$REAL_SPACK_ROOT/cache"
}

# For the tests that build images with the real Spack in the Singularity stand-in's sandbox
# (real_spack_recipe.sh, real_spack_oci_cache.sh).
#
# The sandbox's Spack system scope (/etc/spack there) in $IT_DIR/sandbox-etc: the original
# concretizer, a source cache and build stage in the sandbox's /tmp (the tree is read-only
# there), and the host's gcc said to be 11.4.0, as a build image's Spack differs from the
# submit host's.
write_sandbox_spack_scope() {
  mkdir -p "$IT_DIR/sandbox-etc"
  printf 'config:\n  concretizer: original\n  source_cache: /tmp/spack-source-cache\n  build_stage: [/tmp/spack-stage]\n' \
    >"$IT_DIR/sandbox-etc/config.yaml"
  mkdir -p "$IT_DIR/singularity-tmp" # the builds' scratch space (recipe_config)
  python3 - "$REAL_SPACK_ROOT/scope/compilers.yaml" >"$IT_DIR/sandbox-etc/compilers.yaml" <<'EOF' ||
import sys, yaml
compilers = yaml.safe_load(open(sys.argv[1]))["compilers"]
gcc = [c for c in compilers if c["compiler"]["spec"].startswith("gcc@")]
assert gcc, "no gcc in the tests' compilers.yaml"
gcc[0]["compiler"]["spec"] = "gcc@=11.4.0"
yaml.safe_dump({"compilers": gcc[:1]}, sys.stdout, default_flow_style=False)
EOF
    fail "cannot write the sandbox's compilers.yaml"
}

# A configuration for builds of the test package repository $IT_DIR/repo with the real Spack in
# the sandbox, with one binary cache, published to `install` ($IT_DIR/modules) and the
# destinations given. The repository (its file:// sources) is bound into the build: the test's
# directory may be under /tmp, which the sandbox has its own of.
recipe_config() { # cache-url singularity-bind destinations
  cat <<EOF
data_dir: $IT_DIR/var
scheduler:
  backend: local
  poll_interval: 2s
  min_poll_interval: 200ms
$(real_spack_config)
  repo: $IT_DIR/repo
  binary_caches: [$1]
  unsigned: true
module:
  module_dir: $IT_DIR/modules
jobs:
  path: $FAKES:/usr/local/bin:/usr/bin:/bin
  environment:
    FAKE_SINGULARITY_SPACK: $REAL_SPACK_ROOT/tree
    FAKE_SINGULARITY_SPACK_CONFIG: $IT_DIR/sandbox-etc
    FAKE_SINGULARITY_SPACK_CACHE: $REAL_SPACK_ROOT/cache
    SINGULARITY_BIND: $2,$IT_DIR/repo:$IT_DIR/repo:ro
    SINGULARITY_TMPDIR: $IT_DIR/singularity-tmp
publish:
  destinations: [$3]
EOF
}

# sp-submit --wait of users/<test user>/NAME version 1 with the packages, as the test user;
# its output in $IT_DIR/NAME.submit.
submit_packages() { # name config packages...
  local name=$1 config=$2
  shift 2
  printf 'description: test environment %s\npackages:\n' "$name" >"$IT_DIR/$name.yml"
  printf '  - %s\n' "$@" >>"$IT_DIR/$name.yml"
  chown "$REAL_SPACK_USER" "$IT_DIR/$name.yml"
  as_test_user "$SP_SUBMIT" "$IT_DIR/$name.yml" --name "users/$REAL_SPACK_USER/$name" --version 1 \
    --wait --config "$config" >"$IT_DIR/$name.submit" 2>&1
}

# The build directory of the environment NAME.
build_dir_of() { grep -l "\"name\":\"$1\"" "$IT_DIR"/var/builds/*/build.json | head -1 | xargs dirname; }
