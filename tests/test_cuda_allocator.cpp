// The CUDA caching allocator and the CUDA-only paths the op registry does not
// cover: block reuse and MemoryStats bookkeeping, bf16 GEMM against f32 and a
// double-precision reference (two-level batching, transposes), and bit-exact
// f32 <-> bf16 / f16 casts against the host conversions of spt/core/dtype.h.
// Every test is tagged [cuda] and skipped with a message when no GPU is present.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "spt/backend/backend.h"
#include "tests/cuda_required.h"

using namespace spt;

namespace {

bool gpu_present() { return test::cuda_available_for_test("this CUDA test"); }

// Deterministic 64-bit LCG (Knuth's MMIX constants).
struct Lcg {
  uint64_t state;
  uint64_t next() { return state = state * 6364136223846793005ull + 1442695040888963407ull; }
  double uniform() { return static_cast<double>(next() >> 11) * (2.0 / 9007199254740992.0) - 1.0; }
};

std::vector<double> random_values(size_t n, uint64_t seed) {
  Lcg rng{seed};
  std::vector<double> v(n);
  for (double& x : v) x = rng.uniform();
  return v;
}

// Row-major C = alpha op(A) op(B) + beta C over both batch levels, in double;
// `abs_bound` gets sum |alpha a b| + |beta c| per element (the error scale).
std::vector<double> reference_gemm(const GemmParams& p, const std::vector<double>& a,
                                   const std::vector<double>& b, const std::vector<double>& c0,
                                   std::vector<double>& abs_bound) {
  std::vector<double> c = c0;
  abs_bound.assign(c0.size(), 0.0);
  for (int64_t o = 0; o < p.batch_outer; ++o)
    for (int64_t i = 0; i < p.batch_inner; ++i) {
      const int64_t ao = o * p.stride_a_outer + i * p.stride_a_inner;
      const int64_t bo = o * p.stride_b_outer + i * p.stride_b_inner;
      const int64_t co = o * p.stride_c_outer + i * p.stride_c_inner;
      for (int64_t r = 0; r < p.m; ++r)
        for (int64_t col = 0; col < p.n; ++col) {
          double acc = 0, mag = 0;
          for (int64_t kk = 0; kk < p.k; ++kk) {
            const double av = p.trans_a ? a[ao + kk * p.lda + r] : a[ao + r * p.lda + kk];
            const double bv = p.trans_b ? b[bo + col * p.ldb + kk] : b[bo + kk * p.ldb + col];
            acc += av * bv;
            mag += std::fabs(av * bv);
          }
          double& out = c[co + r * p.ldc + col];
          abs_bound[co + r * p.ldc + col] = std::fabs(p.alpha) * mag + std::fabs(p.beta * out);
          out = p.alpha * acc + p.beta * out;
        }
    }
  return c;
}

// Checks |got - want| <= rel * bound + 1e-6 everywhere; reports the worst element.
void check_close(const std::vector<double>& got, const std::vector<double>& want,
                 const std::vector<double>& bound, double rel, const char* what) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0, worst = 0;
  double worst_excess = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double excess = std::fabs(got[i] - want[i]) - (rel * bound[i] + 1e-6);
    if (excess > 0) ++bad;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  INFO(what << ": " << bad << " elements out of tolerance; worst at " << worst << ": got "
            << got[worst] << ", want " << want[worst]);
  CHECK(bad == 0);
}

std::vector<double> rounded_to_bf16(const std::vector<double>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = bf16_to_f32(f32_to_bf16(static_cast<float>(v[i])));
  return r;
}

Tensor cast_to(const Tensor& t, DType dt) {
  Tensor out = Tensor::empty(t.shape(), dt, t.device());
  backend_for(t.device()).cast(out, t);
  return out;
}

}  // namespace

