"""A stand-in for IBM Spectrum LSF 10.1 (bsub, bjobs, bhist, bkill) for softpack-builder's tests.

No daemon: a "cluster" is a directory holding a job table (one JSON file per job) guarded by a
lock. Every command, and every job's shepherd when its job ends, runs a scheduling pass that
dispatches pending jobs whose dependencies are met and terminates orphans (-ti). Each job runs
for real, detached, in its own process group, under a small shepherd process that enforces -W,
carries out bkill and records how the job ended. See README.md beside this file for the command
lines, output formats and their sources, and the knobs.
"""
import fcntl
import getpass
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

SELF = os.path.realpath(__file__)
HOST = socket.gethostname().split(".")[0] or "localhost"
CLUSTER = "fake"

# Termination reasons: keyword -> the text bjobs/bhist print after it ("Termination reasons
# displayed by bacct, bhist, and bjobs", LSF 10.1).
TERM_TEXT = {
    "TERM_OWNER": "job killed by owner",
    "TERM_ADMIN": "job killed by root or LSF administrator",
    "TERM_RUNLIMIT": "job killed after reaching LSF run time limit",
    "TERM_ORPHAN_SYSTEM": "orphan job was automatically terminated by LSF",
    "TERM_CWD_NOTEXIST": "current working directory is not accessible or does not exist on the "
                         "execution host",
}

PEND_DEPENDENCY = "Job dependency condition not satisfied;"
PEND_NEVER = "Dependency condition invalid or never satisfied;"
PEND_NEW = "New job is waiting for scheduling;"
PEND_HOLD = "The job was suspended by the user while pending;"


# ---------------------------------------------------------------------------------- cluster
def cluster_dir():
    d = os.environ.get("SOFTPACK_FAKE_LSF_DIR") or os.environ.get("LSF_ENVDIR")
    if not d:
        d = os.path.join(os.environ.get("TMPDIR", "/tmp"), "softpack-fake-lsf-%d" % os.getuid())
    os.makedirs(os.path.join(d, "jobs"), exist_ok=True)
    return d


def read_conf(d, name):
    """KEY=VALUE lines (lsf.conf, lsb.params, fake.conf); '#' starts a comment."""
    out = {}
    try:
        with open(os.path.join(d, name)) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if "=" in line:
                    k, v = line.split("=", 1)
                    out[k.strip()] = v.strip().strip('"')
    except FileNotFoundError:
        pass
    return out


class Cluster:
    def __init__(self):
        self.dir = cluster_dir()
        self.jobs_dir = os.path.join(self.dir, "jobs")
        conf = {}
        for name in ("lsf.conf", "lsb.params", "fake.conf"):
            conf.update(read_conf(self.dir, name))
        for k, v in os.environ.items():  # FAKE_LSF_X=... in the environment wins over fake.conf
            if k.startswith("FAKE_LSF_"):
                conf["FAKE_" + k[len("FAKE_LSF_"):]] = v
        self.conf = conf
        self._lock = None

    def knob(self, name, default):
        v = self.conf.get(name)
        if v is None or v == "":
            return default
        return type(default)(v) if not isinstance(default, bool) else v.lower() in ("1", "y", "yes", "true")

    # Times are scaled for tests: FAKE_SECONDS_PER_MINUTE=2 makes -W 1 last two seconds.
    def seconds_per_minute(self):
        return self.knob("FAKE_SECONDS_PER_MINUTE", 60.0)

    def lock(self):
        self._lock = open(os.path.join(self.dir, "lock"), "a+")
        fcntl.flock(self._lock, fcntl.LOCK_EX)

    def unlock(self):
        if self._lock:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def log_call(self, argv):
        with open(os.path.join(self.dir, "calls.log"), "a") as f:
            f.write(json.dumps(argv) + "\n")

    def path(self, job_id, ext):
        return os.path.join(self.jobs_dir, "%s.%s" % (job_id, ext))

    def load(self, job_id):
        try:
            with open(self.path(job_id, "json")) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return None

    def save(self, job):
        tmp = self.path(job["id"], "json.tmp")
        with open(tmp, "w") as f:
            json.dump(job, f, indent=1)
        os.replace(tmp, self.path(job["id"], "json"))

    def all_jobs(self):
        jobs = []
        for name in os.listdir(self.jobs_dir):
            if name.endswith(".json"):
                j = self.load(name[:-5])
                if j:
                    jobs.append(j)
        return sorted(jobs, key=lambda j: int(j["id"]))

    def next_id(self):
        p = os.path.join(self.dir, "next_id")
        try:
            n = int(open(p).read().strip())
        except (FileNotFoundError, ValueError):
            n = 101
        with open(p, "w") as f:
            f.write(str(n + 1))
        return str(n)

    # What bjobs still shows: finished jobs are kept CLEAN_PERIOD seconds (lsb.params; LSF's
    # default is 3600), and a new job shows only after FAKE_VISIBILITY_DELAY seconds.
    def visible_to_bjobs(self, job, now):
        if now - job["submit_time"] < self.knob("FAKE_VISIBILITY_DELAY", 0.0):
            return False
        if job["stat"] in ("DONE", "EXIT") and job.get("end_time") is not None:
            return now - job["end_time"] <= self.knob("CLEAN_PERIOD", 3600.0)
        return True

    # bhist reads the event log, which outlives CLEAN_PERIOD; FAKE_BHIST_RETENTION (seconds
    # after the end) makes it forget too, so only the result file is left.
    def visible_to_bhist(self, job, now):
        if now - job["submit_time"] < self.knob("FAKE_VISIBILITY_DELAY", 0.0):
            return False
        keep = self.knob("FAKE_BHIST_RETENTION", -1.0)
        if keep >= 0 and job["stat"] in ("DONE", "EXIT") and job.get("end_time") is not None:
            return now - job["end_time"] <= keep
        return True


