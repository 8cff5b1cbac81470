// The CUDA backend of one GPU: the Backend interface implemented with CUDA
// kernels and cuBLAS, all work enqueued on one non-blocking stream.
//
// The methods are defined in one file per op family, mirroring src/cpu:
//   cuda_backend.cpp  construction, name, copies, synchronize, the factory
//   memory.cu         cast, fill
//   gemm.cpp          gemm (cuBLAS)
//   elementwise.cu    add, axpy, scale, add_bias, mse
//   reduce.cu         sum_rows, sum, sum_squares
//   activation.cu, layernorm.cu, rmsnorm.cu, rope.cu, softmax.cu, dropout.cu, embedding.cu,
//   cross_entropy.cu, adamw.cu
// with helpers in allocator.*, handles.* (device guard, stream, scratch),
// library_handles.* (cuBLAS, cuBLASLt, cuSPARSE), launch.h, reduce.h and device/.
// Every public method first makes this backend's device current (DeviceGuard),
// so several GPUs can be driven from one thread. Results match the CPU
// backend to f32 rounding; dropout masks match bit for bit.
#pragma once

#include <memory>
#include <string>

#include "allocator.h"
#include "handles.h"
#include "spt/backend/backend.h"

namespace spt::cuda {

struct LibraryHandles;  // cuBLAS, cuBLASLt, cuSPARSE (library_handles.h)

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::cuda(index_); }
  Allocator& allocator() override { return allocator_; }
  std::string name() const override { return name_; }

  void copy_from_host(void* dst, const void* src, size_t nbytes) override;
  void copy_to_host(void* dst, const void* src, size_t nbytes) override;
  void copy(Tensor& dst, const Tensor& src) override;
  void cast(Tensor& dst, const Tensor& src) override;
  void fill(Tensor& t, double value) override;
  void synchronize() override;

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
  void layernorm_bwd(const LayerNormParams& p, Tensor& dx, Tensor& dw, Tensor& db, const Tensor& dy,
                     const Tensor& x, const Tensor& w, const Tensor& mean,
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

  // For the op files and, later, the sparse kernels (which include
  // library_handles.h to use the handles).
  cudaStream_t stream() const { return stream_.get(); }
  LibraryHandles& libraries() const { return *libraries_; }

 private:
  // The sparse-attention backward without atomics (sparse_attention.cu).
  void sparse_attention_bwd_deterministic(const SparseAttentionParams& p, Tensor& dq, Tensor& dk, Tensor& dv,
                                          const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                          const Tensor& out, const Tensor& lse, const Tensor& idx);
  // Device-to-device copy of nbytes on the stream (no-op when empty or aliased).
  void copy_bytes(void* dst, const void* src, size_t nbytes);

  // Declaration order is construction order: the allocator outlives the
  // stream and the library handles, which are destroyed first.
  int index_;
  std::string name_;
  CachingAllocator allocator_;
  Stream stream_;
  std::unique_ptr<LibraryHandles> libraries_;
};

}  // namespace spt::cuda
