// CPU activations and their derivatives.
//   gelu (erf):  y = x * Phi(x),  Phi(x) = 0.5 (1 + erf(x / sqrt 2))
//   gelu_tanh:   y = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//   relu:        y = max(x, 0)   (derivative 0 at x = 0, as PyTorch)
//   silu:        y = x * sigmoid(x)
//   tanh:        y = tanh(x), dy/dx = 1 - y^2   (the BERT pooler)
// Backward writes dx = dy * f'(x).
#include <cmath>

#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

namespace {

template <class T>
T act_fwd(Activation act, T x) {
  switch (act) {
    case Activation::gelu_erf:
      return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
    case Activation::gelu_tanh: {
      const T u = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
      return T(0.5) * x * (T(1) + std::tanh(u));
    }
    case Activation::relu: return x > T(0) ? x : T(0);
    case Activation::silu: return x / (T(1) + std::exp(-x));
    case Activation::tanh: return std::tanh(x);
  }
  return x;
}

template <class T>
T act_grad(Activation act, T x) {
  switch (act) {
    case Activation::gelu_erf: {
      const T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
      const T pdf = std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);
      return cdf + x * pdf;
    }
    case Activation::gelu_tanh: {
      const T k = T(0.79788456080286535588);
      const T u = k * (x + T(0.044715) * x * x * x);
      const T t = std::tanh(u);
      const T du = k * (T(1) + T(3 * 0.044715) * x * x);
      return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du;
    }
    case Activation::relu: return x > T(0) ? T(1) : T(0);
    case Activation::silu: {
      const T s = T(1) / (T(1) + std::exp(-x));
      return s * (T(1) + x * (T(1) - s));
    }
    case Activation::tanh: {
      const T t = std::tanh(x);
      return T(1) - t * t;
    }
  }
  return T(1);
}

}  // namespace

void CpuBackend::activation_fwd(Activation act, Tensor& y, const Tensor& x) {
  dispatch_float(y.dtype(), activation_name(act), [&](auto tag) {
    using T = decltype(tag);
    T* o = y.data<T>();
    const T* s = x.data<T>();
    const int64_t n = y.numel();
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; ++i) o[i] = act_fwd(act, s[i]);
  });
}

void CpuBackend::activation_bwd(Activation act, Tensor& dx, const Tensor& dy, const Tensor& x) {
  dispatch_float(dx.dtype(), activation_name(act), [&](auto tag) {
    using T = decltype(tag);
    T* o = dx.data<T>();
    const T *g = dy.data<T>(), *s = x.data<T>();
    const int64_t n = dx.numel();
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; ++i) o[i] = g[i] * act_grad(act, s[i]);
  });
}

}  // namespace spt::cpu
