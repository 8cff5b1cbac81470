// Process-wide runtime facts: threads and the BLAS actually linked.
//
// spt links OpenBLAS built for OpenMP, so BLAS calls and spt's own OpenMP loops
// share one thread pool and never oversubscribe the cores; BLAS calls made from
// inside an OpenMP parallel region run single-threaded.
#pragma once

#include <string>

namespace spt {

struct RuntimeInfo {
  std::string blas_config;   // openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."
  std::string blas_core;     // openblas_get_corename(), e.g. "SkylakeX"
  std::string blas_parallel; // "openmp", "pthread" or "serial"
  int threads = 1;           // threads used by OpenMP loops and BLAS
  bool blas_is_openblas = false;
  int cuda_devices = 0;
  bool cuda_built = false;
};

// OpenBLAS 0.3.21 (Debian 12) does not recognise recent Intel CPUs (e.g. model
// 0xCF) and falls back to its generic "Prescott" kernels, 5-10x slower. Call
// this first thing in main(): when the kernel chosen is generic but the CPU
// has AVX-512 or AVX2, it sets OPENBLAS_CORETYPE (Cooperlake, SkylakeX or
// Haswell) and re-executes the program, since OpenBLAS reads that variable
// only when it loads. Does nothing when OPENBLAS_CORETYPE is already set.
void select_blas_kernel(char** argv);

// Sets the thread count for OpenMP loops and BLAS alike. n <= 0 means: the
// SPT_NUM_THREADS environment variable if set, else the number of cores.
void init_threads(int n = 0);
RuntimeInfo runtime_info();
// One line for logs: "BLAS: OpenBLAS 0.3.21 ... (core SkylakeX, openmp), threads 2, CUDA: ..."
std::string runtime_summary();

}  // namespace spt
