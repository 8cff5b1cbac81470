// The cases of the op-test registry, grouped by op. Shapes are deliberately
// awkward: T not a multiple of 8 or 32, one head, head sizes 64 and 80, batch 1,
// a fully padded sequence.
#include <algorithm>
#include <cmath>
#include <memory>

#include "spt/core/error.h"
#include "spt/ops/ops.h"
#include "tests/op_registry.h"

namespace spt::test {

std::function<std::vector<double>(Rng&, int64_t)> uniform(double lo, double hi) {
  return [lo, hi](Rng& rng, int64_t n) {
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<double> v(static_cast<size_t>(n));
    for (double& x : v) x = d(rng);
    return v;
  };
}

std::function<std::vector<double>(Rng&, int64_t)> uniform_away(double lo, double hi, double gap) {
  return [lo, hi, gap](Rng& rng, int64_t n) {
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<double> v(static_cast<size_t>(n));
    for (double& x : v) {
      do x = d(rng);
      while (std::abs(x) < gap);
    }
    return v;
  };
}

std::function<std::vector<double>(Rng&, int64_t)> indices(int64_t limit) {
  return [limit](Rng& rng, int64_t n) {
    std::uniform_int_distribution<int64_t> d(0, limit - 1);
    std::vector<double> v(static_cast<size_t>(n));
    for (double& x : v) x = static_cast<double>(d(rng));
    return v;
  };
}

std::function<std::vector<double>(Rng&, int64_t)> fixed(std::vector<double> values) {
  return [values](Rng&, int64_t) { return values; };
}

InputSpec act_in(std::string name, Shape shape, double lo, double hi) {
  return {std::move(name), std::move(shape), false, true, false, uniform(lo, hi)};
}
InputSpec param_in(std::string name, Shape shape, double lo, double hi) {
  return {std::move(name), std::move(shape), false, true, true, uniform(lo, hi)};
}
InputSpec const_in(std::string name, Shape shape, double lo, double hi) {
  return {std::move(name), std::move(shape), false, false, false, uniform(lo, hi)};
}
InputSpec index_in(std::string name, Shape shape,
                   std::function<std::vector<double>(Rng&, int64_t)> gen) {
  return {std::move(name), std::move(shape), true, false, false, std::move(gen)};
}

// A (B, T) key mask with `lens[b]` leading ones.
std::vector<double> mask_values(const std::vector<int64_t>& lens, int64_t T) {
  std::vector<double> m;
  for (int64_t len : lens)
    for (int64_t t = 0; t < T; ++t) m.push_back(t < len ? 1 : 0);
  return m;
}

namespace {

std::string dims(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + ")";
}

void add_linear(std::vector<OpCase>& cases, Shape xs, int64_t out, bool bias) {
  const int64_t fan_in = xs.back();
  OpCase c;
  c.op = "linear";
  c.name = "linear x" + dims(xs) + " out=" + std::to_string(out) + (bias ? " bias" : " nobias");
  c.inputs = {act_in("x", xs), param_in("w", {out, fan_in}, -0.5, 0.5)};
  if (bias) c.inputs.push_back(param_in("b", {out}));
  c.forward = [bias](const Tensors& in) {
    Tensor y;
    ops::linear_forward(y, in[0], in[1], bias ? in[2] : Tensor());
    return Tensors{y};
  };
  c.backward = [bias](const Tensors& in, const Tensors& d, Tensors& g) {
    Tensor db = bias ? g[2] : Tensor();
    ops::linear_backward(g[0], g[1], db, d[0], in[0], in[1]);
  };
  cases.push_back(std::move(c));
}

// LoRA linear: base W (trainable or frozen), adapter A (r, in), B (out, r).
void add_lora(std::vector<OpCase>& cases, Shape xs, int64_t out, int64_t r, bool bias, float p,
              bool frozen_base) {
  const int64_t fan_in = xs.back();
  OpCase c;
  c.op = "lora_linear";
  c.name = "lora_linear x" + dims(xs) + " out=" + std::to_string(out) + " r=" + std::to_string(r) +
           (bias ? " bias" : "") + (p > 0 ? " dropout" : "") + (frozen_base ? " frozen" : "");
  c.inputs = {act_in("x", xs), param_in("w", {out, fan_in}, -0.5, 0.5),
              param_in("A", {r, fan_in}, -0.5, 0.5), param_in("B", {out, r}, -0.5, 0.5)};
  if (frozen_base) c.inputs[1].differentiable = false;
  if (bias) c.inputs.push_back(param_in("b", {out}));
  ops::LoraParams lp;
  lp.scale = 1.75f;
  lp.dropout = {p, 1234, 77};
  auto u = std::make_shared<Tensor>(), mask = std::make_shared<Tensor>();
  c.forward = [=](const Tensors& in) {
    Tensor y;
    ops::lora_linear_forward(y, *u, *mask, in[0], in[1], bias ? in[4] : Tensor(), in[2], in[3], lp);
    return Tensors{y};
  };
  c.backward = [=](const Tensors& in, const Tensors& d, Tensors& g) {
    Tensor db = bias ? g[4] : Tensor();
    ops::lora_linear_backward(g[0], g[1], db, g[2], g[3], d[0], in[0], in[1], in[2], in[3], *u, *mask, lp);
  };
  cases.push_back(std::move(c));
}

// Dropout with the mask kept as bits: forward must equal plain dropout (the same
// Philox mask) and backward (applying the bits) its transpose.
void add_dropout_bits(std::vector<OpCase>& cases, Shape xs, float p) {
  OpCase c;
  c.op = "dropout_bits";
  c.name = "dropout_bits x" + dims(xs) + " p=" + std::to_string(p);
  c.inputs = {act_in("x", xs)};
  const DropoutParams dp{p, 4242, (uint64_t{5} << 32) | 17};
  auto bits = std::make_shared<Tensor>();
  c.forward = [=](const Tensors& in) {
    Tensor y, plain;
    *bits = Tensor();
    ops::dropout_forward_bits(y, *bits, in[0], dp);
    ops::dropout_forward(plain, in[0], dp);
    // The mask of the bits is exactly the regenerated one.
    SPT_CHECK(y.to_doubles() == plain.to_doubles(), "[dropout_bits] differs from dropout_forward");
    return Tensors{y};
  };
  c.backward = [=](const Tensors&, const Tensors& d, Tensors& g) {
    ops::dropout_apply_bits(g[0], d[0], *bits, dp.p);
  };
  cases.push_back(std::move(c));
}

void add_embedding(std::vector<OpCase>& cases, int64_t V, int64_t C, Shape ids) {
  OpCase c;
  c.op = "embedding";
  c.name = "embedding V=" + std::to_string(V) + " C=" + std::to_string(C) + " ids" + dims(ids);
  c.inputs = {param_in("weight", {V, C}), index_in("ids", ids, indices(V))};
  c.forward = [](const Tensors& in) {
    Tensor y;
    ops::embedding_forward(y, in[0], in[1]);
    return Tensors{y};
  };
  c.backward = [](const Tensors& in, const Tensors& d, Tensors& g) {
    ops::embedding_backward(g[0], d[0], in[1]);
  };
  cases.push_back(std::move(c));
}

// lens empty: no mask (every token counts); a length 0 pools to 0.
void add_mean_pool(std::vector<OpCase>& cases, int64_t B, int64_t T, int64_t C, std::vector<int64_t> lens) {
  OpCase c;
  c.op = "mean_pool";
  const bool masked = !lens.empty();
  c.name = "mean_pool x" + dims({B, T, C}) + (masked ? " padded" : "");
  c.inputs = {act_in("x", {B, T, C}, -2, 2)};
  if (masked) c.inputs.push_back(index_in("mask", {B, T}, fixed(mask_values(lens, T))));
  c.forward = [masked](const Tensors& in) {
    Tensor y;
    ops::mean_pool_forward(y, in[0], masked ? in[1] : Tensor());
    return Tensors{y};
  };
  c.backward = [masked](const Tensors& in, const Tensors& d, Tensors& g) {
    ops::mean_pool_backward(g[0], d[0], masked ? in[1] : Tensor());
  };
  c.reference = [=](const std::vector<std::vector<double>>& in) {
    std::vector<double> y(static_cast<size_t>(B * C), 0.0);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = masked ? lens[b] : T;
      for (int64_t t = 0; t < n; ++t)
        for (int64_t k = 0; k < C; ++k) y[b * C + k] += in[0][(b * T + t) * C + k];
      for (int64_t k = 0; k < C; ++k) y[b * C + k] /= static_cast<double>(std::max<int64_t>(n, 1));
    }
    return std::vector<std::vector<double>>{y};
  };
  c.rtol = 1e-5;
  c.atol = 1e-6;
  cases.push_back(std::move(c));
}

void add_layernorm(std::vector<OpCase>& cases, Shape xs, float eps) {
  const int64_t C = xs.back();
  OpCase c;
  c.op = "layernorm";
  c.name = "layernorm x" + dims(xs) + " eps=" + std::to_string(eps);
  c.inputs = {act_in("x", xs, -2, 2), param_in("w", {C}, 0.5, 1.5), param_in("b", {C})};
  auto saved = std::make_shared<ops::LayerNormSaved>();
  c.forward = [saved, eps](const Tensors& in) {
    Tensor y;
    *saved = {};
    ops::layernorm_forward(y, *saved, in[0], in[1], in[2], eps);
    return Tensors{y};
  };
  c.backward = [saved](const Tensors& in, const Tensors& d, Tensors& g) {
    ops::layernorm_backward(g[0], g[1], g[2], d[0], in[0], in[1], *saved);
  };
  cases.push_back(std::move(c));
}

void add_rmsnorm(std::vector<OpCase>& cases, Shape xs, float eps) {
  const int64_t C = xs.back();
  OpCase c;
  c.op = "rmsnorm";
  c.name = "rmsnorm x" + dims(xs) + " eps=" + std::to_string(eps);
  c.inputs = {act_in("x", xs, -2, 2), param_in("w", {C}, 0.5, 1.5)};
  auto saved = std::make_shared<ops::RmsNormSaved>();
  c.forward = [saved, eps](const Tensors& in) {
    Tensor y;
    *saved = {};
    ops::rmsnorm_forward(y, *saved, in[0], in[1], eps);
    return Tensors{y};
  };
  c.backward = [saved](const Tensors& in, const Tensors& d, Tensors& g) {
    ops::rmsnorm_backward(g[0], g[1], d[0], in[0], in[1], *saved);
  };
  c.reference = [C, eps](const std::vector<std::vector<double>>& in) {  // LlamaRMSNorm
    std::vector<double> y(in[0].size());
    for (size_t r = 0; r * C < y.size(); ++r) {
      double s = 0;
      for (int64_t k = 0; k < C; ++k) s += in[0][r * C + k] * in[0][r * C + k];
      const double inv = 1.0 / std::sqrt(s / static_cast<double>(C) + eps);
      for (int64_t k = 0; k < C; ++k) y[r * C + k] = in[1][k] * in[0][r * C + k] * inv;
    }
    return std::vector<std::vector<double>>{y};
  };
  cases.push_back(std::move(c));
}

void add_rope(std::vector<OpCase>& cases, int64_t N, int64_t heads, int64_t D, int64_t P) {
  OpCase c;
  c.op = "rope";
  c.name = "rope N=" + std::to_string(N) + " heads=" + std::to_string(heads) + " D=" + std::to_string(D) +
           " P=" + std::to_string(P);
  const int64_t half = D / 2;
  c.inputs = {act_in("x", {N, heads * D}, -2, 2), index_in("pos", {N}, indices(P)),
              const_in("cos", {P, half}), const_in("sin", {P, half})};
  c.forward = [heads](const Tensors& in) {
    Tensor y;
    ops::rope_forward(y, in[0], in[1], in[2], in[3], heads);
    return Tensors{y};
  };
  c.backward = [heads](const Tensors& in, const Tensors& d, Tensors& g) {
    ops::rope_backward(g[0], d[0], in[1], in[2], in[3], heads);
  };
  c.reference = [N, heads, D, half](const std::vector<std::vector<double>>& in) {  // HF rotate_half
    std::vector<double> y(in[0].size());
    for (int64_t n = 0; n < N; ++n)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t k = 0; k < D; ++k) {
          const int64_t p = static_cast<int64_t>(in[1][static_cast<size_t>(n)]), j = k % half;
          const double x = in[0][static_cast<size_t>((n * heads + h) * D + k)];
          const double rot = k < half ? -in[0][static_cast<size_t>((n * heads + h) * D + k + half)]
                                      : in[0][static_cast<size_t>((n * heads + h) * D + k - half)];
          y[static_cast<size_t>((n * heads + h) * D + k)] =
              x * in[2][static_cast<size_t>(p * half + j)] + rot * in[3][static_cast<size_t>(p * half + j)];
        }
    return std::vector<std::vector<double>>{y};
  };
  c.atol = 1e-6;  // f32 run: a x c - b x s cancels
  cases.push_back(std::move(c));
}

