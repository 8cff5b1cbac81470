// Op-registry cases of the routed FFN's routing (spt/ops/routed_ffn.h):
//   ffn_route  top-k of the router logits with sigmoid or softmax gates: gates
//              against a double-precision reference written out here, the
//              logits' gradient by finite differences (ties between logits are
//              avoided: the choice is piecewise constant);
//   ffn_group  the stable grouping by block against a reference: blocks left
//              empty, every token in one block, one token;
//   routed_ffn the block FFN on given routes against a double reference, every
//              gradient (x, weights, biases, gates) by finite differences, with
//              empty blocks, one block for every token, every block kept; and
//              with its router in front (logits = x W_r^T, top-k, gates), so
//              the router's gradient is checked through the whole chain; with
//              LoRA adapters on up / down / gate (against the merged weights
//              W + s B A; with adapter dropout by finite differences).
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

#include "spt/ops/linear.h"
#include "spt/ops/residual.h"
#include "spt/ops/routed_ffn.h"
#include "tests/op_registry.h"

namespace spt::test {

namespace {

std::vector<std::vector<double>> route_reference(const std::vector<double>& l, int64_t N, int64_t nb, int64_t k,
                                                 bool softmax) {
  std::vector<double> gates;
  for (int64_t n = 0; n < N; ++n) {
    std::vector<int64_t> b(static_cast<size_t>(nb));
    std::iota(b.begin(), b.end(), 0);
    const double* row = l.data() + n * nb;
    std::stable_sort(b.begin(), b.end(), [&](int64_t x, int64_t y) { return row[x] > row[y]; });
    b.resize(static_cast<size_t>(k));
    std::sort(b.begin(), b.end());
    double m = -INFINITY, sum = 0;
    for (int64_t x : b) m = std::max(m, row[x]);
    for (int64_t x : b) sum += std::exp(row[x] - m);
    for (int64_t x : b)
      gates.push_back(softmax ? k * std::exp(row[x] - m) / sum : 2.0 / (1.0 + std::exp(-row[x])));
  }
  return {gates};
}

void add_route(std::vector<OpCase>& cases, int64_t N, int64_t nb, int64_t k, RouteGate gate) {
  OpCase c;
  c.op = "ffn_route";
  const bool softmax = gate == RouteGate::softmax;
  c.name = "ffn_route N=" + std::to_string(N) + " blocks=" + std::to_string(nb) + " k=" + std::to_string(k) +
           (softmax ? " softmax" : " sigmoid");
  c.inputs = {act_in("logits", {N, nb}, -3, 3)};
  ops::RouteOptions o;
  o.active = k;
  o.gate = gate;
  auto sel = std::make_shared<Tensor>();
  auto gates = std::make_shared<Tensor>();
  c.forward = [=](const Tensors& in) {
    *sel = Tensor();
    *gates = Tensor();
    ops::route_forward(*sel, *gates, in[0], o);
    return Tensors{*gates};
  };
  c.backward = [=](const Tensors& in, const Tensors& d, Tensors& g) {
    ops::route_backward(g[0], d[0], *gates, *sel, in[0].dim(1), o);
  };
  c.reference = [=](const std::vector<std::vector<double>>& in) {
    return route_reference(in[0], N, nb, k, softmax);
  };
  c.fd_eps = 1e-7;  // far below the gaps between the uniform random logits
  cases.push_back(std::move(c));
}

void add_group(std::vector<OpCase>& cases, const std::string& what, int64_t N, int64_t k, int64_t nb,
               std::vector<double> sel) {
  OpCase c;
  c.op = "ffn_group";
  c.name = "ffn_group " + what + " N=" + std::to_string(N) + " k=" + std::to_string(k) + " blocks=" +
           std::to_string(nb);
  c.inputs = {index_in("sel", {N, k}, fixed(sel))};
  c.forward = [=](const Tensors& in) {
    Tensor order, offsets, pos;
    ops::group_by_block(order, offsets, pos, in[0], nb);
    return Tensors{order, offsets, pos};
  };
  c.reference = [=](const std::vector<std::vector<double>>& in) {
    std::vector<double> order, offsets{0}, pos(static_cast<size_t>(N * k));
    for (int64_t b = 0; b < nb; ++b) {
      for (int64_t e = 0; e < N * k; ++e)
        if (in[0][e] == static_cast<double>(b)) {
          pos[e] = static_cast<double>(order.size());
          order.push_back(static_cast<double>(e));
        }
      offsets.push_back(static_cast<double>(order.size()));
    }
    return std::vector<std::vector<double>>{order, offsets, pos};
  };
  c.rtol = 0;
  c.atol = 0.5;  // integers equal
  cases.push_back(std::move(c));
}

double gelu(double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }
double silu(double v) { return v / (1.0 + std::exp(-v)); }

// The block FFN in double: y_n = b_down + sum_s g_ns h W_down[:, b]^T with
// h = gelu(x_n W_up[b]^T + b_up[b]), or silu(x_n W_gate[b]^T + b_gate[b]) (x_n W_up[b]^T + b_up[b])
// when gate weights gw (F, d) and gb (F) are given.
std::vector<double> block_ffn_reference(const std::vector<double>& x, const std::vector<double>& uw,
                                        const std::vector<double>& ub, const std::vector<double>& dw,
                                        const std::vector<double>& db, const std::vector<double>& gates,
                                        const std::vector<int64_t>& sel, int64_t N, int64_t d, int64_t F,
                                        int64_t nb, int64_t k, const std::vector<double>& gw = {},
                                        const std::vector<double>& gb = {}) {
  const int64_t fb = F / nb;
  std::vector<double> y(static_cast<size_t>(N * d));
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t j = 0; j < d; ++j) y[n * d + j] = db[j];
    for (int64_t s = 0; s < k; ++s) {
      const int64_t b = sel[n * k + s];
      const double g = gates.empty() ? 1.0 : gates[n * k + s];
      for (int64_t f = b * fb; f < (b + 1) * fb; ++f) {
        double pre = ub[f];
        for (int64_t i = 0; i < d; ++i) pre += x[n * d + i] * uw[f * d + i];
        double h = g * gelu(pre);
        if (!gw.empty()) {
          double pg = gb[f];
          for (int64_t i = 0; i < d; ++i) pg += x[n * d + i] * gw[f * d + i];
          h = g * silu(pg) * pre;
        }
        for (int64_t j = 0; j < d; ++j) y[n * d + j] += h * dw[j * F + f];
      }
    }
  }
  return y;
}