def event(job, text, when=None):
    job.setdefault("events", []).append([when if when is not None else time.time(), text])


def finish(job, stat, exit_code=None, signal_no=None, reason="", when=None):
    now = when if when is not None else time.time()
    job["stat"] = stat
    job["end_time"] = now
    job["exit_code"] = exit_code
    job["signal"] = signal_no
    job["exit_reason"] = reason
    job["pend_reason"] = ""


def reason_text(keyword):
    return "%s: %s" % (keyword, TERM_TEXT.get(keyword, "job terminated")) if keyword else ""


# ------------------------------------------------------------------------------ dependencies
DEP_TOKEN = re.compile(r"\s*(?:(done|ended|exit|started)\(\s*(\d+)\s*\)|(&&)|(\|\|)|(!)|(\()|(\)))")


def parse_dependency(expr):
    """Tokens of a dependency expression; raises ValueError on anything else."""
    tokens, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = DEP_TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError(expr[pos:])
        if m.group(1):
            tokens.append(("cond", m.group(1), m.group(2)))
        else:
            tokens.append(("op", next(g for g in m.groups()[2:] if g)))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return tokens


def evaluate(tokens, state_of):
    """Three-valued: True (met), False (can never be met), None (not yet)."""
    pos = [0]

    def cond(kind, job_id):
        st = state_of(job_id)
        if kind == "done":
            return True if st == "DONE" else False if st in ("EXIT", None) else None
        if kind == "exit":
            return True if st == "EXIT" else False if st in ("DONE", None) else None
        if kind == "ended":
            return True if st in ("DONE", "EXIT") else False if st is None else None
        return True if st in ("RUN", "DONE", "EXIT") else False if st is None else None  # started

    def primary():
        t = tokens[pos[0]]
        pos[0] += 1
        if t[0] == "cond":
            return cond(t[1], t[2])
        if t[1] == "!":
            v = primary()
            return None if v is None else not v
        if t[1] == "(":
            v = disjunction()
            pos[0] += 1  # ")"
            return v
        raise ValueError(t)

    def conjunction():
        v = primary()
        while pos[0] < len(tokens) and tokens[pos[0]] == ("op", "&&"):
            pos[0] += 1
            w = primary()
            v = False if (v is False or w is False) else (None if None in (v, w) else True)
        return v

    def disjunction():
        v = conjunction()
        while pos[0] < len(tokens) and tokens[pos[0]] == ("op", "||"):
            pos[0] += 1
            w = conjunction()
            v = True if (v is True or w is True) else (None if None in (v, w) else False)
        return v

    return disjunction()


# ------------------------------------------------------------------------------- scheduling
def schedule(cl):
    """One scheduling pass; the caller holds the lock. Returns the ids to start."""
    now = time.time()
    jobs = {j["id"]: j for j in cl.all_jobs()}
    to_start = []
    changed = True
    while changed:  # an orphan's termination can orphan its own dependents
        changed = False
        for j in jobs.values():
            if j["stat"] != "PEND":
                continue
            met = True
            if j.get("depend"):
                met = evaluate(parse_dependency(j["depend"]),
                               lambda i: jobs[i]["stat"] if i in jobs else None)
            if met is True:
                if now - j["submit_time"] < cl.knob("FAKE_DISPATCH_DELAY", 0.0):
                    j["pend_reason"] = PEND_NEW
                    cl.save(j)
                    continue
                j["stat"] = "RUN"
                j["start_time"] = now
                j["pend_reason"] = ""
                event(j, "Dispatched 1 Task(s) on Host(s) <%s>, Allocated 1 Slot(s) on Host(s) "
                         "<%s>, Effective RES_REQ <%s>;" % (HOST, HOST, j.get("resreq") or
                                                            "select[type == local] order[r15s:pg] "))
                cl.save(j)
                to_start.append(j["id"])
            elif met is False:
                if j.get("ti"):
                    event(j, "Signal <KILL> requested by user or administrator <%s>;" % "lsfadmin")
                    event(j, "Exited; job has been forced to exit with exit code 2. The CPU time "
                             "used is unknown;")
                    event(j, "Completed <exit>; %s;" % reason_text("TERM_ORPHAN_SYSTEM"))
                    finish(j, "EXIT", None, None, "TERM_ORPHAN_SYSTEM")
                    changed = True
                else:
                    j["pend_reason"] = PEND_NEVER
                cl.save(j)
            else:
                if j["pend_reason"] != PEND_DEPENDENCY:
                    j["pend_reason"] = PEND_DEPENDENCY
                    cl.save(j)
    return to_start