void add_activation(std::vector<OpCase>& cases, const std::string& key, Activation act, Shape xs) {
  OpCase c;
  c.op = key;
  c.name = key + " x" + dims(xs);
  c.inputs = {act_in("x", xs, -3, 3)};
  if (act == Activation::relu) c.inputs[0].gen = uniform_away(-3, 3, 1e-3);
  c.forward = [act](const Tensors& in) {
    Tensor y;
    ops::activation_forward(act, y, in[0]);
    return Tensors{y};
  };
  c.backward = [act](const Tensors& in, const Tensors& d, Tensors& g) {
    ops::activation_backward(act, g[0], d[0], in[0]);
  };
  cases.push_back(std::move(c));
}

// Gated activation h = act(g) * u, with a reference for silu (SwiGLU).
void add_glu(std::vector<OpCase>& cases, Activation act, Shape xs) {
  OpCase c;
  c.op = "glu";
  c.name = std::string("glu ") + activation_name(act) + " x" + dims(xs);
  c.inputs = {act_in("g", xs, -3, 3), act_in("u", xs, -2, 2)};
  c.forward = [act](const Tensors& in) {
    Tensor h;
    ops::glu_forward(act, h, in[0], in[1]);
    return Tensors{h};
  };
  c.backward = [act](const Tensors& in, const Tensors& d, Tensors& g) {
    ops::glu_backward(act, g[0], g[1], d[0], in[0], in[1]);
  };
  if (act == Activation::silu)
    c.reference = [](const std::vector<std::vector<double>>& in) {
      std::vector<double> h(in[0].size());
      for (size_t i = 0; i < h.size(); ++i) h[i] = in[0][i] / (1.0 + std::exp(-in[0][i])) * in[1][i];
      return std::vector<std::vector<double>>{h};
    };
  c.rtol = 1e-5;  // f32 silu uses the vectorised exp
  c.atol = 1e-6;
  cases.push_back(std::move(c));
}

