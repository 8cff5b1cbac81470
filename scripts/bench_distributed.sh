#!/usr/bin/env bash
# Data-parallel scaling on this machine: the SpamAssassin demo's fine-tuning
# (all-MiniLM-L6-v2, batch 16, max length 128) for a fixed number of steps in one
# process using all cores, then in N processes (mpirun) with cores / N threads
# each. Prints steady-state tokens/s (from the metrics log, first interval
# dropped) and, from SPT_PROFILE, rank 0's gradient all-reduce time per step
# (waiting for the slower rank included).
#
#   bash scripts/bench_distributed.sh [STEPS] [N]      # defaults 60, 2
#
# Needs the demo's model and data (bash scripts/demo.sh once) and a build with MPI.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-60}
np=${2:-2}
bin=${SPT_BUILD_DIR:-build}/spt-finetune
cores=$(nproc)
out=$(mktemp -d /tmp/spt_bench_dp.XXXXXX)
common=(--config configs/demo_spam.json --set train.max_steps="$steps" --set eval.every_epoch=false
        --set output.save_best=false --set output.save_final=false --set logging.every_steps=10)
root=()
[[ $(id -u) -eq 0 ]] && root=(--allow-run-as-root)

run() {  # run NAME PROCS THREADS
  local name=$1 procs=$2 threads=$3
  local args=("${common[@]}" --set output.dir="$out/$name")
  if [[ $procs -eq 1 ]]; then
    SPT_PROFILE=1 SPT_NUM_THREADS=$threads "$bin" "${args[@]}" > "$out/$name.log" 2>&1
  else
    mpirun -np "$procs" "${root[@]}" --bind-to none -x SPT_PROFILE=1 -x SPT_NUM_THREADS="$threads" \
      "$bin" "${args[@]}" > "$out/$name.log" 2>&1
  fi
  python3 - "$out/$name/metrics.jsonl" "$out/$name.log" "$name" "$procs" "$threads" "$steps" <<'PY'
import json, re, sys
metrics, log, name, procs, threads, steps = sys.argv[1:]
train = [json.loads(l) for l in open(metrics) if '"type":"train"' in l]
tps = [r["tokens_per_second"] for r in train[1:]]  # first interval: warm-up
mean = sum(tps) / len(tps)
summary = [json.loads(l) for l in open(metrics) if '"type":"summary"' in l][0]
ar = re.search(r"all_reduce_grads\s+(\d+)\s+([\d.]+)", open(log).read())
ar_ms = f"{float(ar.group(2)) / int(steps):.1f}" if ar else "-"  # self ms over the run, per step
print(f"| {procs} x {threads} threads | {mean:,.0f} | {summary['seconds'] / int(steps):.3f} | {ar_ms} | {summary['peak_rss_mib']:.0f} |")
PY
}
echo "| processes | tokens/s (steady) | s/step (whole run) | all-reduce ms/step | peak RSS MiB (rank 0) |"
echo "|---|---|---|---|---|"
run single 1 "$cores"
run dp "$np" $(( cores / np > 0 ? cores / np : 1 ))
rm -rf "$out"
