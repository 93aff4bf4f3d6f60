#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost, for tests/test_slurm.py (and for trying the slurm profile by
# hand): Debian's slurm-wlm (slurmctld + slurmd), munge for authentication, and accounting through slurmdbd
# on a private MariaDB, so that `sacct` lists the jobs.
#
#   tests/slurm/cluster.sh install   apt-get install the Debian packages (root)
#   tests/slurm/cluster.sh start     start munged, mariadbd, slurmdbd, slurmctld, slurmd; wait until the node is idle
#   tests/slurm/cluster.sh stop      stop the daemons this script started (by their pid files) and nothing else
#   tests/slurm/cluster.sh env       print `export SLURM_CONF=...` for the client commands (sbatch, sacct, ...)
#
# Everything lives under $LOCOMIMIC_SLURM_DIR (default /tmp/locomimic-slurm): configuration, spool and
# state folders, logs, the database and pid files. `start` stops an earlier instance and clears that
# folder first, so it can be run again and always starts a fresh cluster. One thing lives outside it:
# /etc/slurm/slurm.conf, SLURM's default path, is a symlink to this configuration while the cluster runs
# (removed by `stop`; `start` refuses if a real file is there), because snakemake-executor-plugin-slurm's
# jobstep removes every SLURM_* variable, SLURM_CONF included, before its `srun` inside a job.
# Needs root (slurmd runs jobs as their submitting user; munged and mariadbd run as their own system
# users). The ports (LOCOMIMIC_SLURM_PORT_BASE, default 16817: slurmctld, +1 slurmd, +2 slurmdbd,
# +3 MariaDB) and the munge socket are private, so services the packages start themselves and a real
# SLURM on the machine are not disturbed.
# Optional, to schedule a profile written for real cluster nodes on a small machine:
#   LOCOMIMIC_SLURM_GPUS=1        the node offers one "gpu" GRES (its device file is /dev/null), so jobs
#                                 asking for --gpus are scheduled (no GPU is behind it: programs run on the CPU);
#   LOCOMIMIC_SLURM_CPUS=N, LOCOMIMIC_SLURM_MEM_MB=M   the node advertises N CPUs and M MB
#                                 (SlurmdParameters=config_overrides) instead of what the machine has.
set -euo pipefail

STATE=${LOCOMIMIC_SLURM_DIR:-/tmp/locomimic-slurm}
PORT=${LOCOMIMIC_SLURM_PORT_BASE:-16817}
GPUS=${LOCOMIMIC_SLURM_GPUS:-0}
CPUS=${LOCOMIMIC_SLURM_CPUS:-}
MEM_MB=${LOCOMIMIC_SLURM_MEM_MB:-}
CLUSTER=locomimic
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)
ETC=$STATE/etc
RUN=$STATE/run
LOG=$STATE/log
export SLURM_CONF=$ETC/slurm.conf

die() { echo "cluster.sh: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root (slurmd and the daemons' users need it)"; }

install_packages() {
    need_root
    local missing=()
    for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} yourself"
        echo "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# Wait until a command succeeds (up to $1 seconds); on timeout show the named log and fail.
wait_for() {
    local seconds=$1 logfile=$2; shift 2
    local deadline=$((SECONDS + seconds))
    while [ $SECONDS -lt $deadline ]; do timeout 10 "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    echo "--- $logfile" >&2; tail -n 30 "$logfile" >&2 || true
    die "timed out after ${seconds}s waiting for: $*"
}

stop_pidfile() {
    local pidfile=$1 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

link_default_config() {
    local default=/etc/slurm/slurm.conf
    if [ -e "$default" ] || [ -L "$default" ]; then
        [ -L "$default" ] && [ "$(readlink "$default")" = "$ETC/slurm.conf" ] && return 0
        die "$default exists and is not this test cluster's; refusing to replace it"
    fi
    mkdir -p /etc/slurm
    ln -s "$ETC/slurm.conf" "$default"
}

unlink_default_config() {
    local default=/etc/slurm/slurm.conf
    if [ -L "$default" ] && [ "$(readlink "$default")" = "$ETC/slurm.conf" ]; then rm -f "$default"; fi
}

stop() {
    unlink_default_config
    # In reverse order of start; only the processes named by this instance's pid files.
    stop_pidfile "$RUN/slurmd.pid"
    stop_pidfile "$RUN/slurmctld.pid"
    stop_pidfile "$RUN/slurmdbd.pid"
    stop_pidfile "$RUN/mariadbd.pid"
    stop_pidfile "$RUN/munged.pid"
}

write_config() {
    local host cpus mem gres="" overrides=""
    host=$(hostname -s)
    cpus=${CPUS:-$(nproc)}
    mem=${MEM_MB:-$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)}
    [ -n "$CPUS$MEM_MB" ] && overrides="SlurmdParameters=config_overrides"
    mkdir -p "$ETC" "$RUN" "$LOG" "$STATE/ctld" "$STATE/d" "$STATE/munge"
    [ "$GPUS" -gt 0 ] && gres="Gres=gpu:$GPUS"
    cat > "$ETC/slurm.conf" <<EOF
# Written by tests/slurm/cluster.sh: one node, everything on localhost.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$STATE/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
$overrides
GresTypes=gpu
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((PORT + 2))
AccountingStoragePass=$STATE/munge/munge.socket
AccountingStoreFlags=job_comment
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=10
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.txt
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem $gres State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    if [ "$GPUS" -gt 0 ]; then
        # SLURM 22.05 ignores a gpu GRES without a device file; /dev/null stands in for the GPU.
        [ "$GPUS" -eq 1 ] || die "LOCOMIMIC_SLURM_GPUS must be 0 or 1 (one placeholder GPU)"
        echo "NodeName=$host Name=gpu Count=1 File=/dev/null" > "$ETC/gres.conf"
    else
        : > "$ETC/gres.conf"
    fi
    cat > "$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$STATE/munge/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((PORT + 2))
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((PORT + 3))
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$ETC/slurmdbd.conf"
}

