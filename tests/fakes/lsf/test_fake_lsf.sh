#!/bin/bash
# Self-test of the fake LSF commands (run by CTest as fakes.lsf_self_test; exit 0 = pass).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fake-lsf-test.XXXXXX")"
export LSF_ENVDIR="$WORK/cluster"
mkdir -p "$LSF_ENVDIR"
export PATH="$HERE:$PATH"
cd "$WORK" || exit 1
trap 'bkill 0 >/dev/null 2>&1; rm -rf "$WORK"' EXIT
printf 'JOB_TERMINATE_INTERVAL=1\n' >"$LSF_ENVDIR/lsb.params"
printf 'FAKE_SECONDS_PER_MINUTE=1\n' >"$LSF_ENVDIR/fake.conf"

PASSES=0 FAILS=0
pass() { PASSES=$((PASSES + 1)); }
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
run() { OUT=$("$@" 2>"$WORK/err"); RC=$?; ERR=$(cat "$WORK/err"); }
expect_eq() { if [[ "$1" == "$2" ]]; then pass; else fail "$3: expected [$2], got [$1]"; fi; }
expect_in() { if [[ "$1" == *"$2"* ]]; then pass; else fail "$3: [$2] not in [$1]"; fi; }
stat_of() { bjobs -a -noheader -o "stat exit_code exit_reason delimiter='|'" "$1" 2>/dev/null; }
wait_stat() { # id regex seconds
  local deadline=$((SECONDS + $3))
  until [[ "$(stat_of "$1")" =~ $2 ]]; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# ------------------------------------------------------------------- bsub
run bsub -J one -o "$WORK/one.out" <<<'echo out-one; echo err-one >&2'
expect_eq "$RC" 0 "bsub exit code"
expect_eq "$OUT" "Job <101> is submitted to default queue <normal>." "bsub output, default queue"
run bsub -q normal -J two -o "$WORK/two.out" -e "$WORK/two.err" -w 'done(101)' -ti <<<'exit 3'
expect_eq "$OUT" "Job <102> is submitted to queue <normal>." "bsub output with -q"
run bsub -q nosuchq <<<'true'
expect_eq "$RC" 255 "bsub to an unknown queue"
expect_eq "$ERR" "nosuchq: No such queue. Job not submitted." "unknown queue message"
run bsub -ti <<<'true'
expect_eq "$RC" 255 "-ti without -w"
run bsub -w 'done(99999)' <<<'true'
expect_in "$ERR" "99999: No matching job found. Job not submitted." "dependency on an unknown job"
run bsub -Z <<<'true'
expect_in "$ERR" "bsub: illegal option -- Z" "unknown option"
run bsub -J three -w 'done(102)' -ti <<<'true'   # 103: orphaned when 102 fails
run bsub -J four -w 'done(102)' <<<'true'        # 104: without -ti it pends for ever
wait_stat 102 '^EXIT' 10 || fail "job 102 never ended"
expect_eq "$(stat_of 101)" "DONE|-|-" "a job that exits 0"
expect_eq "$(stat_of 102)" "EXIT|3|-" "a job that exits 3"
wait_stat 103 '^EXIT' 5
expect_eq "$(stat_of 103)" "EXIT|-|TERM_ORPHAN_SYSTEM: orphan job was automatically terminated by LSF" "-ti orphan"
expect_eq "$(bjobs -noheader -o "stat pend_reason delimiter='|'" 104)" \
  "PEND|Dependency condition invalid or never satisfied;" "orphan without -ti"
expect_eq "$(cat one.out | head -2 | tr '\n' ' ')" "out-one err-one " "-o without -e takes stderr too"
expect_in "$(cat one.out)" "Successfully completed." "the job report in the -o file"
expect_in "$(cat two.err)" "" "-e file"

# ------------------------------------------------------------------- bjobs
run bjobs -a -noheader -o "jobid stat delimiter='^'" 101 99999 102
expect_eq "$RC" 255 "bjobs with an unknown id"
expect_eq "$OUT" $'101^DONE\n102^EXIT' "bjobs prints the known ids"
expect_eq "$ERR" "Job <99999> is not found" "bjobs names the unknown id on stderr"
run bjobs -a -o "jobid stat" 101
expect_eq "$OUT" $'JOBID STAT\n101 DONE' "header without -noheader"
run bjobs -a -json -o "jobid stat exit_code" 102 99999
expect_eq "$RC" 255 "bjobs -json with an unknown id"
expect_eq "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["COMMAND"], d["JOBS"], d["RECORDS"][0], d["RECORDS"][1])' <<<"$OUT")" \
  "bjobs 2 {'JOBID': '102', 'STAT': 'EXIT', 'EXIT_CODE': '3'} {'ERROR': 'Job <99999> is not found'}" "bjobs -json shape"
run bjobs -json -noheader -o "jobid" 101
expect_eq "$RC" 255 "-json with -noheader"
run bjobs -a -noheader -o "jobid bogus" 101
expect_eq "$RC" 255 "unknown field"
u=$'\x1f'
run bjobs -a -noheader -o "jobid stat delimiter='$u'" 101
expect_eq "$OUT" "101${u}DONE" "the unit separator as delimiter"
run bjobs -a -noheader -o "jobid" -J three
expect_eq "$OUT" "103" "bjobs -J"

# ------------------------------------------------------------------- -env
export SOFTPACK_FAKE_SECRET=leaked
run bsub -J env-none -env none -o "$WORK/env-none.out" <<<'echo "secret=${SOFTPACK_FAKE_SECRET:-} job=$LSB_JOBID"'
none_id=$(sed 's/Job <\([0-9]*\)>.*/\1/' <<<"$OUT")
run bsub -J env-all -o "$WORK/env-all.out" <<<'echo "secret=${SOFTPACK_FAKE_SECRET:-}"'
all_id=$(sed 's/Job <\([0-9]*\)>.*/\1/' <<<"$OUT")
unset SOFTPACK_FAKE_SECRET
wait_stat "$none_id" '^DONE' 5 && wait_stat "$all_id" '^DONE' 5
expect_eq "$(head -1 env-none.out)" "secret= job=$none_id" "-env none keeps the submission environment out"
expect_eq "$(head -1 env-all.out)" "secret=leaked" "the default -env all passes it"

# ------------------------------------------------------------------- bkill
run bsub -J sleeper -o "$WORK/sleeper.out" <<<'trap "echo got-term; exit 143" TERM; sleep 30 & wait'
sleeper=$(sed 's/Job <\([0-9]*\)>.*/\1/' <<<"$OUT")
run bsub -J after-sleeper -w "done($sleeper)" -ti <<<'true'
after=$(sed 's/Job <\([0-9]*\)>.*/\1/' <<<"$OUT")
wait_stat "$sleeper" '^RUN' 5 || fail "the sleeper never ran"
run bkill "$sleeper" 101 99999
expect_eq "$RC" 255 "bkill with finished and unknown ids"
expect_eq "$OUT" "Job <$sleeper> is being terminated" "bkill of a running job"
expect_eq "$ERR" $'Job <101>: Job has already finished\nJob <99999>: No matching job found' "bkill messages"
wait_stat "$sleeper" '^EXIT' 5 || fail "bkill did not end the job"
# bkill sends SIGINT and SIGTERM together: the shell ends on either (130 or 143).
[[ "$(stat_of "$sleeper")" =~ ^EXIT\|(130|143)\|TERM_OWNER:\ job\ killed\ by\ owner$ ]] && pass ||
  fail "a bkilled job: $(stat_of "$sleeper")"
expect_in "$(cat sleeper.out)" "got-term" "the job got SIGTERM"
wait_stat "$after" '^EXIT' 5
expect_in "$(stat_of "$after")" "TERM_ORPHAN_SYSTEM" "its dependent is orphaned"
run bkill 104
expect_eq "$OUT" "Job <104> is being terminated" "bkill of a pending job"
expect_eq "$(stat_of 104)" "EXIT|-|TERM_OWNER: job killed by owner" "a pending job killed"

# ------------------------------------------------------------------- -W
run bsub -J limited -W 1 -o "$WORK/limited.out" <<<'trap "echo got-usr2; exit 124" USR2; sleep 30 & wait'
limited=$(sed 's/Job <\([0-9]*\)>.*/\1/' <<<"$OUT")
wait_stat "$limited" '^EXIT' 10 || fail "the run limit was not enforced"
expect_eq "$(stat_of "$limited")" "EXIT|124|TERM_RUNLIMIT: job killed after reaching LSF run time limit" "run limit"
expect_in "$(cat limited.out)" "got-usr2" "the job got SIGUSR2 at its run limit"

# ------------------------------------------------------------------- bhist, CLEAN_PERIOD
run bhist -a -l 101 "$sleeper" "$limited"
expect_in "$OUT" "Job <101>, Job Name <one>" "bhist -l header"
expect_in "$OUT" "Done successfully" "bhist of a done job"
expect_in "$(tr -d ' \n' <<<"$OUT")" "Completed<exit>;TERM_OWNER:jobkilledbyowner" "bhist of a killed job"
expect_in "$(tr -d ' \n' <<<"$OUT")" "Completed<exit>;TERM_RUNLIMIT" "bhist of a job over its limit"
long=$(awk 'length > 80' <<<"$OUT")
expect_eq "$long" "" "bhist -l lines are at most 80 columns"
printf 'CLEAN_PERIOD=0\n' >>"$LSF_ENVDIR/lsb.params"
run bjobs -a 101
expect_eq "$ERR" "Job <101> is not found" "finished jobs are purged after CLEAN_PERIOD"
run bhist -a -l 101
expect_in "$OUT" "Done successfully" "bhist still knows a purged job"
printf 'FAKE_BHIST_RETENTION=0\n' >>"$LSF_ENVDIR/fake.conf"
run bhist -a -l 101
expect_eq "$RC" 255 "bhist after its retention"
expect_eq "$ERR" "No matching job found" "bhist's message"

if ((FAILS > 0)); then
  echo "test_fake_lsf.sh: $FAILS check(s) FAILED, $PASSES passed" >&2
  exit 1
fi
echo "test_fake_lsf.sh: all $PASSES checks passed"
