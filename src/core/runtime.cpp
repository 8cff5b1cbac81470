// Thread set-up and the BLAS start-up check.
#include "spt/core/runtime.h"

#include <omp.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "spt/backend/backend.h"
#include "spt/core/error.h"

// OpenBLAS extensions (declared here to avoid depending on which cblas.h is found first).
extern "C" {
char* openblas_get_config(void);
char* openblas_get_corename(void);
int openblas_get_parallel(void);
void openblas_set_num_threads(int num_threads);
// DYNAMIC_ARCH builds (all of Debian's) report the kernel chosen at run time
// here; openblas_get_corename() gives only the build's baseline target.
char* gotoblas_corename(void) __attribute__((weak));
}

namespace spt {

void select_blas_kernel(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr || gotoblas_corename == nullptr) return;
  if (std::strcmp(gotoblas_corename(), "Prescott") != 0) return;  // a tuned kernel was found
  const char* core = nullptr;
  if (__builtin_cpu_supports("avx512bf16")) core = "Cooperlake";
  else if (__builtin_cpu_supports("avx512f")) core = "SkylakeX";
  else if (__builtin_cpu_supports("avx2")) core = "Haswell";
  if (core == nullptr) return;
  setenv("OPENBLAS_CORETYPE", core, 1);
  execv("/proc/self/exe", argv);
  // execv only returns on failure: carry on with the generic kernels.
}

void init_threads(int n) {
  if (n <= 0) {
    if (const char* env = std::getenv("SPT_NUM_THREADS"); env && *env) {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      SPT_CHECK(end && *end == '\0' && v > 0 && v <= 4096, "[runtime] SPT_NUM_THREADS='", env,
                "' is not a positive integer; hint: unset it or set e.g. SPT_NUM_THREADS=2");
      n = static_cast<int>(v);
    } else {
      n = omp_get_num_procs();
    }
  }
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.blas_config = openblas_get_config();
  info.blas_core = gotoblas_corename ? gotoblas_corename() : openblas_get_corename();
  switch (openblas_get_parallel()) {
    case 0: info.blas_parallel = "serial"; break;
    case 1: info.blas_parallel = "pthread"; break;
    default: info.blas_parallel = "openmp"; break;
  }
  info.blas_is_openblas = info.blas_config.rfind("OpenBLAS", 0) == 0;
  info.threads = omp_get_max_threads();
  info.cuda_built = cuda_built();
  info.cuda_devices = cuda_device_count();
  return info;
}

std::string runtime_summary() {
  const RuntimeInfo i = runtime_info();
  std::string s = "BLAS: " + i.blas_config + " (core " + i.blas_core + ", " + i.blas_parallel +
                  "), threads " + std::to_string(i.threads) + ", CUDA: ";
  if (!i.cuda_built) s += "not built";
  else s += std::to_string(i.cuda_devices) + " device(s)";
  return s;
}

}  // namespace spt
