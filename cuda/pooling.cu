// Mean pooling and its gradient, as src/cpu/pooling.cpp (B = batch, T = tokens,
// C = channels; mask (B, T) i32, a token counts where mask != 0; no mask: all):
//   mean_pool_fwd   y (B, C) = sum over valid t of x[b, t] / max(1, n_b)
//   mean_pool_bwd   dx (B, T, C) = dy[b] / max(1, n_b) at valid t, else 0 (written)
// One thread per output element; a thread of the forward walks its column over
// the T tokens in order (coalesced across c), so the sum order is the CPU's.
// The backward counts n_b once per row first (a row-wise kernel into scratch).
#include "backend_impl.h"
#include "cuda_check.h"
#include "device/indexing.cuh"
#include "device/reduce.cuh"
#include "launch.h"

namespace spt::cuda {

namespace {

__global__ void mean_pool_fwd_kernel(float* y, const float* x, const int32_t* mask, int64_t B, int64_t T,
                                     int64_t C) {
  const int64_t total = B * C;
  for (int64_t i = device::first_index(); i < total; i += device::index_stride()) {
    const int64_t b = i / C, c = i - b * C;
    float s = 0.f;
    int64_t n = 0;
    for (int64_t t = 0; t < T; ++t) {
      if (mask && mask[b * T + t] == 0) continue;
      s += x[(b * T + t) * C + c];
      ++n;
    }
    y[i] = s * (1.f / static_cast<float>(n > 0 ? n : 1));
  }
}

// inv[b] = 1 / max(1, n_b); one block per row.
__global__ void mean_pool_count_kernel(float* inv, const int32_t* mask, int64_t B, int64_t T) {
  for (int64_t b = blockIdx.x; b < B; b += gridDim.x) {
    unsigned long long n = 0;
    for (int64_t t = threadIdx.x; t < T; t += blockDim.x) n += mask ? (mask[b * T + t] != 0 ? 1ull : 0ull) : 1ull;
    n = device::block_sum(n);
    if (threadIdx.x == 0) inv[b] = 1.f / static_cast<float>(n > 0 ? n : 1);
  }
}

__global__ void mean_pool_bwd_kernel(float* dx, const float* dy, const float* inv, const int32_t* mask,
                                     int64_t B, int64_t T, int64_t C) {
  const int64_t total = B * T * C;
  for (int64_t i = device::first_index(); i < total; i += device::index_stride()) {
    const int64_t bt = i / C, c = i - bt * C, b = bt / T;
    dx[i] = (mask && mask[bt] == 0) ? 0.f : dy[b * C + c] * inv[b];
  }
}

}  // namespace

void CudaBackend::mean_pool_fwd(Tensor& y, const Tensor& x, const Tensor& mask) {
  require_f32("mean_pool", y, x);
  const int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2);
  if (B * C == 0) return;
  const DeviceGuard guard(index_);
  const int32_t* m = mask.defined() ? mask.data<int32_t>() : nullptr;
  mean_pool_fwd_kernel<<<grid_for(B * C), kThreads, 0, stream()>>>(y.data<float>(), x.data<float>(), m, B, T, C);
  SPT_CUDA_CHECK_LAUNCH("mean_pool_fwd_kernel");
}

void CudaBackend::mean_pool_bwd(Tensor& dx, const Tensor& dy, const Tensor& mask) {
  require_f32("mean_pool", dx, dy);
  const int64_t B = dx.dim(0), T = dx.dim(1), C = dx.dim(2);
  if (B * T * C == 0) return;
  const DeviceGuard guard(index_);
  const int32_t* m = mask.defined() ? mask.data<int32_t>() : nullptr;
  ScratchBuffer scratch(allocator_, static_cast<size_t>(B) * sizeof(float));
  float* inv = scratch.as<float>();
  mean_pool_count_kernel<<<grid_for(B * kThreads), kThreads, 0, stream()>>>(inv, m, B, T);
  SPT_CUDA_CHECK_LAUNCH("mean_pool_count_kernel");
  mean_pool_bwd_kernel<<<grid_for(B * T * C), kThreads, 0, stream()>>>(dx.data<float>(), dy.data<float>(), inv, m,
                                                                       B, T, C);
  SPT_CUDA_CHECK_LAUNCH("mean_pool_bwd_kernel");
}

}  // namespace spt::cuda
