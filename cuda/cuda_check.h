// Check macros for CUDA runtime, cuBLAS / cuBLASLt and cuSPARSE calls.
//
// Every call into a CUDA library goes through one of these; a failure throws
// spt::Error naming the call and where it was made, e.g.
//   "[cuda] cudaMemcpyAsync failed: invalid argument (cuda/cuda_backend.cpp:57)"
// Kernel launches are checked with SPT_CUDA_CHECK_LAUNCH("kernel_name") right after
// the launch (cudaGetLastError reports bad launch configurations at once;
// SPT_CUDA_SYNC=1 also waits for the kernel and reports a fault in it).
//
// The cuBLAS and cuSPARSE checks take the status as an int (success is 0 in
// both libraries) and format the message out of line, in library_handles.cpp,
// so that kernel files need not include the (slow to compile) library headers.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "spt/core/error.h"

namespace spt::cuda {

// "cudaMemcpyAsync(dst, src, ...)" -> "cudaMemcpyAsync": the function the call names.
inline std::string call_name(const char* call) {
  const std::string s(call);
  const size_t paren = s.find('(');
  return paren == std::string::npos ? s : s.substr(0, paren);
}

[[noreturn]] inline void throw_call_failed(const char* library, const char* call, const char* what,
                                           const char* file, int line) {
  fail("[", library, "] ", call_name(call), " failed: ", what, " (", file, ":", line, ")");
}

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call does not see it
  throw_call_failed("cuda", call, cudaGetErrorString(err), file, line);
}

// SPT_CUDA_SYNC=1 (scripts/gpu_check.sh sets it for its per-test runs): wait for
// the device after every kernel launch and library call, so that a fault (an
// illegal address, say) is reported at the kernel that made it rather than at
// the next copy. Slow; for debugging and verification only.
inline bool sync_after_launch() {
  static const bool on = [] {
    const char* e = std::getenv("SPT_CUDA_SYNC");
    return e != nullptr && std::strcmp(e, "1") == 0;
  }();
  return on;
}

inline void check_launch(const char* what, const char* file, int line) {
  check_cuda(cudaGetLastError(), what, file, line);
  if (sync_after_launch()) check_cuda(cudaDeviceSynchronize(), what, file, line);
}

// Defined in library_handles.cpp, next to the library headers.
[[noreturn]] void throw_cublas_failed(int status, const char* call, const char* file, int line);
[[noreturn]] void throw_cusparse_failed(int status, const char* call, const char* file, int line);

inline void check_cublas(int status, const char* call, const char* file, int line) {
  if (status != 0) throw_cublas_failed(status, call, file, line);  // CUBLAS_STATUS_SUCCESS
  if (sync_after_launch()) check_cuda(cudaDeviceSynchronize(), call, file, line);
}

inline void check_cusparse(int status, const char* call, const char* file, int line) {
  if (status != 0) throw_cusparse_failed(status, call, file, line);  // CUSPARSE_STATUS_SUCCESS
  if (sync_after_launch()) check_cuda(cudaDeviceSynchronize(), call, file, line);
}

}  // namespace spt::cuda

#define SPT_CUDA_CHECK(call) ::spt::cuda::check_cuda((call), #call, __FILE__, __LINE__)
// cuBLAS and cuBLASLt share cublasStatus_t.
#define SPT_CUBLAS_CHECK(call) \
  ::spt::cuda::check_cublas(static_cast<int>(call), #call, __FILE__, __LINE__)
#define SPT_CUSPARSE_CHECK(call) \
  ::spt::cuda::check_cusparse(static_cast<int>(call), #call, __FILE__, __LINE__)
// After `kernel<<<...>>>(...)`: reports an invalid launch under the kernel's name
// (a string, since template arguments would split a macro argument), and with
// SPT_CUDA_SYNC=1 also a fault during the kernel's execution.
#define SPT_CUDA_CHECK_LAUNCH(kernel_name) \
  ::spt::cuda::check_launch("launch of " kernel_name, __FILE__, __LINE__)
