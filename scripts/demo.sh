#!/usr/bin/env bash
# The README's main command. Until the fine-tuning loop lands (issue 4) it runs
# the most useful thing that exists: installs, builds, and prints the per-op
# benchmark at BERT-base shapes on the CPU (and on CUDA when a GPU is present).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${SPT_SKIP_DEPS:-0}" != "1" ]]; then
  bash scripts/install_deps.sh
fi
BUILD_DIR=${SPT_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${SPT_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "${SPT_JOBS:-2}" --target spt-bench
"$BUILD_DIR"/spt-bench --device cpu --iters "${SPT_BENCH_ITERS:-5}"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  "$BUILD_DIR"/spt-bench --device cuda --iters 20
fi
