// RAII owners for the device guard, the stream and scratch buffers (see handles.h).
#include "handles.h"

#include "cuda_check.h"

namespace spt::cuda {

DeviceGuard::DeviceGuard(int device) : device_(device) {
  SPT_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device_) SPT_CUDA_CHECK(cudaSetDevice(device_));
}

DeviceGuard::~DeviceGuard() {
  if (previous_ != device_) cudaSetDevice(previous_);  // best effort; never throws
}

Stream::Stream(int device) {
  const DeviceGuard guard(device);
  SPT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

Stream::~Stream() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

ScratchBuffer::ScratchBuffer(Allocator& alloc, size_t nbytes)
    : alloc_(alloc), nbytes_(nbytes), data_(alloc.allocate(nbytes)) {}

ScratchBuffer::~ScratchBuffer() { alloc_.deallocate(data_, nbytes_); }

}  // namespace spt::cuda
