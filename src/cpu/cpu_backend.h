// The CPU backend: the readable reference implementation of every kernel.
//
// Plain loops parallelised with OpenMP, GEMM through OpenBLAS (cblas). Floating
// kernels run in f32 and f64 (f64 for the double-precision gradient checks).
// Reductions use a fixed chunking independent of the thread count, so results
// are bit-identical from run to run (resumed training relies on it).
#pragma once

#include <algorithm>

#include "spt/backend/backend.h"
#include "spt/core/error.h"

namespace spt::cpu {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu(); }
  Allocator& allocator() override { return allocator_; }
  std::string name() const override;

  void copy_from_host(void* dst, const void* src, size_t nbytes) override;
  void copy_to_host(void* dst, const void* src, size_t nbytes) override;
  void copy(Tensor& dst, const Tensor& src) override;
  void cast(Tensor& dst, const Tensor& src) override;
  void fill(Tensor& t, double value) override;
  void synchronize() override {}

  void gemm(const GemmParams& p, Tensor& c, const Tensor& a, const Tensor& b) override;

  void add(Tensor& out, const Tensor& a, const Tensor& b) override;
  void axpy(Tensor& y, const Tensor& x, float alpha) override;
  void scale(Tensor& x, float s) override;
  void add_bias(Tensor& y, const Tensor& bias) override;
  void sum_rows(Tensor& out, const Tensor& x) override;
  double sum(const Tensor& x) override;
  double sum_squares(const Tensor& x) override;

  void activation_fwd(Activation act, Tensor& y, const Tensor& x) override;
  void activation_bwd(Activation act, Tensor& dx, const Tensor& dy, const Tensor& x) override;
  void glu_fwd(Activation act, Tensor& h, const Tensor& g, const Tensor& u) override;
  void glu_bwd(Activation act, Tensor& dg, Tensor& du, const Tensor& dh, const Tensor& g, const Tensor& u) override;

  void layernorm_fwd(const LayerNormParams& p, Tensor& y, Tensor& mean, Tensor& rstd,
                     const Tensor& x, const Tensor& w, const Tensor& b) override;
  void layernorm_bwd(const LayerNormParams& p, Tensor& dx, Tensor& dw, Tensor& db,
                     const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean,
                     const Tensor& rstd) override;

  void rmsnorm_fwd(const LayerNormParams& p, Tensor& y, Tensor& rstd, const Tensor& x,
                   const Tensor& w) override;
  void rmsnorm_bwd(const LayerNormParams& p, Tensor& dx, Tensor& dw, const Tensor& dy, const Tensor& x,
                   const Tensor& w, const Tensor& rstd) override;

  void rope(const RopeParams& p, Tensor& y, const Tensor& x, const Tensor& pos, const Tensor& cos,
            const Tensor& sin) override;

  void softmax_fwd(const SoftmaxParams& p, Tensor& y, const Tensor& x,
                   const Tensor& key_mask) override;
  void softmax_bwd(const SoftmaxParams& p, Tensor& dx, const Tensor& dy, const Tensor& y,
                   const Tensor& y_dropped) override;

  void dropout_fwd(const DropoutParams& p, Tensor& y, const Tensor& x) override;
  void dropout_bwd(const DropoutParams& p, Tensor& dx, const Tensor& dy) override;
  void dropout_fwd_bits(const DropoutParams& p, Tensor& y, Tensor& bits, const Tensor& x) override;
  void dropout_apply_bits(float p, Tensor& y, const Tensor& x, const Tensor& bits) override;

  void sparse_select(const SparseSelectParams& p, Tensor& idx, const Tensor& q, const Tensor& k,
                     const Tensor& key_mask, const Tensor& codebooks) override;
  void sparse_attention_fwd(const SparseAttentionParams& p, Tensor& out, Tensor& lse,
                            const Tensor& q, const Tensor& k, const Tensor& v,
                            const Tensor& idx) override;
  void sparse_attention_bwd(const SparseAttentionParams& p, Tensor& dq, Tensor& dk, Tensor& dv,
                            const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                            const Tensor& out, const Tensor& lse, const Tensor& idx) override;

  void ffn_route_fwd(const RouteParams& p, Tensor& sel, Tensor& gates, const Tensor& logits) override;
  void ffn_route_bwd(const RouteParams& p, Tensor& dlogits, const Tensor& dgates, const Tensor& gates,
                     const Tensor& sel) override;
  void ffn_group(const RouteParams& p, Tensor& order, Tensor& offsets, Tensor& pos, const Tensor& sel) override;
  void ffn_balance(const RouteParams& p, Tensor& loss, Tensor& dlogits, const Tensor& logits, const Tensor& fractions,
                   float weight) override;
  void ffn_gather(const RouteParams& p, Tensor& rows, const Tensor& x, const Tensor& order,
                  const Tensor& gates) override;
  void ffn_combine(const RouteParams& p, Tensor& y, const Tensor& rows, const Tensor& pos,
                   const Tensor& gates) override;
  void ffn_gate_grad(const RouteParams& p, Tensor& dgates, Tensor& dh, Tensor& h, const Tensor& order,
                     const Tensor& gates) override;
  void gemm_grouped(const GemmParams& p, const GroupedGemm& g, Tensor& c, const Tensor& a,
                    const Tensor& b) override;

  void embedding_fwd(Tensor& out, const Tensor& weight, const Tensor& ids) override;
  void embedding_bwd(Tensor& dweight, const Tensor& dout, const Tensor& ids) override;
  int64_t count_out_of_range(const Tensor& ids, int64_t limit) override;
  void mean_pool_fwd(Tensor& y, const Tensor& x, const Tensor& mask) override;
  void mean_pool_bwd(Tensor& dx, const Tensor& dy, const Tensor& mask) override;

  void cross_entropy_fwd(const CrossEntropyParams& p, Tensor& losses, Tensor& lse,
                         const Tensor& logits, const Tensor& targets) override;
  void cross_entropy_bwd(const CrossEntropyParams& p, Tensor& dlogits, const Tensor& logits,
                         const Tensor& lse, const Tensor& targets, float scale) override;
  void mse_fwd(Tensor& losses, const Tensor& pred, const Tensor& target) override;
  void mse_bwd(Tensor& dpred, const Tensor& pred, const Tensor& target, float scale) override;

  void adamw_step(const AdamWParams& p, Tensor& param, Tensor& m, Tensor& v,
                  const Tensor& grad) override;

 private:
  CpuAllocator allocator_;
};

