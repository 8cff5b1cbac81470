// CPU inverted dropout with Philox masks (see include/spt/backend/philox.h):
//   y_e = keep_e ? x_e / (1 - p) : 0,   dx_e = keep_e ? dy_e / (1 - p) : 0
// The mask is a pure function of (seed, offset, e): nothing is stored.
#include "spt/backend/philox.h"
#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

namespace {

template <class T>
void apply_mask(const DropoutParams& p, T* out, const T* in, int64_t n) {
  if (p.p == 0.f) {
    for (int64_t i = 0; i < n; ++i) out[i] = in[i];
    return;
  }
  const T keep_scale = T(1) / (T(1) - static_cast<T>(p.p));
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i)
    out[i] = dropout_keep(p.seed, p.offset, static_cast<uint64_t>(i), p.p) ? in[i] * keep_scale : T(0);
}

}  // namespace

void CpuBackend::dropout_fwd(const DropoutParams& p, Tensor& y, const Tensor& x) {
  dispatch_float(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    apply_mask(p, y.data<T>(), x.data<T>(), x.numel());
  });
}

void CpuBackend::dropout_bwd(const DropoutParams& p, Tensor& dx, const Tensor& dy) {
  dispatch_float(dy.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    apply_mask(p, dx.data<T>(), dy.data<T>(), dy.numel());
  });
}

}  // namespace spt::cpu
