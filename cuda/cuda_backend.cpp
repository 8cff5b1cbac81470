// CudaBackend construction, copies and synchronisation, and the factory entry
// points the backend registry calls (declared in cuda_backend.h).
#include "cuda_backend.h"

#include <cuda_runtime_api.h>

#include <memory>
#include <string>

#include "backend_impl.h"
#include "cuda_check.h"
#include "library_handles.h"
#include "spt/core/error.h"

namespace spt::cuda {

namespace {

// "cuda:0 (NVIDIA H200, sm_90, 139 GiB)"
std::string describe_device(int index) {
  cudaDeviceProp prop{};
  SPT_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  const size_t gib = prop.totalGlobalMem >> 30;
  return str_cat("cuda:", index, " (", prop.name, ", sm_", prop.major, prop.minor, ", ", gib,
                 " GiB)");
}

}  // namespace

int device_count() {
  int count = 0;
  // Any failure (no driver, driver too old, no device) means "no usable GPU".
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count > 0 ? count : 0;
}

std::string discovery_error() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return str_cat("cudaGetDeviceCount failed: ", cudaGetErrorString(err));
  }
  return count > 0 ? "" : "no CUDA device found";
}

std::unique_ptr<Backend> make_backend(int index) {
  const int count = device_count();
  SPT_CHECK(index >= 0 && index < count, "[cuda] device cuda:", index, " is not available (", count,
            " CUDA device(s) found); hint: use device \"cpu\" or cuda:0 .. cuda:", count - 1);
  return std::make_unique<CudaBackend>(index);
}

CudaBackend::CudaBackend(int index)
    : index_(index),
      name_(describe_device(index)),
      allocator_(index),
      stream_(index),
      libraries_(std::make_unique<LibraryHandles>(index, stream_.get())) {}

CudaBackend::~CudaBackend() {
  // Let enqueued work finish before the handles and the stream go away; errors
  // are ignored (this may run at process exit).
  if (cudaSetDevice(index_) == cudaSuccess) cudaStreamSynchronize(stream_.get());
  cudaGetLastError();
}

void CudaBackend::copy_from_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  const DeviceGuard guard(index_);
  SPT_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, stream_.get()));
  // Synchronous for the caller: `src` may be freed as soon as we return.
  SPT_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
}

void CudaBackend::copy_to_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  const DeviceGuard guard(index_);
  SPT_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, stream_.get()));
  SPT_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
}

void CudaBackend::copy(Tensor& dst, const Tensor& src) {
  SPT_CHECK(dst.dtype() == src.dtype() && dst.numel() == src.numel(), "[copy] ", dst.str(), " <- ",
            src.str(), ": dtype and size must match");
  const DeviceGuard guard(index_);
  copy_bytes(dst.data_ptr(), src.data_ptr(), dst.nbytes());
}

void CudaBackend::synchronize() {
  const DeviceGuard guard(index_);
  SPT_CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
}

void CudaBackend::copy_bytes(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0 || dst == src) return;
  SPT_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, stream_.get()));
}

}  // namespace spt::cuda
