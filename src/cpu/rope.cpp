// CPU rotary position embeddings (spt/ops/rope.h), Hugging Face layout:
//   y[j] = x[j] c - x[j + D/2] s,  y[j + D/2] = x[j + D/2] c + x[j] s
// with c, s the row's cos / sin of frequency j; the inverse (backward) uses -s.
#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

void CpuBackend::rope(const RopeParams& p, Tensor& y, const Tensor& x, const Tensor& pos, const Tensor& cos,
                      const Tensor& sin) {
  dispatch_float(x.dtype(), "rope", [&](auto tag) {
    using T = decltype(tag);
    const int64_t half = p.head_dim / 2, C = p.heads * p.head_dim;
    const T *xs = x.data<T>(), *cs = cos.data<T>(), *ss = sin.data<T>();
    const int32_t* ps = pos.data<int32_t>();
    T* ys = y.data<T>();
    const T sign = p.inverse ? T(-1) : T(1);
#pragma omp parallel for schedule(static) if (p.rows * C > 16384)
    for (int64_t n = 0; n < p.rows; ++n) {
      const T *c = cs + ps[n] * half, *s = ss + ps[n] * half;
      for (int64_t h = 0; h < p.heads; ++h) {
        const T* xr = xs + n * C + h * p.head_dim;
        T* yr = ys + n * C + h * p.head_dim;
#pragma omp simd
        for (int64_t j = 0; j < half; ++j) {
          const T a = xr[j], b = xr[j + half], sj = sign * s[j];
          yr[j] = a * c[j] - b * sj;
          yr[j + half] = b * c[j] + a * sj;
        }
      }
    }
  });
}

}  // namespace spt::cpu
