// One AdamW step over same-shaped f32 tensors, following torch.optim.AdamW
// (single-tensor, non-amsgrad) exactly as src/cpu/adamw.cpp does:
//   p *= 1 - lr * wd                       (decoupled weight decay; skipped for wd == 0)
//   m  = lerp(m, g, 1 - beta1)             (torch's lerp: m + w (g - m) for w < 0.5)
//   v  = beta2 v + (1 - beta2) g^2
//   p -= (lr / bc1) * (m / (sqrt(v) / sqrt(bc2) + eps)),  bc_i = 1 - beta_i^step
// The bias corrections are computed in double on the host.
#include <cmath>

#include "backend_impl.h"
#include "cuda_check.h"
#include "device/indexing.cuh"
#include "launch.h"

namespace spt::cuda {

namespace {

struct AdamWScalars {
  float step_size;   // lr / bc1
  float bc2_sqrt;    // sqrt(bc2)
  float decay;       // 1 - lr * wd
  bool apply_decay;  // wd != 0
  float w1;          // 1 - beta1 (lerp weight)
  float beta2, w2;   // beta2, 1 - beta2
  float eps;
};

__global__ void adamw_step_kernel(float* param, float* m, float* v, const float* grad, int64_t n,
                                  AdamWScalars s) {
  for (int64_t i = device::first_index(); i < n; i += device::index_stride()) {
    const float g = grad[i];
    float pi = param[i];
    if (s.apply_decay) pi *= s.decay;
    const float mo = m[i];
    const float mi = s.w1 < 0.5f ? mo + s.w1 * (g - mo) : g - (g - mo) * (1.f - s.w1);
    const float vi = v[i] * s.beta2 + s.w2 * g * g;
    const float denom = sqrtf(vi) / s.bc2_sqrt + s.eps;
    param[i] = pi - s.step_size * (mi / denom);
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace

void CudaBackend::adamw_step(const AdamWParams& p, Tensor& param, Tensor& m, Tensor& v,
                             const Tensor& grad) {
  require_f32("adamw", param, m, v, grad);
  const int64_t n = param.numel();
  if (n == 0) return;
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), static_cast<double>(p.step));
  AdamWScalars s{};
  s.step_size = static_cast<float>(static_cast<double>(p.lr) / bc1);
  s.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  s.decay = static_cast<float>(1.0 - static_cast<double>(p.lr) * p.weight_decay);
  s.apply_decay = p.weight_decay != 0.f;
  s.w1 = 1.f - p.beta1;
  s.beta2 = p.beta2;
  s.w2 = 1.f - p.beta2;
  s.eps = p.eps;
  const DeviceGuard guard(index_);
  adamw_step_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
      param.data<float>(), m.data<float>(), v.data<float>(), grad.data<float>(), n, s);
  SPT_CUDA_CHECK_LAUNCH("adamw_step_kernel");
}

}  // namespace spt::cuda