// lens empty: no padding mask.
void add_softmax(std::vector<OpCase>& cases, Shape xs, std::vector<int64_t> lens, bool causal,
                 float scale) {
  OpCase c;
  c.op = "softmax";
  c.name = "softmax x" + dims(xs) + (lens.empty() ? "" : " padded") + (causal ? " causal" : "") +
           " scale=" + std::to_string(scale);
  c.inputs = {act_in("x", xs, -3, 3)};
  const bool masked = !lens.empty();
  if (masked) c.inputs.push_back(index_in("key_mask", {xs[0], xs[3]}, fixed(mask_values(lens, xs[3]))));
  auto y_saved = std::make_shared<Tensor>();
  c.forward = [=](const Tensors& in) {
    Tensor y;
    ops::softmax_forward(y, in[0], masked ? in[1] : Tensor(), causal, scale);
    *y_saved = y;
    return Tensors{y};
  };
  c.backward = [=](const Tensors&, const Tensors& d, Tensors& g) {
    ops::softmax_backward(g[0], d[0], *y_saved, scale);
  };
  cases.push_back(std::move(c));
}

void add_dropout(std::vector<OpCase>& cases, Shape xs, float p) {
  OpCase c;
  c.op = "dropout";
  c.name = "dropout x" + dims(xs) + " p=" + std::to_string(p);
  c.inputs = {act_in("x", xs)};
  const DropoutParams dp{p, 1234, 77};
  c.forward = [dp](const Tensors& in) {
    Tensor y;
    ops::dropout_forward(y, in[0], dp);
    return Tensors{y};
  };
  c.backward = [dp](const Tensors&, const Tensors& d, Tensors& g) {
    ops::dropout_backward(g[0], d[0], dp);
  };
  cases.push_back(std::move(c));
}

