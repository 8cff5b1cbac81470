// Layer norm over the last dim of x (N, C), as torch.nn.LayerNorm and
// src/cpu/layernorm.cpp (N = rows, C = cols):
//   mean = sum(x) / C,  var = sum((x - mean)^2) / C (biased),  rstd = 1 / sqrt(var + eps)
//   y = (x - mean) * rstd * w + b                     y (N, C); mean, rstd (N)
// Backward (xhat = (x - mean) * rstd, g = dy * w):
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))  (written)
//   dw += sum_n dy * xhat,  db += sum_n dy             (accumulated)
// Row statistics are accumulated in double, like the CPU reference. One block
// per row for y and dx; dw and db use the deterministic two-pass column sums
// of reduce.h (no float atomics).
#include "backend_impl.h"
#include "cuda_check.h"
#include "device/reduce.cuh"
#include "launch.h"
#include "reduce.h"

namespace spt::cuda {

namespace {

__global__ void __launch_bounds__(1024)
    layernorm_fwd_kernel(float* y, float* mean, float* rstd, const float* x, const float* w,
                         const float* b, int64_t rows, int64_t cols, float eps) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * cols;
    double s = 0.0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += xr[c];
    const double m = device::block_sum(s) / static_cast<double>(cols);
    double v = 0.0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const double d = xr[c] - m;
      v += d * d;
    }
    const double r =
        1.0 / sqrt(device::block_sum(v) / static_cast<double>(cols) + static_cast<double>(eps));
    float* yr = y + row * cols;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
      yr[c] = static_cast<float>((xr[c] - m) * r) * w[c] + b[c];
    if (threadIdx.x == 0) {
      mean[row] = static_cast<float>(m);
      rstd[row] = static_cast<float>(r);
    }
  }
}

__global__ void __launch_bounds__(1024)
    layernorm_bwd_kernel(float* dx, const float* dy, const float* x, const float* w,
                         const float* mean, const float* rstd, int64_t rows, int64_t cols) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *xr = x + row * cols, *gr = dy + row * cols;
    const double m = mean[row], r = rstd[row];
    double sum_g = 0.0, sum_gx = 0.0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const double g = static_cast<double>(gr[c]) * w[c];
      sum_g += g;
      sum_gx += g * (xr[c] - m) * r;
    }
    const double mg = device::block_sum(sum_g) / static_cast<double>(cols);
    const double mgx = device::block_sum(sum_gx) / static_cast<double>(cols);
    float* dr = dx + row * cols;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const double xhat = (xr[c] - m) * r;
      dr[c] = static_cast<float>(r * (static_cast<double>(gr[c]) * w[c] - mg - xhat * mgx));
    }
  }
}

// dw_partials, db_partials (chunks, C): sums over one chunk of rows of dy * xhat and dy.
// Block (kColumnTile, kRowLanes), grid (ceil(C / kColumnTile), chunks); see reduce.h.
__global__ void layernorm_dparams_bwd_kernel(double* dw_partials, double* db_partials,
                                             const float* dy, const float* x, const float* mean,
                                             const float* rstd, int64_t rows, int64_t cols,
                                             int64_t rows_per_chunk) {
  __shared__ double tile_w[kRowLanes][kColumnTile];
  __shared__ double tile_b[kRowLanes][kColumnTile];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColumnTile + threadIdx.x;
  const int64_t r_begin = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
  const int64_t r_end = r_begin + rows_per_chunk < rows ? r_begin + rows_per_chunk : rows;
  double aw = 0.0, ab = 0.0;
  if (c < cols) {
    for (int64_t r = r_begin + threadIdx.y; r < r_end; r += kRowLanes) {
      const double g = dy[r * cols + c];
      aw += g * (x[r * cols + c] - static_cast<double>(mean[r])) * static_cast<double>(rstd[r]);
      ab += g;
    }
  }
  tile_w[threadIdx.y][threadIdx.x] = aw;
  tile_b[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    double sw = 0.0, sb = 0.0;
    for (int k = 0; k < kRowLanes; ++k) {
      sw += tile_w[k][threadIdx.x];
      sb += tile_b[k][threadIdx.x];
    }
    dw_partials[static_cast<int64_t>(blockIdx.y) * cols + c] = sw;
    db_partials[static_cast<int64_t>(blockIdx.y) * cols + c] = sb;
  }
}

}  // namespace

void CudaBackend::layernorm_fwd(const LayerNormParams& p, Tensor& y, Tensor& mean, Tensor& rstd,
                                const Tensor& x, const Tensor& w, const Tensor& b) {
  require_f32("layernorm", y, mean, rstd, x, w, b);
  if (p.rows == 0 || p.cols == 0) return;
  const DeviceGuard guard(index_);
  layernorm_fwd_kernel<<<grid_for_rows(p.rows), threads_for_row(p.cols), 0, stream()>>>(
      y.data<float>(), mean.data<float>(), rstd.data<float>(), x.data<float>(), w.data<float>(),
      b.data<float>(), p.rows, p.cols, p.eps);
  SPT_CUDA_CHECK_LAUNCH("layernorm_fwd_kernel");
}

void CudaBackend::layernorm_bwd(const LayerNormParams& p, Tensor& dx, Tensor& dw, Tensor& db,
                                const Tensor& dy, const Tensor& x, const Tensor& w,
                                const Tensor& mean, const Tensor& rstd) {
  require_f32("layernorm", dx, dw, db, dy, x, w, mean, rstd);
  if (p.rows == 0 || p.cols == 0) return;
  const DeviceGuard guard(index_);
  layernorm_bwd_kernel<<<grid_for_rows(p.rows), threads_for_row(p.cols), 0, stream()>>>(
      dx.data<float>(), dy.data<float>(), x.data<float>(), w.data<float>(), mean.data<float>(),
      rstd.data<float>(), p.rows, p.cols);
  SPT_CUDA_CHECK_LAUNCH("layernorm_bwd_kernel");

  const ColumnChunks cc = column_chunks(p.rows);
  const size_t per_param = static_cast<size_t>(cc.chunks * p.cols);
  ScratchBuffer partials(allocator_, 2 * per_param * sizeof(double));
  double* dw_partials = partials.as<double>();
  double* db_partials = dw_partials + per_param;
  const dim3 grid(static_cast<unsigned>(ceil_div(p.cols, kColumnTile)),
                  static_cast<unsigned>(cc.chunks));
  const dim3 block(kColumnTile, kRowLanes);
  layernorm_dparams_bwd_kernel<<<grid, block, 0, stream()>>>(
      dw_partials, db_partials, dy.data<float>(), x.data<float>(), mean.data<float>(),
      rstd.data<float>(), p.rows, p.cols, cc.rows_per_chunk);
  SPT_CUDA_CHECK_LAUNCH("layernorm_dparams_bwd_kernel");
  accumulate_column_partials(dw.data<float>(), dw_partials, cc.chunks, p.cols, stream());
  accumulate_column_partials(db.data<float>(), db_partials, cc.chunks, p.cols, stream());
}

}  // namespace spt::cuda
