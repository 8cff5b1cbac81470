#!/usr/bin/env bash
# The GPU check (docs/gpu-verification.md): builds spt with CUDA for sm_90 and
# runs, on the GPU, every [cuda] test in one process and again one process per
# test case (with a synchronisation after every kernel), the CUDA benchmark, and
# compute-sanitizer memcheck / racecheck over the [cuda] tests. Writes one
# report file (markdown): $OUT/gpu-report.md when OUT is set, else
# $BUILD_DIR/gpu-report.md. Meant to finish within 8 minutes on one H200.
#
#   bash scripts/gpu_check.sh              # on the GPU machine
#   bash scripts/gpu_check.sh --dry-run    # here / in CI: build from the bundle, CPU tests
#
# Dependencies: when the bundle folder (default .gpu-bundle, made here by
# scripts/gpu_bundle.sh and carried with the working tree) exists, its packages
# are unpacked into a private prefix and CMake looks nowhere else
# (-DSPT_DEPS_PREFIX); otherwise the system's packages are used (an ordinary GPU
# machine after scripts/install_deps.sh, or pass --install-deps).
#
# Options: --bundle DIR, --no-bundle, --install-deps, --dry-run.
# Environment: SPT_CUDA_ARCH (default 90), SPT_BUILD_DIR, SPT_JOBS (default nproc),
# SPT_GPU_CHECK_BUDGET (seconds for everything after the build; default 330).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BUNDLE=.gpu-bundle
USE_BUNDLE=auto
DRY_RUN=0
INSTALL_DEPS=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bundle) BUNDLE=$2; USE_BUNDLE=yes; shift 2 ;;
    --no-bundle) USE_BUNDLE=no; shift ;;
    --install-deps) INSTALL_DEPS=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --skip-deps) shift ;;  # the old flag: installing is opt-in now
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "[gpu_check] unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

ARCH=${SPT_CUDA_ARCH:-90}
JOBS=${SPT_JOBS:-$(nproc)}
if [[ $DRY_RUN -eq 1 ]]; then
  BUILD_DIR=${SPT_BUILD_DIR:-build-bundle}
else
  BUILD_DIR=${SPT_BUILD_DIR:-build-gpu}
fi
BUDGET=${SPT_GPU_CHECK_BUDGET:-330}
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
REPORT=${OUT:+$OUT/gpu-report.md}
REPORT=${REPORT:-$BUILD_DIR/gpu-report.md}
LOGS=$BUILD_DIR/gpu-logs
rm -rf "$LOGS"; mkdir -p "$LOGS"
: > "$REPORT"
T0=$(date +%s)
FAILED=0

say() { echo "$*" | tee -a "$REPORT"; }
elapsed() { echo $(( $(date +%s) - T0 )); }
fail() { FAILED=1; say "**FAILED**: $*"; }
# Runs "$@" with output to $LOGS/$1.log; appends the log's tail to the report.
section_log() {
  local name=$1 lines=$2
  say ""
  say '```'
  tail -n "$lines" "$LOGS/$name.log" | tee -a "$REPORT"
  say '```'
}

# ---- header ----
commit=$(git rev-parse --short HEAD 2>/dev/null || true)
if [[ -z "$commit" && -f "$BUNDLE/MANIFEST" ]]; then
  commit="$(grep '^source_commit=' "$BUNDLE/MANIFEST" | cut -d= -f2 | cut -c1-12) (from the bundle's manifest; the tree may differ)"
fi
say "# spt GPU check $( [[ $DRY_RUN -eq 1 ]] && echo '(dry run, no GPU)')"
say ""
say "* date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "* commit: ${commit:-unknown}"
say "* host: $(uname -srm), $(nproc) cores, $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
if command -v nvidia-smi >/dev/null; then
  say "* GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | head -1)"
else
  say "* GPU: no nvidia-smi"
fi
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
say "* nvcc: $("$NVCC" --version 2>/dev/null | grep -o 'release [0-9.]*' || echo none)"
say "* c++: $(c++ --version 2>/dev/null | head -1)"
say "* cmake: $(cmake --version | head -1)"

