// Op-registry cases of sparse attention (spt/ops/sparse_attention.h):
//   sparse_attention  attention on a given key pattern: finite differences in
//                     double precision, CUDA vs CPU; random patterns with rows of
//                     every length (a fully padded row has none), i16 and i32
//                     indices, grouped-query heads, dropout;
//   sparse_select     the chosen keys against a double-precision reference, with
//                     re-ranking wide enough that the exact top L decides (the
//                     PQ scan itself is tested in test_sparse_attention.cpp).
// Awkward shapes as the issue asks: T = 1, 7, 33, 130; head sizes 64 and 80; L = 1;
// on CUDA also the cuSPARSE path and the deterministic backward.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

#include "spt/backend/sparse_attention_math.h"
#include "spt/ops/sparse_attention.h"
#include "tests/op_registry.h"

namespace spt::test {

namespace {

struct SparseCase {
  int64_t B, Tq, Tk, H, Hk, D, L;
  std::vector<int64_t> lens;  // key lengths per batch item ({} = no mask)
  bool causal = false;
  float dropout = 0.f;
  bool i16 = false;
  SparseKernel kernel = SparseKernel::fused;  // CUDA: the cuSPARSE path too
  bool deterministic = false;                 // CUDA: the backward without atomics
};

// Visible keys of row (b, i).
std::vector<int64_t> visible_keys(const SparseCase& a, int64_t b, int64_t i) {
  std::vector<int64_t> v;
  const int64_t end = sparse::causal_end(i, a.Tq, a.Tk, a.causal);
  for (int64_t j = 0; j < end; ++j)
    if (a.lens.empty() || j < a.lens[b]) v.push_back(j);
  return v;
}

// A random pattern: each row keeps a random subset of its visible keys (at most
// L, sometimes fewer), sorted, then -1.
std::vector<double> random_pattern(const SparseCase& a, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> idx;
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t h = 0; h < a.H; ++h)
      for (int64_t i = 0; i < a.Tq; ++i) {
        std::vector<int64_t> vis = visible_keys(a, b, i);
        std::shuffle(vis.begin(), vis.end(), rng);
        int64_t n = std::min<int64_t>(a.L, static_cast<int64_t>(vis.size()));
        if (n > 1 && rng() % 4 == 0) n -= 1;
        vis.resize(static_cast<size_t>(n));
        std::sort(vis.begin(), vis.end());
        for (int64_t t = 0; t < a.L; ++t) idx.push_back(t < n ? static_cast<double>(vis[t]) : -1.0);
      }
  return idx;
}

void add_sparse_attention(std::vector<OpCase>& cases, const SparseCase& a) {
  OpCase c;
  c.op = "sparse_attention";
  c.name = "sparse_attention B=" + std::to_string(a.B) + " Tq=" + std::to_string(a.Tq) +
           " Tk=" + std::to_string(a.Tk) + " H=" + std::to_string(a.H) + " Hk=" +
           std::to_string(a.Hk) + " D=" + std::to_string(a.D) + " L=" + std::to_string(a.L) +
           (a.lens.empty() ? "" : " padded") + (a.causal ? " causal" : "") +
           (a.dropout > 0 ? " dropout" : "") + (a.i16 ? " i16" : " i32") +
           (a.kernel == SparseKernel::cusparse ? " cusparse" : "") + (a.deterministic ? " deterministic" : "");
  c.inputs = {act_in("q", {a.B, a.Tq, a.H * a.D}), act_in("k", {a.B, a.Tk, a.Hk * a.D}),
              act_in("v", {a.B, a.Tk, a.Hk * a.D}),
              index_in("idx", {a.B, a.H, a.Tq, a.L}, fixed(random_pattern(a, 11)))};
  ops::SparseAttentionParams p;
  p.heads = a.H;
  p.kv_heads = a.Hk;
  p.dropout = {a.dropout, 99, 5};
  p.kernel = a.kernel;
  p.deterministic = a.deterministic;
  auto saved = std::make_shared<ops::SparseAttentionSaved>();
  const bool i16 = a.i16;
  c.forward = [=](const Tensors& in) {
    Tensor idx = in[3];
    if (i16) idx = Tensor::from_ints(in[3].to_ints(), in[3].shape(), DType::i16, in[3].device());
    Tensor y;
    *saved = {};
    ops::sparse_attention_forward(y, *saved, in[0], in[1], in[2], idx, p);
    return Tensors{y};
  };
  c.backward = [=](const Tensors& in, const Tensors& d, Tensors& g) {
    ops::sparse_attention_backward(g[0], g[1], g[2], d[0], in[0], in[1], in[2], *saved, p);
  };
  c.max_checked = 24;
  cases.push_back(std::move(c));
}

struct SelectCase {
  SparseCase a;
  ops::SparseSelection sel;
  int64_t M, C;
};

// Reference: each row's visible keys; all of them when within budget, else the
// forced keys plus the exact top (budget - forced) by q . k (the rerank of the
// cases covers every candidate, so the PQ scores cannot matter).
std::vector<std::vector<double>> select_reference(const SelectCase& s,
                                                  const std::vector<std::vector<double>>& in) {
  const SparseCase& a = s.a;
  const std::vector<double>&q = in[0], &k = in[1];
  const int64_t L = ops::sparse_slots(s.sel, a.Tk), G = a.H / a.Hk;
  std::vector<double> out;
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t h = 0; h < a.H; ++h)
      for (int64_t i = 0; i < a.Tq; ++i) {
        const std::vector<int64_t> vis = visible_keys(a, b, i);
        const int64_t n = static_cast<int64_t>(vis.size());
        // The rules written out again here (not the kernels' helpers).
        int64_t budget = s.sel.top_l;
        if (budget <= 0)
          budget = std::max<int64_t>(s.sel.min_l, static_cast<int64_t>(std::ceil(s.sel.top_ratio * n)));
        budget = std::min(budget, n);
        const int64_t pos = i + a.Tk - a.Tq;
        std::vector<int64_t> chosen, rest;
        for (int64_t j : vis) {
          const bool forced = j < s.sel.keep_first ||
                              (s.sel.local_window > 0 && std::abs(j - pos) <= s.sel.local_window);
          if (n > budget && forced)
            chosen.push_back(j);
          else
            rest.push_back(j);
        }
        const int64_t R = n <= budget ? n : std::max<int64_t>(0, budget - static_cast<int64_t>(chosen.size()));
        auto score = [&](int64_t j) {
          double sc = 0;
          for (int64_t d = 0; d < a.D; ++d)
            sc += q[((b * a.Tq + i) * a.H + h) * a.D + d] * k[((b * a.Tk + j) * a.Hk + h / G) * a.D + d];
          return sc;
        };
        std::stable_sort(rest.begin(), rest.end(),
                         [&](int64_t x, int64_t y) { return score(x) > score(y); });
        for (int64_t t = 0; t < std::min<int64_t>(R, static_cast<int64_t>(rest.size())); ++t)
          chosen.push_back(rest[t]);
        std::sort(chosen.begin(), chosen.end());
        for (int64_t t = 0; t < L; ++t)
          out.push_back(t < static_cast<int64_t>(chosen.size()) ? static_cast<double>(chosen[t]) : -1.0);
      }
  return {out};
}

