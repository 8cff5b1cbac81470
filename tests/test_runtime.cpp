// The start-up check: spt must run on OpenBLAS built for OpenMP (one thread
// pool for BLAS and spt's loops), and thread settings must reach both.
#include <omp.h>

#include <catch2/catch.hpp>

#include "spt/backend/backend.h"
#include "spt/core/runtime.h"
#include "tests/cuda_required.h"

using namespace spt;

TEST_CASE("OpenBLAS (OpenMP build) is the BLAS actually linked", "[runtime]") {
  const RuntimeInfo info = runtime_info();
  INFO(runtime_summary());
  CHECK(info.blas_is_openblas);
  CHECK(info.blas_parallel == "openmp");
  CHECK(info.threads >= 1);
  CHECK(backend_for(Device::cpu()).name().find("OpenBLAS") != std::string::npos);
}

TEST_CASE("init_threads sets OpenMP and BLAS threads together", "[runtime]") {
  const int before = omp_get_max_threads();
  init_threads(1);
  CHECK(omp_get_max_threads() == 1);
  CHECK(runtime_info().threads == 1);
  init_threads(before);
  CHECK(omp_get_max_threads() == before);
}

TEST_CASE("cuda discovery never throws", "[runtime][cuda]") {
  int n = -1;
  CHECK_NOTHROW(n = cuda_device_count());
  CHECK(n >= 0);
  if (n == 0) CHECK_FALSE(cuda_unavailable_reason().empty());
  if (!cuda_built()) {
    CHECK(n == 0);
    CHECK(cuda_unavailable_reason() == "this spt was built without CUDA");
    CHECK_THROWS_WITH(backend_for(Device::cuda(0)), Catch::Contains("built without CUDA"));
  } else if (n == 0) {
    CHECK_THROWS_WITH(backend_for(Device::cuda(0)), Catch::Contains("not available"));
  } else {
    CHECK(cuda_unavailable_reason().empty());
  }
  // Skips here without a GPU; fails under SPT_REQUIRE_CUDA=1 (the GPU check).
  (void)test::cuda_available_for_test("cuda discovery");
}

TEST_CASE("a tuned OpenBLAS kernel is in use on AVX2/AVX-512 CPUs", "[runtime]") {
  // test_main calls select_blas_kernel(), as every spt program does.
  const RuntimeInfo info = runtime_info();
  INFO(runtime_summary());
  if (__builtin_cpu_supports("avx2")) CHECK(info.blas_core != "Prescott");
}
