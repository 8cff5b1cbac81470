// CPU inverted dropout with Philox masks (see include/spt/backend/philox.h):
//   y_e = keep_e ? x_e / (1 - p) : 0,   dx_e = keep_e ? dy_e / (1 - p) : 0
// The mask is a pure function of (seed, offset, e): nothing is stored.
//
// Element e uses 32-bit word e % 4 of Philox block e / 4 and is kept iff its
// top 24 bits u satisfy u / 2^24 >= p, i.e. u >= ceil(p 2^24) (exact in
// integers), the same decision philox_uniform() / dropout_keep() and the CUDA
// kernels make. f32 runs sixteen Philox blocks at a time in vector lanes.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define SPT_PHILOX_AVX512 1
#endif

#include "spt/backend/philox.h"
#include "src/cpu/cpu_backend.h"
#include "src/cpu/vmath.h"

namespace spt::cpu {

namespace {

constexpr int64_t kLanes = 16;             // Philox blocks per group
constexpr int64_t kGroup = 4 * kLanes;     // elements per group

struct MaskSpec {
  uint32_t k0, k1, c2, c3;  // key and the upper counter words (the stream offset)
  uint32_t threshold;       // keep iff (word >> 8) >= threshold
};

MaskSpec mask_spec(const DropoutParams& p) {
  const double thr = std::ceil(static_cast<double>(p.p) * 16777216.0);
  return {static_cast<uint32_t>(p.seed), static_cast<uint32_t>(p.seed >> 32),
          static_cast<uint32_t>(p.offset), static_cast<uint32_t>(p.offset >> 32),
          static_cast<uint32_t>(thr)};
}

constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;

#ifdef SPT_PHILOX_AVX512
// The ten rounds on sixteen blocks in AVX-512 registers. The compiler turns the
// portable loop's 32x32->64 products into 64-bit multiplies (vpmullq, slow); here
// they are vpmuludq on the even and the odd 32-bit lanes. (GCC 12's intrinsic
// headers trip -Wuninitialized on their own _mm512_undefined_* placeholders.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The ten rounds on sixteen blocks held in registers a, b, c, d (words 0..3).
__attribute__((target("avx512f"), always_inline)) inline void philox_regs16(__m512i& a, __m512i& b, __m512i& c,
                                                                           __m512i& d, uint32_t k0, uint32_t k1) {
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(kM0));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(kM1));
  const __mmask16 kOdd = 0xAAAA;
  for (int round = 0; round < 10; ++round) {
    // a * M0 and c * M1 as hi/lo 32-bit halves per lane.
    const __m512i pa_even = _mm512_mul_epu32(a, m0);
    const __m512i pa_odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m0);
    const __m512i pc_even = _mm512_mul_epu32(c, m1);
    const __m512i pc_odd = _mm512_mul_epu32(_mm512_srli_epi64(c, 32), m1);
    const __m512i hi0 = _mm512_mask_blend_epi32(kOdd, _mm512_srli_epi64(pa_even, 32), pa_odd);
    const __m512i lo0 = _mm512_mask_blend_epi32(kOdd, pa_even, _mm512_slli_epi64(pa_odd, 32));
    const __m512i hi1 = _mm512_mask_blend_epi32(kOdd, _mm512_srli_epi64(pc_even, 32), pc_odd);
    const __m512i lo1 = _mm512_mask_blend_epi32(kOdd, pc_even, _mm512_slli_epi64(pc_odd, 32));
    const __m512i key0 = _mm512_set1_epi32(static_cast<int>(k0));
    const __m512i key1 = _mm512_set1_epi32(static_cast<int>(k1));
    a = _mm512_xor_si512(_mm512_xor_si512(hi1, b), key0);
    b = lo1;
    c = _mm512_xor_si512(_mm512_xor_si512(hi0, d), key1);
    d = lo0;
    k0 += kW0;
    k1 += kW1;
  }
}

__attribute__((target("avx512f"))) void philox_rounds16_avx512(uint32_t* v0, uint32_t* v1,
                                                               uint32_t* v2, uint32_t* v3,
                                                               uint32_t k0, uint32_t k1) {
  __m512i a = _mm512_load_si512(v0), b = _mm512_load_si512(v1);
  __m512i c = _mm512_load_si512(v2), d = _mm512_load_si512(v3);
  philox_regs16(a, b, c, d, k0, k1);
  _mm512_store_si512(v0, a);
  _mm512_store_si512(v1, b);
  _mm512_store_si512(v2, c);
  _mm512_store_si512(v3, d);
}