TEST_CASE("cuda caching allocator reuses freed blocks", "[cuda][allocator]") {
  if (!gpu_present()) return;
  const Device gpu = Device::cuda(0);
  Allocator& alloc = default_allocator(gpu);
  backend_for(gpu).synchronize();
  const MemoryStats start = alloc.stats();
  alloc.reset_peak();

  // A step-like pattern: repeated, odd-sized, tiny and large tensors.
  const std::vector<int64_t> numels = {1, 7, 128, 1000, 1000, 4096, 65536, 3 << 20, 100, 250000};
  size_t total = 0;
  for (int64_t n : numels) total += static_cast<size_t>(n) * 4;
  auto run_pattern = [&] {
    std::vector<Tensor> live;
    for (int64_t n : numels) live.push_back(Tensor::empty({n}, DType::f32, gpu));
    const MemoryStats s = alloc.stats();
    CHECK(s.current == start.current + total);
    CHECK(s.reserved >= s.current);
  };

  run_pattern();
  const MemoryStats first = alloc.stats();
  CHECK(first.current == start.current);
  CHECK(first.peak == start.current + total);
  CHECK(first.num_alloc == start.num_alloc + numels.size());

  run_pattern();  // steady state: everything comes from the cache
  const MemoryStats second = alloc.stats();
  CHECK(second.num_system == first.num_system);
  CHECK(second.reserved == first.reserved);
  CHECK(second.current == start.current);
  CHECK(second.peak == start.current + total);
  CHECK(second.num_alloc == first.num_alloc + numels.size());

  alloc.release_cached();
  const MemoryStats released = alloc.stats();
  CHECK(released.current == start.current);
  if (start.current == 0) {
    CHECK(released.reserved == 0);
  } else {
    CHECK(released.reserved >= released.current);
  }

  // With the cache empty: a block is reused for a request of at least half its
  // size, and a much smaller request gets a block of its own.
  const uint64_t sys0 = alloc.stats().num_system;
  { const Tensor t = Tensor::empty({1000}, DType::f32, gpu); }  // 4000 B -> 4096 B block
  CHECK(alloc.stats().num_system == sys0 + 1);
  { const Tensor t = Tensor::empty({900}, DType::f32, gpu); }  // 3600 B fits the 4096 B block
  CHECK(alloc.stats().num_system == sys0 + 1);
  { const Tensor t = Tensor::empty({100}, DType::f32, gpu); }  // 400 B: 4096 B is over 2x
  CHECK(alloc.stats().num_system == sys0 + 2);
  alloc.release_cached();
  if (start.current == 0) CHECK(alloc.stats().reserved == 0);
}

TEST_CASE("cuda gemm: f32 and bf16 against a double reference", "[cuda][gemm]") {
  if (!gpu_present()) return;
  const Device gpu = Device::cuda(0);
  Backend& be = backend_for(gpu);

  // Attention-like Q K^T with two batch levels, and a transposed-A accumulate.
  std::vector<GemmParams> cases(2);
  {
    GemmParams& p = cases[0];
    p.trans_b = true;
    p.m = 17, p.n = 24, p.k = 40;
    p.lda = p.k, p.ldb = p.k, p.ldc = p.n;
    p.batch_outer = 2, p.batch_inner = 3;
    p.stride_a_inner = p.m * p.k, p.stride_a_outer = 3 * p.m * p.k;
    p.stride_b_inner = p.n * p.k, p.stride_b_outer = 3 * p.n * p.k;
    p.stride_c_inner = p.m * p.n, p.stride_c_outer = 3 * p.m * p.n;
    p.alpha = 0.5f;
  }
  {
    GemmParams& p = cases[1];
    p.trans_a = true;
    p.m = 33, p.n = 20, p.k = 64;
    p.lda = p.m, p.ldb = p.n, p.ldc = p.n;
    p.beta = 1.f;
  }

  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const GemmParams& p = cases[ci];
    INFO("case " << ci);
    const int64_t items = p.batch_outer * p.batch_inner;
    const int64_t na = items * p.m * p.k, nb = items * p.n * p.k, nc = items * p.m * p.n;
    const std::vector<double> va = random_values(static_cast<size_t>(na), 11 + ci);
    const std::vector<double> vb = random_values(static_cast<size_t>(nb), 23 + ci);
    const std::vector<double> vc = random_values(static_cast<size_t>(nc), 37 + ci);
    const Tensor a32 = Tensor::from_doubles(va, {na}, DType::f32, gpu);
    const Tensor b32 = Tensor::from_doubles(vb, {nb}, DType::f32, gpu);
    const Tensor a16 = cast_to(a32, DType::bf16), b16 = cast_to(b32, DType::bf16);

    std::vector<double> bound;
    const std::vector<double> want32 = reference_gemm(p, va, vb, vc, bound);
    Tensor c32 = Tensor::from_doubles(vc, {nc}, DType::f32, gpu);
    be.gemm(p, c32, a32, b32);
    const std::vector<double> got32 = c32.to_doubles();
    check_close(got32, want32, bound, 1e-5, "f32 x f32 -> f32");

    // bf16 inputs, f32 output: exact products of the rounded inputs, fp32 sums.
    std::vector<double> bound16;
    const std::vector<double> want16 =
        reference_gemm(p, rounded_to_bf16(va), rounded_to_bf16(vb), vc, bound16);
    Tensor cmix = Tensor::from_doubles(vc, {nc}, DType::f32, gpu);
    be.gemm(p, cmix, a16, b16);
    const std::vector<double> gotmix = cmix.to_doubles();
    check_close(gotmix, want16, bound16, 1e-5, "bf16 x bf16 -> f32 vs rounded-input reference");
    // Against the f32 result: input rounding (2^-9 relative per factor) only.
    check_close(gotmix, got32, bound, std::ldexp(1.0, -7), "bf16 x bf16 -> f32 vs f32 gemm");

    // bf16 output adds one more bf16 rounding of C (and of the beta * C input).
    Tensor c16 = cast_to(Tensor::from_doubles(vc, {nc}, DType::f32, gpu), DType::bf16);
    be.gemm(p, c16, a16, b16);
    check_close(c16.to_doubles(), got32, bound, std::ldexp(1.0, -6), "bf16 x bf16 -> bf16");
  }
}

