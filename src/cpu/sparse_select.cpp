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
// The top of step 4 bisects a 16-bit threshold with vectorised counts (as
// FAISS's reservoir handler does), exact about ties; keys come out in index
// order, so no sort is needed. With 16 codewords the scan
// runs on 4-bit codes packed as FAISS's fast scan does (src/cpu/pq_scan.h).
#include <algorithm>
#include <array>
#include <functional>
#include <vector>

#include <immintrin.h>

#include "spt/backend/sparse_attention_math.h"
#include "src/cpu/cpu_backend.h"
#include "src/cpu/pq_scan.h"
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

SPT_SIMD_CLONES float dot_f(const float* a, const float* b, int64_t n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
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

// How many of s[0, end) are >= t (1 <= t <= 65535). Counted in 16-bit lanes
// over chunks of 32768, so the compares stay 32 (AVX-512) or 16 (AVX2) per vector.
SPT_SIMD_CLONES int64_t count_at_least(const uint16_t* s, int64_t end, uint32_t t) {
  const uint16_t t16 = static_cast<uint16_t>(t);
  int64_t total = 0;
  for (int64_t j0 = 0; j0 < end; j0 += 32768) {
    const int64_t j1 = std::min<int64_t>(end, j0 + 32768);
    uint16_t c = 0;
#pragma omp simd reduction(+ : c)
    for (int64_t j = j0; j < j1; ++j) c = static_cast<uint16_t>(c + (s[j] >= t16 ? 1 : 0));
    total += c;
  }
  return total;
}

// Writes (in index order) j with s[j] > t and the first `ties` with s[j] == t
// into buf (which must hold one more than the keys taken); returns how many.
// Branch-free except for the rare ties.
int64_t compact_top_scalar(int32_t* buf, const uint16_t* s, int64_t end, uint32_t t, int64_t ties) {
  int64_t cnt = 0;
  for (int64_t j = 0; j < end; ++j) {
    const uint32_t r = s[j];
    bool take = r > t;
    if (r == t) take = ties-- > 0;
    buf[cnt] = static_cast<int32_t>(j);  // overwritten unless taken
    cnt += take;
  }
  return cnt;
}

// The same with AVX2 compares: 16 ranks per step, then only the set bits are visited.
__attribute__((target("avx2,bmi"))) int64_t compact_top_avx2(int32_t* buf, const uint16_t* s, int64_t end,
                                                              uint32_t t, int64_t ties) {
  const __m256i bias = _mm256_set1_epi16(static_cast<short>(0x8000));
  const __m256i tv = _mm256_xor_si256(_mm256_set1_epi16(static_cast<short>(t)), bias);
  int64_t cnt = 0, j0 = 0;
  for (; j0 + 16 <= end; j0 += 16) {
    const __m256i x = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + j0)), bias);
    uint32_t gt = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpgt_epi16(x, tv)));
    uint32_t eq = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi16(x, tv)));
    if (ties <= 0) eq = 0;
    uint32_t m = gt | eq;  // two bits per rank
    while (m != 0) {
      const uint32_t b = _tzcnt_u32(m);
      m &= ~(3u << b);
      if ((gt >> b) & 1u) {
        buf[cnt++] = static_cast<int32_t>(j0 + b / 2);
      } else if (ties > 0) {
        --ties;
        buf[cnt++] = static_cast<int32_t>(j0 + b / 2);
      }
    }
  }
  for (int64_t j = j0; j < end; ++j) {  // the tail
    const uint32_t r = s[j];
    bool take = r > t;
    if (r == t) take = ties-- > 0;
    buf[cnt] = static_cast<int32_t>(j);
    cnt += take;
  }
  return cnt;
}

// The SIMD compaction whenever the scan runs SIMD kernels (so SPT_PQ_SCAN=scalar,
// and the tests that set it, check the scalar one too).
int64_t compact_top(int32_t* buf, const uint16_t* s, int64_t end, uint32_t t, int64_t ties, bool simd) {
  return simd ? compact_top_avx2(buf, s, end, t, ties) : compact_top_scalar(buf, s, end, t, ties);
}