start_munge() {
    # A private socket (AuthInfo above) so the system's munged, if any, is left alone; the system key is used.
    [ -s /etc/munge/munge.key ] || die "/etc/munge/munge.key missing (reinstall munge, or run mungekey)"
    chown munge:munge "$STATE/munge"
    chmod 755 "$STATE/munge"  # munged insists that clients can reach its socket
    runuser -u munge -- /usr/sbin/munged --socket="$STATE/munge/munge.socket" \
        --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/seed" \
        || die "munged failed to start (see $STATE/munge/munged.log)"
    cp "$STATE/munge/munged.pid" "$RUN/munged.pid"
    wait_for 10 "$STATE/munge/munged.log" munge -S "$STATE/munge/munge.socket" -n
}

start_mariadb() {
    local data=$STATE/mysql
    touch "$LOG/mariadb.log"
    chown mysql:mysql "$LOG/mariadb.log"
    if [ ! -d "$data/mysql" ]; then
        mkdir -p "$data"
        chown mysql:mysql "$data"
        mariadb-install-db --user=mysql --datadir="$data" --auth-root-authentication-method=socket \
            --skip-test-db >"$LOG/mariadb-install.log" 2>&1 || { cat "$LOG/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
    fi
    chown mysql:mysql "$RUN"
    /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$data" --socket="$RUN/mysql.sock" \
        --pid-file="$RUN/mariadbd.pid" --bind-address=127.0.0.1 --port=$((PORT + 3)) \
        --log-error="$LOG/mariadb.log" --innodb-buffer-pool-size=64M >/dev/null 2>&1 &
    wait_for 60 "$LOG/mariadb.log" mariadb --no-defaults -S "$RUN/mysql.sock" -u root -e "select 1"
    chmod 755 "$RUN"
    mariadb --no-defaults -S "$RUN/mysql.sock" -u root <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
}

start() {
    need_root
    for exe in slurmctld slurmd slurmdbd munged mariadbd; do
        command -v "$exe" >/dev/null || [ -x "/usr/sbin/$exe" ] || die "$exe not found: run '$0 install' first"
    done
    stop
    for port in $PORT $((PORT + 1)) $((PORT + 2)) $((PORT + 3)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            die "port $port is in use (another instance under another LOCOMIMIC_SLURM_DIR?); stop it or set LOCOMIMIC_SLURM_PORT_BASE"
        fi
    done
    # A fresh cluster every time: no queued jobs, node states or accounting records from an earlier one.
    case "$STATE" in /|"") die "refusing to clear LOCOMIMIC_SLURM_DIR=$STATE" ;; esac
    rm -rf "$STATE"
    write_config
    link_default_config
    start_munge
    start_mariadb
    /usr/sbin/slurmdbd  # reads slurmdbd.conf beside $SLURM_CONF
    wait_for 60 "$LOG/slurmdbd.log" sacctmgr -i list cluster
    sacctmgr -i list cluster -n format=cluster | grep -qw "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
    /usr/sbin/slurmctld -f "$ETC/slurm.conf"
    wait_for 30 "$LOG/slurmctld.log" scontrol ping
    /usr/sbin/slurmd -f "$ETC/slurm.conf"
    # The node is up when sinfo shows it idle (or mixed/allocated, if jobs were left queued).
    wait_for 60 "$LOG/slurmd.log" bash -c "sinfo -h -N -o %t | grep -Eq '^(idle|mix|alloc)'"
    echo "SLURM cluster '$CLUSTER' up: SLURM_CONF=$SLURM_CONF"
}

case "${1:-}" in
    install) install_packages ;;
    start) start ;;
    stop) stop ;;
    env) echo "export SLURM_CONF=$SLURM_CONF" ;;
    *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
