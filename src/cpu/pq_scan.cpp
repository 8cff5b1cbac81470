// PQ scans (see pq_scan.h): the plain byte-code loop, the 4-bit fast-scan
// layout read by a portable loop, and the shuffle kernels for AVX2 and
// AVX-512BW, chosen at run time.
#include "src/cpu/pq_scan.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "spt/core/error.h"

namespace spt::cpu {

namespace {

constexpr int64_t kBlock = 32;

int64_t byte_offset(const PqCodes& c, int64_t block, int64_t pair) {
  return (block * (c.m_pad / 2) + pair) * 32;
}

void scan_plain(uint16_t* scores, const PqCodes& c, const uint8_t* lut, int64_t end) {
  for (int64_t j = 0; j < end; ++j) {
    const uint8_t* code = c.bytes.data() + j * c.m;
    uint32_t s = 0;
    for (int64_t m = 0; m < c.m; ++m) s += lut[m * c.cw + code[m]];
    scores[j] = static_cast<uint16_t>(s);
  }
}

// The packed layout read one key at a time (baseline CPUs; the reference the
// shuffle kernels are tested against).
void scan_packed_scalar(uint16_t* scores, const PqCodes& c, const uint8_t* lut, int64_t end) {
  for (int64_t j = 0; j < end; ++j) {
    const int64_t block = j / kBlock, t = j % kBlock;
    uint32_t s = 0;
    for (int64_t m = 0; m < c.m; ++m) {
      const uint8_t byte = c.bytes[byte_offset(c, block, m / 2) + (m % 2) * 16 + t % 16];
      const int code = t < 16 ? (byte & 15) : (byte >> 4);
      s += lut[m * 16 + code];
    }
    scores[j] = static_cast<uint16_t>(s);
  }
}

// Lane 0 holds the even sub-spaces, lane 1 the odd ones: add them, then
// interleave even-key and odd-key sums back into key order (16 scores).
__attribute__((target("avx2"))) inline void finish_avx2(__m256i a, __m256i b, uint16_t* dst) {
  const __m256i even = _mm256_sub_epi16(a, _mm256_slli_epi16(b, 8));
  const __m128i e = _mm_add_epi16(_mm256_castsi256_si128(even), _mm256_extracti128_si256(even, 1));
  const __m128i o = _mm_add_epi16(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_unpacklo_epi16(e, o));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 8), _mm_unpackhi_epi16(e, o));
}

// (GCC 12's intrinsic headers trip -Wmaybe-uninitialized on their own
// _mm512_undefined_* placeholders.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Four 128-bit lanes, one sub-space each (mod 4): fold them, then as above.
__attribute__((target("avx512f,avx512bw"))) inline __m128i fold_avx512(__m512i x) {
  const __m256i h = _mm256_add_epi16(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64(x, 1));
  return _mm_add_epi16(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}
__attribute__((target("avx512f,avx512bw"))) inline void finish_avx512(__m512i a, __m512i b,
                                                                     uint16_t* dst) {
  const __m128i e = fold_avx512(_mm512_sub_epi16(a, _mm512_slli_epi16(b, 8)));
  const __m128i o = fold_avx512(b);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_unpacklo_epi16(e, o));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 8), _mm_unpackhi_epi16(e, o));
}

// Byte sums in 16-bit lanes: a byte vector r viewed as words w adds w to A and
// w >> 8 to B; afterwards the low bytes' sums are A - (B << 8) (exact mod 2^16,
// and the true sums are < 2^16) and the high bytes' sums are B.
__attribute__((target("avx2"))) void scan_avx2(uint16_t* scores, const PqCodes& c,
                                               const uint8_t* lut, int64_t end) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const int64_t pairs = c.m_pad / 2, blocks = (end + kBlock - 1) / kBlock;
  for (int64_t bl = 0; bl < blocks; ++bl) {
    __m256i a_lo = _mm256_setzero_si256(), b_lo = a_lo, a_hi = a_lo, b_hi = a_lo;
    const uint8_t* codes = c.bytes.data() + byte_offset(c, bl, 0);
    for (int64_t p = 0; p < pairs; ++p) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + p * 32));
      const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lut + p * 32));
      const __m256i r_lo = _mm256_shuffle_epi8(t, _mm256_and_si256(v, low4));
      const __m256i r_hi = _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
      a_lo = _mm256_add_epi16(a_lo, r_lo);
      b_lo = _mm256_add_epi16(b_lo, _mm256_srli_epi16(r_lo, 8));
      a_hi = _mm256_add_epi16(a_hi, r_hi);
      b_hi = _mm256_add_epi16(b_hi, _mm256_srli_epi16(r_hi, 8));
    }
    finish_avx2(a_lo, b_lo, scores + bl * kBlock);  // whole blocks (see pq_scan.h)
    finish_avx2(a_hi, b_hi, scores + bl * kBlock + 16);
  }
}

