// Grid-stride loop bounds in 64-bit arithmetic (tensors may exceed 2^31 elements).
//
//   for (int64_t i = first_index(); i < n; i += index_stride()) ...
//   for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) ...   (row kernels)
#pragma once

#include <cstdint>

namespace spt::cuda::device {

__device__ __forceinline__ int64_t first_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ int64_t index_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

}  // namespace spt::cuda::device
