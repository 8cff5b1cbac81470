// spt-bench --ffn (see ffn_bench.h). Random x ~ N(0, 1), weights ~ N(0, 0.02)
// and a random router, so tokens spread over the blocks about evenly.
#include "tools/bench/ffn_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>

#include "spt/backend/backend.h"
#include "spt/core/error.h"
#include "spt/core/profile.h"
#include "spt/ops/activation.h"
#include "spt/ops/linear.h"
#include "spt/ops/residual.h"
#include "spt/ops/routed_ffn.h"

namespace spt::bench {

namespace {

Tensor randn(const Shape& s, Device dev, uint64_t seed, double scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(static_cast<size_t>(shape_numel(s)));
  for (double& x : v) x = d(rng);
  return Tensor::from_doubles(v, s, DType::f32, dev);
}

// Median milliseconds of each function, the functions timed in turn within
// every iteration (so a slow spell of a shared machine hits all of them).
std::vector<double> interleaved_ms(Device dev, int iters, const std::vector<std::function<void()>>& fs) {
  Backend& be = backend_for(dev);
  for (const auto& f : fs) f();
  be.synchronize();
  std::vector<std::vector<double>> ms(fs.size());
  for (int i = 0; i < iters; ++i)
    for (size_t j = 0; j < fs.size(); ++j) {
      const auto t0 = std::chrono::steady_clock::now();
      fs[j]();
      be.synchronize();
      ms[j].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  std::vector<double> out;
  for (auto& m : ms) {
    std::sort(m.begin(), m.end());
    out.push_back(m[m.size() / 2]);
  }
  return out;
}

Tensor zeros_like(const Tensor& t) { return Tensor::zeros(t.shape(), t.dtype(), t.device()); }

}  // namespace

FfnShapeSpec parse_ffn_shape(const std::string& s) {
  FfnShapeSpec out;
  try {
    const size_t a = s.find(':');
    SPT_CHECK(a != std::string::npos, "");
    const size_t b = s.find(':', a + 1);
    out.d = std::stoll(s.substr(0, a));
    out.f = std::stoll(s.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1));
    if (b != std::string::npos) {
      SPT_CHECK(s.substr(b + 1) == "swiglu", "");
      out.swiglu = true;
    }
    SPT_CHECK(out.d > 0 && out.f > 0, "");
  } catch (const std::exception&) {
    fail("[spt-bench] --ffn shape \"", s, "\" is not d:F or d:F:swiglu; hint: e.g. 768:3072 or 576:1536:swiglu");
  }
  return out;
}

void run_ffn_bench(Device dev, const FfnBenchOptions& o) {
  std::ofstream json;
  if (!o.json.empty()) json.open(o.json, std::ios::app);
  const int64_t N = o.tokens, nb = o.blocks;
  std::printf("\nFFN forward + backward, %lld tokens, %lld of %lld blocks per token, every weight trainable, %s\n\n",
              static_cast<long long>(N), static_cast<long long>(o.active), static_cast<long long>(nb),
              dev.str().c_str());
  std::printf("| d / F | dense fwd ms | dense bwd ms | routed fwd ms | routed bwd ms | of which router ms | of which "
              "grouping ms | routed / dense |\n|---|---|---|---|---|---|---|---|\n");
  for (const FfnShapeSpec& sh : o.shapes) {
    SPT_CHECK(sh.f % nb == 0, "[spt-bench] --ffn: ", nb, " blocks do not divide F = ", sh.f);
    const Activation act = sh.swiglu ? Activation::silu : Activation::gelu_erf;
    const Tensor x = randn({N, sh.d}, dev, 1, 1.0), dy = randn({N, sh.d}, dev, 2, 1.0);
    ops::BlockFfn f;
    f.up_w = randn({sh.f, sh.d}, dev, 3, 0.02);
    f.up_b = sh.swiglu ? Tensor() : randn({sh.f}, dev, 4, 0.02);
    f.down_w = randn({sh.d, sh.f}, dev, 5, 0.02);
    f.down_b = sh.swiglu ? Tensor() : randn({sh.d}, dev, 6, 0.02);
    if (sh.swiglu) f.gate_w = randn({sh.f, sh.d}, dev, 7, 0.02);
    f.act = act;
    f.blocks = nb;
    ops::BlockFfnGrads g;
    g.up_w = zeros_like(f.up_w);
    if (f.up_b.defined()) g.up_b = zeros_like(f.up_b);
    g.down_w = zeros_like(f.down_w);
    if (f.down_b.defined()) g.down_b = zeros_like(f.down_b);
    if (sh.swiglu) g.gate_w = zeros_like(f.gate_w);
    const Tensor router = randn({nb, sh.d}, dev, 8, 0.5);
    Tensor router_grad = zeros_like(router), none;

    // Dense: y = act(x W_up^T + b) W_down^T + b (SwiGLU: silu(x W_gate^T) * (x W_up^T)).
    Tensor pre, pre_g, h, y, dh, dpre, dpre_g, dx, dx2;
    auto dense_fwd = [&] {
      ops::linear_forward(pre, x, f.up_w, f.up_b);
      if (sh.swiglu) {
        ops::linear_forward(pre_g, x, f.gate_w, Tensor());
        ops::glu_forward(act, h, pre_g, pre);
      } else {
        ops::activation_forward(act, h, pre);
      }
      ops::linear_forward(y, h, f.down_w, f.down_b);
    };
    auto dense_bwd = [&] {
      ops::linear_backward(dh, g.down_w, g.down_b, dy, h, f.down_w);
      if (sh.swiglu) ops::glu_backward(act, dpre_g, dpre, dh, pre_g, pre);
      else ops::activation_backward(act, dpre, dh, pre);
      ops::linear_backward(dx, g.up_w, g.up_b, dpre, x, f.up_w);
      if (sh.swiglu) {
        ops::linear_backward(dx2, g.gate_w, none, dpre_g, x, f.gate_w);
        ops::accumulate(dx, dx2);
      }
    };

    // Routed.
    ops::RouteOptions ro;
    ro.active = o.active;
    Tensor logits, sel, gates, yr, dxr, dgates, dlogits, dx_router, order, offsets, pos;
    ops::RoutedFfnSaved saved;
    auto router_fwd = [&] {
      ops::linear_forward(logits, x, router, Tensor());
      ops::route_forward(sel, gates, logits, ro);
    };
    auto router_bwd = [&] {
      ops::route_backward(dlogits, dgates, gates, sel, nb, ro);
      ops::linear_backward(dx_router, router_grad, none, dlogits, x, router);
      ops::accumulate(dxr, dx_router);
    };
    auto routed_fwd = [&] {
      router_fwd();
      ops::routed_ffn_forward(yr, saved, x, sel, gates, f);
    };
    auto routed_bwd = [&] {
      ops::routed_ffn_backward(dxr, dgates, g, dy, x, gates, saved, f);
      router_bwd();
    };
    auto group = [&] { ops::group_by_block(order, offsets, pos, sel, nb); };
    const std::vector<double> t =
        interleaved_ms(dev, o.iters, {dense_fwd, dense_bwd, routed_fwd, routed_bwd, router_fwd, router_bwd, group});
    const double d_fwd = t[0], d_bwd = t[1], r_fwd = t[2], r_bwd = t[3], r_router = t[4] + t[5], r_group = t[6];
    const double ratio = (r_fwd + r_bwd) / (d_fwd + d_bwd);
    const std::string name = std::to_string(sh.d) + " / " + std::to_string(sh.f) + (sh.swiglu ? " SwiGLU" : "");
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2fx |\n", name.c_str(), d_fwd, d_bwd, r_fwd, r_bwd,
                r_router, r_group, ratio);
    std::fflush(stdout);
    if (json.is_open())
      json << "{\"d\": " << sh.d << ", \"F\": " << sh.f << ", \"swiglu\": " << (sh.swiglu ? "true" : "false")
           << ", \"tokens\": " << N << ", \"blocks\": " << nb << ", \"active\": " << o.active
           << ", \"dense_fwd_ms\": " << d_fwd << ", \"dense_bwd_ms\": " << d_bwd << ", \"routed_fwd_ms\": " << r_fwd
           << ", \"routed_bwd_ms\": " << r_bwd << ", \"router_ms\": " << r_router << ", \"group_ms\": " << r_group
           << "}\n";
  }
  if (prof::enabled()) std::printf("\ntime per op (SPT_PROFILE):\n%s\n", prof::table().c_str());
}

}  // namespace spt::bench
