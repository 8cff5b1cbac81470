// Activations over f32 tensors (formulas in device/activation.cuh, as
// src/cpu/activation.cpp):
//   activation_fwd  y = f(x)
//   activation_bwd  dx = dy * f'(x)   (written)
//   glu_fwd         h = f(g) * u
//   glu_bwd         dg = dh * u * f'(g), du = dh * f(g)   (written)
#include "backend_impl.h"
#include "cuda_check.h"
#include "device/activation.cuh"
#include "device/indexing.cuh"
#include "launch.h"

namespace spt::cuda {

namespace {

template <class Act>
__global__ void activation_fwd_kernel(float* y, const float* x, int64_t n) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride()) y[i] = Act::fwd(x[i]);
}

template <class Act>
__global__ void activation_bwd_kernel(float* dx, const float* dy, const float* x, int64_t n) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride())
    dx[i] = dy[i] * Act::grad(x[i]);
}

template <class Act>
void launch_fwd(float* y, const float* x, int64_t n, cudaStream_t stream) {
  activation_fwd_kernel<Act><<<grid_for(n), kThreads, 0, stream>>>(y, x, n);
  SPT_CUDA_CHECK_LAUNCH("activation_fwd_kernel");
}

template <class Act>
void launch_bwd(float* dx, const float* dy, const float* x, int64_t n, cudaStream_t stream) {
  activation_bwd_kernel<Act><<<grid_for(n), kThreads, 0, stream>>>(dx, dy, x, n);
  SPT_CUDA_CHECK_LAUNCH("activation_bwd_kernel");
}

template <class Act>
__global__ void glu_fwd_kernel(float* h, const float* g, const float* u, int64_t n) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride()) h[i] = Act::fwd(g[i]) * u[i];
}

template <class Act>
__global__ void glu_bwd_kernel(float* dg, float* du, const float* dh, const float* g, const float* u, int64_t n) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride()) {
    const float d = dh[i], x = g[i];
    du[i] = d * Act::fwd(x);
    dg[i] = d * u[i] * Act::grad(x);
  }
}

template <class Act>
void launch_glu(Tensor& h, const Tensor& g, const Tensor& u, cudaStream_t stream) {
  const int64_t n = h.numel();
  glu_fwd_kernel<Act><<<grid_for(n), kThreads, 0, stream>>>(h.data<float>(), g.data<float>(), u.data<float>(), n);
  SPT_CUDA_CHECK_LAUNCH("glu_fwd_kernel");
}

template <class Act>
void launch_glu_bwd(Tensor& dg, Tensor& du, const Tensor& dh, const Tensor& g, const Tensor& u, cudaStream_t stream) {
  const int64_t n = dh.numel();
  glu_bwd_kernel<Act><<<grid_for(n), kThreads, 0, stream>>>(dg.data<float>(), du.data<float>(), dh.data<float>(),
                                                            g.data<float>(), u.data<float>(), n);
  SPT_CUDA_CHECK_LAUNCH("glu_bwd_kernel");
}

}  // namespace

void CudaBackend::glu_fwd(Activation act, Tensor& h, const Tensor& g, const Tensor& u) {
  require_f32("glu", h, g, u);
  if (h.numel() == 0) return;
  const DeviceGuard guard(index_);
  switch (act) {
    case Activation::gelu_erf: launch_glu<device::GeluErf>(h, g, u, stream()); break;
    case Activation::gelu_tanh: launch_glu<device::GeluTanh>(h, g, u, stream()); break;
    case Activation::relu: launch_glu<device::Relu>(h, g, u, stream()); break;
    case Activation::silu: launch_glu<device::Silu>(h, g, u, stream()); break;
    case Activation::tanh: launch_glu<device::Tanh>(h, g, u, stream()); break;
  }
}

void CudaBackend::glu_bwd(Activation act, Tensor& dg, Tensor& du, const Tensor& dh, const Tensor& g, const Tensor& u) {
  require_f32("glu", dg, du, dh, g, u);
  if (dh.numel() == 0) return;
  const DeviceGuard guard(index_);
  switch (act) {
    case Activation::gelu_erf: launch_glu_bwd<device::GeluErf>(dg, du, dh, g, u, stream()); break;
    case Activation::gelu_tanh: launch_glu_bwd<device::GeluTanh>(dg, du, dh, g, u, stream()); break;
    case Activation::relu: launch_glu_bwd<device::Relu>(dg, du, dh, g, u, stream()); break;
    case Activation::silu: launch_glu_bwd<device::Silu>(dg, du, dh, g, u, stream()); break;
    case Activation::tanh: launch_glu_bwd<device::Tanh>(dg, du, dh, g, u, stream()); break;
  }
}

void CudaBackend::activation_fwd(Activation act, Tensor& y, const Tensor& x) {
  require_f32(activation_name(act), y, x);
  const int64_t n = y.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  float* out = y.data<float>();
  const float* in = x.data<float>();
  switch (act) {
    case Activation::gelu_erf: launch_fwd<device::GeluErf>(out, in, n, stream()); break;
    case Activation::gelu_tanh: launch_fwd<device::GeluTanh>(out, in, n, stream()); break;
    case Activation::relu: launch_fwd<device::Relu>(out, in, n, stream()); break;
    case Activation::silu: launch_fwd<device::Silu>(out, in, n, stream()); break;
    case Activation::tanh: launch_fwd<device::Tanh>(out, in, n, stream()); break;
  }
}

void CudaBackend::activation_bwd(Activation act, Tensor& dx, const Tensor& dy, const Tensor& x) {
  require_f32(activation_name(act), dx, dy, x);
  const int64_t n = dx.numel();
  if (n == 0) return;
  const DeviceGuard guard(index_);
  float* out = dx.data<float>();
  const float *g = dy.data<float>(), *in = x.data<float>();
  switch (act) {
    case Activation::gelu_erf: launch_bwd<device::GeluErf>(out, g, in, n, stream()); break;
    case Activation::gelu_tanh: launch_bwd<device::GeluTanh>(out, g, in, n, stream()); break;
    case Activation::relu: launch_bwd<device::Relu>(out, g, in, n, stream()); break;
    case Activation::silu: launch_bwd<device::Silu>(out, g, in, n, stream()); break;
    case Activation::tanh: launch_bwd<device::Tanh>(out, g, in, n, stream()); break;
  }
}

}  // namespace spt::cuda
