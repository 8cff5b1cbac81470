// The routed FFN beyond the op registry (tests/op_cases_routed.cpp has the
// finite-difference and reference cases):
//   * with every block kept and gates 1 it equals the dense FFN (linear, GELU,
//     linear) forward and backward, to 1e-5;
//   * router, top-k, grouping and block FFN are bit-identical at 1 and 2 threads;
//   * malformed shapes give errors that name the problem.
#include <catch2/catch.hpp>
#include <random>

#include "spt/core/error.h"
#include "spt/core/runtime.h"
#include "spt/ops/activation.h"
#include "spt/ops/linear.h"
#include "spt/ops/residual.h"
#include "spt/ops/routed_ffn.h"
#include "tests/reference_util.h"

namespace spt::test {
namespace {

Tensor random_tensor(const Shape& s, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(static_cast<size_t>(shape_numel(s)));
  for (double& x : v) x = d(rng);
  return Tensor::from_doubles(v, s, DType::f32);
}

struct Ffn {
  ops::BlockFfn f;
  ops::BlockFfnGrads g;
  Ffn(int64_t d, int64_t F, int64_t blocks, uint64_t seed) {
    f.up_w = random_tensor({F, d}, seed, 0.2);
    f.up_b = random_tensor({F}, seed + 1, 0.1);
    f.down_w = random_tensor({d, F}, seed + 2, 0.1);
    f.down_b = random_tensor({d}, seed + 3, 0.1);
    f.blocks = blocks;
    g = {};
    g.up_w = Tensor::zeros({F, d}, DType::f32);
    g.up_b = Tensor::zeros({F}, DType::f32);
    g.down_w = Tensor::zeros({d, F}, DType::f32);
    g.down_b = Tensor::zeros({d}, DType::f32);
  }
};

}  // namespace

TEST_CASE("routed FFN with every block kept and gates 1 equals the dense FFN", "[routed]") {
  const int64_t N = 67, d = 24, F = 96, blocks = 4;
  const Tensor x = random_tensor({N, d}, 1), dy = random_tensor({N, d}, 2);
  // Dense: y = gelu(x W_up^T + b_up) W_down^T + b_down.
  Ffn dense(d, F, blocks, 10);
  Tensor pre, h, y_dense, dh, dpre, dx_dense;
  ops::linear_forward(pre, x, dense.f.up_w, dense.f.up_b);
  ops::activation_forward(Activation::gelu_erf, h, pre);
  ops::linear_forward(y_dense, h, dense.f.down_w, dense.f.down_b);
  ops::linear_backward(dh, dense.g.down_w, dense.g.down_b, dy, h, dense.f.down_w);
  ops::activation_backward(Activation::gelu_erf, dpre, dh, pre);
  ops::linear_backward(dx_dense, dense.g.up_w, dense.g.up_b, dpre, x, dense.f.up_w);

  // Every token keeps every block; slots listed in a scrambled order for some tokens.
  std::vector<int64_t> routes;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < blocks; ++s) routes.push_back(n % 3 == 0 ? (s + n) % blocks : s);
  const Tensor sel = Tensor::from_ints(routes, {N, blocks}, DType::i32);
  for (bool explicit_gates : {false, true}) {
    INFO((explicit_gates ? "gates tensor of ones" : "no gates"));
    Ffn routed(d, F, blocks, 10);
    const Tensor gates = explicit_gates ? Tensor::from_doubles(std::vector<double>(N * blocks, 1.0), {N, blocks},
                                                               DType::f32)
                                        : Tensor();
    Tensor y, dx, dgates;
    ops::RoutedFfnSaved saved;
    ops::routed_ffn_forward(y, saved, x, sel, gates, routed.f);
    ops::routed_ffn_backward(dx, dgates, routed.g, dy, x, gates, saved, routed.f);
    CHECK(max_abs_diff(y, y_dense) <= 1e-5);
    CHECK(max_abs_diff(dx, dx_dense) <= 1e-5);
    CHECK(max_abs_diff(routed.g.up_w, dense.g.up_w) <= 1e-5);
    CHECK(max_abs_diff(routed.g.up_b, dense.g.up_b) <= 1e-5);
    CHECK(max_abs_diff(routed.g.down_w, dense.g.down_w) <= 1e-5);
    CHECK(max_abs_diff(routed.g.down_b, dense.g.down_b) <= 1e-5);
    CHECK(saved.pre.numel() == N * F);
    if (explicit_gates) {
      // dL/dg for a block = dy . (its output); the four blocks add up to dy . (y - b_down).
      const auto dg = dgates.to_doubles(), dyv = dy.to_doubles(), yv = y_dense.to_doubles();
      const auto bd = dense.f.down_b.to_doubles();
      for (int64_t n = 0; n < N; n += 11) {
        double sum = 0, want = 0;
        for (int64_t s = 0; s < blocks; ++s) sum += dg[n * blocks + s];
        for (int64_t j = 0; j < d; ++j) want += dyv[n * d + j] * (yv[n * d + j] - bd[j]);
        CHECK(std::abs(sum - want) <= 1e-4);
      }
    }
  }
}