# ---- dependencies ----
CMAKE_DEPS=()
if [[ $USE_BUNDLE == yes && ! -d "$BUNDLE/debs" ]]; then
  fail "no bundle at $BUNDLE; hint: run scripts/gpu_bundle.sh here and carry the folder"
  exit 1
fi
if [[ $USE_BUNDLE != no && -d "$BUNDLE/debs" ]]; then
  PREFIX=$BUILD_DIR/deps-prefix
  rm -rf "$PREFIX"; mkdir -p "$PREFIX"
  for deb in "$BUNDLE"/debs/*.deb; do
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$deb" "$PREFIX"
    else
      # No dpkg: a .deb is an ar archive holding data.tar.*.
      python3 "$ROOT/scripts/gpu/unpack_deb.py" "$deb" "$PREFIX"
    fi
  done
  # Absolute symbolic links (rare in these packages) would point at the host.
  while IFS= read -r link; do
    target=$(readlink "$link")
    if [[ $target == /* ]]; then ln -sfn "$PREFIX$target" "$link"; fi
  done < <(find "$PREFIX" -type l)
  CMAKE_DEPS=(-DSPT_DEPS_PREFIX="$PREFIX")
  say "* dependencies: bundle $BUNDLE ($(ls "$BUNDLE"/debs/*.deb | wc -l) packages, $(du -sh "$BUNDLE" | cut -f1)) unpacked into a private prefix; CMake searches nowhere else"
else
  if [[ $INSTALL_DEPS -eq 1 ]]; then bash scripts/install_deps.sh; fi
  say "* dependencies: the system's (no bundle)"
fi

# ---- configure and build ----
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
if [[ $DRY_RUN -eq 1 ]]; then
  CUDA_OPT=OFF
else
  CUDA_OPT=ON
fi
say ""
say "## Build"
tb=$(date +%s)
if ! cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DSPT_CUDA=$CUDA_OPT \
     -DCMAKE_CUDA_ARCHITECTURES="$ARCH" "${CMAKE_DEPS[@]}" > "$LOGS/configure.log" 2>&1; then
  fail "configure (log: $LOGS/configure.log)"; section_log configure 40; exit 1
fi
grep -E '^-- spt:' "$LOGS/configure.log" | sed 's/^/    /' | tee -a "$REPORT"
if ! cmake --build "$BUILD_DIR" -j "$JOBS" > "$LOGS/build.log" 2>&1; then
  fail "build (log: $LOGS/build.log)"; section_log build 60; exit 1
fi
say "* configured (SPT_CUDA=$CUDA_OPT, arch $ARCH) and built with $JOBS jobs in $(( $(date +%s) - tb )) s"

if [[ $DRY_RUN -eq 1 && ${#CMAKE_DEPS[@]} -gt 0 && -x "$NVCC" ]]; then
  # The CUDA side of the configuration under the same restriction (configure only:
  # the CUDA toolkit is the GPU machine's own, found as a second root).
  if cmake -S . -B "$BUILD_DIR/cuda-configure" "${GEN[@]}" -DSPT_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
       -DSPT_BUILD_TESTS=ON "${CMAKE_DEPS[@]}" > "$LOGS/configure-cuda.log" 2>&1; then
    say "* configure with SPT_CUDA=ON against the prefix: ok"
  else
    fail "configure with SPT_CUDA=ON against the prefix (log: $LOGS/configure-cuda.log)"
    section_log configure-cuda 40
  fi
fi

# ---- every library the binaries load comes from the prefix or the base system ----
if [[ ${#CMAKE_DEPS[@]} -gt 0 ]]; then
  base_re='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libgomp|libcuda|libcudart|libcublas|libcublasLt|libcusparse|libnvJitLink)\.'
  bad=0
  for bin in "$BUILD_DIR/tests/spt_tests" "$BUILD_DIR/spt-finetune"; do
    [[ -x $bin ]] || continue
    while read -r lib arrow path _; do
      [[ $arrow == "=>" ]] || continue
      if [[ $path == "not" ]]; then say "* $(basename "$bin"): $lib NOT FOUND"; bad=1; continue; fi
      [[ $path == "$PREFIX"/* ]] && continue
      [[ $lib =~ $base_re ]] && continue
      say "* $(basename "$bin"): $lib comes from the host ($path), not from the bundle"; bad=1
    done < <(env -u LD_LIBRARY_PATH ldd "$bin")
  done
  if [[ $bad -eq 0 ]]; then
    say "* every shared library of spt_tests and spt-finetune resolves into the prefix or the base system (ldd)"
  else
    fail "libraries outside the bundle; hint: add their packages to scripts/gpu/bundle-packages.txt"
  fi
fi

TESTS=$BUILD_DIR/tests/spt_tests
run_logged() {  # name timeout cmd...
  local name=$1 limit=$2; shift 2
  timeout --kill-after=10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
}

# ---- dry run: the CPU tests of that build ----
if [[ $DRY_RUN -eq 1 ]]; then
  say ""
  say "## CPU tests of the bundle build"
  tt=$(date +%s)
  # Every CPU test case of the main run, here in one process.
  if run_logged cpu-tests 1200 env SPT_NUM_THREADS=2 "$TESTS" "~[cuda]"; then
    say "* $(tail -n 2 "$LOGS/cpu-tests.log" | grep -E 'passed|failed' | head -1) ($(( $(date +%s) - tt )) s)"
  else
    fail "CPU tests of the bundle build"; section_log cpu-tests 40
  fi
  say ""
  say "## What the GPU run does (not run here)"
  say ""
  say "Within SPT_GPU_CHECK_BUDGET = $BUDGET s after the build (each step's own limit in brackets, cut to"
  say "what the budget has left; a step is skipped when too little is left; the sanitizers take what remains):"
  say ""
  say "1. [cuda] tests in one process, SPT_REQUIRE_CUDA=1 (120 s): $("$TESTS" "[cuda]" --list-test-names-only 2>/dev/null | sed -e '/^ *$/d' -e '/matching test case/d' | wc -l) test cases"
  say "2. the same cases one process each with SPT_CUDA_SYNC=1 (60 s each, while >= 60 s are left)"
  say "3. spt-bench --device cuda: every op at BERT-base shapes (90 s)"
  say "4. sparse attention at T = 1024, 4096 (L = T/8): fused, cuSPARSE, deterministic (90 + 60 + 60 s)"
  say "5. routed FFN at 384/1536, 576/1536 SwiGLU, 768/3072, 16384 tokens (60 s)"
  say "6. training benchmark: bert-base 32 x 128, 8 x 512 and smollm2-135m 2 x 2048, full and SPT, each in fp32"
  say "   and bf16 (45 s each, while >= 90 s are left); PyTorch SDPA at T = 4096 when the machine has PyTorch with"
  say "   CUDA (60 s)"
  say "7. compute-sanitizer memcheck over [cuda], racecheck over the shared-memory kernels (<= 150 s each)"
  say ""
  say "Build (sm_$ARCH, all cores; about 1.5 minutes on 16, estimated from this machine's build) + $BUDGET s"
  say "= about $(( (90 + BUDGET + 59) / 60 )) minutes: within the 8 minutes the check is held to."
  say ""
  say "gpu_check dry run: $( [[ $FAILED -eq 0 ]] && echo passed || echo FAILED) in $(elapsed) s"
  exit $FAILED
fi

# ---- on the GPU ----
export SPT_REQUIRE_CUDA=1   # a [cuda] test without a usable device fails instead of skipping
DEADLINE=$(( $(date +%s) + BUDGET ))
left() { echo $(( DEADLINE - $(date +%s) )); }
# A step's time limit: its own, cut to what the budget has left (30 s kept for
# what follows); 0 when fewer than 20 s would remain: the step is skipped.
step_limit() {
  local l=$1 r=$(( $(left) - 30 ))
  if (( r < 20 )); then echo 0; elif (( r < l )); then echo "$r"; else echo "$l"; fi
}

say ""
say "## [cuda] tests, one process"
if run_logged cuda-one 120 "$TESTS" "[cuda]" --durations yes; then
  say "* $(grep -E 'All tests passed|test cases' "$LOGS/cuda-one.log" | tail -1)"
else
  fail "[cuda] tests in one process (exit $?)"; section_log cuda-one 60
fi

say ""
say "## [cuda] tests, one process per test case, SPT_CUDA_SYNC=1"
say ""
say "| test case | result | seconds |"
say "|---|---|---|"
mapfile -t CASES < <("$TESTS" "[cuda]" --list-test-names-only 2>/dev/null | sed -e 's/^ *//' -e '/^$/d' | grep -v 'matching test case')
i=0
for name in "${CASES[@]}"; do
  i=$((i + 1))
  if (( $(left) < 60 )); then say "| (${#CASES[@]} - $i + 1 cases left out: time budget) | skipped | |"; break; fi
  ts=$(date +%s)
  if run_logged "case-$i" 60 env SPT_CUDA_SYNC=1 "$TESTS" "$name"; then r=pass; else r="**FAIL** (log case-$i.log)"; FAILED=1; fi
  say "| $name | $r | $(( $(date +%s) - ts )) |"
