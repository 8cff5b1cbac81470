// Op-registry cases of dense attention (spt/ops/attention.h): against a
// double-precision reference written from the definition, every gradient by
// finite differences; padding, a fully padded row, causal masks with Tq != Tk,
// dropout, grouped- and multi-query heads.
#include <algorithm>
#include <cmath>
#include <memory>

#include "spt/core/error.h"
#include "spt/ops/ops.h"
#include "tests/op_registry.h"

namespace spt::test {

namespace {

struct AttnCase {
  int64_t B, Tq, Tk, H, D;
  std::vector<int64_t> lens;  // key lengths per batch item; empty = no mask
  bool causal;
  float dropout;
  int64_t Hk = 0;  // key/value heads (grouped-query attention); 0: H
};

// Dense attention in double, straight from the definition (query head h reads
// key/value head h / (H / Hk)); rows without a visible key are 0.
std::vector<double> attention_reference(const AttnCase& a, const std::vector<double>& q,
                                        const std::vector<double>& k, const std::vector<double>& v,
                                        const std::vector<double>* mask) {
  const int64_t Hk = a.Hk > 0 ? a.Hk : a.H, G = a.H / Hk, C = a.H * a.D, Ck = Hk * a.D;
  const double scale = 1.0 / std::sqrt(static_cast<double>(a.D));
  std::vector<double> out(static_cast<size_t>(a.B * a.Tq * C), 0.0), s(static_cast<size_t>(a.Tk));
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t h = 0; h < a.H; ++h)
      for (int64_t i = 0; i < a.Tq; ++i) {
        const int64_t kh = h / G;
        double mx = -INFINITY;
        for (int64_t j = 0; j < a.Tk; ++j) {
          const bool visible = (!mask || (*mask)[b * a.Tk + j] != 0) && (!a.causal || j <= i + a.Tk - a.Tq);
          double dot = 0;
          for (int64_t e = 0; e < a.D; ++e)
            dot += q[(b * a.Tq + i) * C + h * a.D + e] * k[(b * a.Tk + j) * Ck + kh * a.D + e];
          s[j] = visible ? dot * scale : -INFINITY;
          mx = std::max(mx, s[j]);
        }
        if (mx == -INFINITY) continue;
        double z = 0;
        for (int64_t j = 0; j < a.Tk; ++j) z += s[j] = std::exp(s[j] - mx);
        for (int64_t j = 0; j < a.Tk; ++j)
          for (int64_t e = 0; e < a.D; ++e)
            out[(b * a.Tq + i) * C + h * a.D + e] += s[j] / z * v[(b * a.Tk + j) * Ck + kh * a.D + e];
      }
  return out;
}

void add_attention(std::vector<OpCase>& cases, const AttnCase& a) {
  const int64_t C = a.H * a.D, Ck = (a.Hk > 0 ? a.Hk : a.H) * a.D;
  OpCase c;
  c.op = "attention";
  c.name = "attention B=" + std::to_string(a.B) + " Tq=" + std::to_string(a.Tq) +
           " Tk=" + std::to_string(a.Tk) + " H=" + std::to_string(a.H) +
           (a.Hk > 0 ? " Hk=" + std::to_string(a.Hk) : "") + " D=" + std::to_string(a.D) +
           (a.lens.empty() ? "" : " padded") + (a.causal ? " causal" : "") + (a.dropout > 0 ? " dropout" : "");
  c.inputs = {act_in("q", {a.B, a.Tq, C}), act_in("k", {a.B, a.Tk, Ck}), act_in("v", {a.B, a.Tk, Ck})};
  const bool masked = !a.lens.empty();
  if (masked) c.inputs.push_back(index_in("key_mask", {a.B, a.Tk}, fixed(mask_values(a.lens, a.Tk))));
  ops::AttentionParams p;
  p.heads = a.H;
  p.kv_heads = a.Hk;
  p.causal = a.causal;
  p.dropout = {a.dropout, 99, 5};
  auto saved = std::make_shared<ops::AttentionSaved>();
  if (a.dropout == 0.f) {
    c.atol = 2e-6;  // the f32 forward against the f64 reference
    c.reference = [=](const std::vector<std::vector<double>>& in) {
      return std::vector<std::vector<double>>{
          attention_reference(a, in[0], in[1], in[2], masked ? &in[3] : nullptr)};
    };
  }
  c.forward = [=](const Tensors& in) {
    Tensor y;
    *saved = {};
    ops::attention_forward(y, *saved, in[0], in[1], in[2], masked ? in[3] : Tensor(), p);
    return Tensors{y};
  };
  c.backward = [=](const Tensors& in, const Tensors& d, Tensors& g) {
    ops::attention_backward(g[0], g[1], g[2], d[0], in[0], in[1], in[2], *saved, p);
  };
  c.max_checked = 24;
  cases.push_back(std::move(c));
}

}  // namespace

void add_attention_cases(std::vector<OpCase>& cases) {
  add_attention(cases, {2, 13, 13, 2, 64, {13, 6}, false, 0.f});
  add_attention(cases, {1, 37, 37, 1, 80, {}, true, 0.f});
  add_attention(cases, {2, 13, 13, 3, 8, {11, 0}, false, 0.2f});  // fully padded + dropout
  add_attention(cases, {2, 5, 9, 2, 8, {9, 4}, true, 0.f});       // Tq != Tk
  add_attention(cases, {2, 11, 11, 6, 8, {11, 7}, true, 0.f, 2});  // grouped-query (G = 3)
  add_attention(cases, {2, 9, 9, 4, 8, {9, 0}, false, 0.2f, 1});   // multi-query + dropout
}

}  // namespace spt::test
