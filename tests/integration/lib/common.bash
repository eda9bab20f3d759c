# Shared by the integration tests: a scratch directory, a config using the stand-ins, checks.
# shellcheck shell=bash
set -euo pipefail

: "${SP_SUBMIT:?run through ctest (SP_SUBMIT is set there)}"
: "${SOFTPACK_BUILDER:?run through ctest}"
: "${SOFTPACK_SOURCE_DIR:?run through ctest}"

IT_NAME="$(basename "$0" .sh)"
IT_DIR="${SOFTPACK_TEST_TMP:-/tmp/softpack-it}/$IT_NAME"
rm -rf "$IT_DIR"
mkdir -p "$IT_DIR"
FAKES="$SOFTPACK_SOURCE_DIR/tests/fakes"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

skip() {
  echo "SKIPPED: $*"
  exit 77
}

# Writes $IT_DIR/config.yaml for the given backend (default local) using the stand-ins. Extra
# YAML comes on stdin and is appended after the `scheduler:` section, which comes last: lines
# indented by two spaces add to it (e.g. `  stages:`), others start top-level sections.
write_config() {
  local backend="${1:-local}"
  {
    echo "data_dir: $IT_DIR/var"
    echo "jobs:"
    echo "  path: $FAKES:/usr/local/bin:/usr/bin:/bin"
    echo "scheduler:"
    echo "  backend: $backend"
    echo "  poll_interval: 2s"
    echo "  min_poll_interval: 200ms"
    if [[ ! -t 0 ]]; then cat; fi
  } >"$IT_DIR/config.yaml"
}

# Files of a path at a commit of the artifacts repository.
repo_files() { # repo commit dir
  git -C "$1" ls-tree -r --name-only "$2" -- "$3" | sed "s|^$3/||" | sort
}

assert_eq() { # expected actual what
  if [[ "$1" != "$2" ]]; then
    fail "$3: expected [$1], got [$2]"
  fi
}

assert_contains() { # haystack needle what
  if [[ "$1" != *"$2"* ]]; then
    fail "$3: expected to contain [$2]; got: $1"
  fi
}

# Skips (exit 77, with the reason) unless the local Slurm cluster answers.
require_slurm() {
  if [[ -n "${SOFTPACK_TEST_SLURM_SKIP:-}" ]]; then
    skip "$SOFTPACK_TEST_SLURM_SKIP"
  fi
  command -v sbatch >/dev/null || skip "Slurm is not installed (scripts/slurm-up installs and starts it, as root)"
  timeout 10 sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)' ||
    skip "no Slurm node is up (start the local cluster with scripts/slurm-up, as root)"
}

# Waits up to $2 seconds for a command to succeed.
wait_for() { # command-string seconds
  local deadline=$((SECONDS + $2))
  until eval "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# Slurm job ids of a build directory's stages, from its sp-submit output.
job_id_of() { # output stage
  sed -n "s/.*  $2  job \([0-9]*\)  .*/\1/p" <<<"$1" | head -1
}

# A free TCP port on 127.0.0.1.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts `softpack-builder serve` with $IT_DIR/config.yaml in the background; sets SERVICE_PID
# and URL, and waits until /healthz answers.
start_service() {
  "$SOFTPACK_BUILDER" serve --config "$IT_DIR/config.yaml" >>"$IT_DIR/service.log" 2>&1 &
  SERVICE_PID=$!
  wait_for "curl -fsS '$URL/healthz' >/dev/null 2>&1" 20 ||
    fail "the service did not come up: $(tail -20 "$IT_DIR/service.log")"
}

stop_service() {
  if [[ -n "${SERVICE_PID:-}" ]] && kill -0 "$SERVICE_PID" 2>/dev/null; then
    kill -TERM "$SERVICE_PID"
    wait "$SERVICE_PID" || true
  fi
}

# curl that prints "<status> <body>" and never fails.
http() { # method path [curl args...]
  local method=$1 path=$2
  shift 2
  curl -sS -o "$IT_DIR/http.body" -w '%{http_code}' -X "$method" "$URL$path" "$@" || true
  printf ' '
  cat "$IT_DIR/http.body"
}

# Waits until GET /builds/ID reports a final state; prints it.
wait_build() { # id seconds
  local deadline=$((SECONDS + $2)) state
  while ((SECONDS < deadline)); do
    state=$(curl -fsS "$URL/builds/$1" | jq -r .state 2>/dev/null || true)
    case "$state" in published | failed | cancelled)
      echo "$state"
      return 0
      ;;
    esac
    sleep 0.5
  done
  echo "timeout (last state: $state)"
}

assert_matches() { # haystack extended-regex what
  grep -qE "$2" <<<"$1" || fail "$3: expected a match for [$2]; got: $1"
}
