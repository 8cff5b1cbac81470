// CPU embedding lookup: out[n, :] = weight[ids[n], :]; backward scatter-adds
// dout rows into dweight (+=). Threads own column blocks of dweight, so
// repeated ids never race and the sum order is fixed.
#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

void CpuBackend::embedding_fwd(Tensor& out, const Tensor& weight, const Tensor& ids) {
  dispatch_float(weight.dtype(), "embedding", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = ids.numel(), C = weight.dim(1);
    const T* w = weight.data<T>();
    T* o = out.data<T>();
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (int64_t n = 0; n < N; ++n) {
      const T* src = w + index_at(ids, n) * C;
      for (int64_t c = 0; c < C; ++c) o[n * C + c] = src[c];
    }
  });
}

void CpuBackend::embedding_bwd(Tensor& dweight, const Tensor& dout, const Tensor& ids) {
  dispatch_float(dweight.dtype(), "embedding", [&](auto tag) {
    using T = decltype(tag);
    const int64_t N = ids.numel(), C = dweight.dim(1);
    const T* g = dout.data<T>();
    T* dw = dweight.data<T>();
    constexpr int64_t kCols = 64;
    const int64_t blocks = (C + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t c0 = blk * kCols, c1 = std::min(C, c0 + kCols);
      for (int64_t n = 0; n < N; ++n) {
        T* dst = dw + index_at(ids, n) * C;
        for (int64_t c = c0; c < c1; ++c) dst[c] += g[n * C + c];
      }
    }
  });
}

int64_t CpuBackend::count_out_of_range(const Tensor& ids, int64_t limit) {
  int64_t bad = 0;
  for (int64_t i = 0; i < ids.numel(); ++i) {
    const int64_t v = index_at(ids, i);
    bad += (v < 0 || v >= limit) ? 1 : 0;
  }
  return bad;
}

}  // namespace spt::cpu