// Calls f(T{}) with T = float or double according to `dt`; other dtypes throw.
template <class F>
void dispatch_float(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::f32: f(float{}); break;
    case DType::f64: f(double{}); break;
    default: fail("[", op, "] dtype ", dtype_name(dt), " not supported on cpu (f32, f64)");
  }
}

// Splits [0, n) into fixed chunks of `grain` elements and runs f(begin, end) on
// each, in parallel when n is large enough. Chunk bounds do not depend on the
// thread count (results stay bit-identical).
template <class F>
void parallel_chunks(int64_t n, F&& f, int64_t grain = 8192) {
  const int64_t chunks = (n + grain - 1) / grain;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, c * grain + grain));
}

// Calls f(I{}) with I = int16_t or int32_t for a sparse-attention index tensor.
template <class F>
void dispatch_index(const Tensor& idx, F&& f) {
  if (idx.dtype() == DType::i16) f(int16_t{});
  else f(int32_t{});
}

// Reads element i of an integer index tensor (i32 or i64).
inline int64_t index_at(const Tensor& ids, int64_t i) {
  return ids.dtype() == DType::i64 ? ids.data<int64_t>()[i] : ids.data<int32_t>()[i];
}

// Dropout factors (0 or 1 / (1 - p)) of arbitrary elements: fac[t] for element
// elems[t] of the stream (p.seed, p.offset); the same mask as dropout_fwd (p > 0).
void dropout_factors_f32(const DropoutParams& p, float* fac, const uint64_t* elems, int64_t n);

// Fixed chunk size for deterministic parallel reductions.
inline constexpr int64_t kReduceChunk = 4096;

}  // namespace spt::cpu
