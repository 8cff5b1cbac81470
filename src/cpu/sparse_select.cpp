// CPU key selection for sparse attention (Backend::sparse_select).
//
// Per batch item b and key/value head g: every key is encoded with one code per
// PQ sub-space (nearest codeword in L2; ties to the smaller code). Per query row
// (b, h, i), h reading head g:
//   1. visible keys: key_mask[b, j] != 0 and, causal, j < causal_end(i); n of them;
//      budget = row_budget(n); n <= budget keeps them all (dense attention);
//   2. forced keys (keep_first, local_window) are kept and count towards it;
//   3. the others get an approximate score by asymmetric distance computation:
//      tables q_m . c_{m,c} quantised to 8 bits with one scale per query
//      (sparse::lut_scale), score = sum_m table_m[code_m] as a 16-bit integer;
//   4. the top rerank * R of them by that score (R = budget - forced; ties to the
//      smaller index), re-scored exactly (q . k) when rerank > 1, the top R kept;
//   5. the row's keys are written in increasing order, then -1.
// The top of step 4: a threshold read off a sample of the row's ranks keeps a
// little more than needed; those candidates are compacted (AVX-512 compress, 16
// ranks per step) and the exact threshold is bisected on them alone, exact about
// ties. Keys come out in index order, so no sort is needed. With 16 codewords the scan
// runs on 4-bit codes packed as FAISS's fast scan does (src/cpu/pq_scan.h).
#include <algorithm>
#include <array>
#include <functional>
#include <vector>

#include <immintrin.h>

#include "spt/backend/sparse_attention_math.h"
#include "src/cpu/cpu_backend.h"
#include "src/cpu/pq_scan.h"
#include "src/cpu/v16.h"
#include "src/cpu/vmath.h"

