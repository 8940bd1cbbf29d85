#!/usr/bin/env bash
# Start a throwaway single-node SLURM cluster on localhost, for tests/test_slurm_profile.py.
#
#   sudo tests/slurm/start_slurm.sh        # install (if needed), configure, start, wait for the node
#   export SLURM_CONF=/tmp/bertscope-slurm/slurm.conf
#   sinfo; sbatch --wrap hostname; ...
#   sudo tests/slurm/stop_slurm.sh         # stop what this script started
#
# Made for a Debian 12 container or VM without systemd and without a writable cgroup tree: munged, slurmctld
# and slurmd run as plain root daemons; processes are tracked by /proc scanning (proctrack/linuxproc), there is
# no task binding (task/none) and no accounting database (accounting_storage/none: sacct has nothing to report,
# so the Snakemake SLURM executor must query job states with squeue; finished jobs stay in squeue for 300 s).
# The node has $BERTSCOPE_SLURM_FAKE_GPUS (default 1) fake GPUs, so that `sbatch --gpus=1` jobs are scheduled
# one per card as on a GPU node; the jobs themselves find no CUDA device and run on the CPU.
#
# Everything lives under $BERTSCOPE_SLURM_DIR (default /tmp/bertscope-slurm): slurm.conf, gres.conf, state,
# spool, logs, pid files, and `started`, the daemons this script launched (one name a line), which
# stop_slurm.sh reads. Nothing is written to /etc/slurm, so a real cluster's configuration is left alone:
# commands find ours through SLURM_CONF, and inside jobs (where the executor drops SLURM_CONF) through
# /run/slurm/conf, which slurmd (configless mode) links to its copy. Daemons that already run are reused;
# ours are restarted when the configuration changed.
#
# Prints `started: <daemon>` for each daemon it launched and, last, `SLURM_CONF=<path>`. Exit status: 0 when
# the node is idle, 2 when it cannot run here (not root, no apt, no mknod), 1 when a daemon failed (its log is
# printed).
set -euo pipefail

SLURM_DIR=${BERTSCOPE_SLURM_DIR:-/tmp/bertscope-slurm}
WAIT_S=${BERTSCOPE_SLURM_WAIT_S:-60}
NODE=localhost
export SLURM_CONF="$SLURM_DIR/slurm.conf"

say() { echo "start_slurm: $*" >&2; }
die() { say "$2"; exit "$1"; }

[[ $(id -u) == 0 ]] || die 2 "must run as root (it installs packages and starts root daemons)"

# 1. Packages (idempotent).
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || die 2 "slurm-wlm/munge are missing and there is no apt-get to install them"
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq slurm-wlm munge; } >"/tmp/bertscope-slurm-apt.log" 2>&1; then
        tail -n 20 /tmp/bertscope-slurm-apt.log >&2
        die 2 "apt-get install slurm-wlm munge failed (log: /tmp/bertscope-slurm-apt.log)"
    fi
fi

# A machine with its own SLURM configuration: job steps would read it instead of ours (see below).
if [[ -e /etc/slurm/slurm.conf ]]; then
    die 2 "/etc/slurm/slurm.conf exists: this machine belongs to a SLURM cluster; not starting a test cluster on it"
fi

mkdir -p "$SLURM_DIR"/{state,spool,log,run}
touch "$SLURM_DIR/started"
started() {
    grep -qx "$1" "$SLURM_DIR/started" || echo "$1" >>"$SLURM_DIR/started"
    echo "started: $1"
}

# 2. munge: a key, then the daemon (as the munge user, as the Debian service does).
if [[ ! -s /etc/munge/munge.key ]]; then
    if command -v mungekey >/dev/null; then mungekey --create --force; else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "munged already running"
else
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged --force
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || die 1 "munged did not start: $(tail -n 5 /var/log/munge/munged.log 2>&1)"
    started munged
fi

# 3. slurm.conf: one node with this machine's CPUs, one default partition. The node claims
#    $BERTSCOPE_SLURM_MEM_MB of memory (default: 90% of the physical memory, at least 64 GB;
#    SlurmdParameters=config_overrides lets slurmd accept more than it has), so that a profile written for
#    cluster nodes (--mem 16000) runs unchanged on a small machine; the test jobs use far less.
cpus=$(nproc)
mem_mb=${BERTSCOPE_SLURM_MEM_MB:-$(awk '/^MemTotal:/ { m = $2 / 1024 * 0.9; printf "%d", (m > 65536 ? m : 65536) }' /proc/meminfo)}
# Fake GPUs: SLURM schedules `--gpus` requests against them (so GPU jobs run one per "card", as on a real
# cluster). slurmd drops a GPU without a device file, so each is a character device node with the numbers of
# /dev/null; the jobs see no CUDA device and run on the CPU.
fake_gpus=${BERTSCOPE_SLURM_FAKE_GPUS:-1}
gres_types="" node_gres=""
if ((fake_gpus > 0)); then
    gres_types="GresTypes=gpu"
    node_gres="Gres=gpu:$fake_gpus"
    {
        echo "# Written by tests/slurm/start_slurm.sh: fake GPUs (device nodes that are /dev/null)."
        echo "AutoDetect=off"
        for ((i = 0; i < fake_gpus; i++)); do
            [[ -c $SLURM_DIR/gpu$i ]] || mknod "$SLURM_DIR/gpu$i" c 1 3 \
                || die 2 "mknod $SLURM_DIR/gpu$i failed: set BERTSCOPE_SLURM_FAKE_GPUS=0 (and submit with gpu=0)"
            echo "NodeName=$NODE Name=gpu File=$SLURM_DIR/gpu$i"
        done
    } >"$SLURM_DIR/gres.conf"