// x, up_w, up_b, down_w, down_b (and gate_w, gate_b when gated: inputs 5 and 6).
std::vector<InputSpec> block_ffn_inputs(int64_t N, int64_t d, int64_t F, bool gated = false) {
  std::vector<InputSpec> in = {act_in("x", {N, d}), param_in("up_w", {F, d}), param_in("up_b", {F}),
                               param_in("down_w", {d, F}), param_in("down_b", {d})};
  if (gated) {
    in.push_back(param_in("gate_w", {F, d}));
    in.push_back(param_in("gate_b", {F}));
  }
  return in;
}

ops::BlockFfn block_ffn_of(const Tensors& in, int64_t nb, bool gated = false) {
  ops::BlockFfn f;
  f.up_w = in[1];
  f.up_b = in[2];
  f.down_w = in[3];
  f.down_b = in[4];
  f.blocks = nb;
  if (gated) {
    f.gate_w = in[5];
    f.gate_b = in[6];
    f.act = Activation::silu;
  }
  return f;
}

ops::BlockFfnGrads block_grads_of(Tensors& g, bool gated = false) {
  ops::BlockFfnGrads out;
  out.up_w = g[1];
  out.up_b = g[2];
  out.down_w = g[3];
  out.down_b = g[4];
  if (gated) {
    out.gate_w = g[5];
    out.gate_b = g[6];
  }
  return out;
}

