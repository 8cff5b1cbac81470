// The Backend interface: every kernel spt runs, implemented once per device.
//
// The op layer (include/spt/ops) validates shapes, dtypes and devices once and
// then calls these methods, so implementations may assume valid, contiguous
// input of a supported dtype. The CPU backend (src/cpu) is the readable
// reference; the CUDA backend (cuda/) is tested against it.
//
// Conventions for every method: outputs first, then inputs, then sizes in a
// params struct. Activation gradients are written (=); parameter gradients
// (dw, db, dweight, dbias) are accumulated (+=).
//
// Room for what comes next: the routed FFN adds a grouped GEMM over row ranges
// (host-side offsets), with tensors plus a params struct like the methods below.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "spt/core/allocator.h"
#include "spt/core/tensor.h"

namespace spt {

// C = alpha * op(A) op(B) + beta * C, all row-major, batched in two levels:
// batch item (o, i) for o < batch_outer, i < batch_inner uses
// A + o * stride_a_outer + i * stride_a_inner (likewise B, C). Two levels let
// attention address head h of batch b inside a (B, T, H*D) tensor without a copy.
struct GemmParams {
  bool trans_a = false;  // op(A) = A^T; A is stored (k, m) instead of (m, k)
  bool trans_b = false;  // op(B) = B^T; B is stored (n, k) instead of (k, n)
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;  // row strides (elements) of the stored matrices
  int64_t batch_outer = 1, batch_inner = 1;
  int64_t stride_a_outer = 0, stride_a_inner = 0;  // elements
  int64_t stride_b_outer = 0, stride_b_inner = 0;
  int64_t stride_c_outer = 0, stride_c_inner = 0;
  float alpha = 1.f;
  float beta = 0.f;  // 0: C is written; 1: C is accumulated
};

enum class Activation { gelu_erf, gelu_tanh, relu, silu, tanh };
const char* activation_name(Activation a);

struct LayerNormParams {
  int64_t rows = 0;  // N: every row is normalised on its own
  int64_t cols = 0;  // C: normalised dimension
  float eps = 1e-5f;
};

// Rotary position embeddings (spt/ops/rope.h): x (rows, heads * head_dim),
// pos (rows) i32, cos / sin (P, head_dim / 2); inverse rotates by -angle (backward).
struct RopeParams {
  int64_t rows = 0;
  int64_t heads = 0;
  int64_t head_dim = 0;  // even
  bool inverse = false;
};

// Softmax over the last dim of scores (B, H, Tq, Tk), with an optional key
// padding mask (B, Tk) and an optional causal mask. Rows with no visible key
// produce all-zero probabilities (and zero gradients) instead of NaN.
struct SoftmaxParams {
  int64_t batch = 0;  // B
  int64_t heads = 0;  // H: rows of one batch item share its key mask
  int64_t tq = 0;     // queries per (b, h)
  int64_t tk = 0;     // keys per (b, h)
  float scale = 1.f;  // softmax(scale * x)
  bool causal = false;  // key j visible to query i iff j <= i + (tk - tq)
};

// Inverted dropout with a counter-based (Philox-4x32-10) mask: element e is
// dropped iff uniform(seed, offset, e) < p, the same on every backend, so the
// mask is regenerated in backward instead of stored.
struct DropoutParams {
  float p = 0.f;        // drop probability in [0, 1)
  uint64_t seed = 0;    // Philox key
  uint64_t offset = 0;  // stream id: distinct per (step, layer, purpose)
  // Element e of the tensor is element base + e of the stream. Data parallelism:
  // a rank holding rows [r0, r1) of a global batch sets base = r0 * (elements per
  // row), so its masks are the single-process run's rows r0..r1.
  uint64_t base = 0;
};

// Attention restricted to per-query key lists (spt/ops/sparse_attention.h).
// q (B, Tq, H*D), k and v (B, Tk, Hk*D); query head h reads key/value head
// h / (H / Hk) (grouped-query attention without copies). idx (B, H, Tq, L), i16
// or i32: the keys of each query in increasing order, then -1 in unused slots.
// lse (B, H, Tq) in the accumulation dtype: the row's log-sum-exp of scaled
// scores, -inf for a row without keys (its output and gradients are 0).
// The CUDA implementation of sparse attention (the CPU backend has one, and it is
// deterministic): fused warp-per-row kernels, or the prototype's cuSPARSE path
// (CSR pattern, cusparseSDDMM, row softmax, cusparseSpMM), kept to cross-check
// and to benchmark against.
enum class SparseKernel { fused, cusparse };

struct SparseAttentionParams {
  int64_t batch = 0, heads = 0, kv_heads = 0;
  int64_t tq = 0, tk = 0, head_dim = 0;
  int64_t slots = 0;      // L
  float scale = 1.f;      // scores are scale * q . k
  DropoutParams dropout;  // element (b, h, i, j) of the dense (B, H, Tq, Tk) layout
  SparseKernel kernel = SparseKernel::fused;  // CUDA only
  // CUDA fused backward: dK / dV summed per key in a fixed order through a
  // transposed index list, instead of atomics (run-to-run identical, slower).
  bool deterministic = false;
};

// Choosing each query's keys: product-quantised keys (codebooks (Hk, M, C, D/M)
// f32, nearest codeword per sub-space), approximate scores by asymmetric
// distance computation with 8-bit look-up tables, the top rerank * L' of them
// re-scored exactly, the exact top L' kept (ties: smaller key index first).
// L' is the row's budget (sparse::row_budget) minus its forced keys.
struct SparseSelectParams {
  SparseAttentionParams attn;  // dims; dropout unused
  bool causal = false;
  int64_t top_l = 0;        // > 0: L' + forced = top_l; 0: from top_ratio / min_l
  float top_ratio = 0.125f;
  int64_t min_l = 0;
  int64_t keep_first = 0;   // keys j < keep_first always kept
  int64_t local_window = 0; // keys within this distance of the query always kept
  int64_t rerank = 1;
  int64_t subspaces = 0;    // M
  int64_t codewords = 16;   // C <= 256
};

// Routed FFN routing (spt/ops/routed_ffn.h): each of `tokens` tokens keeps its
// `active` best of `blocks` router logits (ties: the smaller block), listed in
// increasing block order; gates are 2 sigmoid of each kept logit, or k times the
// softmax over the kept logits (both 1 for zero logits: the dense FFN's weighting).
enum class RouteGate { sigmoid, softmax };
struct RouteParams {
  int64_t tokens = 0, blocks = 0, active = 0;
  RouteGate gate = RouteGate::sigmoid;
};

// A grouped GEMM (the routed FFN's per-block products, as MegaBlocks runs them):
// group g = 0 .. offsets.size() - 2 is one product of GemmParams' shape whose
// grouped dimension has offsets[g + 1] - offsets[g] rows (host values, in
// increasing order). Grouped dim m: A (not transposed) and C start at row
// offsets[g] (A + offsets[g] * lda, C + offsets[g] * ldc) and B at
// g * stride_b_outer. Grouped dim k (beta must be 1): A (transposed, stored
// (k, m)) and B (not transposed) start at row offsets[g], C at g * stride_c_outer.
// Batch fields other than those strides are unused.
struct GroupedGemm {
  std::vector<int64_t> offsets;
  bool group_k = false;
};

struct CrossEntropyParams {
  int64_t rows = 0;     // N
  int64_t classes = 0;  // V
  int64_t ignore_index = -100;
};

struct AdamWParams {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.f;  // decoupled: p *= 1 - lr * weight_decay
  int64_t step = 1;          // 1-based, for bias correction
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual Allocator& allocator() = 0;
  virtual std::string name() const = 0;  // "cpu (OpenBLAS ...)", "cuda:0 (NVIDIA H200, sm_90)"

