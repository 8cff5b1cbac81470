#!/usr/bin/env bash
# SPT_REQUIRE_CUDA=1 turns the skip of every [cuda] test without a usable
# device into a failure that names the reason (scripts/gpu_check.sh relies on
# it). Without a GPU (CI) the [cuda] tests must then fail; with one, nothing to check.
#   require_cuda.sh SPT_TESTS_BINARY
set -uo pipefail
bin=$1
if SPT_REQUIRE_CUDA=0 "$bin" "cuda discovery never throws" 2>&1 | grep -q "no usable CUDA device"; then
  out=$(SPT_REQUIRE_CUDA=1 "$bin" "[cuda]" 2>&1); rc=$?
  if [[ $rc -eq 0 ]]; then echo "FAIL: [cuda] tests passed without a device under SPT_REQUIRE_CUDA=1"; exit 1; fi
  if ! grep -q "SPT_REQUIRE_CUDA=1 but no usable CUDA device" <<<"$out"; then
    echo "FAIL: no reason given"; echo "$out" | tail -20; exit 1
  fi
  echo "ok: [cuda] tests fail (exit $rc) without a device under SPT_REQUIRE_CUDA=1:"
  grep -m1 "SPT_REQUIRE_CUDA=1 but" <<<"$out"
else
  echo "a CUDA device is present: nothing to check here"
fi
