# shellcheck shell=bash disable=SC2034  # variables are used by the sourcing scripts
# Shared settings and helpers for scripts/slurm-up and scripts/slurm-down.
# Sourced, not executed.  Everything here must stay in sync between the two
# scripts: slurm-down only stops what slurm-up recorded in the pid files below.

SP_CLUSTER=softpack
SP_PARTITION=debug

# Config: /etc/slurm is the Debian default SLURM_CONF directory, so plain
# sinfo/sbatch/sacct work without exporting SLURM_CONF.
SP_CONF_DIR=/etc/slurm
SP_SLURM_CONF=$SP_CONF_DIR/slurm.conf
SP_SLURMDBD_CONF=$SP_CONF_DIR/slurmdbd.conf

# Run directory owned by these scripts; one sub-directory per daemon user so
# that daemons which drop privileges can still write their pid file.
SP_RUN_DIR=/run/softpack-slurm
SP_MUNGED_PID=$SP_RUN_DIR/munge/munged.pid
SP_MARIADB_PID=$SP_RUN_DIR/mysql/mariadbd.pid
SP_SLURMDBD_PID=$SP_RUN_DIR/slurm/slurmdbd.pid
SP_SLURMCTLD_PID=$SP_RUN_DIR/slurm/slurmctld.pid
SP_SLURMD_PID=$SP_RUN_DIR/slurm/slurmd.pid

# Sockets stay at the Debian defaults so client tools (munge, mariadb,
# libmariadb inside slurmdbd) find them without extra options.
SP_MUNGE_SOCKET=/run/munge/munge.socket.2
SP_MYSQL_SOCKET=/run/mysqld/mysqld.sock

# Private MariaDB instance (does not touch /var/lib/mysql).
SP_STATE_DIR=/var/lib/softpack-slurm
SP_MYSQL_DATADIR=$SP_STATE_DIR/mysql

SP_LOG_DIR=/var/log/slurm
SP_MUNGED_LOG=/var/log/munge/munged.log
SP_MARIADB_LOG=$SP_LOG_DIR/mariadb.log
SP_SLURMDBD_LOG=$SP_LOG_DIR/slurmdbd.log
SP_SLURMCTLD_LOG=$SP_LOG_DIR/slurmctld.log
SP_SLURMD_LOG=$SP_LOG_DIR/slurmd.log

SP_CTLD_SPOOL=/var/spool/slurmctld
SP_SLURMD_SPOOL=/var/spool/slurmd

sp_prog=${sp_prog:-slurm}

sp_log() { printf '%s: %s\n' "$sp_prog" "$*" >&2; }
sp_die() {
    printf '%s: error: %s\n' "$sp_prog" "$*" >&2
    exit 1
}

sp_require_root() {
    if [[ $(id -u) -ne 0 ]]; then
        sp_die "must be run as root (try: sudo $0)"
    fi
}

sp_require_debian() {
    local id="" version=""
    if [[ -r /etc/os-release ]]; then
        # shellcheck disable=SC1091
        id=$(. /etc/os-release && echo "${ID:-}")
        # shellcheck disable=SC1091
        version=$(. /etc/os-release && echo "${VERSION_ID:-}")
    fi
    if [[ $id != debian || ! -r /etc/debian_version ]]; then
        sp_die "this script supports Debian only (found ID='${id:-unknown}' in /etc/os-release)"
    fi
    if [[ $version != 12 ]]; then
        sp_log "warning: written for Debian 12 (bookworm), found VERSION_ID='$version'; continuing"
    fi
}

# sp_pid_of PIDFILE EXE -> prints the pid and returns 0 when the pid file
# names a live process running executable EXE (a path such as
# /usr/sbin/slurmctld; symlinks are resolved: Debian's /usr/sbin/slurmctld is
# an alternatives link to slurmctld-wlm).  A stale pid file (process gone, or
# pid reused by another program) returns 1.
sp_pid_of() {
    local pidfile=$1 exe=$2 pid target want
    [[ -r $pidfile ]] || return 1
    pid=$(tr -dc '0-9' <"$pidfile" 2>/dev/null || true)
    [[ -n $pid ]] || return 1
    sp_alive "$pid" || return 1
    target=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
    # A binary replaced by a package upgrade shows as "/usr/sbin/x (deleted)".
    target=${target% (deleted)}
    want=$(readlink -f "$exe" 2>/dev/null || echo "$exe")
    [[ $target == "$want" || ${target##*/} == "${exe##*/}" ]] || return 1
    printf '%s\n' "$pid"
}

# sp_stop NAME PIDFILE EXE [TIMEOUT_SECONDS]
# Sends SIGTERM to the process recorded in PIDFILE (only if it really runs
# EXE, see sp_pid_of), waits for it to exit, SIGKILLs after the timeout.
sp_stop() {
    local name=$1 pidfile=$2 exe=$3 timeout=${4:-30} pid i
    if ! pid=$(sp_pid_of "$pidfile" "$exe"); then
        rm -f "$pidfile"
        return 0
    fi
    sp_log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        if ! sp_alive "$pid"; then
            rm -f "$pidfile"
            return 0
        fi
        sleep 0.1
    done
    sp_log "warning: $name (pid $pid) did not exit after ${timeout}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        sp_alive "$pid" || break
        sleep 0.1
    done
    rm -f "$pidfile"
}

# sp_alive PID: the process exists and is not a zombie.
sp_alive() {
    local state
    [[ -d /proc/$1 ]] || return 1
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
    [[ -n $state && $state != Z ]]
}
