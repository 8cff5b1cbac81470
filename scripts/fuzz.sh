#!/usr/bin/env bash
# Runs one fuzz target (or all) for a number of seconds each, with libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer (docs/reliability.md).
#
#   bash scripts/fuzz.sh TARGET SECONDS     # TARGET: safetensors torch_bin gguf model_config
#                                           #   tokenizer spt_config table, or "all"
#   SPT_FUZZ_JOBS=2 bash scripts/fuzz.sh all 600   # two targets at a time
#   SPT_FUZZ_SEED=1 ...                            # a fixed random seed (default 0: a new one)
#   SPT_FUZZ_CORPUS=DIR ...                        # where the grown corpus lives (default .cache/fuzz/corpus)
#
# Builds build-asan/ (clang, SPT_FUZZ=ON, SPT_SANITIZE=ON; SPT_FUZZ_BUILD_DIR
# overrides) when needed. Each target starts from its committed seeds
# (fuzz/seeds/<t>) and earlier crashes (fuzz/regressions/<t>) and keeps what it
# learns in .cache/fuzz/corpus/<t> (not committed). A crash, leak, sanitizer
# report, timeout (10 s on one input) or an allocation over 2 GiB stops the
# target and leaves the input in .cache/fuzz/artifacts/<t>/; the script then
# exits 1. It prints one line per target: executions, coverage, corpus.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL="safetensors torch_bin gguf model_config tokenizer spt_config table"
TARGET=${1:?usage: scripts/fuzz.sh TARGET|all SECONDS}
SECONDS_EACH=${2:?usage: scripts/fuzz.sh TARGET|all SECONDS}
BUILD=${SPT_FUZZ_BUILD_DIR:-build-asan}
JOBS=${SPT_FUZZ_JOBS:-1}
if [[ "$TARGET" == all ]]; then TARGETS=$ALL; else TARGETS=$TARGET; fi
for t in $TARGETS; do
  [[ " $ALL " == *" $t "* ]] || { echo "fuzz.sh: unknown target '$t' (known: $ALL)" >&2; exit 2; }
done

if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ not found; install the Debian packages clang and libclang-rt-dev (scripts/install_deps.sh)" >&2
  exit 2
fi
if [[ ! -f "$BUILD/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-g1 \
    -DSPT_FUZZ=ON -DSPT_SANITIZE=ON -DSPT_CUDA=OFF -DSPT_MPI=OFF >/dev/null
fi
if ! grep -q '^SPT_FUZZ:BOOL=ON' "$BUILD/CMakeCache.txt"; then
  echo "fuzz.sh: $BUILD is not a fuzzing build (SPT_FUZZ=ON with clang); remove it or set SPT_FUZZ_BUILD_DIR" >&2
  exit 2
fi
cmake --build "$BUILD" -j "${SPT_JOBS:-2}" --target $(for t in $TARGETS; do printf 'fuzz_%s ' "$t"; done) >/dev/null

run_one() {
  local t=$1 corpus=${SPT_FUZZ_CORPUS:-.cache/fuzz/corpus}/$1 art=.cache/fuzz/artifacts/$1/ log=.cache/fuzz/logs/$1.log
  mkdir -p "$corpus" "$art" .cache/fuzz/logs
  local inputs=("fuzz/seeds/$t")
  [[ -d fuzz/regressions/$t ]] && inputs+=("fuzz/regressions/$t")
  local rc=0
  # A leak is a finding; so is one input running 10 s or allocating 2 GiB.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
    "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 -malloc_limit_mb=2048 \
    -print_final_stats=1 -seed="${SPT_FUZZ_SEED:-0}" -artifact_prefix="$art" "$corpus" "${inputs[@]}" \
    >"$log" 2>&1 || rc=$?
  local execs cov ft corp
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2 || echo "?")
  if [[ $rc -eq 0 ]]; then
    printf '%-13s ok    %6ss  executions %-10s coverage %-6s features %-7s corpus %s\n' \
      "$t" "$SECONDS_EACH" "$execs" "$cov" "$ft" "$corp"
  else
    printf '%-13s FOUND %6ss  executions %-10s (exit %s) input in %s, log %s\n' \
      "$t" "$SECONDS_EACH" "$execs" "$rc" "$art" "$log"
    grep -m3 -E 'ERROR|SUMMARY|runtime error|uncaught|deadly' "$log" | sed 's/^/    /' || true
    return 1
  fi
}

failed=0
pids=()
for t in $TARGETS; do
  run_one "$t" &
  pids+=($!)
  if (( ${#pids[@]} >= JOBS )); then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit $failed
