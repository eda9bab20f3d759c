# Shared by the fault-injection tests: the integration helpers (tests/integration/lib) plus
# control of the local Slurm cluster's daemons and checks of the artifacts repository and the
# store after a fault.
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/../../integration/lib/common.bash"
# Pid files, logs and paths of the cluster that scripts/slurm-up started.
source "$SOFTPACK_SOURCE_DIR/scripts/lib/slurm-common.sh"

NODE=$(hostname -s)

# Skips unless the local cluster is up and this test may stop and start its daemons (root).
require_slurm_control() {
  require_slurm
  [[ $(id -u) -eq 0 ]] || skip "stopping and starting slurmctld needs root"
  sp_pid_of "$SP_SLURMCTLD_PID" /usr/sbin/slurmctld >/dev/null ||
    skip "slurmctld was not started by scripts/slurm-up (no pid file $SP_SLURMCTLD_PID)"
}

# Writes $IT_DIR/config.yaml (see write_config) for the backend, with the server on a free port;
# sets PORT and URL. More YAML on stdin, as for write_config.
service_config() { # backend; extra YAML on stdin
  PORT=$(free_port)
  URL="http://127.0.0.1:$PORT"
  {
    cat
    echo "server:"
    echo "  address: 127.0.0.1"
    echo "  port: $PORT"
  } | write_config "${1:-slurm}"
}

# POSTs a build of users/faults/<name> version <version> (package hello); prints its id.
submit_build() { # name version
  local r
  r=$(http POST /environments/build -d "{\"name\":\"users/faults/$1\",\"version\":\"$2\",\"model\":{\"description\":\"d\",\"packages\":[{\"name\":\"hello\"}]}}")
  [[ ${r%% *} == 200 ]] || fail "POST of $1-$2: $r"
  jq -r .id <<<"${r#* }"
}

build_json() { curl -fsS "$URL/builds/$1"; }

# Waits until a jq expression over GET /builds/ID holds.
wait_build_where() { # id jq-expression seconds what
  wait_for "curl -fsS '$URL/builds/$1' | jq -e '$2' >/dev/null 2>&1" "$3" ||
    fail "$4: never happened (build: $(curl -fsS "$URL/builds/$1" 2>&1))"
}

kill9_service() {
  kill -KILL "$SERVICE_PID"
  wait "$SERVICE_PID" 2>/dev/null || true
  SERVICE_PID=
}

# sqlite3 on the service's store (WAL: readable while the service runs).
store_sql() { sqlite3 -batch -noheader "$IT_DIR/var/softpack-builder.db" "$1"; }

# The store's record of a build: "state|error-is-empty|published_ref".
store_build() { store_sql "SELECT state, error = '', published_ref FROM builds WHERE id = '$1'"; }
store_stages() { store_sql "SELECT group_concat(name || '=' || state, ' ') FROM (SELECT name, state FROM stages WHERE build_id = '$1' ORDER BY position)"; }
store_destinations() { store_sql "SELECT group_concat(name || '=' || state, ' ') FROM (SELECT name, state FROM destinations WHERE build_id = '$1' ORDER BY position)"; }

# shellcheck disable=SC2034 # used by the tests
SUCCESS_FILES=".built_by_softpack README.md builder.out module singularity.def softpack.yml spack.lock"

# The build is published exactly once: one commit carrying its Softpack-Build-Id, one commit
# touching its directory, the expected files there, and the store agreeing (state, stages,
# destination, reference = that commit).
assert_published_once() { # repo id env-dir state files
  local repo=$1 id=$2 dir=$3 state=$4 files=$5 commits commit
  commits=$(git -C "$repo" log main --format=%H --grep="Softpack-Build-Id: $id")
  assert_eq 1 "$(grep -c . <<<"$commits")" "commits of build $id (published exactly once)"
  assert_eq 1 "$(git -C "$repo" rev-list --count main -- "$dir")" "commits touching $dir"
  commit=$commits
  assert_eq "$files" "$(repo_files "$repo" "$commit" "$dir" | tr '\n' ' ' | sed 's/ $//')" \
    "files published for build $id"
  local expected_ok=1
  [[ $state == published ]] || expected_ok=0
  assert_eq "$state|$expected_ok|$commit" "$(store_build "$id")" "the store's record of build $id"
  assert_eq "git=published" "$(store_destinations "$id")" "the store's destinations of build $id"
}