  // ---- memory ----
  virtual void copy_from_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t nbytes) = 0;
  virtual void copy(Tensor& dst, const Tensor& src) = 0;  // same dtype, same device
  virtual void cast(Tensor& dst, const Tensor& src) = 0;  // float dtypes, round to nearest even
  virtual void fill(Tensor& t, double value) = 0;
  virtual void synchronize() = 0;

  // ---- dense linear algebra ----
  virtual void gemm(const GemmParams& p, Tensor& c, const Tensor& a, const Tensor& b) = 0;

  // ---- elementwise and reductions ----
  virtual void add(Tensor& out, const Tensor& a, const Tensor& b) = 0;  // out = a + b
  virtual void axpy(Tensor& y, const Tensor& x, float alpha) = 0;       // y += alpha * x
  virtual void scale(Tensor& x, float s) = 0;                          // x *= s
  virtual void add_bias(Tensor& y, const Tensor& bias) = 0;    // y (R, C) += bias (C)
  virtual void sum_rows(Tensor& out, const Tensor& x) = 0;     // out (C) += sum_r x (R, C)
  virtual double sum(const Tensor& x) = 0;                     // returns on the host
  virtual double sum_squares(const Tensor& x) = 0;             // returns on the host

  // ---- layers ----
  virtual void activation_fwd(Activation act, Tensor& y, const Tensor& x) = 0;
  // dx = dy * act'(x)
  virtual void activation_bwd(Activation act, Tensor& dx, const Tensor& dy, const Tensor& x) = 0;
  // Gated activation (GLU; SwiGLU with silu): h = act(g) * u, all the same shape.
  virtual void glu_fwd(Activation act, Tensor& h, const Tensor& g, const Tensor& u) = 0;
  // dg = dh * u * act'(g), du = dh * act(g) (written).
  virtual void glu_bwd(Activation act, Tensor& dg, Tensor& du, const Tensor& dh, const Tensor& g,
                       const Tensor& u) = 0;