void add_residual(std::vector<OpCase>& cases, Shape xs) {
  OpCase c;
  c.op = "residual";
  c.name = "residual x" + dims(xs);
  c.inputs = {act_in("a", xs), act_in("b", xs)};
  c.forward = [](const Tensors& in) {
    Tensor y;
    ops::residual_forward(y, in[0], in[1]);
    return Tensors{y};
  };
  c.backward = [](const Tensors&, const Tensors& d, Tensors& g) {
    ops::residual_backward(g[0], g[1], d[0]);
  };
  cases.push_back(std::move(c));
}

std::vector<OpCase> build_cases() {
  std::vector<OpCase> cases;
  add_linear(cases, {7, 13}, 5, true);
  add_linear(cases, {2, 3, 13}, 9, false);
  add_linear(cases, {1, 37, 80}, 64, true);
  add_lora(cases, {7, 13}, 5, 2, true, 0.f, true);
  add_lora(cases, {2, 3, 13}, 9, 4, false, 0.3f, false);
  add_lora(cases, {1, 37, 80}, 64, 8, true, 0.1f, true);
  add_embedding(cases, 11, 13, {2, 7});
  add_embedding(cases, 5, 80, {1, 37});
  add_mean_pool(cases, 2, 7, 13, {});
  add_mean_pool(cases, 3, 37, 80, {37, 5, 0});  // a row fully padded pools to 0
  add_layernorm(cases, {13, 80}, 1e-5f);
  add_layernorm(cases, {3, 37, 64}, 1e-12f);
  add_rmsnorm(cases, {13, 80}, 1e-5f);
  add_rmsnorm(cases, {3, 37, 64}, 1e-6f);
  add_rmsnorm(cases, {2, 576}, 1e-5f);
  add_rope(cases, 7, 3, 8, 11);
  add_rope(cases, 5, 2, 64, 9);
  add_rope(cases, 4, 1, 2, 3);
  add_activation(cases, "gelu", Activation::gelu_erf, {3, 37});
  add_activation(cases, "gelu_tanh", Activation::gelu_tanh, {3, 37});
  add_activation(cases, "relu", Activation::relu, {3, 37});
  add_activation(cases, "silu", Activation::silu, {3, 37});
  add_activation(cases, "tanh", Activation::tanh, {2, 13});
  add_glu(cases, Activation::silu, {3, 37});
  add_glu(cases, Activation::gelu_tanh, {2, 19});
  add_softmax(cases, {2, 3, 13, 13}, {13, 5}, false, 1.0f);
  add_softmax(cases, {2, 1, 13, 13}, {9, 0}, false, 0.125f);  // batch item 1 fully padded
  add_softmax(cases, {1, 2, 37, 37}, {}, true, 0.5f);
  add_softmax(cases, {2, 2, 5, 13}, {13, 7}, true, 1.0f);  // Tq < Tk, causal + padding
  add_dropout(cases, {7, 37}, 0.1f);
  add_dropout(cases, {1, 13}, 0.5f);
  add_dropout_bits(cases, {7, 37}, 0.1f);    // 259 elements: a partial last word and group
  add_dropout_bits(cases, {3, 64}, 0.5f);    // whole groups
  add_dropout_bits(cases, {1, 33}, 0.25f);   // one element in the second word
  add_residual(cases, {3, 13});
  add_attention_cases(cases);
  add_sparse_attention_cases(cases);
  add_routed_ffn_cases(cases);
  add_train_cases(cases);
  return cases;
}

}  // namespace

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = build_cases();
  return cases;
}


}  // namespace spt::test
