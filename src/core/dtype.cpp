// dtype table and the f16 conversions (bit-exact, round to nearest even).
#include "spt/core/dtype.h"

#include "spt/core/error.h"

namespace spt {

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::bf16: return 2;
    case DType::f16: return 2;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::i16: return 2;
  }
  return 0;
}

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::i16: return "i16";
  }
  return "?";
}

bool is_floating(DType dt) { return dt != DType::i32 && dt != DType::i64 && dt != DType::i16; }

DType dtype_from_name(const std::string& name) {
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64,
                   DType::i16})
    if (name == dtype_name(dt)) return dt;
  fail("[dtype] unknown dtype '", name, "'; hint: use one of f32, f64, bf16, f16, i32, i64, i16");
}

// f32 -> f16: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
uint16_t f32_to_f16(float f) {
  const uint32_t u = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return sign | 0x7E00u;  // NaN -> quiet NaN
  if (a >= 0x47800000u) {
    // |f| >= 65536: inf. Values in [65520, 65536) round up to inf below.
    return sign | 0x7C00u;
  }
  if (a >= 0x38800000u) {
    // Normal f16 range (|f| >= 2^-14): drop 13 mantissa bits with RNE.
    // Re-bias the exponent (127 -> 15); a carry out of the mantissa correctly
    // bumps the exponent, and 65520 <= |f| < 65536 carries into inf.
    uint32_t r = a - (112u << 23);
    r += 0x0FFFu + ((r >> 13) & 1u);
    return sign | static_cast<uint16_t>(r >> 13);
  }
  // Subnormal f16 (or zero): value = m * 2^-24 with m < 1024.
  // Shift the full 24-bit significand so that 2^-24 is the unit, RNE on the rest.
  const int e = static_cast<int>(a >> 23);  // biased f32 exponent
  if (e < 102) return sign;                 // below half the smallest subnormal: 0
  const uint32_t sig = (a & 0x7FFFFFu) | 0x800000u;
  const int shift = 126 - e;  // in [14, 24]
  uint32_t m = sig >> shift;
  const uint32_t rem = sig & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (m & 1u))) ++m;  // may carry into the smallest normal
  return sign | static_cast<uint16_t>(m);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t man = h & 0x3FFu;
  if (exp == 0x1F) return f32_from_bits(sign | 0x7F800000u | (man << 13));  // inf / NaN
  if (exp != 0) return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
  if (man == 0) return f32_from_bits(sign);
  // Subnormal: normalise.
  int e = -1;
  do {
    ++e;
    man <<= 1;
  } while ((man & 0x400u) == 0);
  return f32_from_bits(sign | ((112u - static_cast<uint32_t>(e)) << 23) | ((man & 0x3FFu) << 13));
}

}  // namespace spt
