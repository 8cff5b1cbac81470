// Element access for the float dtypes: load as f32, store from f32.
//
// bf16 and f16 travel as raw uint16_t bits. f32 -> bf16 / f16 rounds to nearest,
// ties to even, with the hardware conversions (__float2bfloat16_rn,
// __float2half_rn; no flush of subnormals). NaN is the one case where hardware
// and spt's host conversions (include/spt/core/dtype.h) would differ in the
// bits, so it is handled here exactly as on the host: bf16 keeps the top half
// with the quiet bit set, f16 becomes sign | 0x7E00, and f16 NaN -> f32 keeps
// the payload. Casts therefore agree with the CPU backend bit for bit.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace spt::cuda::device {

__device__ __forceinline__ float bf16_to_float(uint16_t h) {
  return __uint_as_float(static_cast<uint32_t>(h) << 16);
}

__device__ __forceinline__ uint16_t float_to_bf16(float f) {
  const uint32_t u = __float_as_uint(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  return __bfloat16_as_ushort(__float2bfloat16_rn(f));
}

__device__ __forceinline__ float f16_to_float(uint16_t h) {
  if ((h & 0x7C00u) == 0x7C00u && (h & 0x03FFu) != 0) {  // NaN: keep sign and payload
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    return __uint_as_float(sign | 0x7F800000u | (static_cast<uint32_t>(h & 0x03FFu) << 13));
  }
  return __half2float(__ushort_as_half(h));
}

__device__ __forceinline__ uint16_t float_to_f16(float f) {
  const uint32_t u = __float_as_uint(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u)
    return static_cast<uint16_t>(((u >> 16) & 0x8000u) | 0x7E00u);
  return __half_as_ushort(__float2half_rn(f));
}

// Storage tags: `Bits` is the element type in memory.
struct F32Io {
  using Bits = float;
  static __device__ __forceinline__ float load(float v) { return v; }
  static __device__ __forceinline__ float store(float v) { return v; }
};

struct Bf16Io {
  using Bits = uint16_t;
  static __device__ __forceinline__ float load(uint16_t v) { return bf16_to_float(v); }
  static __device__ __forceinline__ uint16_t store(float v) { return float_to_bf16(v); }
};

struct F16Io {
  using Bits = uint16_t;
  static __device__ __forceinline__ float load(uint16_t v) { return f16_to_float(v); }
  static __device__ __forceinline__ uint16_t store(float v) { return float_to_f16(v); }
};

}  // namespace spt::cuda::device
