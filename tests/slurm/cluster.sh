# A real one-node Slurm cluster for tests (../shared/docs/slurm-local.md):
# munged, slurmctld and slurmd from Debian's packages, configured in a scratch
# folder through SLURM_CONF, started in the foreground in the background and
# stopped by the process ids started here (never by name). Needs root.
#
#   source tests/slurm/cluster.sh
#   slurm_start SCRATCH     # exports SLURM_CONF; waits until the node is idle
#   ... sbatch / scontrol ...
#   slurm_stop              # also run by the EXIT trap slurm_start installs

SLURM_TEST_PIDS=()

slurm_log() { echo "[slurm-test] $*" >&2; }

slurm_start() {
  local scratch=$1 host
  host=$(hostname)
  mkdir -p "$scratch"/{state,spool,log}
  export SLURM_CONF=$scratch/slurm.conf
  cat > "$SLURM_CONF" <<CONF
ClusterName=spttest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/slurmctld.pid
SlurmdPidFile=$scratch/slurmd.pid
SlurmctldLogFile=$scratch/log/slurmctld.log
SlurmdLogFile=$scratch/log/slurmd.log
SlurmctldPort=${SPT_SLURMCTLD_PORT:-16817}
SlurmdPort=${SPT_SLURMD_PORT:-16818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=20
NodeName=$host CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  trap slurm_stop EXIT
  # MUNGE: reuse a running daemon, else start one.
  if ! (munge -n | unmunge) >/dev/null 2>&1; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    # setpriv execs munged itself (runuser would fork): the pid is the daemon's.
    setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground >"$scratch/log/munged.log" 2>&1 &
    SLURM_TEST_PIDS+=($!)
    for _ in $(seq 50); do (munge -n | unmunge) >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  (munge -n | unmunge) >/dev/null 2>&1 || { slurm_log "munged did not start"; return 1; }
  slurmctld -D -i >"$scratch/log/slurmctld.out" 2>&1 &
  SLURM_TEST_PIDS+=($!)
  slurmd -D >"$scratch/log/slurmd.out" 2>&1 &
  SLURM_TEST_PIDS+=($!)
  local state=""
  for _ in $(seq 120); do
    state=$(sinfo -h -o %T 2>/dev/null | head -1)
    [[ $state == idle ]] && { slurm_log "node $host idle"; return 0; }
    sleep 0.5
  done
  slurm_log "the node did not become idle (state '$state'); logs:"
  tail -n 20 "$scratch"/log/*.log "$scratch"/log/*.out >&2
  return 1
}

slurm_stop() {
  local rc=$? pid  # as the EXIT trap: keep the script's exit status
  for pid in "${SLURM_TEST_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SLURM_TEST_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SLURM_TEST_PIDS=()
  return $rc
}

# Waits until job $1 leaves the queue (or $2 seconds pass); prints its final state.
slurm_wait_job() {
  local job=$1 limit=${2:-600} state=""
  for _ in $(seq $((limit * 2))); do
    state=$(scontrol show job "$job" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    case $state in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)
      echo "$state"; return 0;; esac
    sleep 0.5
  done
  echo "${state:-UNKNOWN}"
  return 1
}
