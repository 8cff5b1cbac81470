// Index arithmetic and small math of sparse attention, shared by the CPU and
// CUDA kernels (host and device), so that the CPU tests exercise the code the
// GPU runs.
//
// Legend: B batch, H query heads, Hk key/value heads (H % Hk == 0; query head h
// reads key/value head h / (H / Hk)), Tq queries, Tk keys, D head size, L slots
// (key-list length per query), M PQ sub-spaces of D / M dims, C codewords each.
#pragma once

#include <cstdint>

#include "spt/backend/philox.h"

namespace spt::sparse {

// Key j is visible to query i (causal) iff j < causal_end(i): the same rule as
// dense attention, j <= i + (Tk - Tq).
SPT_HD int64_t causal_end(int64_t i, int64_t tq, int64_t tk, bool causal) {
  if (!causal) return tk;
  const int64_t e = i + (tk - tq) + 1;
  return e < 0 ? 0 : (e > tk ? tk : e);
}

// The number of keys query row keeps when it has n visible keys: `top_l` when
// set (> 0), else max(min_l, ceil(ratio * n)); never more than n (a row with no
// more visible keys than its budget keeps them all: exactly dense attention).
SPT_HD int64_t row_budget(int64_t n, int64_t top_l, float ratio, int64_t min_l) {
  int64_t l = top_l;
  if (l <= 0) {
    const float want = ratio * static_cast<float>(n);
    l = static_cast<int64_t>(want);
    if (static_cast<float>(l) < want) ++l;  // ceil without libm
    if (l < min_l) l = min_l;
  }
  return l < n ? l : n;
}

// Whether key j is always kept for query i (position of the query among the
// keys: i + Tk - Tq): one of the first `keep_first` keys, or within
// `local_window` positions of the query (causal: only the window behind it).
SPT_HD bool forced_key(int64_t j, int64_t i, int64_t tq, int64_t tk, int64_t keep_first,
                       int64_t local_window) {
  if (j < keep_first) return true;
  if (local_window <= 0) return false;
  const int64_t pos = i + (tk - tq);
  const int64_t dist = j > pos ? j - pos : pos - j;
  return dist <= local_window;
}

// Element (b, h, i, j) of the dense (B, H, Tq, Tk) probabilities: the dropout
// stream index, so sparse attention drops exactly the weights dense attention
// with the same DropoutParams would drop.
SPT_HD uint64_t dropout_index(int64_t b, int64_t h, int64_t i, int64_t j, int64_t heads,
                              int64_t tq, int64_t tk) {
  return ((static_cast<uint64_t>(b) * heads + h) * tq + i) * static_cast<uint64_t>(tk) + j;
}

// Dropout factor of a kept weight: 0 or 1 / (1 - p) (1 when p == 0).
SPT_HD float dropout_factor(uint64_t seed, uint64_t offset, uint64_t index, float p) {
  if (p <= 0.f) return 1.f;
  return dropout_keep(seed, offset, index, p) ? 1.f / (1.f - p) : 0.f;
}

// ---- PQ look-up tables quantised to 8 bits (FAISS's fast-scan scheme) ----
// For one query, table m holds q_m . c_{m,c} for codeword c. All M tables share
// one scale a = min(255 / max_m span_m, (65533 - M / 2) / sum_m span_m) and keep
// their own offset min_m, so an entry is round((x - min_m) a) in [0, 255] and the
// sum of M entries is at most a sum_m span_m + M / 2 <= 65533 (rounding adds at
// most 1/2 per table): the CPU selection ranks score + 1 in 16 bits and keeps 0
// for "not a candidate" and 65535 for "always kept". Ranking keys by that sum ranks them by
// a * (approximate score - sum_m min_m): the same order for a given query.
struct LutScale {
  float a;  // common scale (> 0)
};

SPT_HD LutScale lut_scale(const float* lut, int64_t m_count, int64_t c_count) {
  float max_span = 0.f, sum_span = 0.f;
  for (int64_t m = 0; m < m_count; ++m) {
    float lo = lut[m * c_count], hi = lo;
    for (int64_t c = 1; c < c_count; ++c) {
      const float x = lut[m * c_count + c];
      lo = x < lo ? x : lo;
      hi = x > hi ? x : hi;
    }
    const float span = hi - lo;
    max_span = span > max_span ? span : max_span;
    sum_span += span;
  }
  if (!(max_span > 0.f)) return {1.f};  // constant tables (q = 0): every key ties
  const float a1 = 255.f / max_span;
  const float a2 = (65533.f - 0.5f * static_cast<float>(m_count)) / sum_span;
  return {a1 < a2 ? a1 : a2};
}

// Quantises table m in place of `out` (C bytes); min_m is subtracted first.
SPT_HD void quantize_table(uint8_t* out, const float* table, int64_t c_count, float a) {
  float lo = table[0];
  for (int64_t c = 1; c < c_count; ++c) lo = table[c] < lo ? table[c] : lo;
  for (int64_t c = 0; c < c_count; ++c) {
    const float v = (table[c] - lo) * a + 0.5f;  // round half up; v >= 0.5
    const int32_t q = static_cast<int32_t>(v);
    out[c] = static_cast<uint8_t>(q > 255 ? 255 : q);
  }
}

// Selection order: a key ranks above another when its score is larger, or equal
// with a smaller index. Packs (score, index) into one integer that sorts the same
// way (larger = better), for uint16 ADC scores and for f32 exact scores.
SPT_HD uint64_t rank_key_u16(uint32_t score, int64_t j) {
  return (static_cast<uint64_t>(score) << 32) | (0xFFFFFFFFull - static_cast<uint64_t>(j));
}
SPT_HD uint32_t ordered_bits(float x) {  // order-preserving map of f32 to u32
  uint32_t u;
#if defined(__CUDA_ARCH__)
  u = __float_as_uint(x);
#else
  __builtin_memcpy(&u, &x, 4);
#endif
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
SPT_HD uint64_t rank_key_f32(float score, int64_t j) {
  return (static_cast<uint64_t>(ordered_bits(score)) << 32) |
         (0xFFFFFFFFull - static_cast<uint64_t>(j));
}
SPT_HD int64_t rank_key_index(uint64_t key) {
  return static_cast<int64_t>(0xFFFFFFFFull - (key & 0xFFFFFFFFull));
}

}  // namespace spt::sparse