void add_sparse_select(std::vector<OpCase>& cases, const SelectCase& s) {
  const SparseCase& a = s.a;
  OpCase c;
  c.op = "sparse_select";
  c.name = "sparse_select B=" + std::to_string(a.B) + " Tq=" + std::to_string(a.Tq) + " Tk=" +
           std::to_string(a.Tk) + " H=" + std::to_string(a.H) + " Hk=" + std::to_string(a.Hk) +
           " D=" + std::to_string(a.D) + " top_l=" + std::to_string(s.sel.top_l) +
           " keep_first=" + std::to_string(s.sel.keep_first) + " window=" +
           std::to_string(s.sel.local_window) + " M=" + std::to_string(s.M) + " C=" +
           std::to_string(s.C) + (a.lens.empty() ? "" : " padded") + (a.causal ? " causal" : "");
  c.inputs = {const_in("q", {a.B, a.Tq, a.H * a.D}), const_in("k", {a.B, a.Tk, a.Hk * a.D}),
              const_in("codebooks", {a.Hk, s.M, s.C, a.D / s.M})};
  if (!a.lens.empty()) c.inputs.push_back(index_in("key_mask", {a.B, a.Tk}, fixed(mask_values(a.lens, a.Tk))));
  ops::SparseAttentionParams p;
  p.heads = a.H;
  p.kv_heads = a.Hk;
  p.causal = a.causal;
  p.select = s.sel;
  const bool masked = !a.lens.empty();
  c.forward = [=](const Tensors& in) {
    Tensor idx;
    ops::sparse_select(idx, in[0], in[1], masked ? in[3] : Tensor(), in[2], p);
    return Tensors{idx};
  };
  c.reference = [s](const std::vector<std::vector<double>>& in) { return select_reference(s, in); };
  c.rtol = 0;
  c.atol = 0.5;  // indices equal
  cases.push_back(std::move(c));
}

}  // namespace

