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
// With 16 codewords the scan runs on 4-bit codes packed as FAISS's fast scan
// does (src/cpu/pq_fast_scan.h); it returns the same integers as the plain scan.
#include <algorithm>
#include <functional>
#include <vector>

#include "spt/backend/sparse_attention_math.h"
#include "src/cpu/cpu_backend.h"
#include "src/cpu/pq_scan.h"

namespace spt::cpu {

namespace {

// Codes of the keys of (b, g): codes[j * M + m].
void encode_keys(uint8_t* codes, const float* k0, int64_t ldk, int64_t tk, const float* cb,
                 int64_t M, int64_t Cw, int64_t ds) {
  for (int64_t j = 0; j < tk; ++j) {
    const float* kj = k0 + j * ldk;
    for (int64_t m = 0; m < M; ++m) {
      const float* x = kj + m * ds;
      const float* cm = cb + m * Cw * ds;
      int64_t best = 0;
      float best_d = 0.f;
      for (int64_t c = 0; c < Cw; ++c) {
        float dist = 0.f;
        for (int64_t d = 0; d < ds; ++d) {
          const float e = x[d] - cm[c * ds + d];
          dist += e * e;
        }
        if (c == 0 || dist < best_d) best = c, best_d = dist;
      }
      codes[j * M + m] = static_cast<uint8_t>(best);
    }
  }
}

float dot_f(const float* a, const float* b, int64_t n) {
  float s = 0.f;
  for (int64_t d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}

struct RowSelector {
  const SparseSelectParams& p;
  std::vector<float> lut;
  std::vector<uint8_t> qlut;
  std::vector<uint16_t> scores;
  std::vector<uint64_t> keys;
  std::vector<int64_t> chosen;

  explicit RowSelector(const SparseSelectParams& params) : p(params) {
    lut.resize(static_cast<size_t>(p.subspaces * p.codewords));
    qlut.resize(lut.size());
    scores.resize(static_cast<size_t>(p.attn.tk));
  }

  // Keys of row (b, h, i) into out (L slots).
  template <class I>
  void select(I* out, int64_t b, int64_t h, int64_t i, const float* qi, const float* k0,
              int64_t ldk, const int32_t* mrow, const PqCodes& codes, const float* cb) {
    const int64_t tq = p.attn.tq, tk = p.attn.tk, L = p.attn.slots;
    const int64_t end = sparse::causal_end(i, tq, tk, p.causal);
    int64_t n = 0;
    for (int64_t j = 0; j < end; ++j) n += mrow == nullptr || mrow[j] != 0;
    const int64_t budget = sparse::row_budget(n, p.top_l, p.top_ratio, p.min_l);
    chosen.clear();
    if (n <= budget) {
      for (int64_t j = 0; j < end; ++j)
        if (mrow == nullptr || mrow[j] != 0) chosen.push_back(j);
    } else {
      approximate_scores(qi, codes, cb, end);
      keys.clear();
      for (int64_t j = 0; j < end; ++j) {
        if (mrow != nullptr && mrow[j] == 0) continue;
        if (sparse::forced_key(j, i, tq, tk, p.keep_first, p.local_window)) chosen.push_back(j);
        else keys.push_back(sparse::rank_key_u16(scores[j], j));
      }
      const int64_t R = std::max<int64_t>(0, budget - static_cast<int64_t>(chosen.size()));
      const int64_t nc = std::min<int64_t>(p.rerank * R, static_cast<int64_t>(keys.size()));
      top(keys, nc);
      if (nc > R) {  // exact re-ranking of the candidates
        for (int64_t c = 0; c < nc; ++c) {
          const int64_t j = sparse::rank_key_index(keys[c]);
          keys[c] = sparse::rank_key_f32(dot_f(qi, k0 + j * ldk, p.attn.head_dim), j);
        }
        keys.resize(static_cast<size_t>(nc));
        top(keys, R);
      }
      for (int64_t c = 0; c < std::min<int64_t>(R, static_cast<int64_t>(keys.size())); ++c)
        chosen.push_back(sparse::rank_key_index(keys[c]));
      std::sort(chosen.begin(), chosen.end());
    }
    const int64_t cnt = std::min<int64_t>(L, static_cast<int64_t>(chosen.size()));
    for (int64_t t = 0; t < cnt; ++t) out[t] = static_cast<I>(chosen[t]);
    for (int64_t t = cnt; t < L; ++t) out[t] = static_cast<I>(-1);
    (void)b, (void)h;
  }

  // The first `count` entries of keys become the largest ones (any order).
  static void top(std::vector<uint64_t>& keys, int64_t count) {
    if (count < static_cast<int64_t>(keys.size()))
      std::nth_element(keys.begin(), keys.begin() + count, keys.end(), std::greater<>());
  }

  // scores[j] for j < end from the query's quantised tables.
  void approximate_scores(const float* qi, const PqCodes& codes, const float* cb, int64_t end) {
    const int64_t M = p.subspaces, Cw = p.codewords, ds = p.attn.head_dim / M;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t c = 0; c < Cw; ++c)
        lut[m * Cw + c] = dot_f(qi + m * ds, cb + (m * Cw + c) * ds, ds);
    const sparse::LutScale sc = sparse::lut_scale(lut.data(), M, Cw);
    for (int64_t m = 0; m < M; ++m)
      sparse::quantize_table(qlut.data() + m * Cw, lut.data() + m * Cw, Cw, sc.a);
    pq_scan(scores.data(), codes, qlut.data(), end);
  }
};

template <class F>
void dispatch_index_type(const Tensor& idx, F&& f) {
  if (idx.dtype() == DType::i16) f(int16_t{});
  else f(int32_t{});
}

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

  // Codes of every (b, g), then packed for the scan.
  std::vector<PqCodes> codes(static_cast<size_t>(a.batch * Hk));
#pragma omp parallel for schedule(static) if (a.batch * Hk > 1 && a.tk * D * Cw > 65536)
  for (int64_t bg = 0; bg < a.batch * Hk; ++bg) {
    const int64_t b = bg / Hk, g = bg % Hk;
    std::vector<uint8_t> raw(static_cast<size_t>(a.tk * M));
    encode_keys(raw.data(), ks + b * a.tk * ldk + g * D, ldk, a.tk, cbs + g * M * Cw * ds, M, Cw,
                ds);
    codes[bg] = PqCodes::pack(raw.data(), a.tk, M, Cw);
  }

  dispatch_index_type(idx, [&](auto itag) {
    using I = decltype(itag);
    I* out = idx.data<I>();
    const int64_t rows = a.batch * H * a.tq;
#pragma omp parallel if (rows > 1 && rows * a.tk > 65536)
    {
      RowSelector sel(p);
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t b = r / (H * a.tq), h = (r / a.tq) % H, i = r % a.tq, g = h / G;
        sel.select(out + r * L, b, h, i, qs + (b * a.tq + i) * C + h * D,
                   ks + b * a.tk * ldk + g * D, ldk, mask ? mask + b * a.tk : nullptr,
                   codes[b * Hk + g], cbs + g * M * Cw * ds);
      }
    }
  });
}

}  // namespace spt::cpu
