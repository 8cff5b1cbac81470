// Activation functions and their derivatives, one tag type per activation
// (formulas as in src/cpu/activation.cpp):
//   gelu (erf):  f = x Phi(x),  Phi(x) = 0.5 (1 + erf(x / sqrt 2)),  f' = Phi(x) + x phi(x)
//   gelu_tanh:   f = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
//                f' = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),  t = tanh(u)
//   relu:        f = max(x, 0),  f' = [x > 0]  (0 at x = 0, as PyTorch)
//   silu:        f = x sigmoid(x),  f' = s (1 + x (1 - s)),  s = sigmoid(x)
//   tanh:        f = tanh(x),  f' = 1 - f^2
#pragma once

namespace spt::cuda::device {

struct GeluErf {
  static __device__ __forceinline__ float fwd(float x) {
    return 0.5f * x * (1.f + erff(x * 0.70710678118654752440f));
  }
  static __device__ __forceinline__ float grad(float x) {
    const float cdf = 0.5f * (1.f + erff(x * 0.70710678118654752440f));
    const float pdf = expf(-0.5f * x * x) * 0.39894228040143267794f;
    return cdf + x * pdf;
  }
};

struct GeluTanh {
  static constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  static __device__ __forceinline__ float fwd(float x) {
    const float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.f + tanhf(u));
  }
  static __device__ __forceinline__ float grad(float x) {
    const float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
    const float t = tanhf(u);
    const float du = kSqrt2OverPi * (1.f + 0.134145f * x * x);  // 0.134145 = 3 * 0.044715
    return 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * du;
  }
};

struct Relu {
  static __device__ __forceinline__ float fwd(float x) { return x > 0.f ? x : 0.f; }
  static __device__ __forceinline__ float grad(float x) { return x > 0.f ? 1.f : 0.f; }
};

struct Silu {
  static __device__ __forceinline__ float fwd(float x) { return x / (1.f + expf(-x)); }
  static __device__ __forceinline__ float grad(float x) {
    const float s = 1.f / (1.f + expf(-x));
    return s * (1.f + x * (1.f - s));
  }
};

struct Tanh {
  static __device__ __forceinline__ float fwd(float x) { return tanhf(x); }
  static __device__ __forceinline__ float grad(float x) {
    const float t = tanhf(x);
    return 1.f - t * t;
  }
};

}  // namespace spt::cuda::device