  // mean, rstd: (N) in the accumulation dtype (f32, or f64 for f64 input)
  virtual void layernorm_fwd(const LayerNormParams& p, Tensor& y, Tensor& mean, Tensor& rstd,
                             const Tensor& x, const Tensor& w, const Tensor& b) = 0;
  virtual void layernorm_bwd(const LayerNormParams& p, Tensor& dx, Tensor& dw, Tensor& db,
                             const Tensor& dy, const Tensor& x, const Tensor& w,
                             const Tensor& mean, const Tensor& rstd) = 0;

  // RMS norm (rows, cols as for layer norm): rstd (N) in the accumulation dtype;
  // dx written, dw accumulated.
  virtual void rmsnorm_fwd(const LayerNormParams& p, Tensor& y, Tensor& rstd, const Tensor& x,
                           const Tensor& w) = 0;
  virtual void rmsnorm_bwd(const LayerNormParams& p, Tensor& dx, Tensor& dw, const Tensor& dy,
                           const Tensor& x, const Tensor& w, const Tensor& rstd) = 0;

  // y = x rotated per (row, head) by the angles of row pos[n] (y written; y may not alias x).
  virtual void rope(const RopeParams& p, Tensor& y, const Tensor& x, const Tensor& pos, const Tensor& cos,
                    const Tensor& sin) = 0;

  // key_mask: (B, Tk) i32, nonzero = visible; undefined tensor = no padding mask
  virtual void softmax_fwd(const SoftmaxParams& p, Tensor& y, const Tensor& x,
                           const Tensor& key_mask) = 0;
  // dx = scale * (yd * dy - y * sum_j yd * dy), yd = y_dropped if defined, else y.
  // y_dropped = dropout(y) makes this the softmax backward of dropout_bwd(dy)
  // (attention: no second draw of the mask).
  virtual void softmax_bwd(const SoftmaxParams& p, Tensor& dx, const Tensor& dy,
                           const Tensor& y, const Tensor& y_dropped) = 0;

