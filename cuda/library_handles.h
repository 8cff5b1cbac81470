// RAII owners for the CUDA library handles of one backend: cuBLAS (bound to
// the backend's stream, default math mode: no TF32 for f32), cuBLASLt (streams
// are passed per call) and cuSPARSE (bound to the stream).
//
// Only host files that call the libraries include this header; CudaBackend
// holds a LibraryHandles through a pointer so that the kernel files compile
// without the library headers.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusparse.h>

namespace spt::cuda {

class CublasHandle {
 public:
  CublasHandle(int device, cudaStream_t stream);
  ~CublasHandle();
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

class CublasLtHandle {
 public:
  explicit CublasLtHandle(int device);
  ~CublasLtHandle();
  CublasLtHandle(const CublasLtHandle&) = delete;
  CublasLtHandle& operator=(const CublasLtHandle&) = delete;
  cublasLtHandle_t get() const { return handle_; }

 private:
  cublasLtHandle_t handle_ = nullptr;
};

class CusparseHandle {
 public:
  CusparseHandle(int device, cudaStream_t stream);
  ~CusparseHandle();
  CusparseHandle(const CusparseHandle&) = delete;
  CusparseHandle& operator=(const CusparseHandle&) = delete;
  cusparseHandle_t get() const { return handle_; }

 private:
  cusparseHandle_t handle_ = nullptr;
};

// All library handles of one backend, created on `device` and bound to `stream`.
struct LibraryHandles {
  LibraryHandles(int device, cudaStream_t stream)
      : cublas(device, stream), cublaslt(device), cusparse(device, stream) {}
  CublasHandle cublas;
  CublasLtHandle cublaslt;
  CusparseHandle cusparse;
};

}  // namespace spt::cuda
