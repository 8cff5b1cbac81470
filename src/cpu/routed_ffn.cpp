// CPU routing of the routed FFN (Backend::ffn_route_fwd / _bwd, ffn_group);
// formulas in spt/backend/routed_ffn_math.h. Tokens are independent (parallel
// in fixed chunks); the grouping is one stable counting sort; the gathers and
// the gated combine are row loops (each output row summed in a fixed order).
#include <algorithm>
#include <cmath>
#include <vector>

#include "spt/backend/routed_ffn_math.h"
#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

namespace {

// Rows [0, n) of `width` elements each, split over the threads in fixed chunks
// once there is enough work.
template <class F>
void parallel_rows(int64_t n, int64_t width, F&& f) {
  constexpr int64_t grain = 16;
#pragma omp parallel for schedule(static) if (n * width > 65536)
  for (int64_t r0 = 0; r0 < n; r0 += grain) f(r0, std::min(n, r0 + grain));
}

}  // namespace

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

void CpuBackend::ffn_group(const RouteParams& p, Tensor& order, Tensor& offsets, Tensor& pos, const Tensor& sel) {
  const int64_t n = p.tokens * p.active;
  const int32_t* s = sel.data<int32_t>();
  int32_t* off = offsets.data<int32_t>();
  int32_t* ord = order.data<int32_t>();
  int32_t* where = pos.data<int32_t>();
  std::vector<int32_t> next(static_cast<size_t>(p.blocks + 1), 0);
  for (int64_t e = 0; e < n; ++e) ++next[s[e] + 1];
  for (int64_t b = 0; b < p.blocks; ++b) next[b + 1] += next[b];
  for (int64_t b = 0; b <= p.blocks; ++b) off[b] = next[b];
  for (int64_t e = 0; e < n; ++e) {
    const int32_t r = next[s[e]]++;
    ord[r] = static_cast<int32_t>(e);
    where[e] = r;
  }
}

void CpuBackend::ffn_gather(const RouteParams& p, Tensor& rows, const Tensor& x, const Tensor& order,
                            const Tensor& gates) {
  const int64_t n = p.tokens * p.active, c = x.dim(-1);
  dispatch_float(x.dtype(), "ffn_gather", [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    const T* g = gates.defined() ? gates.data<T>() : nullptr;
    const int32_t* ord = order.data<int32_t>();
    T* dst = rows.data<T>();
    parallel_rows(n, c, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* in = src + (ord[r] / p.active) * c;
        T* out = dst + r * c;
        const T scale = g ? g[ord[r]] : T(1);
        for (int64_t j = 0; j < c; ++j) out[j] = scale * in[j];
      }
    });
  });
}

void CpuBackend::ffn_combine(const RouteParams& p, Tensor& y, const Tensor& rows, const Tensor& pos,
                             const Tensor& gates) {
  const int64_t c = rows.dim(-1);
  dispatch_float(rows.dtype(), "ffn_combine", [&](auto tag) {
    using T = decltype(tag);
    const T* src = rows.data<T>();
    const T* g = gates.defined() ? gates.data<T>() : nullptr;
    const int32_t* where = pos.data<int32_t>();
    T* dst = y.data<T>();
    parallel_rows(p.tokens, c * p.active, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        T* out = dst + n * c;
        for (int64_t j = 0; j < c; ++j) out[j] = T(0);
        for (int64_t s = 0; s < p.active; ++s) {  // fixed slot order: bit-identical run to run
          const int64_t e = n * p.active + s;
          const T* in = src + where[e] * c;
          const T scale = g ? g[e] : T(1);
          for (int64_t j = 0; j < c; ++j) out[j] += scale * in[j];
        }
      }
    });
  });
}

void CpuBackend::ffn_gate_grad(const RouteParams& p, Tensor& dgates, Tensor& dh, Tensor& h,
                               const Tensor& order, const Tensor& gates) {
  const int64_t n = p.tokens * p.active, f = h.dim(-1);
  dispatch_float(h.dtype(), "ffn_gate_grad", [&](auto tag) {
    using T = decltype(tag);
    const T* g = gates.data<T>();
    T *dg = dgates.data<T>(), *d = dh.data<T>(), *hv = h.data<T>();
    const int32_t* ord = order.data<int32_t>();
    parallel_rows(n, f, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        T* dr = d + r * f;
        T* hr = hv + r * f;
        T dot = 0;
        for (int64_t j = 0; j < f; ++j) dot += dr[j] * hr[j];
        dg[ord[r]] = dot;
        const T scale = g[ord[r]];
        for (int64_t j = 0; j < f; ++j) {
          dr[j] *= scale;
          hr[j] *= scale;
        }
      }
    });
  });
}

void CpuBackend::ffn_balance(const RouteParams& p, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                             const Tensor& fractions, float weight) {
  dispatch_float(logits.dtype(), "ffn_balance", [&](auto tag) {
    using T = decltype(tag);
    const T *l = logits.data<T>(), *f = fractions.data<T>();
    T* dl = dlogits.data<T>();
    const double scale = static_cast<double>(weight) * static_cast<double>(p.blocks) / static_cast<double>(p.tokens);
    std::vector<double> prob(static_cast<size_t>(p.blocks));
    double total = 0;  // tokens in order: the same sum at any thread count
    for (int64_t n = 0; n < p.tokens; ++n) {
      const T* row = l + n * p.blocks;
      double m = static_cast<double>(row[0]), sum = 0, fp = 0;
      for (int64_t b = 1; b < p.blocks; ++b) m = std::max(m, static_cast<double>(row[b]));
      for (int64_t b = 0; b < p.blocks; ++b) sum += prob[b] = std::exp(static_cast<double>(row[b]) - m);
      for (int64_t b = 0; b < p.blocks; ++b) fp += static_cast<double>(f[b]) * (prob[b] /= sum);
      total += fp;
      for (int64_t b = 0; b < p.blocks; ++b)
        dl[n * p.blocks + b] = static_cast<T>(scale * prob[b] * (static_cast<double>(f[b]) - fp));
    }
    loss.data<T>()[0] = static_cast<T>(scale * total);
  });
}

}  // namespace spt::cpu