// Dropout factors of arbitrary elements (see factors_f32) with the counters
// built in registers: element e's block e / 4 is split into its 32-bit halves
// by truncating 64-bit lanes, its word e % 4 picked by masked blends. (Filling
// the counter lanes through memory stalled on store forwarding.)
__attribute__((target("avx512f"))) void factors_f32_avx512(const MaskSpec& ms, float scale, float* fac,
                                                           const uint64_t* elems, int64_t n) {
  const __m512i c2 = _mm512_set1_epi32(static_cast<int>(ms.c2)), c3 = _mm512_set1_epi32(static_cast<int>(ms.c3));
  const __m512i thr = _mm512_set1_epi32(static_cast<int>(ms.threshold));
  const __m512i three = _mm512_set1_epi32(3);
  const __m512 keep = _mm512_set1_ps(scale);
  for (int64_t t0 = 0; t0 < n; t0 += 16) {
    const int64_t len = std::min<int64_t>(16, n - t0);
    const __mmask16 m16 = static_cast<__mmask16>((1u << len) - 1u);
    const __mmask8 lo8 = static_cast<__mmask8>(m16 & 0xFF), hi8 = static_cast<__mmask8>(m16 >> 8);
    const __m512i e0 = _mm512_maskz_loadu_epi64(lo8, elems + t0);
    const __m512i e1 = _mm512_maskz_loadu_epi64(hi8, elems + t0 + 8);
    const __m512i b0 = _mm512_srli_epi64(e0, 2), b1 = _mm512_srli_epi64(e1, 2);
    __m512i a = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(b0)), _mm512_cvtepi64_epi32(b1), 1);
    __m512i b = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(_mm512_srli_epi64(b0, 32))),
                                   _mm512_cvtepi64_epi32(_mm512_srli_epi64(b1, 32)), 1);
    const __m512i w = _mm512_and_si512(
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(e0)), _mm512_cvtepi64_epi32(e1), 1), three);
    __m512i c = c2, d = c3;
    philox_regs16(a, b, c, d, ms.k0, ms.k1);
    __m512i word = a;
    word = _mm512_mask_mov_epi32(word, _mm512_cmpeq_epi32_mask(w, _mm512_set1_epi32(1)), b);
    word = _mm512_mask_mov_epi32(word, _mm512_cmpeq_epi32_mask(w, _mm512_set1_epi32(2)), c);
    word = _mm512_mask_mov_epi32(word, _mm512_cmpeq_epi32_mask(w, three), d);
    const __mmask16 kept = _mm512_cmpge_epu32_mask(_mm512_srli_epi32(word, 8), thr);
    _mm512_mask_storeu_ps(fac + t0, m16, _mm512_maskz_mov_ps(kept, keep));
  }
}
#pragma GCC diagnostic pop

// SPT_PHILOX_PORTABLE=1 forces the portable loop (the test suite runs the dropout
// tests both ways, so the path other CPUs take is checked here too).
bool have_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") && !std::getenv("SPT_PHILOX_PORTABLE");
  return yes;
}
#else
bool have_avx512() { return false; }
#endif

// Ten Philox rounds on sixteen counter blocks (lanes of v0..v3): the AVX-512
// kernel when the CPU has it, else a portable loop the compiler vectorises.
SPT_INLINE_INTO_CLONES void philox16(uint32_t* v0, uint32_t* v1, uint32_t* v2, uint32_t* v3, uint32_t k0,
                                     uint32_t k1, [[maybe_unused]] bool avx512) {
#ifdef SPT_PHILOX_AVX512
  if (avx512) {
    philox_rounds16_avx512(v0, v1, v2, v3, k0, k1);
    return;
  }
#endif
  for (int round = 0; round < 10; ++round) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) {
      const uint64_t p0 = static_cast<uint64_t>(kM0) * v0[l];
      const uint64_t p1 = static_cast<uint64_t>(kM1) * v2[l];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ v1[l] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ v3[l] ^ k1;
      v0[l] = n0;
      v1[l] = static_cast<uint32_t>(p1);
      v2[l] = n2;
      v3[l] = static_cast<uint32_t>(p0);
    }
    k0 += kW0;
    k1 += kW1;
  }
}