def start_shepherds(cl, ids):
    for job_id in ids:
        log = open(cl.path(job_id, "shepherd.log"), "a")
        subprocess.Popen([sys.executable, SELF, "shepherd", cl.dir, job_id],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
                         start_new_session=True, env={"PATH": "/usr/bin:/bin"})
        log.close()


def run_scheduler(cl):
    cl.lock()
    try:
        ids = schedule(cl)
    finally:
        cl.unlock()
    start_shepherds(cl, ids)


# -------------------------------------------------------------------------------- shepherd
def fmt_time(t, year=False):
    return time.strftime("%a %b %d %H:%M:%S" + (" %Y" if year else ""), time.localtime(t))


def job_environment(job):
    """-env none: only what LSF itself sets on the execution host; otherwise the submission
    environment bsub recorded (-env all, the default), or the listed variables."""
    env = dict(job.get("env_vars") or {})
    try:
        import pwd
        pw = pwd.getpwnam(job["user"])
        env.setdefault("HOME", pw.pw_dir)
    except (KeyError, ImportError):
        pass
    env.setdefault("PATH", "/usr/bin:/bin")
    env.update({"USER": job["user"], "LOGNAME": job["user"], "LSB_JOBID": job["id"],
                "LSB_JOBNAME": job["name"], "LSB_QUEUE": job["queue"], "LSB_JOBINDEX": "0",
                "LSB_HOSTS": HOST, "LSB_MCPU_HOSTS": "%s %s" % (HOST, job.get("nproc", 1)),
                "LSB_OUTPUTFILE": job.get("out") or "", "LS_SUBCWD": job["cwd"],
                "LSF_ENVDIR": job["cluster"]})
    if job.get("err"):
        env["LSB_ERRORFILE"] = job["err"]
    return env


def append_report(job):
    """LSF appends its job report to the -o file (with LSB_STDOUT_DIRECT=Y, after the output)."""
    if not job.get("out"):
        return
    ok = job["stat"] == "DONE"
    if ok:
        result = "Successfully completed."
    elif job.get("signal"):
        result = "Exited with signal termination: %s." % signal.Signals(job["signal"]).name[3:].title()
    elif job.get("exit_reason") == "TERM_RUNLIMIT":
        result = "TERM_RUNLIMIT: job killed after reaching LSF run time limit.\n" \
                 "Exited with exit code %s." % job.get("exit_code")
    elif job.get("exit_reason") == "TERM_OWNER":
        result = "TERM_OWNER: job killed by owner.\nExited with exit code %s." % job.get("exit_code")
    else:
        result = "Exited with exit code %s." % job.get("exit_code")
    lines = [
        "", "-" * 60,
        "Sender: LSF System <lsfadmin@%s>" % HOST,
        "Subject: Job %s: <%s> in cluster <%s> %s" % (job["id"], job["name"], CLUSTER,
                                                     "Done" if ok else "Exited"),
        "",
        "Job <%s> was submitted from host <%s> by user <%s> in cluster <%s> at %s" % (
            job["name"], HOST, job["user"], CLUSTER, fmt_time(job["submit_time"], True)),
        "Job was executed on host(s) <%s>, in queue <%s>, as user <%s> in cluster <%s> at %s" % (
            HOST, job["queue"], job["user"], CLUSTER, fmt_time(job["start_time"], True)),
        "<%s> was used as the working directory." % job["cwd"],
        "Started at %s" % fmt_time(job["start_time"], True),
        "Terminated at %s" % fmt_time(job["end_time"], True),
        "Results reported at %s" % fmt_time(job["end_time"], True),
        "", "Your job looked like:", "", "-" * 60, "# LSBATCH: User input",
        job.get("command", "").rstrip("\n"), "-" * 60, "", result, "",
        "Resource usage summary:", "",
        "    CPU time :                                   0.10 sec.",
        "    Run time :                                   %d sec." % max(0, round(
            job["end_time"] - job["start_time"])),
        "", "The output (if any) is above this job summary.", "",
    ]
    with open(job["out"], "a") as f:
        f.write("\n".join(lines) + "\n")