__attribute__((target("avx512f,avx512bw"))) void scan_avx512(uint16_t* scores, const PqCodes& c,
                                                            const uint8_t* lut, int64_t end) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const int64_t quads = c.m_pad / 4, blocks = (end + kBlock - 1) / kBlock;
  for (int64_t bl = 0; bl < blocks; ++bl) {
    __m512i a_lo = _mm512_setzero_si512(), b_lo = a_lo, a_hi = a_lo, b_hi = a_lo;
    const uint8_t* codes = c.bytes.data() + byte_offset(c, bl, 0);
    for (int64_t p = 0; p < quads; ++p) {
      const __m512i v = _mm512_loadu_si512(codes + p * 64);
      const __m512i t = _mm512_loadu_si512(lut + p * 64);
      const __m512i r_lo = _mm512_shuffle_epi8(t, _mm512_and_si512(v, low4));
      const __m512i r_hi = _mm512_shuffle_epi8(t, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
      a_lo = _mm512_add_epi16(a_lo, r_lo);
      b_lo = _mm512_add_epi16(b_lo, _mm512_srli_epi16(r_lo, 8));
      a_hi = _mm512_add_epi16(a_hi, r_hi);
      b_hi = _mm512_add_epi16(b_hi, _mm512_srli_epi16(r_hi, 8));
    }
    finish_avx512(a_lo, b_lo, scores + bl * kBlock);  // whole blocks (see pq_scan.h)
    finish_avx512(a_hi, b_hi, scores + bl * kBlock + 16);
  }
}

#pragma GCC diagnostic pop

using PackedScan = void (*)(uint16_t*, const PqCodes&, const uint8_t*, int64_t);

struct Kernel {
  std::string name;
  PackedScan fn;
};

Kernel kernel_named(const std::string& name) {
  if (name == "avx512bw") {
    SPT_CHECK(__builtin_cpu_supports("avx512bw"), "[pq_scan] this CPU has no AVX-512BW");
    return {name, scan_avx512};
  }
  if (name == "avx2") {
    SPT_CHECK(__builtin_cpu_supports("avx2"), "[pq_scan] this CPU has no AVX2");
    return {name, scan_avx2};
  }
  if (name == "scalar") return {name, scan_packed_scalar};
  SPT_CHECK(name.empty(), "[pq_scan] unknown kernel '", name, "'; hint: avx512bw, avx2 or scalar");
  if (__builtin_cpu_supports("avx512bw")) return {"avx512bw", scan_avx512};
  if (__builtin_cpu_supports("avx2")) return {"avx2", scan_avx2};
  return {"scalar", scan_packed_scalar};
}

Kernel& active_kernel() {
  static Kernel k = kernel_named(std::getenv("SPT_PQ_SCAN") ? std::getenv("SPT_PQ_SCAN") : "");
  return k;
}

}  // namespace

PqCodes PqCodes::pack(const uint8_t* codes, int64_t n, int64_t m, int64_t cw) {
  PqCodes c;
  c.n = n;
  c.m = m;
  c.cw = cw;
  c.packed = cw == 16;
  if (!c.packed) {
    c.bytes.assign(codes, codes + n * m);
    return c;
  }
  c.m_pad = (m + 3) / 4 * 4;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  c.bytes.assign(static_cast<size_t>(blocks * (c.m_pad / 2) * 32), 0);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t block = j / kBlock, t = j % kBlock;
    for (int64_t s = 0; s < m; ++s) {
      uint8_t& byte = c.bytes[byte_offset(c, block, s / 2) + (s % 2) * 16 + t % 16];
      byte |= static_cast<uint8_t>(t < 16 ? codes[j * m + s] : codes[j * m + s] << 4);
    }
  }
  return c;
}

void pq_scan(uint16_t* scores, const PqCodes& codes, const uint8_t* lut, int64_t end) {
  if (end <= 0) return;
  if (!codes.packed) {
    scan_plain(scores, codes, lut, end);
    return;
  }
  // Tables padded to m_pad with zeros (padding sub-spaces add nothing).
  alignas(64) uint8_t padded[256 * 16];
  const int64_t used = codes.m * 16, total = codes.m_pad * 16;
  SPT_CHECK(total <= static_cast<int64_t>(sizeof(padded)), "[pq_scan] at most 256 sub-spaces");
  std::memcpy(padded, lut, static_cast<size_t>(used));
  std::memset(padded + used, 0, static_cast<size_t>(total - used));
  active_kernel().fn(scores, codes, padded, end);
}

std::string pq_scan_kernel() { return active_kernel().name; }

void set_pq_scan_kernel(const std::string& name) { active_kernel() = kernel_named(name); }

}  // namespace spt::cpu