TEST_CASE("gated routed FFN (SwiGLU) with every block kept equals the dense SwiGLU FFN", "[routed]") {
  const int64_t N = 41, d = 16, F = 64, blocks = 4;
  const Tensor x = random_tensor({N, d}, 7), dy = random_tensor({N, d}, 8);
  const Tensor gate_w = random_tensor({F, d}, 9, 0.2);
  // Dense: y = (silu(x W_gate^T) * (x W_up^T + b_up)) W_down^T + b_down.
  Ffn dense(d, F, blocks, 40);
  Tensor dgate_dense = Tensor::zeros({F, d}, DType::f32);
  Tensor pg, pu, h, y_dense, dh, dpg, dpu, dx_dense, dx_gate, none;
  ops::linear_forward(pg, x, gate_w, Tensor());
  ops::linear_forward(pu, x, dense.f.up_w, dense.f.up_b);
  ops::glu_forward(Activation::silu, h, pg, pu);
  ops::linear_forward(y_dense, h, dense.f.down_w, dense.f.down_b);
  ops::linear_backward(dh, dense.g.down_w, dense.g.down_b, dy, h, dense.f.down_w);
  ops::glu_backward(Activation::silu, dpg, dpu, dh, pg, pu);
  ops::linear_backward(dx_dense, dense.g.up_w, dense.g.up_b, dpu, x, dense.f.up_w);
  ops::linear_backward(dx_gate, dgate_dense, none, dpg, x, gate_w);
  ops::accumulate(dx_dense, dx_gate);

  std::vector<int64_t> routes;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t s = 0; s < blocks; ++s) routes.push_back(s);
  const Tensor sel = Tensor::from_ints(routes, {N, blocks}, DType::i32);
  Ffn routed(d, F, blocks, 40);
  routed.f.gate_w = gate_w;
  routed.f.act = Activation::silu;
  routed.g.gate_w = Tensor::zeros({F, d}, DType::f32);
  Tensor y, dx, dgates;
  ops::RoutedFfnSaved saved;
  ops::routed_ffn_forward(y, saved, x, sel, Tensor(), routed.f);
  ops::routed_ffn_backward(dx, dgates, routed.g, dy, x, Tensor(), saved, routed.f);
  CHECK(max_abs_diff(y, y_dense) <= 1e-5);
  CHECK(max_abs_diff(dx, dx_dense) <= 1e-5);
  CHECK(max_abs_diff(routed.g.up_w, dense.g.up_w) <= 1e-5);
  CHECK(max_abs_diff(routed.g.gate_w, dgate_dense) <= 1e-5);
  CHECK(max_abs_diff(routed.g.down_w, dense.g.down_w) <= 1e-5);
}

TEST_CASE("routed FFN is bit-identical at 1 and 2 threads", "[routed]") {
  const int64_t N = 3000, d = 64, F = 256, blocks = 8;
  const Tensor x = random_tensor({N, d}, 3), dy = random_tensor({N, d}, 4);
  const Tensor router = random_tensor({blocks, d}, 5, 0.3);
  ops::RouteOptions o;
  o.active = 3;
  std::vector<std::vector<double>> runs[2];
  for (int threads : {1, 2}) {
    init_threads(threads);
    Ffn ffn(d, F, blocks, 20);
    Tensor logits, sel, gates, y, dx, dgates, dlogits;
    ops::linear_forward(logits, x, router, Tensor());
    ops::route_forward(sel, gates, logits, o);
    ops::RoutedFfnSaved saved;
    ops::routed_ffn_forward(y, saved, x, sel, gates, ffn.f);
    ops::routed_ffn_backward(dx, dgates, ffn.g, dy, x, gates, saved, ffn.f);
    ops::route_backward(dlogits, dgates, gates, sel, blocks, o);
    for (const Tensor* t : {&sel, &gates, &saved.order, &y, &dx, &dgates, &dlogits, &ffn.g.up_w, &ffn.g.up_b,
                            &ffn.g.down_w, &ffn.g.down_b})
      runs[threads - 1].push_back(t->to_doubles());
  }
  init_threads(0);
  for (size_t t = 0; t < runs[0].size(); ++t) {
    INFO("tensor " << t);
    CHECK(runs[0][t] == runs[1][t]);
  }
}

TEST_CASE("routed FFN rejects malformed shapes with a clear message", "[routed]") {
  const int64_t N = 5, d = 8, F = 24;
  const Tensor x = random_tensor({N, d}, 6);
  Ffn ffn(d, F, 5, 30);  // 5 blocks do not divide 24
  const Tensor sel = Tensor::from_ints(std::vector<int64_t>(N * 2, 0), {N, 2}, DType::i32);
  Tensor y;
  ops::RoutedFfnSaved saved;
  CHECK_THROWS_WITH(ops::routed_ffn_forward(y, saved, x, sel, Tensor(), ffn.f),
                    Catch::Contains("5 blocks must divide the intermediate size F = 24"));
  ffn.f.blocks = 3;
  const Tensor too_many = Tensor::from_ints(std::vector<int64_t>(N * 4, 0), {N, 4}, DType::i32);
  CHECK_THROWS_WITH(ops::routed_ffn_forward(y, saved, x, too_many, Tensor(), ffn.f),
                    Catch::Contains("4 blocks per token; 1 to 3"));
  const Tensor out_of_range = Tensor::from_ints(std::vector<int64_t>(N * 2, 3), {N, 2}, DType::i32);
  CHECK_THROWS_WITH(ops::routed_ffn_forward(y, saved, x, out_of_range, Tensor(), ffn.f), Catch::Contains("sel"));
  Ffn wide(d + 1, F, 3, 31);
  CHECK_THROWS_WITH(ops::routed_ffn_forward(y, saved, x, sel, Tensor(), wide.f), Catch::Contains("up_w"));
  Tensor dx, dgates;
  ops::RoutedFfnSaved empty;
  CHECK_THROWS_WITH(ops::routed_ffn_backward(dx, dgates, ffn.g, x, x, Tensor(), empty, ffn.f),
                    Catch::Contains("no saved forward state"));
}

}  // namespace spt::test