done

say ""
say "## CUDA benchmark (spt-bench --device cuda)"
lim=$(step_limit 90)
if (( lim == 0 )); then
  say "* not run (time budget)"
elif run_logged bench "$lim" "$BUILD_DIR/spt-bench" --device cuda --iters 20; then
  section_log bench 80
else
  fail "spt-bench --device cuda"; section_log bench 40
fi

say ""
say "## Sparse attention benchmark (spt-bench --device cuda --attention)"
lim=$(step_limit 90)
if (( lim == 0 )); then
  say "* not run (time budget)"
elif run_logged bench-sparse "$lim" "$BUILD_DIR/spt-bench" --device cuda --attention 1024,4096 --iters 5; then
  section_log bench-sparse 20
else
  fail "spt-bench --device cuda --attention"; section_log bench-sparse 30
fi
# The prototype's cuSPARSE path and the deterministic backward, same shapes.
for variant in "--sparse-kernel cusparse" "--deterministic"; do
  tag=bench-sparse-${variant##*-}
  lim=$(step_limit 60)
  if (( lim == 0 )); then say "* $variant: not run (time budget)"; continue; fi
  # shellcheck disable=SC2086
  if run_logged "$tag" "$lim" "$BUILD_DIR/spt-bench" --device cuda --attention 1024,4096 --iters 3 --sparse-only $variant; then
    section_log "$tag" 10
  else
    fail "spt-bench --device cuda --attention $variant"; section_log "$tag" 20
  fi
done

say ""
say "## Routed FFN benchmark (spt-bench --device cuda --ffn)"
lim=$(step_limit 60)
if (( lim == 0 )); then
  say "* not run (time budget)"
elif run_logged bench-ffn "$lim" "$BUILD_DIR/spt-bench" --device cuda --ffn 384:1536 576:1536:swiglu 768:3072 --tokens 16384 --iters 5; then
  section_log bench-ffn 10
else
  fail "spt-bench --device cuda --ffn"; section_log bench-ffn 20
fi

say ""
say "## Training benchmark (spt-bench --train-model, random weights, fp32 and bf16, 5 steps)"
say ""
say "BERT-base shapes at T = 128 and 512, SmolLM2-135M shapes at T = 2048; dense full fine-tuning vs SPT mode"
say "(LoRA on the attention, sparse attention L = T/8, routed FFN 4 of 8), each in fp32 and with bf16 GEMMs"
say "(runtime.precision = bf16). MFU against SPT_PEAK_TFLOPS (default 67: the H200's FP32 peak) for fp32"
say "runs and SPT_PEAK_TFLOPS_BF16 (default 989: its dense BF16 tensor-core peak) for bf16. One JSON line per run:"
say ""
say '```'
for spec in "bert-base 32 128" "bert-base 8 512" "smollm2-135m 2 2048"; do
  read -r m b t <<< "$spec"
  for mode in full spt full-bf16 spt-bf16; do
    tag="train-$m-$t-$mode"
    if (( $(left) < 90 )); then say "$m T=$t $mode: not run (time budget)"; continue; fi
    extra=(); [[ $mode == spt* ]] && extra=(--spt)
    peak=${SPT_PEAK_TFLOPS:-67}
    if [[ $mode == *-bf16 ]]; then extra+=(--precision bf16); peak=${SPT_PEAK_TFLOPS_BF16:-989}; fi
    if run_logged "$tag" 45 "$BUILD_DIR/spt-bench" --device cuda --train-model "$m" --batch "$b" --seq "$t" \
        --steps 5 "${extra[@]}" --peak-tflops "$peak"; then
      tail -n 1 "$LOGS/$tag.log" | tee -a "$REPORT"
    else
      say "$m T=$t $mode: FAILED (log $tag.log)"; FAILED=1
    fi
  done
done
say '```'
# PyTorch's SDPA at the sparse benchmark's longest shape, when the machine has PyTorch with CUDA.
lim=$(step_limit 60)
if (( lim == 0 )); then
  say "* PyTorch SDPA: not run (time budget)"
elif python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  run_logged sdpa "$lim" python3 - <<'PY'
import time, torch, torch.nn.functional as F
for causal in (False, True):
    q, k, v = (torch.randn(4, 12, 4096, 64, device="cuda", requires_grad=True) for _ in range(3))
    for _ in range(2):
        F.scaled_dot_product_attention(q, k, v, dropout_p=0.1, is_causal=causal).sum().backward()
    torch.cuda.synchronize(); t = time.time()
    for _ in range(5):
        F.scaled_dot_product_attention(q, k, v, dropout_p=0.1, is_causal=causal).sum().backward()
    torch.cuda.synchronize()
    print(f"torch {torch.__version__} SDPA fwd+bwd B=4 H=12 T=4096 D=64 dropout 0.1 causal={causal}: "
          f"{(time.time() - t) / 5 * 1e3:.2f} ms")
PY
  section_log sdpa 4
else
  say "* PyTorch with CUDA not on this machine: spt alone (the sparse benchmark above has spt's dense attention)"
fi

say ""
say "## compute-sanitizer"
if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    budget=$(( $(left) - 20 ))
    if (( budget < 30 )); then say "* $tool: not run (time budget)"; continue; fi
    (( budget > 150 )) && budget=150
    filter="[cuda]"
    # racecheck: the ops whose kernels use shared memory (block reductions).
    if [[ $tool == racecheck ]]; then
      filter=""
      for op in layernorm softmax attention sparse_select sparse_attention routed_ffn cross_entropy mse embedding clip_grad_norm; do
        filter+="${filter:+,}op $op: cuda matches cpu"
      done
    fi
    run_logged "sanitizer-$tool" "$budget" compute-sanitizer --tool "$tool" --error-exitcode 99 \
      "$TESTS" "$filter"
    rc=$?
    summary=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$LOGS/sanitizer-$tool.log" | tail -1)
    if [[ $rc -eq 0 ]]; then
      say "* $tool ($filter): ${summary:-no summary line}, exit 0"
    elif [[ $rc -eq 124 || $rc -eq 137 ]]; then
      say "* $tool: stopped at its time limit (${budget} s); ${summary:-no summary yet}"
    else
      fail "$tool exit $rc: ${summary}"; section_log "sanitizer-$tool" 40
    fi
  done
else
  say "* compute-sanitizer not found: not run"
fi

say ""
say "gpu_check: $( [[ $FAILED -eq 0 ]] && echo passed || echo FAILED) in $(elapsed) s; logs in $LOGS"
exit $FAILED