else
    rm -f "$SLURM_DIR/gres.conf"
fi
cat >"$SLURM_CONF.new" <<EOF
# Written by tests/slurm/start_slurm.sh: a single-node test cluster on localhost.
ClusterName=bertscope
SlurmctldHost=localhost
SlurmctldPort=${BERTSCOPE_SLURMCTLD_PORT:-6817}
SlurmdPort=${BERTSCOPE_SLURMD_PORT:-6818}
SlurmctldParameters=enable_configless
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/run/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/run/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No systemd, no delegated cgroups in a container: track processes through /proc, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# Finished jobs stay visible to squeue for 5 minutes: the executor's squeue status queries rely on it.
MinJobAge=300
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
$gres_types
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$cpus RealMemory=$mem_mb $node_gres State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

# 4. Daemons. A daemon whose pid file names a live process is kept, unless the configuration changed: then the
#    slurmctld and slurmd of an earlier run of this script (their pid files are ours) are restarted.
alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
if ! cmp -s "$SLURM_CONF.new" "$SLURM_CONF"; then
    for daemon in slurmd slurmctld; do
        pidfile="$SLURM_DIR/run/$daemon.pid"
        if alive "$pidfile" && [[ $(cat "/proc/$(cat "$pidfile")/comm" 2>/dev/null) == "$daemon" ]]; then
            say "configuration changed: restarting $daemon"
            pid=$(cat "$pidfile")
            kill -TERM "$pid"
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    done
fi
mv "$SLURM_CONF.new" "$SLURM_CONF"
show_log() { say "$1 failed; last lines of $2:"; tail -n 25 "$2" >&2 || true; }

if alive "$SLURM_DIR/run/slurmctld.pid"; then
    say "slurmctld already running"
else
    # -c: start from a clean state (no jobs left over from an earlier run).
    if ! /usr/sbin/slurmctld -c -f "$SLURM_CONF"; then
        show_log slurmctld "$SLURM_DIR/log/slurmctld.log"
        exit 1
    fi
    started slurmctld
fi
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
if ! scontrol ping 2>/dev/null | grep -q UP; then
    show_log slurmctld "$SLURM_DIR/log/slurmctld.log"
    exit 1
fi

if alive "$SLURM_DIR/run/slurmd.pid"; then
    say "slurmd already running"
else
    # Configless: slurmd fetches slurm.conf and gres.conf from slurmctld and keeps them in /run/slurm/conf, where
    # the SLURM commands of a job find them (the executor's job step drops SLURM_CONF from the environment).
    if ! SLURM_CONF="" /usr/sbin/slurmd --conf-server "127.0.0.1:${BERTSCOPE_SLURMCTLD_PORT:-6817}" -N "$NODE"; then
        show_log slurmd "$SLURM_DIR/log/slurmd.log"
        exit 1
    fi
    started slurmd
    # The daemon writes its pid file a moment after the command returns.
    for _ in $(seq 50); do alive "$SLURM_DIR/run/slurmd.pid" && break; sleep 0.1; done
fi

# 5. Wait for the node to be idle (a node left down/drained by an earlier run is resumed).
deadline=$((SECONDS + WAIT_S))
state=""
while ((SECONDS < deadline)); do
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null | head -n 1 || true)
    case $state in
        idle | mix | alloc) break ;;
        down* | drain* | drng*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    if ! alive "$SLURM_DIR/run/slurmd.pid"; then
        show_log slurmd "$SLURM_DIR/log/slurmd.log"
        exit 1
    fi
    sleep 0.5
done
case $state in
    idle | mix | alloc) ;;
    *)
        show_log "node $NODE (state '${state:-none}' after ${WAIT_S}s)" "$SLURM_DIR/log/slurmd.log"
        tail -n 10 "$SLURM_DIR/log/slurmctld.log" >&2 || true
        exit 1
        ;;
esac
sinfo >&2
echo "SLURM_CONF=$SLURM_CONF"
