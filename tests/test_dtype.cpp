// bf16 / f16 conversions: round to nearest, ties to even, checked exhaustively
// against the midpoints between every pair of neighbouring 16-bit values.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "spt/core/dtype.h"
#include "spt/core/error.h"
#include "spt/core/tensor.h"

using namespace spt;

namespace {

// For every finite positive 16-bit value h with successor h+1, the midpoint m
// (exact in f32) must round to whichever of h, h+1 has an even mantissa, and the
// f32 neighbours of m must round to the nearer one.
template <class ToF32, class FromF32>
void check_ties(uint16_t max_finite, ToF32 to_f32, FromF32 from_f32) {
  for (uint32_t h = 0; h < max_finite; ++h) {
    const float lo = to_f32(static_cast<uint16_t>(h)), hi = to_f32(static_cast<uint16_t>(h + 1));
    const float mid = lo + (hi - lo) / 2;  // exact: f32 has 13+ more mantissa bits
    const uint16_t even = (h & 1u) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
    REQUIRE(from_f32(mid) == even);
    REQUIRE(from_f32(std::nextafter(mid, 0.f)) == h);
    REQUIRE(from_f32(std::nextafter(mid, INFINITY)) == h + 1);
    REQUIRE(from_f32(-mid) == (even | 0x8000u));
  }
}

}  // namespace

TEST_CASE("bf16 round trip and ties to even", "[dtype]") {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      REQUIRE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
    } else {
      REQUIRE(f32_to_bf16(f) == h);
    }
  }
  check_ties(0x7F7Fu, bf16_to_f32, f32_to_bf16);
  CHECK(f32_to_bf16(1.0f) == 0x3F80u);
  CHECK(f32_to_bf16(std::numeric_limits<float>::infinity()) == 0x7F80u);
  CHECK(f32_to_bf16(3.4e38f) == 0x7F80u);  // beyond bf16 max: rounds to inf
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST_CASE("f16 round trip, ties to even, subnormals and overflow", "[dtype]") {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      REQUIRE(std::isnan(f16_to_f32(f32_to_f16(f))));
    } else {
      REQUIRE(f32_to_f16(f) == h);
    }
  }
  check_ties(0x7BFFu, f16_to_f32, f32_to_f16);
  CHECK(f32_to_f16(1.0f) == 0x3C00u);
  CHECK(f32_to_f16(65504.f) == 0x7BFFu);
  CHECK(f32_to_f16(65519.996f) == 0x7BFFu);  // below the midpoint to 65536
  CHECK(f32_to_f16(65520.f) == 0x7C00u);     // tie with inf rounds to even (inf)
  CHECK(f32_to_f16(1e6f) == 0x7C00u);
  CHECK(f16_to_f32(0x0001u) == std::ldexp(1.f, -24));  // smallest subnormal
  CHECK(f32_to_f16(std::ldexp(1.f, -25)) == 0u);       // half of it: tie to even 0
  CHECK(f32_to_f16(std::nextafter(std::ldexp(1.f, -25), 1.f)) == 1u);
  CHECK(f32_to_f16(std::ldexp(1.f, -30)) == 0u);
  CHECK(f32_to_f16(-0.f) == 0x8000u);
}

TEST_CASE("tensor dtype conversion rounds like the scalar functions", "[dtype]") {
  const std::vector<double> v = {1.0, 1.00390625, 1.005859375, -2.5, 65520.0, 1e-8, 3.14159};
  const Tensor t = Tensor::from_doubles(v, {7}, DType::f32);
  const Tensor b = t.to(DType::bf16), h = t.to(DType::f16);
  const auto bv = b.to_doubles(), hv = h.to_doubles();
  for (size_t i = 0; i < v.size(); ++i) {
    CHECK(bv[i] == bf16_to_f32(f32_to_bf16(static_cast<float>(v[i]))));
    CHECK(hv[i] == f16_to_f32(f32_to_f16(static_cast<float>(v[i]))));
  }
  CHECK(b.to(DType::f32).to_doubles() == bv);
  CHECK(dtype_from_name("bf16") == DType::bf16);
  CHECK_THROWS_AS(dtype_from_name("float8"), Error);
}