// Elements [g0 * 64, min(n, g1 * 64)) of a f32 tensor whose element e is stream
// element first + e (first a multiple of 64), `in` may equal `out`; with `bits`,
// the keep mask too (words 2 g and 2 g + 1 of group g).
SPT_SIMD_CLONES void mask_groups_f32(const MaskSpec& ms, float scale, float* out, const float* in,
                                     int64_t n, int64_t g0, int64_t g1, uint64_t first, uint32_t* bits = nullptr) {
  const bool avx512 = have_avx512();
  alignas(64) uint32_t v0[kLanes], v1[kLanes], v2[kLanes], v3[kLanes];
  alignas(64) uint32_t words[kGroup];
  for (int64_t g = g0; g < g1; ++g) {
    const uint64_t block0 = (first >> 2) + static_cast<uint64_t>(g) * kLanes;
    for (int64_t l = 0; l < kLanes; ++l) {
      const uint64_t b = block0 + static_cast<uint64_t>(l);
      v0[l] = static_cast<uint32_t>(b);
      v1[l] = static_cast<uint32_t>(b >> 32);
      v2[l] = ms.c2;
      v3[l] = ms.c3;
    }
    philox16(v0, v1, v2, v3, ms.k0, ms.k1, avx512);
    for (int64_t l = 0; l < kLanes; ++l) {
      words[4 * l] = v0[l];
      words[4 * l + 1] = v1[l];
      words[4 * l + 2] = v2[l];
      words[4 * l + 3] = v3[l];
    }
    const int64_t e0 = g * kGroup, len = std::min<int64_t>(kGroup, n - e0);
    float* o = out + e0;
    const float* x = in + e0;
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) o[i] = (words[i] >> 8) >= ms.threshold ? x[i] * scale : 0.f;
    if (bits != nullptr) {
      for (int64_t w = 0; w < 2 && 32 * w < len; ++w) {
        uint32_t b = 0;
        for (int64_t i = 32 * w; i < std::min<int64_t>(len, 32 * w + 32); ++i)
          b |= static_cast<uint32_t>((words[i] >> 8) >= ms.threshold) << (i - 32 * w);
        bits[2 * g + w] = b;
      }
    }
  }
}

// Dropout factors of arbitrary elements (sparse attention's chosen weights),
// sixteen Philox blocks at a time: element e is word e % 4 of block e / 4.
SPT_SIMD_CLONES void factors_f32(const MaskSpec& ms, float scale, float* fac, const uint64_t* elems, int64_t n) {
  const bool avx512 = have_avx512();
#ifdef SPT_PHILOX_AVX512
  if (avx512) {
    factors_f32_avx512(ms, scale, fac, elems, n);
    return;
  }
#endif
  alignas(64) uint32_t v0[kLanes], v1[kLanes], v2[kLanes], v3[kLanes];
  for (int64_t t0 = 0; t0 < n; t0 += kLanes) {
    const int64_t len = std::min<int64_t>(kLanes, n - t0);
    for (int64_t l = 0; l < kLanes; ++l) {
      const uint64_t b = (l < len ? elems[t0 + l] : 0) >> 2;
      v0[l] = static_cast<uint32_t>(b);
      v1[l] = static_cast<uint32_t>(b >> 32);
      v2[l] = ms.c2;
      v3[l] = ms.c3;
    }
    philox16(v0, v1, v2, v3, ms.k0, ms.k1, avx512);
    for (int64_t l = 0; l < len; ++l) {
      const uint32_t w = elems[t0 + l] & 3;
      const uint32_t word = w == 0 ? v0[l] : (w == 1 ? v1[l] : (w == 2 ? v2[l] : v3[l]));
      fac[t0 + l] = (word >> 8) >= ms.threshold ? scale : 0.f;
    }
  }
}

// A tensor whose first element is not at a 64-element group boundary of the
// stream (data parallelism with rows of odd sizes): factors of the elements
// base + i through factors_f32, chunks of 4096 (a multiple of 32, so each chunk
// owns whole bit words). Slower than mask_groups_f32, same mask.
void mask_unaligned_f32(const MaskSpec& ms, float scale, float* out, const float* in, int64_t n, uint64_t base,
                        uint32_t* bits) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t c = 0; c < chunks; ++c) {
    std::vector<uint64_t> elems(kChunk);
    std::vector<float> fac(kChunk);
    const int64_t i0 = c * kChunk, len = std::min(kChunk, n - i0);
    for (int64_t i = 0; i < len; ++i) elems[i] = base + static_cast<uint64_t>(i0 + i);
    factors_f32(ms, scale, fac.data(), elems.data(), len);
    for (int64_t i = 0; i < len; ++i) out[i0 + i] = fac[i] != 0.f ? in[i0 + i] * scale : 0.f;
    if (bits != nullptr)
      for (int64_t w = 0; 32 * w < len; ++w) {
        uint32_t word = 0;
        for (int64_t i = 32 * w; i < std::min(len, 32 * w + 32); ++i)
          word |= static_cast<uint32_t>(fac[i] != 0.f) << (i - 32 * w);
        bits[(i0 >> 5) + w] = word;
      }
  }
}

// out = keep ? in * scale : 0 with keep from the bit words.
SPT_SIMD_CLONES void apply_bits_f32(float scale, float* out, const float* in, const uint32_t* bits,
                                    int64_t i0, int64_t i1) {
#pragma omp simd
  for (int64_t i = i0; i < i1; ++i) out[i] = ((bits[i >> 5] >> (i & 31)) & 1u) ? in[i] * scale : 0.f;
}

