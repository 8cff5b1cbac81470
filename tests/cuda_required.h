// Whether a [cuda] test can run. Without a usable device it is skipped with a
// message, except under SPT_REQUIRE_CUDA=1 (scripts/gpu_check.sh sets it on the
// GPU machine), where it fails with the reason: a run on a GPU machine must not
// pass by skipping (a driver too old for the CUDA runtime makes discovery fail).
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <string>

#include "spt/backend/backend.h"

namespace spt::test {

inline bool cuda_required() {
  const char* e = std::getenv("SPT_REQUIRE_CUDA");
  return e != nullptr && std::strcmp(e, "1") == 0;
}

// True when the test should go on with cuda:0; otherwise skips (WARN) or fails.
inline bool cuda_available_for_test(const std::string& what) {
  if (cuda_device_count() > 0) return true;
  const std::string reason = cuda_unavailable_reason();
  if (cuda_required()) FAIL("SPT_REQUIRE_CUDA=1 but no usable CUDA device for " << what << ": " << reason);
  WARN("no usable CUDA device (" << reason << "): skipping " << what);
  return false;
}

}  // namespace spt::test