  virtual void dropout_fwd(const DropoutParams& p, Tensor& y, const Tensor& x) = 0;
  virtual void dropout_bwd(const DropoutParams& p, Tensor& dx, const Tensor& dy) = 0;
  // dropout_fwd that also writes its keep mask as bits: element e is bit e % 32
  // of i32 word e / 32 (ceil(n / 32) words, unused high bits 0), so that a caller
  // can apply the same mask again without drawing it (p > 0).
  virtual void dropout_fwd_bits(const DropoutParams& p, Tensor& y, Tensor& bits, const Tensor& x) = 0;
  // y = keep ? x / (1 - p) : 0 with keep read from bits (dropout_fwd_bits's).
  virtual void dropout_apply_bits(float p, Tensor& y, const Tensor& x, const Tensor& bits) = 0;

  // ---- sparse attention ----
  // idx (written) from q, k, the key mask (B, Tk) i32 or undefined and the codebooks.
  virtual void sparse_select(const SparseSelectParams& p, Tensor& idx, const Tensor& q,
                             const Tensor& k, const Tensor& key_mask, const Tensor& codebooks) = 0;
  // out_i = sum_s dropout(P_is) v_idx(i,s), P = softmax over the row's keys of
  // scale q_i . k_j; out and lse written.
  virtual void sparse_attention_fwd(const SparseAttentionParams& p, Tensor& out, Tensor& lse,
                                    const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& idx) = 0;
  // dq, dk, dv written, the scores recomputed from q, k and lse; out is the forward's.
  virtual void sparse_attention_bwd(const SparseAttentionParams& p, Tensor& dq, Tensor& dk,
                                    Tensor& dv, const Tensor& dout, const Tensor& q,
                                    const Tensor& k, const Tensor& v, const Tensor& out,
                                    const Tensor& lse, const Tensor& idx) = 0;

  // ---- routed FFN ----
  // sel (N, k) i32 and gates (N, k) written from logits (N, blocks) (RouteParams).
  virtual void ffn_route_fwd(const RouteParams& p, Tensor& sel, Tensor& gates, const Tensor& logits) = 0;
  // dlogits (N, blocks) written: dgates through the gate function at the kept
  // logits, 0 at the others (the choice itself is piecewise constant).
  virtual void ffn_route_bwd(const RouteParams& p, Tensor& dlogits, const Tensor& dgates, const Tensor& gates,
                             const Tensor& sel) = 0;
  // The entries e = token * k + slot grouped by block, a stable counting sort:
  // order (N k) i32 lists block 0's entries in increasing e, then block 1's, ...;
  // offsets (blocks + 1) i32 the start of each block's run (offsets[blocks] = N k).
  // pos (N k) i32 is order's inverse: entry e sits at row pos[e] of the grouped rows.
  virtual void ffn_group(const RouteParams& p, Tensor& order, Tensor& offsets, Tensor& pos,
                         const Tensor& sel) = 0;
  // Load-balancing loss (Switch Transformer's) of one routed layer, with
  // fractions f (blocks) of the (token, slot) entries each block received and
  // p_n = softmax(logits_n) over all blocks:
  //   loss = weight * blocks / N * sum_n sum_b f_b p_nb            (loss (1) written)
  //   dlogits_nj = weight * blocks / N * p_nj (f_j - sum_b f_b p_nb)  (written; f held fixed)
  // Summed over tokens in a fixed order.
  virtual void ffn_balance(const RouteParams& p, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                           const Tensor& fractions, float weight) = 0;
  // Grouped rows (N k, C): rows[r] = g * x[order[r] / k], g = gates.flat[order[r]]
  // (1 when gates is undefined); x (N, C).
  virtual void ffn_gather(const RouteParams& p, Tensor& rows, const Tensor& x, const Tensor& order,
                          const Tensor& gates) = 0;
  // y (N, C) written: y[n] = sum over slots s in increasing order of
  // g * rows[pos[n k + s]], g = gates[n, s] (1 when gates is undefined).
  virtual void ffn_combine(const RouteParams& p, Tensor& y, const Tensor& rows, const Tensor& pos,
                           const Tensor& gates) = 0;
  // For every grouped row r with e = order[r]: dgates.flat[e] = dot(dh[r], h[r])
  // (written), then dh[r] *= gates.flat[e] and h[r] *= gates.flat[e]. dh, h (N k, F).
  virtual void ffn_gate_grad(const RouteParams& p, Tensor& dgates, Tensor& dh, Tensor& h,
                             const Tensor& order, const Tensor& gates) = 0;
  // C = alpha op(A) op(B) + beta C for every group of `g` (GroupedGemm).
  virtual void gemm_grouped(const GemmParams& p, const GroupedGemm& g, Tensor& c, const Tensor& a,
                            const Tensor& b) = 0;

