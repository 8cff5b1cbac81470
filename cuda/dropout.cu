// Inverted dropout with Philox masks (include/spt/backend/philox.h), as
// src/cpu/dropout.cpp:
//   y_e  = keep_e ? x_e  * (1 / (1 - p)) : 0
//   dx_e = keep_e ? dy_e * (1 / (1 - p)) : 0     (written)
// keep_e = dropout_keep(seed, offset, base + e, p) with e the flat element index, so
// the mask is the CPU backend's bit for bit and is regenerated, not stored.
// p == 0 is a plain copy.
#include "backend_impl.h"
#include "cuda_check.h"
#include "device/indexing.cuh"
#include "launch.h"
#include "spt/backend/philox.h"

namespace spt::cuda {

namespace {

__device__ __forceinline__ void apply_mask(float* out, const float* in, int64_t n, float p,
                                           float keep_scale, uint64_t seed, uint64_t offset, uint64_t base) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride())
    out[i] = dropout_keep(seed, offset, base + static_cast<uint64_t>(i), p) ? in[i] * keep_scale : 0.f;
}

__global__ void dropout_fwd_kernel(float* y, const float* x, int64_t n, float p, float keep_scale,
                                   uint64_t seed, uint64_t offset, uint64_t base) {
  apply_mask(y, x, n, p, keep_scale, seed, offset, base);
}

__global__ void dropout_bwd_kernel(float* dx, const float* dy, int64_t n, float p, float keep_scale,
                                   uint64_t seed, uint64_t offset, uint64_t base) {
  apply_mask(dx, dy, n, p, keep_scale, seed, offset, base);
}

// One element per thread, a warp per 32 consecutive elements, so that a ballot
// gives the mask word of those 32 (the CPU backend's layout). Every lane of a
// warp runs the same iterations (the loop bound is per warp), as ballot needs.
__global__ void dropout_fwd_bits_kernel(float* y, uint32_t* bits, const float* x, int64_t n, float p,
                                        float keep_scale, uint64_t seed, uint64_t offset, uint64_t base) {
  const int64_t lane = threadIdx.x & 31;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) >> 5;
  for (int64_t w0 = warp * 32; w0 < n; w0 += warps * 32) {
    const int64_t i = w0 + lane;
    const bool keep = i < n && dropout_keep(seed, offset, base + static_cast<uint64_t>(i), p);
    if (i < n) y[i] = keep ? x[i] * keep_scale : 0.f;
    const uint32_t word = __ballot_sync(0xffffffffu, keep);
    if (lane == 0) bits[w0 >> 5] = word;
  }
}

__global__ void dropout_apply_bits_kernel(float* y, const float* x, const uint32_t* bits, int64_t n,
                                          float keep_scale) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride())
    y[i] = ((bits[i >> 5] >> (i & 31)) & 1u) ? x[i] * keep_scale : 0.f;
}

// 1 / (1 - p), computed as the CPU backend does (in f32).
float keep_scale_of(float p) { return 1.f / (1.f - p); }

}  // namespace

void CudaBackend::dropout_fwd(const DropoutParams& p, Tensor& y, const Tensor& x) {
  require_f32("dropout", y, x);
  const int64_t n = x.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  if (p.p == 0.f) {
    copy_bytes(y.data_ptr(), x.data_ptr(), x.nbytes());
    return;
  }
  dropout_fwd_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
      y.data<float>(), x.data<float>(), n, p.p, keep_scale_of(p.p), p.seed, p.offset, p.base);
  SPT_CUDA_CHECK_LAUNCH("dropout_fwd_kernel");
}

void CudaBackend::dropout_bwd(const DropoutParams& p, Tensor& dx, const Tensor& dy) {
  require_f32("dropout", dx, dy);
  const int64_t n = dy.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  if (p.p == 0.f) {
    copy_bytes(dx.data_ptr(), dy.data_ptr(), dy.nbytes());
    return;
  }
  dropout_bwd_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
      dx.data<float>(), dy.data<float>(), n, p.p, keep_scale_of(p.p), p.seed, p.offset, p.base);
  SPT_CUDA_CHECK_LAUNCH("dropout_bwd_kernel");
}

void CudaBackend::dropout_fwd_bits(const DropoutParams& p, Tensor& y, Tensor& bits, const Tensor& x) {
  require_f32("dropout", y, x);
  const int64_t n = x.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  // kThreads is a multiple of 32, so warps never straddle blocks.
  dropout_fwd_bits_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
      y.data<float>(), reinterpret_cast<uint32_t*>(bits.data<int32_t>()), x.data<float>(), n, p.p,
      keep_scale_of(p.p), p.seed, p.offset, p.base);
  SPT_CUDA_CHECK_LAUNCH("dropout_fwd_bits_kernel");
}

void CudaBackend::dropout_apply_bits(float p, Tensor& y, const Tensor& x, const Tensor& bits) {
  require_f32("dropout", y, x);
  const int64_t n = x.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  dropout_apply_bits_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
      y.data<float>(), x.data<float>(), reinterpret_cast<const uint32_t*>(bits.data<int32_t>()), n,
      keep_scale_of(p));
  SPT_CUDA_CHECK_LAUNCH("dropout_apply_bits_kernel");
}

}  // namespace spt::cuda
