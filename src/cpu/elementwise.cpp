// CPU elementwise kernels and deterministic reductions.
#include <cmath>
#include <vector>

#include "src/cpu/cpu_backend.h"

namespace spt::cpu {

namespace {

// Sums f(i) for i < n in fixed chunks (deterministic for any thread count).
template <class F>
double chunked_sum(int64_t n, F&& f) {
  const int64_t chunks = (n + kReduceChunk - 1) / kReduceChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = std::min(n, (c + 1) * kReduceChunk);
    double s = 0.0;
    for (int64_t i = c * kReduceChunk; i < end; ++i) s += f(i);
    partial[c] = s;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace

void CpuBackend::add(Tensor& out, const Tensor& a, const Tensor& b) {
  dispatch_float(out.dtype(), "add", [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    const T *x = a.data<T>(), *y = b.data<T>();
    const int64_t n = out.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) o[i] = x[i] + y[i];
  });
}

void CpuBackend::axpy(Tensor& y, const Tensor& x, float alpha) {
  dispatch_float(y.dtype(), "axpy", [&](auto tag) {
    using T = decltype(tag);
    T* o = y.data<T>();
    const T* s = x.data<T>();
    const int64_t n = y.numel();
    const T a = static_cast<T>(alpha);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) o[i] += a * s[i];
  });
}

void CpuBackend::scale(Tensor& x, float s) {
  dispatch_float(x.dtype(), "scale", [&](auto tag) {
    using T = decltype(tag);
    T* o = x.data<T>();
    const int64_t n = x.numel();
    const T f = static_cast<T>(s);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) o[i] *= f;
  });
}

void CpuBackend::add_bias(Tensor& y, const Tensor& bias) {
  dispatch_float(y.dtype(), "add_bias", [&](auto tag) {
    using T = decltype(tag);
    T* o = y.data<T>();
    const T* bb = bias.data<T>();
    const int64_t cols = bias.numel(), rows = y.numel() / cols;
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) o[r * cols + c] += bb[c];
  });
}

void CpuBackend::sum_rows(Tensor& out, const Tensor& x) {
  dispatch_float(out.dtype(), "sum_rows", [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    const T* s = x.data<T>();
    const int64_t cols = out.numel(), rows = x.numel() / cols;
    // Threads own column ranges; rows are summed in order (deterministic).
    constexpr int64_t kCols = 64;
    const int64_t blocks = (cols + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t c0 = blk * kCols, c1 = std::min(cols, c0 + kCols);
      T acc[kCols] = {};
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = c0; c < c1; ++c) acc[c - c0] += s[r * cols + c];
      for (int64_t c = c0; c < c1; ++c) o[c] += acc[c - c0];
    }
  });
}

double CpuBackend::sum(const Tensor& x) {
  double r = 0;
  dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* s = x.data<T>();
    r = chunked_sum(x.numel(), [s](int64_t i) { return static_cast<double>(s[i]); });
  });
  return r;
}

double CpuBackend::sum_squares(const Tensor& x) {
  double r = 0;
  dispatch_float(x.dtype(), "sum_squares", [&](auto tag) {
    using T = decltype(tag);
    const T* s = x.data<T>();
    r = chunked_sum(x.numel(), [s](int64_t i) {
      const double v = s[i];
      return v * v;
    });
  });
  return r;
}

void CpuBackend::mse_fwd(Tensor& losses, const Tensor& pred, const Tensor& target) {
  dispatch_float(losses.dtype(), "mse", [&](auto tag) {
    using T = decltype(tag);
    T* l = losses.data<T>();
    const T *p = pred.data<T>(), *t = target.data<T>();
    for (int64_t i = 0; i < losses.numel(); ++i) l[i] = (p[i] - t[i]) * (p[i] - t[i]);
  });
}

void CpuBackend::mse_bwd(Tensor& dpred, const Tensor& pred, const Tensor& target, float scale) {
  dispatch_float(dpred.dtype(), "mse", [&](auto tag) {
    using T = decltype(tag);
    T* d = dpred.data<T>();
    const T *p = pred.data<T>(), *t = target.data<T>();
    for (int64_t i = 0; i < dpred.numel(); ++i) d[i] = static_cast<T>(scale) * 2 * (p[i] - t[i]);
  });
}

}  // namespace spt::cpu
