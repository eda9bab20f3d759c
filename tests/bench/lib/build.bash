# shellcheck shell=bash disable=SC2034  # the BENCH_* variables are used by the sourcing scripts
# Shared by the benchmarks: which build (executables and templates) a run measures, and how a
# quick run (--quick, the ctest entries bench.*_quick) reports that it cannot run here.
#
# Executables, first match wins:
#   1. SOFTPACK_BUILDER, SP_SUBMIT, BENCH_SEED_STORE: one executable each (ctest sets them, so a
#      quick run tests the build directory ctest runs in);
#   2. from the build directory SP_BUILD_DIR (e.g. another tree's, for a before/after
#      comparison), else the directory of SP_SUBMIT or SOFTPACK_BUILDER (sp-submit runs the
#      softpack-builder next to it), else <repo>/build.
# Templates: --templates DIR, else the templates/ of the source tree the measured build was
# configured from (CMAKE_HOME_DIRECTORY in its CMakeCache.txt), else <repo>/templates. A build
# of older code so runs with its own job.sh.mustache.

# Sets BENCH_SOFTPACK_BUILDER, BENCH_SP_SUBMIT and BENCH_SEED_STORE_BIN (paths; existence is
# the caller's to check).
bench_find_executables() { # repo
  local dir=$1/build
  if [[ -n ${SP_BUILD_DIR:-} ]]; then
    dir=$SP_BUILD_DIR
  elif [[ -n ${SP_SUBMIT:-} ]]; then
    dir=$(dirname "$SP_SUBMIT")
  elif [[ -n ${SOFTPACK_BUILDER:-} ]]; then
    dir=$(dirname "$SOFTPACK_BUILDER")
  fi
  BENCH_SOFTPACK_BUILDER=${SOFTPACK_BUILDER:-$dir/softpack-builder}
  BENCH_SP_SUBMIT=${SP_SUBMIT:-$dir/sp-submit}
  BENCH_SEED_STORE_BIN=${BENCH_SEED_STORE:-$dir/tests/bench_seed_store}
}

# Prints the templates directory for a run measuring the executable $2: $3 when given (from
# --templates), else the templates of the tree its build directory was configured from, else
# <repo>/templates. Fails when the directory has no job.sh.mustache.
bench_templates_for() { # repo executable [explicit-dir]
  local dir=${3:-} cache src
  if [[ -z $dir ]]; then
    cache=$(dirname "$2")/CMakeCache.txt
    src=
    [[ -r $cache ]] && src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")
    if [[ -n $src && -d $src/templates ]]; then
      dir=$src/templates
    else
      dir=$1/templates
    fi
  fi
  if [[ ! -f $dir/job.sh.mustache ]]; then
    echo "no job.sh.mustache in the templates directory '$dir'" >&2
    return 1
  fi
  (cd "$dir" && pwd)
}

# For a quick run: the benchmark cannot run here (no cluster, not root, a tool missing). Says
# why and exits 77, which ctest reports as skipped (SKIP_RETURN_CODE).
bench_skip() { # reason
  echo "SKIPPED: $*"
  exit 77
}

# Skips (quick) unless the local Slurm cluster answers, as tests/integration/lib/common.bash's
# require_slurm decides: scripts/test sets SOFTPACK_TEST_SLURM_SKIP when it could not start it.
bench_require_slurm_or_skip() {
  [[ -z ${SOFTPACK_TEST_SLURM_SKIP:-} ]] || bench_skip "$SOFTPACK_TEST_SLURM_SKIP"
  command -v sbatch >/dev/null ||
    bench_skip "Slurm is not installed (scripts/slurm-up installs and starts it, as root)"
  timeout 10 sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)' ||
    bench_skip "no Slurm node is up (start the local cluster with scripts/slurm-up, as root)"
}