// The block FFN on fixed routes sel (N, k); gates random in (0, 1), or none (all 1).
void add_block_ffn(std::vector<OpCase>& cases, const std::string& what, int64_t N, int64_t d, int64_t F,
                   int64_t nb, int64_t k, std::vector<double> sel, bool gated, bool swiglu = false) {
  OpCase c;
  c.op = "routed_ffn";
  c.name = "routed_ffn " + what + " N=" + std::to_string(N) + " d=" + std::to_string(d) + " F=" +
           std::to_string(F) + " blocks=" + std::to_string(nb) + " k=" + std::to_string(k) +
           (gated ? "" : " gates=1") + (swiglu ? " swiglu" : "");
  c.inputs = block_ffn_inputs(N, d, F, swiglu);
  const size_t gates_at = c.inputs.size();
  if (gated) c.inputs.push_back(act_in("gates", {N, k}, 0.05, 1));
  c.inputs.push_back(index_in("sel", {N, k}, fixed(sel)));
  const size_t sel_at = c.inputs.size() - 1;
  auto saved = std::make_shared<ops::RoutedFfnSaved>();
  c.forward = [=](const Tensors& in) {
    Tensor y;
    ops::routed_ffn_forward(y, *saved, in[0], in[sel_at], gated ? in[gates_at] : Tensor(),
                            block_ffn_of(in, nb, swiglu));
    return Tensors{y};
  };
  c.backward = [=](const Tensors& in, const Tensors& dout, Tensors& g) {
    ops::BlockFfnGrads grads = block_grads_of(g, swiglu);
    Tensor dgates;
    ops::routed_ffn_backward(g[0], gated ? g[gates_at] : dgates, grads, dout[0], in[0],
                             gated ? in[gates_at] : Tensor(), *saved, block_ffn_of(in, nb, swiglu));
  };
  c.reference = [=](const std::vector<std::vector<double>>& in) {
    std::vector<int64_t> routes(in[sel_at].begin(), in[sel_at].end());
    return std::vector<std::vector<double>>{block_ffn_reference(
        in[0], in[1], in[2], in[3], in[4], gated ? in[gates_at] : std::vector<double>{}, routes, N, d, F, nb, k,
        swiglu ? in[5] : std::vector<double>{}, swiglu ? in[6] : std::vector<double>{})};
  };
  c.rtol = 1e-5;  // the f32 run sums two GEMMs and k blocks
  c.atol = 1e-6;
  cases.push_back(std::move(c));
}

std::vector<double> distinct_routes(int64_t N, int64_t nb, int64_t k, int64_t mul);

// W + s B A for a LoRA adapter: W (out, in), A (r, in), B (out, r).
std::vector<double> merged(const std::vector<double>& w, const std::vector<double>& a, const std::vector<double>& b,
                           int64_t out, int64_t in, int64_t r, double s) {
  std::vector<double> m = w;
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t j = 0; j < r; ++j) m[o * in + i] += s * b[o * r + j] * a[j * in + i];
  return m;
}

