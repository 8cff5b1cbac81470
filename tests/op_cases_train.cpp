// Op-registry cases of the training ops: cross entropy (ignored targets, a
// normaliser, every target ignored), MSE, AdamW (three steps against a reference
// written out here, with and without weight decay) and gradient-norm clipping.
#include <algorithm>
#include <cmath>
#include <memory>

#include "spt/core/error.h"
#include "spt/ops/ops.h"
#include "tests/op_registry.h"

namespace spt::test {

namespace {

void add_cross_entropy(std::vector<OpCase>& cases, int64_t N, int64_t V, std::vector<double> targets,
                       double normalizer) {
  OpCase c;
  c.op = "cross_entropy";
  c.name = "cross_entropy N=" + std::to_string(N) + " V=" + std::to_string(V) +
           (normalizer > 0 ? " normalizer=" + std::to_string(normalizer) : "");
  c.inputs = {act_in("logits", {N, V}, -4, 4), index_in("targets", {N}, fixed(targets))};
  auto saved = std::make_shared<ops::CrossEntropySaved>();
  ops::CrossEntropyOptions opt;
  opt.normalizer = normalizer;
  c.forward = [=](const Tensors& in) {
    const double loss = ops::cross_entropy_forward(*saved, in[0], in[1], opt);
    return Tensors{Tensor::from_doubles({loss}, {1}, in[0].dtype(), in[0].device())};
  };
  c.backward = [=](const Tensors& in, const Tensors& d, Tensors& g) {
    const float dloss = static_cast<float>(d[0].to_doubles()[0]);
    ops::cross_entropy_backward(g[0], in[0], in[1], *saved, dloss);
  };
  // The loss cotangent passes through a float; allow for its rounding.
  c.rtol = 1e-6;
  c.atol = 1e-7;
  cases.push_back(std::move(c));
}

void add_mse(std::vector<OpCase>& cases, int64_t N) {
  OpCase c;
  c.op = "mse";
  c.name = "mse N=" + std::to_string(N);
  c.inputs = {act_in("pred", {N, 1}), const_in("target", {N})};
  auto saved = std::make_shared<ops::MseSaved>();
  c.forward = [=](const Tensors& in) {
    const double loss = ops::mse_forward(*saved, in[0], in[1]);
    return Tensors{Tensor::from_doubles({loss}, {1}, in[0].dtype(), in[0].device())};
  };
  c.backward = [=](const Tensors& in, const Tensors& d, Tensors& g) {
    ops::mse_backward(g[0], in[0], in[1], *saved, static_cast<float>(d[0].to_doubles()[0]));
  };
  c.atol = 1e-7;
  cases.push_back(std::move(c));
}

void add_adamw(std::vector<OpCase>& cases, int64_t n, float wd) {
  OpCase c;
  c.op = "adamw";
  c.name = "adamw n=" + std::to_string(n) + " wd=" + std::to_string(wd) + " 3 steps";
  c.inputs = {const_in("param", {n}), const_in("grad", {n})};
  AdamWParams p;
  p.lr = 1e-2f;
  p.weight_decay = wd;
  // Three steps with the same gradient from zero moments.
  c.forward = [p](const Tensors& in) {
    Tensor param = in[0].clone();
    const Tensor& g = in[1];
    Tensor m = Tensor::zeros(param.shape(), DType::f32, param.device());
    Tensor v = Tensor::zeros(param.shape(), DType::f32, param.device());
    for (int64_t s = 1; s <= 3; ++s) {
      AdamWParams ps = p;
      ps.step = s;
      ops::adamw_step(param, m, v, g, ps);
    }
    return Tensors{param, m, v};
  };
  c.reference = [p](const std::vector<std::vector<double>>& in) {
    std::vector<double> w = in[0], m(w.size(), 0), v(w.size(), 0);
    for (int s = 1; s <= 3; ++s) {
      for (size_t i = 0; i < w.size(); ++i) {
        const double g = in[1][i];
        w[i] *= 1.0 - double(p.lr) * p.weight_decay;
        m[i] = p.beta1 * m[i] + (1 - double(p.beta1)) * g;
        v[i] = p.beta2 * v[i] + (1 - double(p.beta2)) * g * g;
        const double mh = m[i] / (1 - std::pow(double(p.beta1), s));
        const double vh = v[i] / (1 - std::pow(double(p.beta2), s));
        w[i] -= p.lr * mh / (std::sqrt(vh) + p.eps);
      }
    }
    return std::vector<std::vector<double>>{w, m, v};
  };
  c.rtol = 1e-5;
  c.atol = 1e-6;
  cases.push_back(std::move(c));
}

void add_grad_norm(std::vector<OpCase>& cases, double max_norm) {
  OpCase c;
  c.op = "clip_grad_norm";
  c.name = "clip_grad_norm 3 tensors max_norm=" + std::to_string(max_norm);
  c.inputs = {const_in("g0", {37}), const_in("g1", {5, 13}), const_in("g2", {1})};
  c.forward = [max_norm](const Tensors& in) {
    std::vector<Tensor> g = {in[0].clone(), in[1].clone(), in[2].clone()};
    const double norm = ops::global_grad_norm(g);
    const double norm2 = ops::clip_grad_norm(g, max_norm);
    SPT_CHECK(norm == norm2, "[test] global_grad_norm and clip_grad_norm disagree");
    return Tensors{Tensor::from_doubles({norm}, {1}, in[0].dtype(), in[0].device()), g[0], g[1], g[2]};
  };
  c.reference = [max_norm](const std::vector<std::vector<double>>& in) {
    double sq = 0;
    for (const auto& t : in)
      for (double x : t) sq += x * x;
    const double norm = std::sqrt(sq), coef = std::min(1.0, max_norm / (norm + 1e-6));
    std::vector<std::vector<double>> out = {{norm}};
    for (const auto& t : in) {
      out.push_back(t);
      for (double& x : out.back()) x *= coef;
    }
    return out;
  };
  c.rtol = 1e-6;
  cases.push_back(std::move(c));
}

}  // namespace

void add_train_cases(std::vector<OpCase>& cases) {
  add_cross_entropy(cases, 13, 37, {0, 5, -100, 36, 1, 2, 3, -100, 7, 8, 9, 10, 11}, 0);
  add_cross_entropy(cases, 4, 3, {2, -100, 0, 1}, 8);
  add_cross_entropy(cases, 3, 5, {-100, -100, -100}, 0);  // every target ignored
  add_mse(cases, 13);
  add_adamw(cases, 37, 0.f);
  add_adamw(cases, 37, 0.01f);
  add_grad_norm(cases, 1.0);
  add_grad_norm(cases, 1e3);
}

}  // namespace spt::test
