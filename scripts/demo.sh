#!/usr/bin/env bash
# The README's main command: installs, builds spt-finetune, fetches the real
# all-MiniLM-L6-v2 checkpoint, converts the SpamAssassin corpus into TSV, and
# fine-tunes MiniLM as a ham/spam classifier on the CPU (configs/demo_spam.json).
#
#   bash scripts/demo.sh                      # everything
#   SPT_SKIP_DEPS=1 bash scripts/demo.sh      # skip apt-get (deps already installed)
#   bash scripts/demo.sh --set train.epochs=2 # extra arguments go to spt-finetune
#   bash scripts/demo.sh --lora               # the LoRA demo (configs/demo_spam_lora.json)
#   bash scripts/demo.sh --spt                # SPT mode on whole emails (configs/demo_spam_spt.json)
#
# Environment: SPT_ASSETS (folder holding spamassassin.tar.xz, default ../shared/data),
# SPT_CACHE (default .cache), SPT_BUILD_DIR (default build-cpu, or build with a GPU; a given folder keeps
# its CUDA setting), SPT_JOBS (default 2),
# SPT_CMAKE_ARGS (extra CMake arguments), SPT_NUM_THREADS (CPU threads).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=configs/demo_spam.json
if [[ "${1:-}" == "--lora" ]]; then
  CONFIG=configs/demo_spam_lora.json
  shift
elif [[ "${1:-}" == "--spt" ]]; then
  CONFIG=configs/demo_spam_spt.json
  shift
fi
ROOT=$(pwd -P)

DEMO_START=$(date +%s)
PHASE_START=$DEMO_START
phase_done() {  # prints the seconds the phase that just ended took
  local now
  now=$(date +%s)
  echo "[demo] $1: $((now - PHASE_START)) s"
  PHASE_START=$now
}

if [[ "${SPT_SKIP_DEPS:-0}" != "1" ]]; then
  bash scripts/install_deps.sh
  phase_done "install dependencies"
fi

source scripts/build_finetune.sh  # sets BUILD_DIR (build-cpu without a GPU)
phase_done "build spt-finetune"

bash scripts/fetch_minilm.sh
phase_done "fetch all-MiniLM-L6-v2"

# The corpus as train.tsv / dev.tsv; redone when the archive or the converter is newer.
CACHE=${SPT_CACHE:-.cache}
ARCHIVE="${SPT_ASSETS:-$ROOT/../shared/data}/spamassassin.tar.xz"
DATA="$CACHE/data/spam"
if [[ -s "$DATA/train.tsv" && -s "$DATA/dev.tsv" &&
      "$DATA/train.tsv" -nt "$ARCHIVE" && "$DATA/dev.tsv" -nt "$ARCHIVE" &&
      "$DATA/train.tsv" -nt tools/spam_to_tsv.py ]]; then
  echo "[demo] $DATA/{train,dev}.tsv up to date"
else
  python3 tools/spam_to_tsv.py --archive "$ARCHIVE" --out "$DATA"
fi
phase_done "convert the SpamAssassin corpus"

# configs/demo_spam.json reads ../.cache/...; point it at another cache when SPT_CACHE is set.
EXTRA=()
if [[ "$(realpath -m "$CACHE")" != "$ROOT/.cache" ]]; then
  CACHE_ABS=$(realpath -m "$CACHE")
  EXTRA+=(--set "model.path=$CACHE_ABS/models/all-MiniLM-L6-v2"
          --set "data.train=$CACHE_ABS/data/spam/train.tsv"
          --set "data.dev=$CACHE_ABS/data/spam/dev.tsv")
fi

# Where the run goes: configs/demo_spam.json says runs/demo_spam; a --set output.dir=...
# among the arguments overrides it (relative: against the current directory, as
# spt-finetune resolves paths given with --set).
OUT_DIR=runs/$(basename "$CONFIG" .json)
prev=
for a in "$@"; do
  case "$prev$a" in
    --setoutput.dir=*|--set=output.dir=*)
      OUT_DIR=${a#*output.dir=} ;;
  esac
  if [[ "$a" == "--set" ]]; then prev=--set; else prev=; fi
done

"$BUILD_DIR"/spt-finetune --config "$CONFIG" ${EXTRA[@]+"${EXTRA[@]}"} "$@"
phase_done "fine-tune (spt-finetune)"

echo "[demo] total: $(($(date +%s) - DEMO_START)) s"
echo "[demo] final model:  $OUT_DIR/final"
echo "[demo] best checkpoint and the rest of the run: $OUT_DIR/"
echo "[demo] metrics (JSON lines, one per log/eval): $OUT_DIR/metrics.jsonl"