// The block FFN with LoRA adapters on up, down (and gate when swiglu) on fixed
// routes and random gates. p = 0: against the reference on merged weights
// (W + s B A); p > 0 (the adapters' dropout): gradients by finite differences
// only (the masks are counter-based, so every evaluation draws the same ones).
void add_block_ffn_lora(std::vector<OpCase>& cases, int64_t N, int64_t d, int64_t F, int64_t nb, int64_t k,
                        int64_t r, bool swiglu, float p) {
  OpCase c;
  c.op = "routed_ffn";
  c.name = "routed_ffn with LoRA N=" + std::to_string(N) + " d=" + std::to_string(d) + " F=" + std::to_string(F) +
           " blocks=" + std::to_string(nb) + " k=" + std::to_string(k) + " r=" + std::to_string(r) +
           (swiglu ? " swiglu" : "") + (p > 0 ? " dropout=" + std::to_string(p) : "");
  c.inputs = block_ffn_inputs(N, d, F, swiglu);
  const size_t gates_at = c.inputs.size();
  c.inputs.push_back(act_in("gates", {N, k}, 0.05, 1));
  c.inputs.push_back(index_in("sel", {N, k}, fixed(distinct_routes(N, nb, k, 3))));
  const size_t sel_at = gates_at + 1, lora_at = gates_at + 2;
  for (const char* site : {"up", "down", "gate"}) {
    if (std::string(site) == "gate" && !swiglu) break;
    const bool down = std::string(site) == "down";
    c.inputs.push_back(param_in(std::string(site) + "_A", {r, down ? F : d}));
    c.inputs.push_back(param_in(std::string(site) + "_B", {down ? d : F, r}));
  }
  const float scale = 0.75f;
  auto lora_of = [=](const Tensors& in, size_t at, int site) {
    ops::BlockLora l;
    l.a = in[lora_at + 2 * at];
    l.b = in[lora_at + 2 * at + 1];
    l.scale = scale;
    l.dropout.p = p;
    l.dropout.seed = 1234;
    l.dropout.offset = 16 + static_cast<uint64_t>(site);
    return l;
  };
  auto ffn_of = [=](const Tensors& in) {
    ops::BlockFfn f = block_ffn_of(in, nb, swiglu);
    f.up_lora = lora_of(in, 0, 0);
    f.down_lora = lora_of(in, 1, 1);
    if (swiglu) f.gate_lora = lora_of(in, 2, 2);
    return f;
  };
  auto saved = std::make_shared<ops::RoutedFfnSaved>();
  c.forward = [=](const Tensors& in) {
    Tensor y;
    ops::routed_ffn_forward(y, *saved, in[0], in[sel_at], in[gates_at], ffn_of(in));
    return Tensors{y};
  };
  c.backward = [=](const Tensors& in, const Tensors& dout, Tensors& g) {
    ops::BlockFfnGrads grads = block_grads_of(g, swiglu);
    grads.up_la = g[lora_at];
    grads.up_lb = g[lora_at + 1];
    grads.down_la = g[lora_at + 2];
    grads.down_lb = g[lora_at + 3];
    if (swiglu) {
      grads.gate_la = g[lora_at + 4];
      grads.gate_lb = g[lora_at + 5];
    }
    ops::routed_ffn_backward(g[0], g[gates_at], grads, dout[0], in[0], in[gates_at], *saved, ffn_of(in));
  };
  if (p == 0) {
    c.reference = [=](const std::vector<std::vector<double>>& in) {
      std::vector<int64_t> routes(in[sel_at].begin(), in[sel_at].end());
      const auto up = merged(in[1], in[lora_at], in[lora_at + 1], F, d, r, scale);
      const auto down = merged(in[3], in[lora_at + 2], in[lora_at + 3], d, F, r, scale);
      const auto gate = swiglu ? merged(in[5], in[lora_at + 4], in[lora_at + 5], F, d, r, scale)
                               : std::vector<double>{};
      return std::vector<std::vector<double>>{block_ffn_reference(in[0], up, in[2], down, in[4], in[gates_at],
                                                                  routes, N, d, F, nb, k, gate,
                                                                  swiglu ? in[6] : std::vector<double>{})};
    };
  }
  c.rtol = 1e-5;
  c.atol = 1e-6;
  cases.push_back(std::move(c));
}

