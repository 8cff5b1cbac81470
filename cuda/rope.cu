// Rotary position embeddings (spt/ops/rope.h), as src/cpu/rope.cpp: one thread
// per (row, head, j < D/2) pair of elements:
//   y[j] = x[j] c - x[j + D/2] s,  y[j + D/2] = x[j + D/2] c + x[j] s   (inverse: -s)
#include "backend_impl.h"
#include "cuda_check.h"
#include "launch.h"

namespace spt::cuda {

namespace {

__global__ void rope_kernel(float* y, const float* x, const int32_t* pos, const float* cos, const float* sin,
                            int64_t rows, int64_t heads, int64_t half, float sign) {
  const int64_t pairs = rows * heads * half;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < pairs;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = i % half, rh = i / half, n = rh / heads;
    const int64_t base = rh * 2 * half;  // (n, h) block of D = 2 half values
    const int64_t t = static_cast<int64_t>(pos[n]) * half + j;
    const float c = cos[t], s = sign * sin[t];
    const float a = x[base + j], b = x[base + j + half];
    y[base + j] = a * c - b * s;
    y[base + j + half] = b * c + a * s;
  }
}

}  // namespace

void CudaBackend::rope(const RopeParams& p, Tensor& y, const Tensor& x, const Tensor& pos, const Tensor& cos,
                       const Tensor& sin) {
  require_f32("rope", y, x, cos, sin);
  const int64_t half = p.head_dim / 2, pairs = p.rows * p.heads * half;
  if (pairs == 0) return;
  const DeviceGuard guard(index_);
  rope_kernel<<<grid_for(pairs), kThreads, 0, stream()>>>(y.data<float>(), x.data<float>(), pos.data<int32_t>(),
                                                          cos.data<float>(), sin.data<float>(), p.rows, p.heads,
                                                          half, p.inverse ? -1.f : 1.f);
  SPT_CUDA_CHECK_LAUNCH("rope_kernel");
}

}  // namespace spt::cuda