# Each named build (a shell variable holding its id, named after it) of users/faults/<name>-<version>
# was published once, its stages all completed in the store, and each stage submitted once.
assert_builds_completed_once() { # repo version name...
  local repo=$1 v=$2 x id
  shift 2
  for x in "$@"; do
    id=${!x}
    assert_published_once "$repo" "$id" "environments/users/faults/$x-$v" published "$SUCCESS_FILES"
    assert_eq "concretize=completed build=completed module=completed" "$(store_stages "$id")" \
      "the store's stages of $x"
    assert_eq 3 "$(jobs_of "$x-$v")" "jobs submitted for $x (each stage once)"
  done
}

# Slurm jobs ever submitted for a build (by its jobs' names) in the last hour. The state list
# (with -E) makes sacct include jobs that never became eligible (cancelled while waiting for a
# dependency), which a plain -S leaves out.
jobs_of() { # name-version
  sacct -X -n -P -S now-1hour -E now -s PD,R,CD,CA,F,NF,TO,OOM,DL,BF,PR,RQ,RV -o JobName |
    grep -c "^sp\.faults\.$1\." || true
}

slurmctld_stop() { sp_stop slurmctld "$SP_SLURMCTLD_PID" /usr/sbin/slurmctld 30 2>/dev/null; }
# shellcheck disable=SC2120 # most callers pass no options
slurmctld_start() { # extra slurmctld options (e.g. -c)
  if ! sp_pid_of "$SP_SLURMCTLD_PID" /usr/sbin/slurmctld >/dev/null; then
    /usr/sbin/slurmctld "$@" </dev/null >>"$SP_LOG_DIR/slurmctld.stderr" 2>&1
  fi
  wait_for "timeout 5 sinfo -h -o %P >/dev/null 2>&1" 60 || fail "slurmctld did not come back"
}

# Leaves the cluster usable whatever happened: controller running, node up.
restore_cluster() {
  slurmctld_start || true
  local state
  state=$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -1)
  case $state in
  idle | mixed | allocated | completing) ;;
  *) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
  esac
  wait_for "sinfo -h -N -n '$NODE' -o %T | grep -qE '^(idle|mixed|allocated|completing)'" 60 || true
}

# Cancels the jobs this test's builds left in the queue (job names sp.faults.*).
cancel_test_jobs() {
  local ids
  mapfile -t ids < <(squeue -h -o '%i %j' 2>/dev/null | awk '$2 ~ /^sp\.faults\./ {print $1}')
  ((${#ids[@]} == 0)) || scancel "${ids[@]}" 2>/dev/null || true
}

# Writes $IT_DIR/bin/sbatch, for the service's PATH: the real sbatch, except that a job named N
# is submitted held (--hold) when $IT_DIR/hold-N exists, and only after 5 s when
# $IT_DIR/slow-N exists; $IT_DIR/sbatch-done-N is touched when it returns.
install_sbatch_wrapper() {
  local real
  real=$(command -v sbatch)
  mkdir -p "$IT_DIR/bin"
  cat >"$IT_DIR/bin/sbatch" <<WRAP
#!/bin/bash
name=
for a in "\$@"; do [[ \$a == --job-name=* ]] && name=\${a#--job-name=}; done
opts=()
if [[ -e "$IT_DIR/hold-\$name" ]]; then opts+=(--hold); fi
if [[ -e "$IT_DIR/slow-\$name" ]]; then sleep 5; fi
"$real" "\${opts[@]}" "\$@"
rc=\$?
touch "$IT_DIR/sbatch-done-\$name"
exit \$rc
WRAP
  chmod +x "$IT_DIR/bin/sbatch"
}
