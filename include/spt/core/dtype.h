// Element types and scalar conversions.
//
// bf16 and f16 are stored as raw 16-bit patterns; conversion from f32 rounds to
// nearest, ties to even (IEEE 754 default), keeps NaN a NaN and overflows to inf.
// f64 exists for the CPU backend's double-precision gradient checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace spt {

enum class DType : uint8_t { f32, f64, bf16, f16, i32, i64, i16 };

size_t dtype_size(DType dt);
const char* dtype_name(DType dt);
bool is_floating(DType dt);
// Parses "f32", "bf16", ... ; throws spt::Error naming the valid names.
DType dtype_from_name(const std::string& name);

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// bf16 is the top half of an f32; rounding adds 0x7FFF plus the lowest kept bit.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

}  // namespace spt