// f64 (gradient checks): element by element through the shared definition.
void mask_f64(const DropoutParams& p, double* out, const double* in, int64_t n) {
  const double keep_scale = 1.0 / (1.0 - static_cast<double>(p.p));
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i)
    out[i] = dropout_keep(p.seed, p.offset, p.base + static_cast<uint64_t>(i), p.p) ? in[i] * keep_scale
                                                                                    : 0.0;
}

template <class T>
void apply_mask(const DropoutParams& p, T* out, const T* in, int64_t n) {
  if (p.p == 0.f) {
    if (out != in) std::copy(in, in + n, out);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    const MaskSpec ms = mask_spec(p);
    const float keep_scale = 1.f / (1.f - p.p);
    if (p.base % kGroup != 0) {
      mask_unaligned_f32(ms, keep_scale, out, in, n, p.base, nullptr);
      return;
    }
    const int64_t groups = (n + kGroup - 1) / kGroup;
    constexpr int64_t kGroupsPerChunk = 128;
    const int64_t chunks = (groups + kGroupsPerChunk - 1) / kGroupsPerChunk;
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t c = 0; c < chunks; ++c)
      mask_groups_f32(ms, keep_scale, out, in, n, c * kGroupsPerChunk,
                      std::min(groups, (c + 1) * kGroupsPerChunk), p.base);
  } else {
    mask_f64(p, out, in, n);
  }
}

}  // namespace

void CpuBackend::dropout_fwd_bits(const DropoutParams& p, Tensor& y, Tensor& bits, const Tensor& x) {
  const int64_t n = x.numel();
  uint32_t* b = reinterpret_cast<uint32_t*>(bits.data<int32_t>());
  if (x.dtype() == DType::f32) {
    const MaskSpec ms = mask_spec(p);
    const float keep_scale = 1.f / (1.f - p.p);
    if (p.base % kGroup != 0) {
      mask_unaligned_f32(ms, keep_scale, y.data<float>(), x.data<float>(), n, p.base, b);
      return;
    }
    const int64_t groups = (n + kGroup - 1) / kGroup;
    constexpr int64_t kGroupsPerChunk = 128;
    const int64_t chunks = (groups + kGroupsPerChunk - 1) / kGroupsPerChunk;
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t c = 0; c < chunks; ++c)
      mask_groups_f32(ms, keep_scale, y.data<float>(), x.data<float>(), n, c * kGroupsPerChunk,
                      std::min(groups, (c + 1) * kGroupsPerChunk), p.base, b);
    return;
  }
  // f64 (gradient checks): through the shared definition, word by word.
  const double keep_scale = 1.0 / (1.0 - static_cast<double>(p.p));
  const double* in = x.data<double>();
  double* out = y.data<double>();
  const int64_t words = (n + 31) / 32;
  for (int64_t w = 0; w < words; ++w) {
    uint32_t word = 0;
    for (int64_t i = 32 * w; i < std::min(n, 32 * w + 32); ++i) {
      const bool keep = dropout_keep(p.seed, p.offset, p.base + static_cast<uint64_t>(i), p.p);
      out[i] = keep ? in[i] * keep_scale : 0.0;
      word |= static_cast<uint32_t>(keep) << (i - 32 * w);
    }
    b[w] = word;
  }
}

void CpuBackend::dropout_apply_bits(float p, Tensor& y, const Tensor& x, const Tensor& bits) {
  const int64_t n = x.numel();
  const uint32_t* b = reinterpret_cast<const uint32_t*>(bits.data<int32_t>());
  if (x.dtype() == DType::f32) {
    const float scale = 1.f / (1.f - p);
    constexpr int64_t kChunk = 1 << 16;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t c = 0; c < chunks; ++c)
      apply_bits_f32(scale, y.data<float>(), x.data<float>(), b, c * kChunk, std::min(n, (c + 1) * kChunk));
    return;
  }
  const double scale = 1.0 / (1.0 - static_cast<double>(p));
  const double* in = x.data<double>();
  double* out = y.data<double>();
  for (int64_t i = 0; i < n; ++i) out[i] = ((b[i >> 5] >> (i & 31)) & 1u) ? in[i] * scale : 0.0;
}

void CpuBackend::dropout_fwd(const DropoutParams& p, Tensor& y, const Tensor& x) {
  dispatch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    apply_mask(p, y.data<T>(), x.data<T>(), x.numel());
  });
}

void CpuBackend::dropout_bwd(const DropoutParams& p, Tensor& dx, const Tensor& dy) {
  dispatch_float(dy.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    apply_mask(p, dx.data<T>(), dy.data<T>(), dy.numel());
  });
}

void dropout_factors_f32(const DropoutParams& p, float* fac, const uint64_t* elems, int64_t n) {
  factors_f32(mask_spec(p), 1.f / (1.f - p.p), fac, elems, n);
}

}  // namespace spt::cpu
