#!/usr/bin/env bash
# Accuracy against speed of the routed FFN on the SpamAssassin demo
# (configs/demo_spam.json: all-MiniLM-L6-v2, full fine-tuning, one epoch, seed 42),
# one run per setting, and a markdown table of dev accuracy, mean step time and
# the share of the dense FFN's block-output norm the chosen blocks carry at step
# 0 and at the end (docs/PERF.md). Every run uses the same binary and seed.
#
#   bash scripts/bench_routed_demo.sh [SETTING ...]
# SETTING is "dense" or "ACTIVE:LAYERS" (e.g. 4:all, 6:3-5), 8 blocks; default:
# dense 4:all 6:all 4:3-5 6:3-5 8:all. Runs land in runs/routed_demo/<setting>.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SPT_BUILD_DIR:-build}/spt-finetune
OUT=runs/routed_demo
settings=("$@")
[[ ${#settings[@]} -gt 0 ]] || settings=(dense 4:all 6:all 4:3-5 6:3-5 8:all)
mkdir -p "$OUT"
for s in "${settings[@]}"; do
  dir="$OUT/${s//:/_}"
  rm -rf "$dir"
  args=(--config configs/demo_spam.json --set "output.dir=$(pwd -P)/$dir" --set output.save_best=false
        --set output.save_final=false)
  if [[ $s != dense ]]; then
    args+=(--set ffn.type=routed --set ffn.blocks=8 --set "ffn.active=${s%%:*}")
    [[ ${s#*:} == all ]] || args+=(--set "ffn.layers=[\"${s#*:}\"]")
  fi
  echo "[routed-demo] $s" >&2
  "$BIN" "${args[@]}" > "$dir.log" 2>&1
done
python3 - "$OUT" "${settings[@]}" <<'PY'
import json, sys
out, settings = sys.argv[1], sys.argv[2:]
print("| setting | dev accuracy | F1 | s / step | share at step 0 | share at the end |")
print("|---|---|---|---|---|---|")
for s in settings:
    recs = [json.loads(l) for l in open(f"{out}/{s.replace(':', '_')}/metrics.jsonl")]
    ev = [r for r in recs if r["type"] == "eval"][-1]
    summ = [r for r in recs if r["type"] == "summary"][-1]
    fit = [r for r in recs if r["type"] == "router_fit"]
    name = "dense" if s == "dense" else f"{s.split(':')[0]} of 8 blocks, layers {s.split(':')[1]}"
    share0 = f"{fit[-1]['ffn_share']:.3f} (best {fit[-1]['ffn_share_best']:.3f})" if fit else "-"
    share1 = f"{ev['ffn_share']:.3f}" if "ffn_share" in ev else "-"
    print(f"| {name} | {ev['accuracy']:.4f} | {ev.get('f1', float('nan')):.4f} | "
          f"{summ['seconds'] / summ['steps']:.2f} | {share0} | {share1} |")
PY