// Router + top-k + block FFN: logits = x W_r^T, routes and gates from them.
void add_routed_chain(std::vector<OpCase>& cases, int64_t N, int64_t d, int64_t F, int64_t nb, int64_t k,
                      RouteGate gate) {
  OpCase c;
  c.op = "routed_ffn";
  const bool softmax = gate == RouteGate::softmax;
  c.name = "routed_ffn with router N=" + std::to_string(N) + " d=" + std::to_string(d) + " F=" + std::to_string(F) +
           " blocks=" + std::to_string(nb) + " k=" + std::to_string(k) + (softmax ? " softmax" : " sigmoid");
  c.inputs = block_ffn_inputs(N, d, F);
  c.inputs.push_back(param_in("router_w", {nb, d}, -2, 2));
  ops::RouteOptions o;
  o.active = k;
  o.gate = gate;
  struct State {
    Tensor logits, sel, gates;
    ops::RoutedFfnSaved saved;
  };
  auto st = std::make_shared<State>();
  c.forward = [=](const Tensors& in) {
    *st = State();
    ops::linear_forward(st->logits, in[0], in[5], Tensor());
    ops::route_forward(st->sel, st->gates, st->logits, o);
    Tensor y;
    ops::routed_ffn_forward(y, st->saved, in[0], st->sel, st->gates, block_ffn_of(in, nb));
    return Tensors{y};
  };
  c.backward = [=](const Tensors& in, const Tensors& dout, Tensors& g) {
    ops::BlockFfnGrads grads = block_grads_of(g);
    Tensor dgates, dlogits, dx_router, no_db;
    ops::routed_ffn_backward(g[0], dgates, grads, dout[0], in[0], st->gates, st->saved, block_ffn_of(in, nb));
    ops::route_backward(dlogits, dgates, st->gates, st->sel, nb, o);
    ops::linear_backward(dx_router, g[5], no_db, dlogits, in[0], in[5]);
    ops::accumulate(g[0], dx_router);
  };
  c.reference = [=](const std::vector<std::vector<double>>& in) {
    std::vector<double> logits(static_cast<size_t>(N * nb));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t b = 0; b < nb; ++b)
        for (int64_t i = 0; i < d; ++i) logits[n * nb + b] += in[0][n * d + i] * in[5][b * d + i];
    const std::vector<double> gates = route_reference(logits, N, nb, k, softmax)[0];
    std::vector<int64_t> routes;
    for (int64_t n = 0; n < N; ++n) {
      std::vector<int64_t> b(static_cast<size_t>(nb));
      std::iota(b.begin(), b.end(), 0);
      const double* row = logits.data() + n * nb;
      std::stable_sort(b.begin(), b.end(), [&](int64_t x, int64_t y) { return row[x] > row[y]; });
      b.resize(static_cast<size_t>(k));
      std::sort(b.begin(), b.end());
      routes.insert(routes.end(), b.begin(), b.end());
    }
    return std::vector<std::vector<double>>{
        block_ffn_reference(in[0], in[1], in[2], in[3], in[4], gates, routes, N, d, F, nb, k)};
  };
  c.fd_eps = 1e-7;
  c.rtol = 1e-5;
  c.atol = 1e-6;
  cases.push_back(std::move(c));
}

// The load-balancing loss; fractions are a constant input (held fixed, as Switch does).
void add_balance(std::vector<OpCase>& cases, int64_t N, int64_t nb, float weight) {
  OpCase c;
  c.op = "ffn_balance";
  c.name = "ffn_balance N=" + std::to_string(N) + " blocks=" + std::to_string(nb) + " weight=" + std::to_string(weight);
  std::vector<double> f;
  for (int64_t b = 0; b < nb; ++b) f.push_back(static_cast<double>(b % 3 + 1));
  double sum = 0;
  for (double v : f) sum += v;
  for (double& v : f) v /= sum;
  InputSpec fractions = const_in("fractions", {nb});
  fractions.gen = fixed(f);
  c.inputs = {act_in("logits", {N, nb}, -3, 3), fractions};
  auto dl = std::make_shared<Tensor>();
  c.forward = [=](const Tensors& in) {
    Tensor loss;
    *dl = Tensor();
    ops::route_balance(loss, *dl, in[0], in[1], weight);
    return Tensors{loss};
  };
  c.backward = [=](const Tensors&, const Tensors& d, Tensors& g) {
    // dlogits of the loss times the loss's cotangent.
    const double cot = d[0].to_doubles()[0];
    std::vector<double> v = dl->to_doubles();
    for (double& x : v) x *= cot;
    g[0] = Tensor::from_doubles(v, dl->shape(), dl->dtype(), dl->device());
  };
  c.reference = [=](const std::vector<std::vector<double>>& in) {
    double total = 0;
    for (int64_t n = 0; n < N; ++n) {
      double m = -INFINITY, s = 0;
      for (int64_t b = 0; b < nb; ++b) m = std::max(m, in[0][n * nb + b]);
      for (int64_t b = 0; b < nb; ++b) s += std::exp(in[0][n * nb + b] - m);
      for (int64_t b = 0; b < nb; ++b) total += in[1][b] * std::exp(in[0][n * nb + b] - m) / s;
    }
    return std::vector<std::vector<double>>{{weight * nb * total / N}};
  };
  c.rtol = 1e-5;
  c.atol = 1e-7;
  cases.push_back(std::move(c));
}