void add_sparse_attention_cases(std::vector<OpCase>& cases) {
  add_sparse_attention(cases, {1, 1, 1, 1, 1, 64, 1, {}, false, 0.f, false});
  add_sparse_attention(cases, {2, 7, 7, 2, 2, 80, 3, {7, 0}, false, 0.f, true});  // padded row
  add_sparse_attention(cases, {1, 33, 33, 2, 1, 64, 8, {}, true, 0.2f, false});   // GQA, dropout
  add_sparse_attention(cases, {1, 130, 130, 1, 1, 64, 1, {}, true, 0.f, true});   // L = 1
  add_sparse_attention(cases, {2, 5, 9, 4, 2, 8, 4, {9, 4}, true, 0.3f, true});   // Tq != Tk
  // The CUDA variants (the CPU backend runs its one implementation for them):
  // the cuSPARSE path and the deterministic backward, against the CPU.
  add_sparse_attention(cases, {2, 7, 7, 2, 2, 80, 3, {7, 0}, false, 0.f, true, SparseKernel::cusparse});
  add_sparse_attention(cases, {2, 5, 9, 4, 2, 8, 4, {9, 4}, true, 0.3f, false, SparseKernel::cusparse});
  add_sparse_attention(cases, {1, 33, 33, 2, 1, 64, 8, {}, true, 0.2f, false, SparseKernel::fused, true});
  add_sparse_attention(cases, {2, 7, 7, 2, 2, 80, 3, {7, 0}, false, 0.f, true, SparseKernel::fused, true});

  ops::SparseSelection exact;  // re-ranking covers every candidate
  exact.rerank = 1000;
  auto with = [](ops::SparseSelection s, int64_t top_l, int64_t keep_first, int64_t window) {
    s.top_l = top_l;
    s.keep_first = keep_first;
    s.local_window = window;
    return s;
  };
  add_sparse_select(cases, {{2, 33, 33, 2, 1, 16, 0, {33, 20}, false}, with(exact, 8, 1, 1), 4, 16});
  add_sparse_select(cases, {{1, 40, 40, 2, 2, 8, 0, {}, true}, with(exact, 5, 0, 0), 2, 16});
  ops::SparseSelection ratio = exact;
  ratio.top_ratio = 0.25f;
  ratio.min_l = 3;
  add_sparse_select(cases, {{2, 19, 19, 3, 3, 12, 0, {19, 7}, true}, ratio, 3, 5});
  // A budget above every row's key count: each row keeps all its visible keys.
  ops::SparseSelection dense;
  dense.top_l = 64;
  add_sparse_select(cases, {{2, 9, 9, 1, 1, 8, 0, {9, 0}, false}, dense, 2, 16});
}

}  // namespace spt::test
