// Elementwise kernels over f32 tensors (as src/cpu/elementwise.cpp):
//   add       out = a + b
//   axpy      y += alpha * x
//   scale     x *= s
//   add_bias  y (R, C) += bias (C), broadcast over rows
//   mse       losses = (pred - target)^2;  dpred = scale * 2 * (pred - target)  (written)
// All are grid-stride loops over the flat index; the reductions are in reduce.cu.
#include "backend_impl.h"
#include "cuda_check.h"
#include "device/indexing.cuh"
#include "launch.h"

namespace spt::cuda {

namespace {

__global__ void add_kernel(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride()) out[i] = a[i] + b[i];
}

__global__ void axpy_kernel(float* y, const float* x, float alpha, int64_t n) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride()) y[i] += alpha * x[i];
}

__global__ void scale_kernel(float* x, float s, int64_t n) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride()) x[i] *= s;
}

// y: (rows, cols) flattened to n = rows * cols; bias: (cols)
__global__ void add_bias_kernel(float* y, const float* bias, int64_t n, int64_t cols) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride())
    y[i] += bias[i % cols];
}

__global__ void mse_fwd_kernel(float* losses, const float* pred, const float* target, int64_t n) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride()) {
    const float d = pred[i] - target[i];
    losses[i] = d * d;
  }
}

__global__ void mse_bwd_kernel(float* dpred, const float* pred, const float* target, float scale,
                               int64_t n) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride())
    dpred[i] = scale * 2.f * (pred[i] - target[i]);
}

}  // namespace

void CudaBackend::add(Tensor& out, const Tensor& a, const Tensor& b) {
  require_f32("add", out, a, b);
  const int64_t n = out.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  add_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out.data<float>(), a.data<float>(),
                                                     b.data<float>(), n);
  SPT_CUDA_CHECK_LAUNCH("add_kernel");
}

void CudaBackend::axpy(Tensor& y, const Tensor& x, float alpha) {
  require_f32("axpy", y, x);
  const int64_t n = y.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  axpy_kernel<<<grid_for(n), kThreads, 0, stream()>>>(y.data<float>(), x.data<float>(), alpha, n);
  SPT_CUDA_CHECK_LAUNCH("axpy_kernel");
}

void CudaBackend::scale(Tensor& x, float s) {
  require_f32("scale", x);
  const int64_t n = x.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  scale_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x.data<float>(), s, n);
  SPT_CUDA_CHECK_LAUNCH("scale_kernel");
}

void CudaBackend::add_bias(Tensor& y, const Tensor& bias) {
  require_f32("add_bias", y, bias);
  const int64_t n = y.numel(), cols = bias.numel();
  if (n == 0 || cols == 0) return;
  const DeviceGuard guard(index_);
  add_bias_kernel<<<grid_for(n), kThreads, 0, stream()>>>(y.data<float>(), bias.data<float>(), n,
                                                          cols);
  SPT_CUDA_CHECK_LAUNCH("add_bias_kernel");
}

void CudaBackend::mse_fwd(Tensor& losses, const Tensor& pred, const Tensor& target) {
  require_f32("mse", losses, pred, target);
  const int64_t n = losses.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  mse_fwd_kernel<<<grid_for(n), kThreads, 0, stream()>>>(losses.data<float>(), pred.data<float>(),
                                                         target.data<float>(), n);
  SPT_CUDA_CHECK_LAUNCH("mse_fwd_kernel");
}

void CudaBackend::mse_bwd(Tensor& dpred, const Tensor& pred, const Tensor& target, float scale) {
  require_f32("mse", dpred, pred, target);
  const int64_t n = dpred.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  mse_bwd_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dpred.data<float>(), pred.data<float>(),
                                                         target.data<float>(), scale, n);
  SPT_CUDA_CHECK_LAUNCH("mse_bwd_kernel");
}

}  // namespace spt::cuda
