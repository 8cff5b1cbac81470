// CPU inverted dropout with Philox masks (see include/spt/backend/philox.h):
//   y_e = keep_e ? x_e / (1 - p) : 0,   dx_e = keep_e ? dy_e / (1 - p) : 0
// The mask is a pure function of (seed, offset, e): nothing is stored.
#include <algorithm>

#include "spt/backend/philox.h"
#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

namespace {

// One Philox block gives the uniforms of four consecutive elements, exactly as
// philox_uniform() draws them element by element (the CUDA kernels use that).
template <class T>
void apply_mask(const DropoutParams& p, T* out, const T* in, int64_t n) {
  if (p.p == 0.f) {
    if (out != in)
      for (int64_t i = 0; i < n; ++i) out[i] = in[i];
    return;
  }
  const T keep_scale = T(1) / (T(1) - static_cast<T>(p.p));
  const int64_t blocks = (n + 3) / 4;
  const uint32_t k0 = static_cast<uint32_t>(p.seed), k1 = static_cast<uint32_t>(p.seed >> 32);
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t b = 0; b < blocks; ++b) {
    const uint64_t ub = static_cast<uint64_t>(b);
    const Philox4x32 r = philox4x32_10(
        {{static_cast<uint32_t>(ub), static_cast<uint32_t>(ub >> 32), static_cast<uint32_t>(p.offset),
          static_cast<uint32_t>(p.offset >> 32)}},
        k0, k1);
    const int64_t end = std::min<int64_t>(n, b * 4 + 4);
    for (int64_t i = b * 4; i < end; ++i) {
      const float u = static_cast<float>(r.v[i & 3] >> 8) * (1.0f / 16777216.0f);
      out[i] = u >= p.p ? in[i] * keep_scale : T(0);
    }
  }
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
