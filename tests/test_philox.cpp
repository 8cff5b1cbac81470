// Philox-4x32-10 against the known-answer vectors of the Random123 distribution,
// and the statistics of the dropout masks built on it.
#include <catch2/catch.hpp>

#include "spt/backend/philox.h"
#include "spt/ops/dropout.h"

using namespace spt;

TEST_CASE("philox4x32-10 known-answer vectors", "[rng]") {
  const Philox4x32 a = philox4x32_10({{0, 0, 0, 0}}, 0, 0);
  CHECK(a.v[0] == 0x6627e8d5u);
  CHECK(a.v[1] == 0xe169c58du);
  CHECK(a.v[2] == 0xbc57ac4cu);
  CHECK(a.v[3] == 0x9b00dbd8u);
  const Philox4x32 b = philox4x32_10({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
                                     0xffffffffu, 0xffffffffu);
  CHECK(b.v[0] == 0x408f276du);
  CHECK(b.v[1] == 0x41c83b0eu);
  CHECK(b.v[2] == 0xa20bc7c6u);
  CHECK(b.v[3] == 0x6d5451fdu);
  const Philox4x32 c = philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
                                     0xa4093822u, 0x299f31d0u);
  CHECK(c.v[0] == 0xd16cfe09u);
  CHECK(c.v[1] == 0x94fdccebu);
  CHECK(c.v[2] == 0x5001e420u);
  CHECK(c.v[3] == 0x24126ea1u);
}

TEST_CASE("dropout masks: rate, determinism, independent streams", "[rng]") {
  const int n = 200000;
  int kept = 0, same_stream = 0, other_stream_agree = 0;
  for (int i = 0; i < n; ++i) {
    const bool k = dropout_keep(7, 3, static_cast<uint64_t>(i), 0.1f);
    kept += k;
    same_stream += k == dropout_keep(7, 3, static_cast<uint64_t>(i), 0.1f);
    other_stream_agree += k == dropout_keep(7, 4, static_cast<uint64_t>(i), 0.1f);
  }
  CHECK(same_stream == n);
  // keep rate 0.9 +- 5 sigma (sigma = sqrt(n p q) ~ 134)
  CHECK(std::abs(kept - 180000) < 700);
  // Two streams agree where both keep or both drop: 0.82 expected.
  CHECK(std::abs(other_stream_agree - 164000) < 1000);
  for (int i = 0; i < 1000; ++i) {
    const float u = philox_uniform(1, 2, static_cast<uint64_t>(i));
    REQUIRE(u >= 0.f);
    REQUIRE(u < 1.f);
  }
}

TEST_CASE("the CPU dropout kernel draws exactly dropout_keep's masks", "[rng]") {
  // Sizes: not a multiple of 4; several vector groups and parallel chunks with a
  // ragged end. p values whose threshold p * 2^24 is and is not an integer.
  for (const int64_t n : {int64_t{1003}, int64_t{70001}}) {
    for (const float prob : {0.3f, 0.1f, 0.5f, 0.9f}) {
      std::vector<double> ones(static_cast<size_t>(n), 1.0);
      const spt::Tensor x = spt::Tensor::from_doubles(ones, {n}, spt::DType::f32);
      spt::Tensor y;
      const spt::DropoutParams p{prob, 0x123456789abcull, 0x500000077ull};
      spt::ops::dropout_forward(y, x, p);
      const auto v = y.to_doubles();
      const double kept = static_cast<double>(1.0f / (1.0f - prob));
      int64_t bad = 0;
      for (int64_t i = 0; i < n; ++i) {
        const bool keep = dropout_keep(p.seed, p.offset, static_cast<uint64_t>(i), p.p);
        bad += v[static_cast<size_t>(i)] != (keep ? kept : 0.0);
      }
      INFO("n = " << n << ", p = " << prob);
      REQUIRE(bad == 0);
    }
  }
}

TEST_CASE("dropout on a slice of rows, base = first row x row size, draws the whole batch's mask there",
          "[rng][distributed]") {
  // Data parallelism: a rank holding rows r0.. of the global batch draws the mask
  // the single process draws for those rows. Row sizes 5 * 7 (odd: the unaligned
  // path) and 4 * 32 (a multiple of 64: the vector path), masks with bits too.
  for (const int64_t row : {int64_t{35}, int64_t{128}}) {
    const int64_t rows = 37, r0 = 13, r1 = 31;
    std::vector<double> vals(static_cast<size_t>(rows * row));
    for (size_t i = 0; i < vals.size(); ++i) vals[i] = 0.5 + 0.001 * static_cast<double>(i % 997);
    const Tensor x = Tensor::from_doubles(vals, {rows, row}, DType::f32);
    DropoutParams p{0.3f, 0x9876ull, 0x77ull};
    Tensor y_all, y_part, bits_all, bits_part, y_bits;
    ops::dropout_forward(y_all, x, p);
    ops::dropout_forward_bits(y_bits, bits_all, x, p);
    const Tensor part = x.narrow0(r0, r1);
    p.base = static_cast<uint64_t>(r0 * row);
    ops::dropout_forward(y_part, part, p);
    Tensor yb;
    ops::dropout_forward_bits(yb, bits_part, part, p);
    Tensor dx;
    ops::dropout_backward(dx, part, p);
    const auto a = y_all.to_doubles(), b = y_part.to_doubles(), c = yb.to_doubles(), d = dx.to_doubles();
    const auto wa = bits_all.to_doubles(), wb = bits_part.to_doubles();
    int64_t bad = 0;
    for (int64_t i = 0; i < (r1 - r0) * row; ++i) {
      const size_t g = static_cast<size_t>(r0 * row + i), l = static_cast<size_t>(i);
      bad += a[g] != b[l] || a[g] != c[l] || a[g] != d[l];
      const bool bit_all = (static_cast<uint32_t>(static_cast<int32_t>(wa[g / 32])) >> (g % 32)) & 1u;
      const bool bit_part = (static_cast<uint32_t>(static_cast<int32_t>(wb[l / 32])) >> (l % 32)) & 1u;
      bad += bit_all != bit_part;
    }
    INFO("row size " << row);
    CHECK(bad == 0);
  }
}
