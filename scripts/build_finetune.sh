# Sourced by the demo scripts: configures and builds spt-finetune, and sets
# BUILD_DIR. Without a GPU the demos train on the CPU and skip compiling the CUDA
# backend, in their own folder (build-cpu) so that the test build keeps its CUDA
# objects; a folder named by SPT_BUILD_DIR is built as it is configured.
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  BUILD_DIR=${SPT_BUILD_DIR:-build}
  CUDA_ARG=""
elif [[ -n "${SPT_BUILD_DIR:-}" ]]; then
  BUILD_DIR=$SPT_BUILD_DIR
  CUDA_ARG=""
else
  BUILD_DIR=build-cpu
  CUDA_ARG="-DSPT_CUDA=OFF"
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release $CUDA_ARG ${SPT_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "${SPT_JOBS:-2}" --target spt-finetune
