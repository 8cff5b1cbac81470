// RMS norm over the last dim of x (N, C), as src/cpu/rmsnorm.cpp (N = rows, C = cols):
//   rstd = 1 / sqrt(sum(x^2) / C + eps),  y = w * (x * rstd)      y (N, C); rstd (N)
// Backward (xhat = x * rstd, g = dy * w):
//   dx = rstd * (g - xhat * mean(g * xhat))   (written)
//   dw += sum_n dy * xhat                     (accumulated)
// Row statistics in double, like the CPU reference. One block per row for y and
// dx; dw uses the deterministic two-pass column sums of reduce.h.
#include "backend_impl.h"
#include "cuda_check.h"
#include "device/reduce.cuh"
#include "launch.h"
#include "reduce.h"

namespace spt::cuda {

namespace {

__global__ void __launch_bounds__(1024)
    rmsnorm_fwd_kernel(float* y, float* rstd, const float* x, const float* w, int64_t rows, int64_t cols, float eps) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * cols;
    double s = 0.0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += static_cast<double>(xr[c]) * xr[c];
    const double r = 1.0 / sqrt(device::block_sum(s) / static_cast<double>(cols) + static_cast<double>(eps));
    float* yr = y + row * cols;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = w[c] * static_cast<float>(xr[c] * r);
    if (threadIdx.x == 0) rstd[row] = static_cast<float>(r);
  }
}

__global__ void __launch_bounds__(1024)
    rmsnorm_bwd_kernel(float* dx, const float* dy, const float* x, const float* w, const float* rstd, int64_t rows,
                       int64_t cols) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *xr = x + row * cols, *gr = dy + row * cols;
    const double r = rstd[row];
    double sum_gx = 0.0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
      sum_gx += static_cast<double>(gr[c]) * w[c] * xr[c] * r;
    const double mgx = device::block_sum(sum_gx) / static_cast<double>(cols);
    float* dr = dx + row * cols;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
      dr[c] = static_cast<float>(r * (static_cast<double>(gr[c]) * w[c] - xr[c] * r * mgx));
  }
}

// dw_partials (chunks, C): sums over one chunk of rows of dy * xhat.
// Block (kColumnTile, kRowLanes), grid (ceil(C / kColumnTile), chunks); see reduce.h.
__global__ void rmsnorm_dw_kernel(double* dw_partials, const float* dy, const float* x, const float* rstd,
                                  int64_t rows, int64_t cols, int64_t rows_per_chunk) {
  __shared__ double tile[kRowLanes][kColumnTile];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColumnTile + threadIdx.x;
  const int64_t r_begin = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
  const int64_t r_end = r_begin + rows_per_chunk < rows ? r_begin + rows_per_chunk : rows;
  double acc = 0.0;
  if (c < cols)
    for (int64_t r = r_begin + threadIdx.y; r < r_end; r += kRowLanes)
      acc += static_cast<double>(dy[r * cols + c]) * x[r * cols + c] * static_cast<double>(rstd[r]);
  tile[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    double s = 0.0;
    for (int k = 0; k < kRowLanes; ++k) s += tile[k][threadIdx.x];
    dw_partials[static_cast<int64_t>(blockIdx.y) * cols + c] = s;
  }
}

}  // namespace

void CudaBackend::rmsnorm_fwd(const LayerNormParams& p, Tensor& y, Tensor& rstd, const Tensor& x, const Tensor& w) {
  require_f32("rmsnorm", y, rstd, x, w);
  if (p.rows == 0 || p.cols == 0) return;
  const DeviceGuard guard(index_);
  rmsnorm_fwd_kernel<<<grid_for_rows(p.rows), threads_for_row(p.cols), 0, stream()>>>(
      y.data<float>(), rstd.data<float>(), x.data<float>(), w.data<float>(), p.rows, p.cols, p.eps);
  SPT_CUDA_CHECK_LAUNCH("rmsnorm_fwd_kernel");
}

void CudaBackend::rmsnorm_bwd(const LayerNormParams& p, Tensor& dx, Tensor& dw, const Tensor& dy, const Tensor& x,
                              const Tensor& w, const Tensor& rstd) {
  require_f32("rmsnorm", dx, dw, dy, x, w, rstd);
  if (p.rows == 0 || p.cols == 0) return;
  const DeviceGuard guard(index_);
  rmsnorm_bwd_kernel<<<grid_for_rows(p.rows), threads_for_row(p.cols), 0, stream()>>>(
      dx.data<float>(), dy.data<float>(), x.data<float>(), w.data<float>(), rstd.data<float>(), p.rows, p.cols);
  SPT_CUDA_CHECK_LAUNCH("rmsnorm_bwd_kernel");
  const ColumnChunks cc = column_chunks(p.rows);
  ScratchBuffer partials(allocator_, static_cast<size_t>(cc.chunks * p.cols) * sizeof(double));
  const dim3 grid(static_cast<unsigned>(ceil_div(p.cols, kColumnTile)), static_cast<unsigned>(cc.chunks));
  const dim3 block(kColumnTile, kRowLanes);
  rmsnorm_dw_kernel<<<grid, block, 0, stream()>>>(partials.as<double>(), dy.data<float>(), x.data<float>(),
                                                  rstd.data<float>(), p.rows, p.cols, cc.rows_per_chunk);
  SPT_CUDA_CHECK_LAUNCH("rmsnorm_dw_kernel");
  accumulate_column_partials(dw.data<float>(), partials.as<double>(), cc.chunks, p.cols, stream());
}

}  // namespace spt::cuda
