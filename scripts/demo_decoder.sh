#!/usr/bin/env bash
# The decoder demo: LoRA fine-tuning of SmolLM2-135M-Instruct (LLaMA family,
# read straight from its GGUF file) as a causal LM on State of the Union
# addresses before 2001, with the perplexity on the held-out addresses of
# 2001-2021 measured before and after (configs/smollm2_sotu_lora.json).
# About 15 minutes on 2 CPU cores.
#
#   bash scripts/demo_decoder.sh                       # everything
#   SPT_SKIP_DEPS=1 bash scripts/demo_decoder.sh       # skip apt-get
#   bash scripts/demo_decoder.sh --set train.max_steps=20   # extra arguments go to spt-finetune
#
# Environment: SPT_ASSETS (folder holding sotu.tar.xz, default ../shared/data),
# SPT_CACHE (default .cache), SPT_BUILD_DIR (default build-cpu, or build with a GPU; a given
# folder keeps its CUDA setting),
# SPT_JOBS (default 2), SPT_NUM_THREADS (CPU threads).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=configs/smollm2_sotu_lora.json
ROOT=$(pwd -P)
START=$(date +%s)

if [[ "${SPT_SKIP_DEPS:-0}" != "1" ]]; then
  bash scripts/install_deps.sh
fi
source scripts/build_finetune.sh  # sets BUILD_DIR (build-cpu without a GPU)

bash scripts/fetch_smollm2.sh
CACHE=${SPT_CACHE:-.cache}
ARCHIVE="${SPT_ASSETS:-$ROOT/../shared/data}/sotu.tar.xz"
DATA="$CACHE/data/sotu"
if [[ -s "$DATA/train.txt" && -s "$DATA/dev.txt" && "$DATA/train.txt" -nt "$ARCHIVE" &&
      "$DATA/train.txt" -nt tools/sotu_to_text.py ]]; then
  echo "[demo] $DATA/{train,dev}.txt up to date"
else
  python3 tools/sotu_to_text.py --archive "$ARCHIVE" --out "$DATA"
fi

# The config reads ../.cache/...; point it at another cache when SPT_CACHE is set.
EXTRA=()
if [[ "$(realpath -m "$CACHE")" != "$ROOT/.cache" ]]; then
  CACHE_ABS=$(realpath -m "$CACHE")
  EXTRA+=(--set "model.path=$CACHE_ABS/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
          --set "data.train=$CACHE_ABS/data/sotu/train.txt"
          --set "data.dev=$CACHE_ABS/data/sotu/dev.txt")
fi

echo "[demo] held-out perplexity of the pretrained model:"
"$BUILD_DIR"/spt-finetune --config "$CONFIG" ${EXTRA[@]+"${EXTRA[@]}"} "$@" --eval-only
echo "[demo] LoRA fine-tuning:"
"$BUILD_DIR"/spt-finetune --config "$CONFIG" ${EXTRA[@]+"${EXTRA[@]}"} "$@"
echo "[demo] total: $(($(date +%s) - START)) s"
echo "[demo] the run (final model with its LoRA adapters, metrics.jsonl): runs/smollm2_sotu_lora/"
