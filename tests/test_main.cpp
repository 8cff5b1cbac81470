// Test runner: sets the thread count once (SPT_NUM_THREADS or all cores), then runs Catch2.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "spt/core/runtime.h"

int main(int argc, char* argv[]) {
  spt::select_blas_kernel(argv);
  spt::init_threads();
  return Catch::Session().run(argc, argv);
}
