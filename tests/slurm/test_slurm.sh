#!/usr/bin/env bash
# The Slurm side of data parallelism on a real one-node cluster started here
# (tests/slurm/cluster.sh: munged, slurmctld, slurmd), with the CPU sbatch
# script users submit (scripts/slurm/cpu.sbatch), 2 tasks = 2 MPI ranks:
#   1. a job runs spt-finetune to completion;
#   2. a second job, same config, is requeued mid-run with `scontrol requeue`:
#      the ranks checkpoint on SIGTERM, the job runs again, resumes (--resume
#      auto) and its final weights equal job 1's byte for byte;
#   3. a job whose rank 1 is killed with SIGKILL ends FAILED instead of hanging.
#
#   bash tests/slurm/test_slurm.sh BUILD/spt-finetune
#
# Exit 77 (CTest: skipped) when not root or Slurm / MUNGE / OpenMPI are missing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(realpath "$1")
for tool in slurmctld slurmd munged sbatch scontrol mpirun; do
  if ! command -v "$tool" >/dev/null && [[ ! -x /usr/sbin/$tool ]]; then
    echo "SKIP: $tool is missing (scripts/install_deps.sh installs Slurm, MUNGE and OpenMPI)"; exit 77
  fi
done
[[ $(id -u) -eq 0 ]] || { echo "SKIP: starting slurmctld / slurmd needs root"; exit 77; }
export PATH=$PATH:/usr/sbin

scratch=$(mktemp -d /tmp/spt_slurm_test.XXXXXX)
source "$repo/tests/slurm/cluster.sh"
fail() { echo "FAIL: $*" >&2; for f in "$scratch"/spt-*.out; do echo "== $f" >&2; tail -n 30 "$f" >&2; done; exit 1; }

# A tiny 3-label task on the committed tiny BERT classifier.
python3 - "$scratch/train.tsv" <<'PY'
import random, sys
r = random.Random(1)
words = {"a": ["good", "great", "fine"], "b": ["bad", "poor", "sad"], "c": ["maybe", "unsure", "perhaps"]}
fill = ["the", "people", "of", "America", "and", "we", "will", "year"]
with open(sys.argv[1], "w") as f:
    f.write("text\tlabel\n")
    for _ in range(120):
        label = r.choice("abc")
        text = " ".join(r.choice(fill) for _ in range(r.randint(3, 10)))
        f.write(f"{text} {r.choice(words[label])}\t{label}\n")
PY
config() {  # config OUT_DIR MAX_STEPS
  cat <<JSON
{"model": {"path": "$repo/tests/fixtures/models/bert_cls"},
 "task": {"type": "classification"},
 "data": {"train": "$scratch/train.tsv", "label_names": ["a", "b", "c"]},
 "tokenizer": {"max_length": 24},
 "train": {"batch_size": 8, "max_steps": $2, "learning_rate": 1e-3, "seed": 7},
 "eval": {"every_epoch": false},
 "output": {"dir": "$1", "save_best": false, "save_every_steps": 250, "keep_last": 2},
 "logging": {"every_steps": 50},
 "runtime": {"comm_timeout_s": 60}}
JSON
}
config "$scratch/a" 6000 > "$scratch/a.json"
config "$scratch/b" 6000 > "$scratch/b.json"
config "$scratch/c" 1000000 > "$scratch/c.json"

slurm_start "$scratch/cluster" || fail "the cluster did not start"
cd "$scratch"
export SPT_HOME=$repo SPT_BIN=$bin
submit() { sbatch --parsable "$repo/scripts/slurm/cpu.sbatch" "$@"; }
wait_file() { for _ in $(seq 600); do [[ -e $1 ]] && return 0; sleep 0.2; done; return 1; }

# 1. To completion.
ja=$(submit "$scratch/a.json")
state=$(slurm_wait_job "$ja" 300) || true
[[ $state == COMPLETED ]] || fail "job $ja ended $state"
[[ -f $scratch/a/final/model.safetensors ]] || fail "job $ja wrote no final model"
grep -q "data parallel: 2 processes (mpirun, mpi)" "spt-spt-cpu-$ja.out" || fail "job $ja did not run 2 ranks"
echo "job $ja: 2 ranks ran to completion"

# 2. Requeued mid-run.
jb=$(submit "$scratch/b.json")
wait_file "$scratch/b/checkpoint-1000/spt_checkpoint.json" || fail "job $jb wrote no checkpoint-1000"
scontrol requeue "$jb"
# A requeued job waits ~2 minutes before it may start again; let it start now.
for _ in $(seq 120); do
  scontrol show job "$jb" | grep "JobState=PENDING" > /dev/null && break
  sleep 0.25
done
scontrol update JobId="$jb" StartTime=now
state=$(slurm_wait_job "$jb" 300) || true
[[ $state == COMPLETED ]] || fail "requeued job $jb ended $state"
grep -q "restart 1" "spt-spt-cpu-$jb.out" || fail "job $jb did not run a second time"
grep -q "resumed from $scratch/b/checkpoint-" "spt-spt-cpu-$jb.out" || fail "job $jb did not resume"
cmp "$scratch/a/final/model.safetensors" "$scratch/b/final/model.safetensors" ||
  fail "the requeued job's final weights differ from the uninterrupted job's"
at=$(sed -n 's/.*resumed from .*checkpoint-\([0-9]*\).*/\1/p' "spt-spt-cpu-$jb.out" | head -1)
how="a checkpoint the ranks wrote on SIGTERM"
(( at % 250 == 0 )) && how="a periodic checkpoint (mpirun ended the ranks before their step did)"
echo "job $jb: requeued, resumed at step $at from $how; final weights equal job $ja's"

# 3. A rank killed with SIGKILL.
jc=$(submit "$scratch/c.json")
wait_file "$scratch/c/checkpoint-250/spt_checkpoint.json" || fail "job $jc wrote no checkpoint"
# Rank 1's process; scanned again for up to 15 s (one scan missed it once, in a
# CI run: the grep -q / pipefail race below).
victim=""
for _ in $(seq 30); do
  for p in /proc/[0-9]*; do
    # (grep without -q: with pipefail, grep -q quitting at its match can make the
    # writer die of SIGPIPE and the pipeline fail although it matched.)
    if cat "$p/environ" 2>/dev/null | tr '\0' '\n' | grep -x "OMPI_COMM_WORLD_RANK=1" > /dev/null &&
       cat "$p/cmdline" 2>/dev/null | tr '\0' ' ' | grep "spt-finetune --config $scratch/c.json" > /dev/null; then
      victim=${p#/proc/}
    fi
  done
  [[ -n $victim ]] && break
  sleep 0.5
done
[[ -n $victim ]] || fail "rank 1 of job $jc not found (ranks: $(pgrep -af "spt-finetune --config $scratch/c.json" | tr '\n' ';'))"
kill -9 "$victim"
start=$(date +%s)
state=$(slurm_wait_job "$jc" 120) || true
[[ $state == FAILED ]] || fail "job $jc with a killed rank ended '$state', expected FAILED within 120 s"
echo "job $jc: rank 1 killed, the job ended $state after $(( $(date +%s) - start )) s"
rm -rf "$scratch"
echo "PASS"
