# Shared by the lsf_* integration tests (sourced after lib/common.bash): a fresh fake LSF 10.1
# cluster (tests/fakes/lsf) in $IT_DIR/lsf, first on PATH for the builder and the tests.
# shellcheck shell=bash

LSF_FAKES="$SOFTPACK_SOURCE_DIR/tests/fakes/lsf"
# LSF commands find their cluster through LSF_ENVDIR (lsf.conf); the fake keeps its job table
# there too. The adapter passes LSF_* variables on to bsub.
export LSF_ENVDIR="$IT_DIR/lsf"
mkdir -p "$LSF_ENVDIR"
export PATH="$LSF_FAKES:$PATH"
printf 'LSF_UNIT_FOR_LIMITS=MB\n' >"$LSF_ENVDIR/lsf.conf"
# bkill's SIGKILL follows INT/TERM after JOB_TERMINATE_INTERVAL seconds (LSF's default: 10).
printf 'JOB_TERMINATE_INTERVAL=2\n' >"$LSF_ENVDIR/lsb.params"
: >"$LSF_ENVDIR/fake.conf"

# Fake-only knobs (tests/fakes/lsf/README.md), e.g. fake_lsf_knob FAKE_SECONDS_PER_MINUTE 2.
fake_lsf_knob() { # name value
  printf '%s=%s\n' "$1" "$2" >>"$LSF_ENVDIR/fake.conf"
}
lsb_param() { # name value
  printf '%s=%s\n' "$1" "$2" >>"$LSF_ENVDIR/lsb.params"
}

# Every command line the fake LSF commands were given, one JSON array per line.
lsf_calls() { # [command]
  if [[ $# -gt 0 ]]; then
    grep "^\[\"$1\"" "$LSF_ENVDIR/calls.log" || true
  else
    cat "$LSF_ENVDIR/calls.log"
  fi
}

# One field of a job as bjobs shows it (while CLEAN_PERIOD keeps it).
bjobs_field() { # id field
  bjobs -a -noheader -o "$2 delimiter='|'" "$1" 2>/dev/null
}

# Leaves no job of the fake cluster running when the test ends.
cleanup_fake_lsf() {
  bkill 0 >/dev/null 2>&1 || true
}
trap cleanup_fake_lsf EXIT

# The config for the lsf backend with the fake's unit.
write_lsf_config() { # extra YAML on stdin, as for write_config
  {
    echo "  lsf:"
    echo "    unit_for_limits: MB"
    echo "    command_timeout: 10s"
    if [[ ! -t 0 ]]; then cat; fi
  } | write_config lsf
}
