#!/usr/bin/env bash
# Runs one spt-finetune training on the tasks of the current Slurm job, as the
# sbatch scripts in this folder do (docs/distributed.md):
#
#   run_spt.sh CONFIG [spt-finetune options...]
#
# * more than one task: `mpirun` starts the ranks inside the allocation (it asks
#   Slurm where they go); one task: spt-finetune runs directly;
# * always `--resume auto`: a requeued job continues from its newest checkpoint;
# * SIGUSR1 / SIGTERM to this script (sbatch --signal=B:USR1@120, scancel,
#   preemption) go on to the ranks, which finish the step, write a checkpoint and
#   exit 75; the job is then requeued (scontrol requeue) and resumes.
#
# Environment: SPT_BIN (default: $SPT_HOME/build/spt-finetune), SPT_HOME (default:
# the submit folder), SPT_MPIRUN_ARGS (extra mpirun options, e.g. "--bind-to none"),
# SPT_MAX_REQUEUES (default 20).
set -uo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: run_spt.sh CONFIG [spt-finetune options...]" >&2
  exit 2
fi
config=$1
shift
home=${SPT_HOME:-${SLURM_SUBMIT_DIR:-$PWD}}
bin=${SPT_BIN:-$home/build/spt-finetune}
if [[ ! -x $bin ]]; then
  echo "[run_spt] no spt-finetune at $bin; set SPT_BIN or SPT_HOME (build: bash scripts/test.sh)" >&2
  exit 1
fi
ntasks=${SLURM_NTASKS:-1}
restarts=${SLURM_RESTART_COUNT:-0}
echo "[run_spt] job ${SLURM_JOB_ID:-none} (restart $restarts): $ntasks task(s) on ${SLURM_JOB_NODELIST:-$(hostname)}"

cmd=("$bin" --config "$config" --resume auto "$@")
if [[ $ntasks -gt 1 ]]; then
  # --bind-to none: each rank's SPT_NUM_THREADS threads spread over the task's
  # cores (OpenMPI would bind each rank to one core for -np <= 2).
  # shellcheck disable=SC2206
  extra=(${SPT_MPIRUN_ARGS:---bind-to none})
  [[ $(id -u) -eq 0 ]] && extra+=(--allow-run-as-root)
  cmd=(mpirun -np "$ntasks" "${extra[@]}" "${cmd[@]}")
fi

"${cmd[@]}" &
child=$!
forward() {
  echo "[run_spt] $1: asking the ranks to checkpoint and stop" >&2
  kill -USR1 "$child" 2>/dev/null
}
trap 'forward SIGUSR1' USR1
trap 'forward SIGTERM' TERM
# `wait` returns early (status > 128) when a trapped signal arrives: wait again
# until the child's own status comes back (127: it was already collected).
while true; do
  wait "$child"
  rc=$?
  if [[ $rc -gt 128 ]]; then
    wait "$child"
    again=$?
    if [[ $again -ne 127 ]]; then rc=$again; fi
  fi
  kill -0 "$child" 2>/dev/null || break
done

if [[ $rc -eq 75 ]]; then
  if [[ -n ${SLURM_JOB_ID:-} && $restarts -lt ${SPT_MAX_REQUEUES:-20} ]]; then
    echo "[run_spt] stopped after a checkpoint: requeueing job $SLURM_JOB_ID" >&2
    scontrol requeue "$SLURM_JOB_ID"
    exit 0
  fi
  echo "[run_spt] stopped after a checkpoint; resubmit to continue (--resume auto)" >&2
fi
exit "$rc"