namespace spt::cpu {

namespace {

// Codebooks of one head transposed to (M, ds, C) so that the codeword axis is
// contiguous: distances and tables are computed C lanes at a time.
std::vector<float> transpose_codebooks(const float* cb, int64_t M, int64_t Cw, int64_t ds) {
  std::vector<float> t(static_cast<size_t>(M * ds * Cw));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < Cw; ++c)
      for (int64_t d = 0; d < ds; ++d) t[(m * ds + d) * Cw + c] = cb[(m * Cw + c) * ds + d];
  return t;
}

// Codes of n keys (rows of x with stride ld): codes[j * M + m]; cbt from transpose_codebooks.
SPT_SIMD_CLONES void encode_keys(uint8_t* codes, const float* x0, int64_t ld, int64_t n, const float* cbt,
                                 int64_t M, int64_t Cw, int64_t ds) {
  float dist[256];
  for (int64_t j = 0; j < n; ++j) {
    const float* x = x0 + j * ld;
    for (int64_t m = 0; m < M; ++m) {
      const float* t = cbt + m * ds * Cw;
#pragma omp simd
      for (int64_t c = 0; c < Cw; ++c) dist[c] = 0.f;
      for (int64_t d = 0; d < ds; ++d) {
        const float xd = x[m * ds + d];
#pragma omp simd
        for (int64_t c = 0; c < Cw; ++c) {
          const float e = xd - t[d * Cw + c];
          dist[c] += e * e;
        }
      }
      int64_t best = 0;
      for (int64_t c = 1; c < Cw; ++c) best = dist[c] < dist[best] ? c : best;
      codes[j * M + m] = static_cast<uint8_t>(best);
    }
  }
}

// Float tables lut[m * C + c] = q_m . c_{m,c}.
SPT_SIMD_CLONES void build_tables(float* lut, const float* q, const float* cbt, int64_t M, int64_t Cw,
                                  int64_t ds) {
  for (int64_t m = 0; m < M; ++m) {
    float* out = lut + m * Cw;
    const float* t = cbt + m * ds * Cw;
#pragma omp simd
    for (int64_t c = 0; c < Cw; ++c) out[c] = 0.f;
    for (int64_t d = 0; d < ds; ++d) {
      const float qd = q[m * ds + d];
#pragma omp simd
      for (int64_t c = 0; c < Cw; ++c) out[c] += qd * t[d * Cw + c];
    }
  }
}

// The quantised tables of one query with 16 codewords (the common case), one
// table per vector, the same arithmetic as build_tables + sparse::lut_scale +
// sparse::quantize_table: table m = sum_d q_{m,d} c_{m,d,:}; a from the spans
// summed in sub-space order; entries min(255, trunc((x - min_m) a + 1/2)).
// lut: M * 16 floats of scratch; out: M * 16 bytes.
SPT_SIMD_CLONES void quantized_tables16(uint8_t* out, float* lut, const float* q, const float* cbt, int64_t M,
                                        int64_t ds) {
  float max_span = 0.f, sum_span = 0.f;
  for (int64_t m = 0; m < M; ++m) {
    const float* t = cbt + m * ds * 16;
    v16f x = q[m * ds] * *reinterpret_cast<const v16f*>(t);
    for (int64_t d = 1; d < ds; ++d) x += q[m * ds + d] * *reinterpret_cast<const v16f*>(t + d * 16);
    *reinterpret_cast<v16f*>(lut + m * 16) = x;
    const float span = hmax(x) - hmin(x);
    max_span = span > max_span ? span : max_span;
    sum_span += span;
  }
  float a = 1.f;  // constant tables (q = 0): every key ties
  if (max_span > 0.f) {
    const float a1 = 255.f / max_span, a2 = (65533.f - 0.5f * static_cast<float>(M)) / sum_span;
    a = a1 < a2 ? a1 : a2;
  }
  const v16i top = v16i{} + 255;
  for (int64_t m = 0; m < M; ++m) {
    const v16f x = *reinterpret_cast<const v16f*>(lut + m * 16);
    v16i qv = __builtin_convertvector((x - hmin(x)) * a + 0.5f, v16i);
    qv = qv > top ? top : qv;
    *reinterpret_cast<v16b*>(out + m * 16) = __builtin_convertvector(qv, v16b);
  }
}

// Exact scores out[c] = q . k_{idx[c]} (key rows ldk apart) of n candidates, in
// one call: with D a multiple of 16, four keys per pass share the query's loads,
// each summed in 16 lanes and reduced once; otherwise a loop per key. (One call
// per candidate through the clone dispatch, as before, made re-ranking 2L
// candidates cost three times the rest of the selection.)
SPT_SIMD_CLONES void rescore(float* out, const float* q, const float* k0, int64_t ldk, const int32_t* idx,
                             int64_t n, int64_t D) {
#define SPT_V16(ptr, d) (*reinterpret_cast<const v16f*>((ptr) + (d)))
  int64_t c = 0;
  if (D % 16 == 0) {
    for (; c + 4 <= n; c += 4) {
      const float* r0 = k0 + static_cast<int64_t>(idx[c]) * ldk;
      const float* r1 = k0 + static_cast<int64_t>(idx[c + 1]) * ldk;
      const float* r2 = k0 + static_cast<int64_t>(idx[c + 2]) * ldk;
      const float* r3 = k0 + static_cast<int64_t>(idx[c + 3]) * ldk;
      v16f s0{}, s1{}, s2{}, s3{};
      for (int64_t d = 0; d < D; d += 16) {
        const v16f qv = SPT_V16(q, d);
        s0 += qv * SPT_V16(r0, d);
        s1 += qv * SPT_V16(r1, d);
        s2 += qv * SPT_V16(r2, d);
        s3 += qv * SPT_V16(r3, d);
      }
      out[c] = hsum(s0);
      out[c + 1] = hsum(s1);
      out[c + 2] = hsum(s2);
      out[c + 3] = hsum(s3);
    }
    for (; c < n; ++c) {
      const float* r = k0 + static_cast<int64_t>(idx[c]) * ldk;
      v16f acc{};
      for (int64_t d = 0; d < D; d += 16) acc += SPT_V16(q, d) * SPT_V16(r, d);
      out[c] = hsum(acc);
    }
    return;
  }
#undef SPT_V16
  for (; c < n; ++c) {
    const float* r = k0 + static_cast<int64_t>(idx[c]) * ldk;
    float acc = 0.f;
    for (int64_t d = 0; d < D; ++d) acc += q[d] * r[d];
    out[c] = acc;
  }
}

// Per head (b, g): the packed codes and the transposed codebooks.
struct HeadCodes {
  PqCodes codes;
  std::vector<float> cbt;
};

// Row keys as 16-bit ranks: 0 = not a candidate (masked, or beyond the causal
// end), 65535 = always kept (forced), else PQ score + 1 (scores <= 65533 by the
// table scale). Returns the number of forced keys.
SPT_SIMD_CLONES int64_t rank_row(uint16_t* s, const int32_t* mrow, int64_t end, int64_t pos,
                                 int64_t keep_first, int64_t window) {
  if (mrow == nullptr && keep_first == 0 && window == 0) {
#pragma omp simd
    for (int64_t j = 0; j < end; ++j) s[j] = static_cast<uint16_t>(s[j] + 1);
    return 0;
  }
  int32_t forced = 0;
  const int32_t p32 = static_cast<int32_t>(pos), kf = static_cast<int32_t>(keep_first);
  const int32_t w = static_cast<int32_t>(window);
#pragma omp simd reduction(+ : forced)
  for (int32_t j = 0; j < static_cast<int32_t>(end); ++j) {
    const bool vis = mrow == nullptr || mrow[j] != 0;
    const int32_t dist = j > p32 ? j - p32 : p32 - j;
    const bool f = vis && (j < kf || (w > 0 && dist <= w));
    forced += f;
    s[j] = f ? uint16_t{65535} : (vis ? static_cast<uint16_t>(s[j] + 1) : uint16_t{0});
  }
  return forced;
}

// Candidates: the keys of s[0, end) with rank >= t0, in index order, their
// indices into ci and ranks into cr (both with room for end + 16). Returns how many.
// Keys [j0, end) appended after the first cnt candidates; returns the new count.
int64_t gather_at_least_scalar(int32_t* ci, uint32_t* cr, const uint16_t* s, int64_t j0, int64_t end, uint32_t t0,
                               int64_t cnt = 0) {
  for (int64_t j = j0; j < end; ++j) {  // branch-free: the slot is overwritten unless taken
    ci[cnt] = static_cast<int32_t>(j);
    cr[cnt] = s[j];
    cnt += s[j] >= t0;
  }
  return cnt;
}

// (GCC 12's intrinsic headers trip -Wmaybe-uninitialized on their own
// _mm512_undefined_* placeholders.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// The same sixteen ranks per step: compare, compress in registers, store whole
// vectors (the compressing store to memory is microcoded on some CPUs).
__attribute__((target("avx512f"))) int64_t gather_at_least_avx512(int32_t* ci, uint32_t* cr, const uint16_t* s,
                                                                  int64_t end, uint32_t t0) {
  const __m512i tv = _mm512_set1_epi32(static_cast<int>(t0));
  __m512i j = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i step = _mm512_set1_epi32(16);
  int64_t cnt = 0, j0 = 0;
  for (; j0 + 16 <= end; j0 += 16) {
    const __m512i x = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + j0)));
    const __mmask16 m = _mm512_cmpge_epu32_mask(x, tv);
    _mm512_storeu_si512(ci + cnt, _mm512_maskz_compress_epi32(m, j));
    _mm512_storeu_si512(cr + cnt, _mm512_maskz_compress_epi32(m, x));
    cnt += __builtin_popcount(m);
    j = _mm512_add_epi32(j, step);
  }
  return gather_at_least_scalar(ci, cr, s, j0, end, t0, cnt);  // the tail
}