struct RowSelector {
  const SparseSelectParams& p;
  std::vector<float> lut;
  std::vector<uint8_t> qlut;
  std::vector<uint16_t> scores;
  std::vector<uint64_t> keys;
  std::vector<int32_t> buf;
  bool simd_compact = pq_scan_kernel() != "scalar" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi");

  explicit RowSelector(const SparseSelectParams& params) : p(params) {
    lut.resize(static_cast<size_t>(p.subspaces * p.codewords));
    qlut.resize(lut.size());
    scores.resize(static_cast<size_t>(p.attn.tk));
    buf.resize(static_cast<size_t>(p.attn.tk + 1));
  }

  // Keys of row i into out (L slots).
  template <class I>
  void select(I* out, int64_t i, const float* qi, const float* k0, int64_t ldk, const int32_t* mrow,
              const HeadCodes& hc) {
    const int64_t tq = p.attn.tq, tk = p.attn.tk, L = p.attn.slots;
    const int64_t end = sparse::causal_end(i, tq, tk, p.causal);
    int64_t n = end;
    if (mrow != nullptr) {
      n = 0;
      for (int64_t j = 0; j < end; ++j) n += mrow[j] != 0;
    }
    const int64_t budget = sparse::row_budget(n, p.top_l, p.top_ratio, p.min_l);
    int64_t cnt = 0;
    if (n <= budget) {
      for (int64_t j = 0; j < end && cnt < L; ++j)
        if (mrow == nullptr || mrow[j] != 0) out[cnt++] = static_cast<I>(j);
    } else {
      approximate_scores(qi, hc, end);
      uint16_t* s = scores.data();
      const int64_t nforced = rank_row(s, mrow, end, i + (tk - tq), p.keep_first, p.local_window);
      const int64_t R = std::max<int64_t>(0, budget - nforced);
      const int64_t nc = std::min<int64_t>(p.rerank * R, n - nforced);
      // The (nforced + nc)-th largest rank t: forced keys (65535) come first.
      const int64_t want = nforced + nc;
      uint32_t lo = 1, hi = 65535;  // count_at_least(lo) >= want
      while (lo < hi) {
        const uint32_t mid = (lo + hi + 1) / 2;
        if (count_at_least(s, end, mid) >= want) lo = mid;
        else hi = mid - 1;
      }
      const uint32_t t = lo;
      int64_t ties = want - count_at_least(s, end, t + 1);  // ranks == t to take, in index order
      if (nc > R) {
        rerank_candidates(qi, k0, ldk, end, t, ties, R);
        for (int64_t j = 0; j < end && cnt < L; ++j)
          if (s[j] == 65535) out[cnt++] = static_cast<I>(j);
      } else {
        const int64_t got = compact_top(buf.data(), s, end, t, ties, simd_compact);  // == want <= L
        for (; cnt < std::min(got, L); ++cnt) out[cnt] = static_cast<I>(buf[cnt]);
      }
    }
    for (int64_t t = cnt; t < L; ++t) out[t] = static_cast<I>(-1);
  }

  // The candidates (rank > t, and the first `ties` with rank t, forced keys
  // excepted) re-scored exactly; the best R get rank 65535 (kept), the rest 0.
  void rerank_candidates(const float* qi, const float* k0, int64_t ldk, int64_t end, uint32_t t,
                         int64_t ties, int64_t R) {
    keys.clear();
    uint16_t* s = scores.data();
    for (int64_t j = 0; j < end; ++j) {
      const uint32_t r = s[j];
      if (r == 65535) continue;
      if (r > t || (r == t && ties-- > 0))
        keys.push_back(sparse::rank_key_f32(dot_f(qi, k0 + j * ldk, p.attn.head_dim), j));
      s[j] = 0;
    }
    if (R < static_cast<int64_t>(keys.size()))
      std::nth_element(keys.begin(), keys.begin() + R, keys.end(), std::greater<>());
    for (int64_t c = 0; c < std::min<int64_t>(R, static_cast<int64_t>(keys.size())); ++c)
      s[sparse::rank_key_index(keys[c])] = 65535;
  }

  // scores[j] for j < end from the query's quantised tables.
  void approximate_scores(const float* qi, const HeadCodes& hc, int64_t end) {
    const int64_t M = p.subspaces, Cw = p.codewords, ds = p.attn.head_dim / M;
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
