// Warp and block reductions for 1-D blocks whose size is a multiple of 32
// (at most 1024 threads), as the launchers in launch.h guarantee.
//
// Every thread of the block receives the result. The butterfly (xor) shuffles
// combine values in the same order on every lane and in every run, so results
// are deterministic and identical across the block.
#pragma once

#include <math_constants.h>

namespace spt::cuda::device {

struct SumOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};

struct MaxOp {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a > b ? a : b;
  }
};

template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Reduces one value per thread over the whole block. Must be reached by every
// thread of the block (it synchronises). Safe to call repeatedly: the leading
// barrier keeps a call from overwriting partials the previous call still reads.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T identity) {
  __shared__ T partials[32];
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int num_warps = static_cast<int>(blockDim.x) >> 5;
  v = warp_reduce(v, op);
  __syncthreads();
  if (lane == 0) partials[warp] = v;
  __syncthreads();
  v = lane < num_warps ? partials[lane] : identity;
  return warp_reduce(v, op);
}

template <class T>
__device__ __forceinline__ T block_sum(T v) {
  return block_reduce(v, SumOp{}, T(0));
}

__device__ __forceinline__ float block_max(float v) {
  return block_reduce(v, MaxOp{}, -CUDART_INF_F);
}

}  // namespace spt::cuda::device
