// Branch-free float math for the CPU kernels' hot loops, written so that the
// compiler vectorises a loop that calls it (libm's expf/erff are scalar calls).
//
// SPT_SIMD_CLONES compiles a function for AVX-512 (x86-64-v4), AVX2+FMA
// (x86-64-v3) and the baseline, chosen at load time by the CPU (GCC ifunc), so one
// binary runs everywhere and uses the widest vectors it finds. Put it on small
// leaf functions that take pointers and a length; call them from inside OpenMP
// loops (an OpenMP-outlined body would not inherit the clone's target).
//
// Accuracy (checked in tests/test_vmath.cpp against libm in double precision):
//   fast_exp     relative error <= 2e-7 on [-87, 88], 0 below, +inf above
//   fast_tanh    absolute error <= 2e-7
//   normal_cdf   absolute error <= 3e-7; relative <= 1e-5 down to x = -9 (the
//                rounding of x^2 in f32 limits the far tail)
// Coefficients were fitted for spt (least squares on Chebyshev-spaced points,
// see tools/fit_vmath.py).
#pragma once

#include <bit>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define SPT_SIMD_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SPT_SIMD_CLONES
#endif
// For a shared (template) body that SIMD-clone wrappers call: without it, the
// compiler may call one baseline copy from every clone instead of inlining it,
// and the wide-vector clones then do nothing.
#if defined(__GNUC__)
#define SPT_INLINE_INTO_CLONES inline __attribute__((always_inline))
#else
#define SPT_INLINE_INTO_CLONES inline
#endif

namespace spt::cpu::vm {

// e^x. Range reduction x = k ln2 + r, |r| <= ln2 / 2, with ln2 split in two
// parts; e^r = 1 + r + r^2 P(r); 2^k built in the exponent bits.
inline float fast_exp(float x) {
  const float xc = x < -87.33654f ? -87.33654f : (x > 88.72283f ? 88.72283f : x);
  const float k = (xc * 1.44269504f + 12582912.f) - 12582912.f;  // round to nearest
  const float r = (xc - k * 0.693359375f) + k * 2.12194440e-4f;
  float p = 0.00137514085508883f;
  p = p * r + 0.008368921466171741f;
  p = p * r + 0.04166953265666962f;
  p = p * r + 0.166665181517601f;
  p = p * r + 0.49999988079071045f;
  const float er = 1.f + r + r * r * p;
  // 2^k as two factors so that k = 128 (x near 88.7) does not overflow the exponent.
  const int32_t ki = static_cast<int32_t>(k == k ? k : 0.f);  // NaN in: NaN out (via er), no UB cast
  const int32_t k1 = ki >> 1, k2 = ki - k1;
  const float s1 = std::bit_cast<float>((k1 + 127) << 23);
  const float s2 = std::bit_cast<float>((k2 + 127) << 23);
  const float y = er * s1 * s2;
  return x < -87.33654f ? 0.f : (x > 88.72283f ? __builtin_inff() : y);
}

// erfc(x) for x >= 0: erfc(x) = t Q(t) e^{-x^2}, t = 1 / (1 + x / 2).
inline float fast_erfc_pos(float x) {
  const float t = 1.f / (1.f + 0.5f * x);
  float q = -0.059575486928224564f;
  q = q * t + 0.2870592176914215f;
  q = q * t - 0.4923454821109772f;
  q = q * t + 0.2839191257953644f;
  q = q * t - 0.03060166724026203f;
  q = q * t + 0.20432999730110168f;
  q = q * t + 0.24270284175872803f;
  q = q * t + 0.2824278175830841f;
  q = q * t + 0.2820836007595062f;
  return t * q * fast_exp(-x * x);
}

// Phi(x) = P(N(0,1) <= x) = erfc(-x / sqrt 2) / 2, accurate in both tails.
inline float normal_cdf(float x) {
  const float z = x * 0.70710678118654752f;
  const float half_tail = 0.5f * fast_erfc_pos(z < 0.f ? -z : z);
  return z < 0.f ? half_tail : 1.f - half_tail;
}

// tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)); absolute error <= 2e-7 (used where
// 1 + tanh is needed, as in the tanh GELU, so absolute accuracy is what counts).
inline float fast_tanh(float x) {
  const float a = x < 0.f ? -x : x;
  const float t = 1.f - 2.f / (fast_exp(2.f * a) + 1.f);
  return x < 0.f ? -t : t;
}

}  // namespace spt::cpu::vm