TEST_CASE("cuda casts f32 <-> bf16 / f16 match the host conversions bit for bit", "[cuda][cast]") {
  if (!gpu_present()) return;
  const Device gpu = Device::cuda(0);
  Backend& be = backend_for(gpu);

  std::vector<uint32_t> bits = {
      0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u,  // zeros, infinities
      0x7FC00000u, 0x7F800001u, 0xFFC12345u, 0x7FBFFFFFu,  // NaNs (quiet, payloads, signalling)
      0x7F7FFFFFu, 0xFF7FFFFFu, 0x00000001u, 0x80400000u,  // largest finite, f32 subnormals
      0x477FE000u, 0x477FEFFFu, 0x477FF000u, 0x47800000u,  // 65504, around the f16 overflow tie
      0x33000000u, 0x33400000u, 0x33C00000u, 0x387FC000u,  // f16 subnormal ties and the edge
      0x38800000u, 0xB3800000u, 0x3F800001u, 0x3F7FFFFFu,
  };
  // bf16 ties (low half exactly 0x8000) on even and odd kept halves, and neighbours.
  for (uint32_t hi : {0x3F80u, 0x3F81u, 0xBF80u, 0xBF81u, 0x4049u, 0x0001u, 0x7F7Fu, 0x0080u})
    for (uint32_t lo : {0x7FFFu, 0x8000u, 0x8001u}) bits.push_back(hi << 16 | lo);
  // f16 ties (13 dropped bits exactly 0x1000) in the normal range.
  for (uint32_t base : {0x3F800000u, 0x3F802000u, 0x40490000u, 0xC2F6A000u, 0x38800000u})
    for (uint32_t lo : {0x0FFFu, 0x1000u, 0x1001u}) bits.push_back(base | lo);
  Lcg rng{2024};
  for (int i = 0; i < 4000; ++i) bits.push_back(static_cast<uint32_t>(rng.next() >> 32));
  const int64_t n = static_cast<int64_t>(bits.size());

  Tensor src = Tensor::empty({n}, DType::f32, gpu);
  be.copy_from_host(src.data_ptr(), bits.data(), bits.size() * 4);

  for (DType half : {DType::bf16, DType::f16}) {
    INFO("dtype " << dtype_name(half));
    const bool is_bf16 = half == DType::bf16;
    const Tensor narrow = cast_to(src, half);
    std::vector<uint16_t> got16(bits.size());
    be.copy_to_host(got16.data(), narrow.data_ptr(), got16.size() * 2);
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < bits.size(); ++i) {
      float f;
      std::memcpy(&f, &bits[i], 4);
      const uint16_t want = is_bf16 ? f32_to_bf16(f) : f32_to_f16(f);
      if (got16[i] != want && bad++ == 0) first_bad = i;
    }
    INFO("f32 -> half: first mismatch at input bits 0x" << std::hex << bits[first_bad] << ": got 0x"
                                                        << got16[first_bad]);
    CHECK(bad == 0);

    const Tensor wide = cast_to(narrow, DType::f32);
    std::vector<uint32_t> got32(bits.size());
    be.copy_to_host(got32.data(), wide.data_ptr(), got32.size() * 4);
    bad = 0;
    for (size_t i = 0; i < bits.size(); ++i) {
      const float want = is_bf16 ? bf16_to_f32(got16[i]) : f16_to_f32(got16[i]);
      if (got32[i] != f32_bits(want) && bad++ == 0) first_bad = i;
    }
    INFO("half -> f32: first mismatch at half bits 0x" << std::hex << got16[first_bad] << ": got 0x"
                                                       << got32[first_bad]);
    CHECK(bad == 0);
  }
}
