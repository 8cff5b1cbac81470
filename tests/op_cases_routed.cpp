// Op-registry cases of the routed FFN's routing (spt/ops/routed_ffn.h):
//   ffn_route  top-k of the router logits with sigmoid or softmax gates: gates
//              against a double-precision reference written out here, the
//              logits' gradient by finite differences (ties between logits are
//              avoided: the choice is piecewise constant);
//   ffn_group  the stable grouping by block against a reference: blocks left
//              empty, every token in one block, one token.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

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
    for (int64_t x : b) gates.push_back(softmax ? std::exp(row[x] - m) / sum : 1.0 / (1.0 + std::exp(-row[x])));
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
    Tensor order, offsets;
    ops::group_by_block(order, offsets, in[0], nb);
    return Tensors{order, offsets};
  };
  c.reference = [=](const std::vector<std::vector<double>>& in) {
    std::vector<double> order, offsets{0};
    for (int64_t b = 0; b < nb; ++b) {
      for (int64_t e = 0; e < N * k; ++e)
        if (in[0][e] == static_cast<double>(b)) order.push_back(static_cast<double>(e));
      offsets.push_back(static_cast<double>(order.size()));
    }
    return std::vector<std::vector<double>>{order, offsets};
  };
  c.rtol = 0;
  c.atol = 0.5;  // integers equal
  cases.push_back(std::move(c));
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
}

}  // namespace spt::test
