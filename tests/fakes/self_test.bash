# shellcheck shell=bash
# The checks shared by the stand-ins' self-tests (test_fakes.sh, test_spack_install.sh,
# test_singularity.sh): each counts passes and failures, prints every failure, and ends with
# self_test_summary. $WORK must be the test's scratch directory.

FAILS=0
PASSES=0
pass() { PASSES=$((PASSES + 1)); }
fail() {
  FAILS=$((FAILS + 1))
  printf 'FAIL: %s\n' "$*" >&2
}

# run CMD...: stdout in $OUT, stderr in $ERR, exit code in $RC (never aborts)
run() {
  RC=0
  "$@" >"$WORK/.out" 2>"$WORK/.err" || RC=$?
  OUT="$(cat "$WORK/.out")"
  ERR="$(cat "$WORK/.err")"
}
expect_rc() { # expected-rc description
  if [[ "$RC" == "$1" ]]; then pass; else
    fail "$2: exit code $RC, expected $1"$'\n'"  stdout: ${OUT:0:1500}"$'\n'"  stderr: ${ERR:0:1500}"
  fi
}
expect_in() { # haystack needle description
  if [[ "$1" == *"$2"* ]]; then pass; else fail "$3: missing [$2] in:"$'\n'"${1:0:2500}"; fi
}
expect_not_in() { # haystack needle description
  if [[ "$1" != *"$2"* ]]; then pass; else fail "$3: unexpected [$2] in:"$'\n'"${1:0:2500}"; fi
}
expect_eq() { # actual expected description
  if [[ "$1" == "$2" ]]; then pass; else fail "$3: got [$1], expected [$2]"; fi
}
check() { # description, then a test command (its stdout is dropped)
  local desc="$1"
  shift
  if "$@" >/dev/null; then pass; else fail "$desc"; fi
}

# Exits 1 with the counts when a check failed, else 0.
self_test_summary() { # name
  if ((FAILS > 0)); then
    echo "$1: $FAILS check(s) FAILED, $PASSES passed" >&2
    exit 1
  fi
  echo "$1: all $PASSES checks passed"
  exit 0
}
