// RAII owners for the cuBLAS / cuBLASLt / cuSPARSE handles (see
// library_handles.h), and the out-of-line messages of SPT_CUBLAS_CHECK and
// SPT_CUSPARSE_CHECK (cuda_check.h).
#include "library_handles.h"

#include "cuda_check.h"
#include "handles.h"

namespace spt::cuda {

void throw_cublas_failed(int status, const char* call, const char* file, int line) {
  throw_call_failed("cublas", call, cublasGetStatusString(static_cast<cublasStatus_t>(status)),
                    file, line);
}

void throw_cusparse_failed(int status, const char* call, const char* file, int line) {
  throw_call_failed("cusparse", call, cusparseGetErrorString(static_cast<cusparseStatus_t>(status)),
                    file, line);
}

CublasHandle::CublasHandle(int device, cudaStream_t stream) {
  const DeviceGuard guard(device);
  SPT_CUBLAS_CHECK(cublasCreate(&handle_));
  try {
    SPT_CUBLAS_CHECK(cublasSetStream(handle_, stream));
    SPT_CUBLAS_CHECK(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH));
  } catch (...) {
    cublasDestroy(handle_);
    throw;
  }
}

CublasHandle::~CublasHandle() {
  if (handle_ != nullptr) cublasDestroy(handle_);
}

CublasLtHandle::CublasLtHandle(int device) {
  const DeviceGuard guard(device);
  SPT_CUBLAS_CHECK(cublasLtCreate(&handle_));
}

CublasLtHandle::~CublasLtHandle() {
  if (handle_ != nullptr) cublasLtDestroy(handle_);
}

CusparseHandle::CusparseHandle(int device, cudaStream_t stream) {
  const DeviceGuard guard(device);
  SPT_CUSPARSE_CHECK(cusparseCreate(&handle_));
  try {
    SPT_CUSPARSE_CHECK(cusparseSetStream(handle_, stream));
  } catch (...) {
    cusparseDestroy(handle_);
    throw;
  }
}

CusparseHandle::~CusparseHandle() {
  if (handle_ != nullptr) cusparseDestroy(handle_);
}

}  // namespace spt::cuda
