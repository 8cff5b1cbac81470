// Masked softmax over the last dim of scores (B, H, Tq, Tk), as
// src/cpu/softmax.cpp (s = scale):
//   y_ij = exp(s x_ij - max_k s x_ik) / sum_k exp(s x_ik - max)  over visible keys,
// key j visible to query i iff key_mask[b, j] != 0 (when a mask is given) and,
// when causal, j <= i + (Tk - Tq). Invisible keys get 0; a row with no visible
// key is all 0. Row r of the flattened (B*H*Tq, Tk) scores has b = r / (H*Tq),
// i = r % Tq.
// Backward: dx_ij = s * y_ij * (dy_ij - sum_k y_ik dy_ik)   (written)
// One block per row; max and sum are block reductions in f32.
#include "backend_impl.h"
#include "cuda_check.h"
#include "device/reduce.cuh"
#include "launch.h"

namespace spt::cuda {

namespace {

// y, x: (rows, tk); key_mask: (batch, tk) i32 or nullptr.
__global__ void __launch_bounds__(1024)
    softmax_fwd_kernel(float* y, const float* x, const int32_t* key_mask, int64_t rows,
                       int64_t heads, int64_t tq, int64_t tk, float scale, bool causal) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t b = row / (heads * tq), i = row % tq;
    const int32_t* mask = key_mask != nullptr ? key_mask + b * tk : nullptr;
    // Keys j < last can be visible (i + (tk - tq) may be negative: none then).
    const int64_t causal_last = i + (tk - tq) + 1;
    const int64_t last = causal && causal_last < tk ? causal_last : tk;
    const float* xr = x + row * tk;
    float* yr = y + row * tk;

    float mx = -CUDART_INF_F;
    for (int64_t j = threadIdx.x; j < last; j += blockDim.x)
      if (mask == nullptr || mask[j] != 0) mx = fmaxf(mx, scale * xr[j]);
    mx = device::block_max(mx);
    if (mx == -CUDART_INF_F) {  // nothing visible (uniform across the block)
      for (int64_t j = threadIdx.x; j < tk; j += blockDim.x) yr[j] = 0.f;
      continue;
    }

    float sum = 0.f;
    for (int64_t j = threadIdx.x; j < tk; j += blockDim.x) {
      const bool visible = j < last && (mask == nullptr || mask[j] != 0);
      const float e = visible ? expf(scale * xr[j] - mx) : 0.f;
      yr[j] = e;
      sum += e;
    }
    const float inv = 1.f / device::block_sum(sum);
    // Each thread rescales exactly the entries it wrote above: no barrier needed.
    for (int64_t j = threadIdx.x; j < tk; j += blockDim.x) yr[j] *= inv;
  }
}

__global__ void __launch_bounds__(1024)
    softmax_bwd_kernel(float* dx, const float* dy, const float* y, const float* yd, int64_t rows,
                       int64_t tk, float scale) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *gr = dy + row * tk, *yr = y + row * tk, *ydr = yd + row * tk;
    float dot = 0.f;
    for (int64_t j = threadIdx.x; j < tk; j += blockDim.x) dot += ydr[j] * gr[j];
    dot = device::block_sum(dot);
    float* dr = dx + row * tk;
    for (int64_t j = threadIdx.x; j < tk; j += blockDim.x)
      dr[j] = scale * (ydr[j] * gr[j] - yr[j] * dot);
  }
}

}  // namespace

void CudaBackend::softmax_fwd(const SoftmaxParams& p, Tensor& y, const Tensor& x,
                              const Tensor& key_mask) {
  require_f32("softmax", y, x);
  if (key_mask.defined()) require_dtype("softmax", key_mask, DType::i32);
  const int64_t rows = p.batch * p.heads * p.tq;
  if (rows == 0 || p.tk == 0) return;
  const DeviceGuard guard(index_);
  const int32_t* mask = key_mask.defined() ? key_mask.data<int32_t>() : nullptr;
  softmax_fwd_kernel<<<grid_for_rows(rows), threads_for_row(p.tk), 0, stream()>>>(
      y.data<float>(), x.data<float>(), mask, rows, p.heads, p.tq, p.tk, p.scale, p.causal);
  SPT_CUDA_CHECK_LAUNCH("softmax_fwd_kernel");
}

void CudaBackend::softmax_bwd(const SoftmaxParams& p, Tensor& dx, const Tensor& dy,
                              const Tensor& y, const Tensor& y_dropped) {
  require_f32("softmax", dx, dy, y);
  if (y_dropped.defined()) require_f32("softmax", y_dropped);
  const float* yd = y_dropped.defined() ? y_dropped.data<float>() : y.data<float>();
  const int64_t rows = p.batch * p.heads * p.tq;
  if (rows == 0 || p.tk == 0) return;
  const DeviceGuard guard(index_);
  softmax_bwd_kernel<<<grid_for_rows(rows), threads_for_row(p.tk), 0, stream()>>>(
      dx.data<float>(), dy.data<float>(), y.data<float>(), yd, rows, p.tk, p.scale);
  SPT_CUDA_CHECK_LAUNCH("softmax_bwd_kernel");
}

}  // namespace spt::cuda