std::vector<double> distinct_routes(int64_t N, int64_t nb, int64_t k, int64_t mul) {
  std::vector<double> sel;
  for (int64_t n = 0; n < N; ++n) {
    std::vector<int64_t> b;
    for (int64_t t = 0; static_cast<int64_t>(b.size()) < k; ++t) {
      const int64_t v = (n * mul + t) % nb;
      if (std::find(b.begin(), b.end(), v) == b.end()) b.push_back(v);
    }
    std::sort(b.begin(), b.end());
    for (int64_t v : b) sel.push_back(static_cast<double>(v));
  }
  return sel;
}

}  // namespace

void add_routed_ffn_cases(std::vector<OpCase>& cases) {
  add_route(cases, 13, 8, 4, RouteGate::sigmoid);
  add_route(cases, 13, 8, 4, RouteGate::softmax);
  add_route(cases, 5, 3, 3, RouteGate::softmax);   // every block kept
  add_route(cases, 7, 70, 5, RouteGate::sigmoid);  // more than 64 blocks
  add_route(cases, 1, 1, 1, RouteGate::softmax);   // one block: gate 1, gradient 0

  // Rows of (token, slot) block ids, k = 2 of 4 blocks: blocks 1 and 3 stay empty.
  add_group(cases, "two empty blocks", 5, 2, 4, {0, 2, 2, 0, 0, 2, 2, 0, 0, 2});
  add_group(cases, "every token in one block", 6, 1, 8, {5, 5, 5, 5, 5, 5});
  add_group(cases, "one token", 1, 3, 3, {0, 1, 2});
  std::vector<double> mixed;
  for (int64_t n = 0; n < 37; ++n)
    for (int64_t t = 0; t < 3; ++t) mixed.push_back(static_cast<double>((n * 7 + t * 5) % 11));
  add_group(cases, "mixed", 37, 3, 11, mixed);

  add_block_ffn(cases, "mixed", 13, 6, 16, 4, 2, distinct_routes(13, 4, 2, 5), true);
  add_block_ffn(cases, "mixed", 9, 5, 12, 3, 2, distinct_routes(9, 3, 2, 2), false);
  std::vector<double> two_of_four;  // blocks 1 and 3 never chosen
  for (int64_t n = 0; n < 7; ++n) two_of_four.insert(two_of_four.end(), {0, 2});
  add_block_ffn(cases, "two empty blocks", 7, 4, 8, 4, 2, two_of_four, true);
  add_block_ffn(cases, "every token in one block", 6, 5, 12, 4, 1, std::vector<double>(6, 2.0), true);
  add_block_ffn(cases, "every block kept", 5, 4, 12, 3, 3, distinct_routes(5, 3, 3, 1), false);
  add_block_ffn(cases, "mixed", 11, 6, 16, 4, 2, distinct_routes(11, 4, 2, 3), true, /*swiglu=*/true);
  add_block_ffn(cases, "two empty blocks", 7, 4, 8, 4, 2, two_of_four, false, /*swiglu=*/true);
  add_block_ffn_lora(cases, 11, 6, 16, 4, 2, 3, false, 0.f);
  add_block_ffn_lora(cases, 9, 5, 12, 3, 2, 2, true, 0.f);
  add_block_ffn_lora(cases, 10, 6, 16, 4, 2, 3, false, 0.3f);
  add_block_ffn_lora(cases, 7, 4, 8, 4, 3, 2, true, 0.3f);
  add_balance(cases, 13, 8, 0.01f);
  add_balance(cases, 1, 3, 1.f);
  add_routed_chain(cases, 11, 6, 16, 4, 2, RouteGate::sigmoid);
  add_routed_chain(cases, 11, 6, 16, 4, 3, RouteGate::softmax);
}

}  // namespace spt::test
