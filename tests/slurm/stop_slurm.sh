#!/usr/bin/env bash
# Stop the daemons that tests/slurm/start_slurm.sh started.
#
#   tests/slurm/stop_slurm.sh                      # every daemon listed in $BERTSCOPE_SLURM_DIR/started
#   tests/slurm/stop_slurm.sh slurmd slurmctld     # only these (still only if start_slurm.sh started them)
#
# Daemons are stopped by the process id in their pid file, and only when that process is still the daemon
# named; nothing is killed by name. Queued or running test jobs are cancelled first.
set -uo pipefail

SLURM_DIR=${BERTSCOPE_SLURM_DIR:-/tmp/bertscope-slurm}
export SLURM_CONF="$SLURM_DIR/slurm.conf"
LIST="$SLURM_DIR/started"

say() { echo "stop_slurm: $*" >&2; }

[[ -f $LIST ]] || { say "nothing recorded in $LIST"; exit 0; }
if (($#)); then wanted=("$@"); else mapfile -t wanted <"$LIST"; fi

pidfile() {
    case $1 in
        munged) echo /run/munge/munged.pid ;;
        slurmctld | slurmd) echo "$SLURM_DIR/run/$1.pid" ;;
    esac
}

recorded() { grep -qx "$1" "$LIST"; }

stop_one() {
    local name=$1 file pid
    file=$(pidfile "$name")
    if [[ -z $file || ! -s $file ]]; then say "$name: no pid file"; return; fi
    pid=$(cat "$file")
    if [[ $(cat "/proc/$pid/comm" 2>/dev/null) != "$name" ]]; then
        say "$name: process $pid is gone"
        return
    fi
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name ($pid) ignored SIGTERM for 10 s; sending SIGKILL"
        kill -KILL "$pid"
    fi
    say "stopped $name ($pid)"
}

# Cancel jobs while slurmctld still answers; slurmd first, then the controller, munge last.
if recorded slurmctld && command -v scancel >/dev/null; then
    squeue --noheader --format=%i 2>/dev/null | xargs --no-run-if-empty scancel --quiet 2>/dev/null
fi
for name in slurmd slurmctld munged; do
    for want in "${wanted[@]}"; do
        if [[ $want == "$name" ]] && recorded "$name"; then
            stop_one "$name"
            grep -vx "$name" "$LIST" >"$LIST.new"
            mv "$LIST.new" "$LIST"
        fi
    done
done
# slurmd (configless) links /run/slurm/conf to its configuration cache in our directory: remove that link.
if ! grep -qx slurmd "$LIST" && [[ $(readlink /run/slurm/conf 2>/dev/null) == "$SLURM_DIR"/* ]]; then
    rm -f /run/slurm/conf
fi
exit 0
