#!/usr/bin/env bash
# One command for a GPU machine: builds spt with CUDA for sm_90 (H100/H200;
# override with SPT_CUDA_ARCH), runs every [cuda] test and a short benchmark
# (GEMM TFLOP/s in fp32 and bf16, attention forward+backward, every op), and
# prints a report to paste into docs/gpu-verification.md. A few minutes.
#
#   bash scripts/gpu_check.sh [--skip-deps]
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" != "--skip-deps" ]]; then
  bash scripts/install_deps.sh
fi
BUILD_DIR=${SPT_BUILD_DIR:-build-gpu}
ARCH=${SPT_CUDA_ARCH:-90}

echo "== spt gpu_check: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPT_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="$ARCH"
cmake --build "$BUILD_DIR" -j "$(nproc)"

echo "== [cuda] tests"
status=0
"$BUILD_DIR"/tests/spt_tests "[cuda]" --durations yes || status=$?

echo "== benchmark (cuda)"
"$BUILD_DIR"/spt-bench --device cuda --iters 20 || status=$?

echo "== gpu_check done: tests/bench exit status $status"
exit $status