#pragma GCC diagnostic pop

// How many of r[0, n) are >= t.
SPT_INLINE_INTO_CLONES int64_t count_at_least(const uint32_t* r, int64_t n, uint32_t t) {
  int32_t c = 0;
#pragma omp simd reduction(+ : c)
  for (int64_t k = 0; k < n; ++k) c += r[k] >= t ? 1 : 0;
  return c;
}

// The largest t with count_at_least(r, n, t) >= want (1 <= want <= n), by
// bisection in [lo, max r] (one clone per ISA, the counts inlined).
SPT_SIMD_CLONES uint32_t kth_largest(const uint32_t* r, int64_t n, int64_t want, uint32_t lo) {
  uint32_t hi = lo;
#pragma omp simd reduction(max : hi)
  for (int64_t k = 0; k < n; ++k) hi = r[k] > hi ? r[k] : hi;
  while (lo < hi) {
    const uint32_t mid = static_cast<uint32_t>((static_cast<uint64_t>(lo) + hi + 1) / 2);  // no overflow at 2^32
    if (count_at_least(r, n, mid) >= want) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

struct RowSelector {
  const SparseSelectParams& p;
  std::vector<float> lut;
  std::vector<uint8_t> qlut;
  std::vector<uint16_t> scores;
  std::vector<int32_t> ci;             // candidates' indices (index order)
  std::vector<uint32_t> cr, sample;    // their ranks; a sample of the row's ranks
  std::vector<int32_t> rk, rp;         // re-ranking: candidates' keys and places
  std::vector<float> rs;               // their exact scores
  std::vector<uint32_t> ru;            // as order-preserving integers
  bool simd_gather = pq_scan_kernel() != "scalar" && __builtin_cpu_supports("avx512f");

  explicit RowSelector(const SparseSelectParams& params) : p(params) {
    lut.resize(static_cast<size_t>(p.subspaces * p.codewords));
    qlut.resize(lut.size());
    scores.resize(static_cast<size_t>((p.attn.tk + 31) / 32 * 32));  // pq_scan writes blocks of 32
    ci.resize(static_cast<size_t>(p.attn.tk + 16));
    cr.resize(ci.size());
    rk.resize(ci.size());
    rp.resize(ci.size());
    rs.resize(ci.size());
    ru.resize(ci.size());
    sample.resize(kSample + 1);
  }

  static constexpr int64_t kSample = 128;

  // Keys of row i into out (L slots).
  template <class I>
  void select(I* out, int64_t i, const float* qi, const float* k0, int64_t ldk, const int32_t* mrow,
              const HeadCodes& hc) {
    const int64_t tq = p.attn.tq, tk = p.attn.tk, L = p.attn.slots;
    const int64_t end = sparse::causal_end(i, tq, tk, p.causal);
    int64_t n = end;
    if (mrow != nullptr) {
      int32_t v = 0;
#pragma omp simd reduction(+ : v)
      for (int64_t j = 0; j < end; ++j) v += mrow[j] != 0 ? 1 : 0;
      n = v;
    }
    const int64_t budget = sparse::row_budget(n, p.top_l, p.top_ratio, p.min_l);
    int64_t cnt = 0;
    if (n <= budget) {
      for (int64_t j = 0; j < end && cnt < L; ++j)
        if (mrow == nullptr || mrow[j] != 0) out[cnt++] = static_cast<I>(j);
    } else {
      approximate_scores(qi, hc, end);
      const uint16_t* s = scores.data();
      const int64_t nforced = rank_row(scores.data(), mrow, end, i + (tk - tq), p.keep_first, p.local_window);
      const int64_t R = std::max<int64_t>(0, budget - nforced);
      const int64_t nc = std::min<int64_t>(p.rerank * R, n - nforced);
      const int64_t want = nforced + nc;  // forced keys (rank 65535) come first
      // Candidates: the keys ranked at least t0, which a sample of the row puts
      // somewhat below the want-th largest rank; every visible key when that
      // leaves fewer than want. The exact threshold t is then found among them.
      uint32_t t0 = estimate_threshold(s, end, want);
      int64_t c = gather(s, end, t0);
      if (c < want) c = gather(s, end, t0 = 1);
      const uint32_t t = kth_largest(cr.data(), c, want, t0);
      int64_t ties = want - count_at_least(cr.data(), c, t + 1);  // ranks == t to take, in index order
      int64_t got = 0;  // the taken ones to the front, in index order (got <= k)
      for (int64_t k = 0; k < c; ++k) {
        const uint32_t r = cr[k];
        bool take = r > t;
        if (r == t) take = ties-- > 0;
        ci[got] = ci[k];
        cr[got] = r;
        got += take;
      }
      if (nc > R) got = rerank_candidates(qi, k0, ldk, got, R);
      for (; cnt < std::min(got, L); ++cnt) out[cnt] = static_cast<I>(ci[cnt]);
    }
    for (int64_t t = cnt; t < L; ++t) out[t] = static_cast<I>(-1);
  }

  int64_t gather(const uint16_t* s, int64_t end, uint32_t t0) {
    return simd_gather ? gather_at_least_avx512(ci.data(), cr.data(), s, end, t0)
                       : gather_at_least_scalar(ci.data(), cr.data(), s, 0, end, t0);
  }

  // A threshold with somewhat more than `want` of s[0, end) at or above it, read
  // off kSample evenly spaced ranks (1: all, for short rows). Only speed depends
  // on it: the selection is exact for any threshold that leaves >= want keys.
  uint32_t estimate_threshold(const uint16_t* s, int64_t end, int64_t want) {
    if (end <= 2 * kSample) return 1;
    const int64_t stride = end / kSample;
    int64_t ns = 0;
    for (int64_t j = stride / 2; j < end && ns < kSample; j += stride) sample[ns++] = s[j];
    const int64_t k = std::min<int64_t>(ns, (5 * want * ns) / (4 * end) + 4);
    return kth_largest(sample.data(), ns, k, 1);
  }

  // The taken candidates ci/cr[0, got): the forced ones (rank 65535) stay; the
  // others are re-scored exactly (q . k) and the best R stay. Compacts the kept
  // ones to the front in index order and returns how many. (Candidates are in
  // index order, so ranking by position breaks ties as the index would.)
  int64_t rerank_candidates(const float* qi, const float* k0, int64_t ldk, int64_t got, int64_t R) {
    int64_t n = 0;  // the candidates to re-score: their keys and places
    for (int64_t k = 0; k < got; ++k) {
      if (cr[k] == 65535) continue;
      rk[n] = ci[k];
      rp[n++] = static_cast<int32_t>(k);
      cr[k] = 0;
    }
    rescore(rs.data(), qi, k0, ldk, rk.data(), n, p.attn.head_dim);
    // The best R by exact score, ties to the smaller index (the candidates are in
    // index order): the R-th largest order-preserving key by bisection, then the
    // ties at it taken first come.
    if (R >= n) {
      for (int64_t c = 0; c < n; ++c) cr[rp[c]] = 65535;
    } else if (R > 0) {
      for (int64_t c = 0; c < n; ++c) ru[c] = sparse::ordered_bits(rs[c]);
      const uint32_t t = kth_largest(ru.data(), n, R, 0);
      int64_t ties = R - (t == UINT32_MAX ? 0 : count_at_least(ru.data(), n, t + 1));
      for (int64_t c = 0; c < n; ++c) {
        bool take = ru[c] > t;
        if (ru[c] == t) take = ties-- > 0;
        if (take) cr[rp[c]] = 65535;
      }
    }
    int64_t kept = 0;
    for (int64_t k = 0; k < got; ++k) {
      ci[kept] = ci[k];
      kept += cr[k] == 65535;
    }
    return kept;
  }

  // scores[j] for j < end from the query's quantised tables.
  void approximate_scores(const float* qi, const HeadCodes& hc, int64_t end) {
    const int64_t M = p.subspaces, Cw = p.codewords, ds = p.attn.head_dim / M;
    if (Cw == 16) {
      quantized_tables16(qlut.data(), lut.data(), qi, hc.cbt.data(), M, ds);
      pq_scan(scores.data(), hc.codes, qlut.data(), end);
      return;
    }
    build_tables(lut.data(), qi, hc.cbt.data(), M, Cw, ds);
    const sparse::LutScale sc = sparse::lut_scale(lut.data(), M, Cw);
    for (int64_t m = 0; m < M; ++m)
      sparse::quantize_table(qlut.data() + m * Cw, lut.data() + m * Cw, Cw, sc.a);
    pq_scan(scores.data(), hc.codes, qlut.data(), end);
  }
};

}  // namespace

void CpuBackend::sparse_select(const SparseSelectParams& p, Tensor& idx, const Tensor& q,
                               const Tensor& k, const Tensor& key_mask, const Tensor& codebooks) {
  SPT_CHECK(q.dtype() == DType::f32, "[sparse_select] dtype ", dtype_name(q.dtype()),
            " not supported on cpu (f32)");
  const SparseAttentionParams& a = p.attn;
  const int64_t H = a.heads, Hk = a.kv_heads, G = H / Hk, D = a.head_dim;
  const int64_t M = p.subspaces, Cw = p.codewords, ds = D / M;
  const int64_t C = H * D, ldk = Hk * D, L = a.slots;
  const float *qs = q.data<float>(), *ks = k.data<float>(), *cbs = codebooks.data<float>();
  const int32_t* mask = key_mask.defined() ? key_mask.data<int32_t>() : nullptr;

  // Codes of every (b, g), packed for the scan.
  std::vector<HeadCodes> heads(static_cast<size_t>(a.batch * Hk));
#pragma omp parallel for schedule(static) if (a.batch * Hk > 1 && a.tk * D * Cw > 65536)
  for (int64_t bg = 0; bg < a.batch * Hk; ++bg) {
    const int64_t b = bg / Hk, g = bg % Hk;
    HeadCodes& hc = heads[bg];
    hc.cbt = transpose_codebooks(cbs + g * M * Cw * ds, M, Cw, ds);
    std::vector<uint8_t> raw(static_cast<size_t>(a.tk * M));
    encode_keys(raw.data(), ks + b * a.tk * ldk + g * D, ldk, a.tk, hc.cbt.data(), M, Cw, ds);
    hc.codes = PqCodes::pack(raw.data(), a.tk, M, Cw);
  }

  dispatch_index(idx, [&](auto itag) {
    using I = decltype(itag);
    I* out = idx.data<I>();
    const int64_t rows = a.batch * H * a.tq;
#pragma omp parallel if (rows > 1 && rows * a.tk > 65536)
    {
      RowSelector sel(p);
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t b = r / (H * a.tq), h = (r / a.tq) % H, i = r % a.tq, g = h / G;
        sel.select(out + r * L, i, qs + (b * a.tq + i) * C + h * D, ks + b * a.tk * ldk + g * D, ldk,
                   mask ? mask + b * a.tk : nullptr, heads[b * Hk + g]);
      }
    }
  });
}

}  // namespace spt::cpu