  // out (N, C) = weight[ids]; ids (N) i32 already checked to lie in [0, V)
  virtual void embedding_fwd(Tensor& out, const Tensor& weight, const Tensor& ids) = 0;
  // dweight (V, C) += scatter of dout (N, C) by ids
  virtual void embedding_bwd(Tensor& dweight, const Tensor& dout, const Tensor& ids) = 0;
  // Number of ids outside [0, limit) (validation before embedding_fwd).
  virtual int64_t count_out_of_range(const Tensor& ids, int64_t limit) = 0;
  // y (B, C) = mean of x (B, T, C) over the tokens t with mask[b, t] != 0 (mask
  // (B, T) i32, or undefined: all); 0 for a row without one (include/spt/ops/pooling.h)
  virtual void mean_pool_fwd(Tensor& y, const Tensor& x, const Tensor& mask) = 0;
  // dx (B, T, C) written: dy[b] / n_b where mask[b, t] != 0, else 0
  virtual void mean_pool_bwd(Tensor& dx, const Tensor& dy, const Tensor& mask) = 0;

  // losses (N) = logsumexp(logits_i) - logits_i[t_i] (0 where t_i == ignore_index);
  // lse (N) saved for backward. targets (N) i32 already range-checked.
  virtual void cross_entropy_fwd(const CrossEntropyParams& p, Tensor& losses, Tensor& lse,
                                 const Tensor& logits, const Tensor& targets) = 0;
  // dlogits = scale * (softmax(logits) - onehot(t)); zero rows where ignored
  virtual void cross_entropy_bwd(const CrossEntropyParams& p, Tensor& dlogits,
                                 const Tensor& logits, const Tensor& lse, const Tensor& targets,
                                 float scale) = 0;
  // losses (N) = (pred - target)^2
  virtual void mse_fwd(Tensor& losses, const Tensor& pred, const Tensor& target) = 0;
  // dpred = scale * 2 * (pred - target)
  virtual void mse_bwd(Tensor& dpred, const Tensor& pred, const Tensor& target, float scale) = 0;

  // ---- optimizer ----
  // One AdamW step over same-shaped f32 tensors, torch.optim.AdamW's formula.
  virtual void adamw_step(const AdamWParams& p, Tensor& param, Tensor& m, Tensor& v,
                          const Tensor& grad) = 0;
};

// The backend of a device (created on first use). Throws spt::Error for a CUDA
// device when spt was built without CUDA or no such GPU is present.
Backend& backend_for(Device device);
Allocator& default_allocator(Device device);
// Waits for every backend created so far (the profiler's sync mode).
void synchronize_all_backends();

// Number of usable CUDA devices; 0 when built without CUDA or when device
// discovery fails for any reason (no driver, no GPU, CUDA error).
int cuda_device_count();
bool cuda_built();  // whether this binary contains the CUDA backend
// Why cuda_device_count() is 0 ("built without CUDA", the driver's error such as
// "CUDA driver version is insufficient for CUDA runtime version", or "no CUDA
// device found"); "" when a device is usable.
std::string cuda_unavailable_reason();

}  // namespace spt
