// CPU routing of the routed FFN (Backend::ffn_route_fwd / _bwd, ffn_group);
// formulas in spt/backend/routed_ffn_math.h. Tokens are independent (parallel
// in fixed chunks); the grouping is one stable counting sort.
#include <vector>

#include "spt/backend/routed_ffn_math.h"
#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

void CpuBackend::ffn_route_fwd(const RouteParams& p, Tensor& sel, Tensor& gates, const Tensor& logits) {
  dispatch_float(logits.dtype(), "ffn_route", [&](auto tag) {
    using T = decltype(tag);
    const T* l = logits.data<T>();
    T* g = gates.data<T>();
    int32_t* s = sel.data<int32_t>();
    const bool softmax = p.gate == RouteGate::softmax;
    parallel_chunks(p.tokens, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n)
        route::route_row(s + n * p.active, g + n * p.active, l + n * p.blocks, p.blocks, p.active, softmax);
    }, 1024);
  });
}

void CpuBackend::ffn_route_bwd(const RouteParams& p, Tensor& dlogits, const Tensor& dgates, const Tensor& gates,
                               const Tensor& sel) {
  dispatch_float(gates.dtype(), "ffn_route", [&](auto tag) {
    using T = decltype(tag);
    T* dl = dlogits.data<T>();
    const T *dg = dgates.data<T>(), *g = gates.data<T>();
    const int32_t* s = sel.data<int32_t>();
    const bool softmax = p.gate == RouteGate::softmax;
    parallel_chunks(p.tokens, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n)
        route::route_row_bwd(dl + n * p.blocks, dg + n * p.active, g + n * p.active, s + n * p.active, p.blocks,
                             p.active, softmax);
    }, 1024);
  });
}

void CpuBackend::ffn_group(const RouteParams& p, Tensor& order, Tensor& offsets, const Tensor& sel) {
  const int64_t n = p.tokens * p.active;
  const int32_t* s = sel.data<int32_t>();
  int32_t* off = offsets.data<int32_t>();
  int32_t* ord = order.data<int32_t>();
  std::vector<int32_t> next(static_cast<size_t>(p.blocks + 1), 0);
  for (int64_t e = 0; e < n; ++e) ++next[s[e] + 1];
  for (int64_t b = 0; b < p.blocks; ++b) next[b + 1] += next[b];
  for (int64_t b = 0; b <= p.blocks; ++b) off[b] = next[b];
  for (int64_t e = 0; e < n; ++e) ord[next[s[e]]++] = static_cast<int32_t>(e);
}

}  // namespace spt::cpu
