// CPU activations and their derivatives.
//   gelu (erf):  y = x * Phi(x),  Phi(x) = 0.5 (1 + erf(x / sqrt 2))
//   gelu_tanh:   y = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//   relu:        y = max(x, 0)   (derivative 0 at x = 0, as PyTorch)
//   silu:        y = x * sigmoid(x)
//   tanh:        y = tanh(x), dy/dx = 1 - y^2   (the BERT pooler)
// Backward writes dx = dy * f'(x).
// Gated (GLU, e.g. LLaMA's SwiGLU with silu): h = f(g) * u; dg = dh * u * f'(g), du = dh * f(g).
// f32 GELU and SiLU use the vectorised exp/erfc of vmath.h (a few ulp; libm's
// erff/expf are scalar calls that dominated the FFN); f64 uses libm throughout.
#include <cmath>

#include "src/cpu/cpu_backend.h"
#include "src/cpu/vmath.h"

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

constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;

SPT_SIMD_CLONES void fwd_f32(Activation act, float* y, const float* x, int64_t n) {
  switch (act) {
    case Activation::gelu_erf:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] * vm::normal_cdf(x[i]);
      return;
    case Activation::gelu_tanh:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i], u = kSqrt2OverPi * (v + 0.044715f * v * v * v);
        y[i] = 0.5f * v * (1.f + vm::fast_tanh(u));
      }
      return;
    case Activation::silu:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.f + vm::fast_exp(-x[i]));
      return;
    default:
      for (int64_t i = 0; i < n; ++i) y[i] = act_fwd(act, x[i]);
  }
}

SPT_SIMD_CLONES void bwd_f32(Activation act, float* dx, const float* dy, const float* x,
                             int64_t n) {
  switch (act) {
    case Activation::gelu_erf:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const float pdf = vm::fast_exp(-0.5f * v * v) * kInvSqrt2Pi;
        dx[i] = dy[i] * (vm::normal_cdf(v) + v * pdf);
      }
      return;
    case Activation::gelu_tanh:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i], u = kSqrt2OverPi * (v + 0.044715f * v * v * v);
        const float t = vm::fast_tanh(u);
        const float du = kSqrt2OverPi * (1.f + 3.f * 0.044715f * v * v);
        dx[i] = dy[i] * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * du);
      }
      return;
    case Activation::silu:
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        const float s = 1.f / (1.f + vm::fast_exp(-x[i]));
        dx[i] = dy[i] * (s * (1.f + x[i] * (1.f - s)));
      }
      return;
    default:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * act_grad(act, x[i]);
  }
}

}  // namespace

void CpuBackend::activation_fwd(Activation act, Tensor& y, const Tensor& x) {
  dispatch_float(y.dtype(), activation_name(act), [&](auto tag) {
    using T = decltype(tag);
    T* o = y.data<T>();
    const T* s = x.data<T>();
    const int64_t n = y.numel();
    if constexpr (std::is_same_v<T, float>) {
      parallel_chunks(n, [&](int64_t b, int64_t e) { fwd_f32(act, o + b, s + b, e - b); });
    } else {
#pragma omp parallel for schedule(static) if (n > 16384)
      for (int64_t i = 0; i < n; ++i) o[i] = act_fwd(act, s[i]);
    }
  });
}

void CpuBackend::activation_bwd(Activation act, Tensor& dx, const Tensor& dy, const Tensor& x) {
  dispatch_float(dx.dtype(), activation_name(act), [&](auto tag) {
    using T = decltype(tag);
    T* o = dx.data<T>();
    const T *g = dy.data<T>(), *s = x.data<T>();
    const int64_t n = dx.numel();
    if constexpr (std::is_same_v<T, float>) {
      parallel_chunks(n, [&](int64_t b, int64_t e) { bwd_f32(act, o + b, g + b, s + b, e - b); });
    } else {
#pragma omp parallel for schedule(static) if (n > 16384)
      for (int64_t i = 0; i < n; ++i) o[i] = g[i] * act_grad(act, s[i]);
    }
  });
}

void CpuBackend::glu_fwd(Activation act, Tensor& h, const Tensor& g, const Tensor& u) {
  dispatch_float(h.dtype(), "glu", [&](auto tag) {
    using T = decltype(tag);
    T* o = h.data<T>();
    const T *gv = g.data<T>(), *uv = u.data<T>();
    parallel_chunks(h.numel(), [&](int64_t b, int64_t e) {
      if constexpr (std::is_same_v<T, float>) fwd_f32(act, o + b, gv + b, e - b);
      else
        for (int64_t i = b; i < e; ++i) o[i] = act_fwd(act, gv[i]);
      for (int64_t i = b; i < e; ++i) o[i] *= uv[i];
    });
  });
}

void CpuBackend::glu_bwd(Activation act, Tensor& dg, Tensor& du, const Tensor& dh, const Tensor& g, const Tensor& u) {
  dispatch_float(dh.dtype(), "glu", [&](auto tag) {
    using T = decltype(tag);
    T *odg = dg.data<T>(), *odu = du.data<T>();
    const T *d = dh.data<T>(), *gv = g.data<T>(), *uv = u.data<T>();
    parallel_chunks(dh.numel(), [&](int64_t b, int64_t e) {
      // du = dh f(g); dg = (dh u) f'(g).
      for (int64_t i = b; i < e; ++i) odg[i] = d[i] * uv[i];
      if constexpr (std::is_same_v<T, float>) {
        fwd_f32(act, odu + b, gv + b, e - b);
        bwd_f32(act, odg + b, odg + b, gv + b, e - b);
      } else {
        for (int64_t i = b; i < e; ++i) {
          odu[i] = act_fwd(act, gv[i]);
          odg[i] *= act_grad(act, gv[i]);
        }
      }
      for (int64_t i = b; i < e; ++i) odu[i] *= d[i];
    });
  });
}

}  // namespace spt::cpu