def shepherd(cluster_path, job_id):
    os.environ["SOFTPACK_FAKE_LSF_DIR"] = cluster_path
    cl = Cluster()
    job = cl.load(job_id)
    cmd_file = cl.path(job_id, "cmd")
    out = err = None
    proc = None
    try:
        if job.get("out"):
            out = open(job["out"], "w" if job.get("out_overwrite") else "a")
        if job.get("err"):
            err = open(job["err"], "w" if job.get("err_overwrite") else "a")
        if not os.path.isdir(job["cwd"]):
            raise FileNotFoundError(job["cwd"])
        cl.lock()
        try:
            job = cl.load(job_id)
            if job.get("kill_requested") is None:
                proc = subprocess.Popen(["/bin/sh", cmd_file], cwd=job["cwd"],
                                        stdin=subprocess.DEVNULL,
                                        stdout=out or subprocess.DEVNULL,
                                        stderr=err or out or subprocess.DEVNULL,
                                        env=job_environment(job), start_new_session=True)
                job["pid"] = proc.pid
                event(job, "Starting (Pid %d);" % proc.pid)
                event(job, "Running with execution home <%s>, Execution CWD <%s>, Execution Pid "
                           "<%d>;" % (os.path.expanduser("~" + job["user"]), job["cwd"], proc.pid))
                cl.save(job)
        finally:
            cl.unlock()
    except OSError:
        cl.lock()
        try:
            job = cl.load(job_id)
            event(job, "Exited with exit code 2. The CPU time used is 0.0 seconds;")
            event(job, "Completed <exit>; %s;" % reason_text("TERM_CWD_NOTEXIST"))
            finish(job, "EXIT", 2, None, "TERM_CWD_NOTEXIST")
            cl.save(job)
        finally:
            cl.unlock()
        run_scheduler(cl)
        return

    limit = job.get("runlimit_min")
    limit_s = limit * cl.seconds_per_minute() if limit else None
    grace = cl.knob("FAKE_RUNLIMIT_GRACE", 600.0)  # "killed if it does not terminate within ten minutes"
    interval = cl.knob("JOB_TERMINATE_INTERVAL", 10.0)
    started = time.time()
    usr2_at = term_at = None
    killed = False
    rc = None
    while proc is not None:
        rc = proc.poll()
        if rc is not None:
            break
        now = time.time()
        if limit_s is not None and usr2_at is None and now - started >= limit_s:
            usr2_at = now
            os.killpg(proc.pid, signal.SIGUSR2)
        if usr2_at is not None and not killed and now - usr2_at >= grace:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        current = cl.load(job_id) or job
        if current.get("kill_requested") is not None and term_at is None:
            term_at = now
            for sig in (signal.SIGINT, signal.SIGTERM):  # bkill: INT and TERM, then KILL
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
        if term_at is not None and not killed and now - term_at >= interval:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        time.sleep(0.05)
    if proc is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # what the job left behind
        except ProcessLookupError:
            pass
    for f in (out, err):
        if f:
            f.close()

    cl.lock()
    try:
        job = cl.load(job_id)
        reason = ""
        if job.get("kill_requested") is not None:
            reason = job.get("kill_reason") or "TERM_OWNER"
            event(job, "Signal <KILL> requested by user or administrator <%s>;" % job["user"],
                  job["kill_requested"])
        elif usr2_at is not None:
            reason = "TERM_RUNLIMIT"
        if rc is None:  # killed before it started
            finish(job, "EXIT", None, None, reason)
            event(job, "Completed <exit>; %s;" % reason_text(reason) if reason else
                  "Completed <exit>.")
        else:
            code, sig = (rc, None) if rc >= 0 else (128 - rc, -rc)
            if rc == 0 and not reason:
                event(job, "Done successfully. The CPU time used is 0.1 seconds;")
                event(job, "Completed <done>.")
                finish(job, "DONE", 0)
            else:
                if sig:
                    event(job, "Exited by signal %d. The CPU time used is 0.1 seconds;" % sig)
                else:
                    event(job, "Exited with exit code %d. The CPU time used is 0.1 seconds;" % code)
                event(job, "Completed <exit>; %s;" % reason_text(reason) if reason else
                      "Completed <exit>.")
                finish(job, "EXIT", code, sig, reason)
        cl.save(job)
        append_report(job)
    finally:
        cl.unlock()
    run_scheduler(cl)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "shepherd":
    shepherd(sys.argv[2], sys.argv[3])
