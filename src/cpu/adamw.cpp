// CPU AdamW step, following torch.optim.AdamW (single-tensor, non-amsgrad) so that
// spt and PyTorch agree to rounding:
//   p *= 1 - lr * wd                       (decoupled weight decay)
//   m  = lerp(m, g, 1 - beta1)             (torch's lerp: m + w (g - m) for w < 0.5)
//   v  = beta2 v + (1 - beta2) g^2
//   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),  bc_i = 1 - beta_i^step
#include <cmath>

#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

void CpuBackend::adamw_step(const AdamWParams& p, Tensor& param, Tensor& m, Tensor& v,
                            const Tensor& grad) {
  SPT_CHECK(param.dtype() == DType::f32, "[adamw] parameters must be f32, got ", param.str());
  const double bc1 = 1.0 - std::pow(static_cast<double>(p.beta1), static_cast<double>(p.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(p.beta2), static_cast<double>(p.step));
  const float step_size = static_cast<float>(static_cast<double>(p.lr) / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float decay = static_cast<float>(1.0 - static_cast<double>(p.lr) * p.weight_decay);
  const float w1 = 1.f - p.beta1, b2 = p.beta2, w2 = 1.f - p.beta2;
  float *ps = param.data<float>(), *ms = m.data<float>(), *vs = v.data<float>();
  const float* gs = grad.data<float>();
  const int64_t n = param.numel();
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const float g = gs[i];
    float pi = ps[i];
    if (p.weight_decay != 0.f) pi *= decay;
    const float mi = w1 < 0.5f ? ms[i] + w1 * (g - ms[i]) : g - (g - ms[i]) * (1.f - w1);
    const float vi = vs[i] * b2 + w2 * g * g;
    const float denom = std::sqrt(vi) / bc2_sqrt + p.eps;
    ps[i] = pi - step_size * (mi / denom);
    ms[i] = mi;
    vs[i] = vi;
  }
}

}  // namespace spt::cpu
