// RAII owners for the CUDA runtime objects one backend uses: the current-device
// guard, the backend's stream, and scratch buffers borrowed from the caching
// allocator for the length of one launch. (The cuBLAS / cuBLASLt / cuSPARSE
// handles are in library_handles.h, kept out of the kernel files.)
//
// None is copyable or movable: each is owned by exactly one CudaBackend (or one
// stack frame). Destructors never throw; a failure while releasing (e.g. at
// process exit, after the CUDA runtime has begun to unload) is ignored.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "spt/core/allocator.h"

namespace spt::cuda {

// Makes `device` current for the guard's lifetime and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  int device_ = 0;
};

// A non-blocking stream (no implicit sync with the legacy default stream).
class Stream {
 public:
  explicit Stream(int device);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// Device scratch memory from `alloc`, returned when the buffer goes out of scope.
// Returning it right after enqueueing the kernels that use it is safe: the
// backend runs everything on one stream, so whoever gets the block next is
// ordered after those kernels.
class ScratchBuffer {
 public:
  ScratchBuffer(Allocator& alloc, size_t nbytes);
  ~ScratchBuffer();
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  Allocator& alloc_;
  size_t nbytes_ = 0;
  void* data_ = nullptr;
};

}  // namespace spt::cuda
