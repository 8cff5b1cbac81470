// Building blocks shared by the models: parameter references bound by name
// from a ParameterStore, and the per-step context that keys dropout.
//
// Layers are plain structs without a tape: forward records what backward needs
// in the layer's own saved slots; backward writes activation gradients and
// accumulates parameter gradients (skipped for frozen parameters, whose
// gradient views are undefined).
#pragma once

#include <cstdint>
#include <string>

#include "spt/backend/backend.h"
#include "spt/model/lora.h"
#include "spt/model/parameters.h"
#include "spt/model/rope_tables.h"
#include "spt/model/routed_ffn.h"
#include "spt/model/sparse_attention.h"
#include "spt/ops/attention.h"
#include "spt/ops/layernorm.h"
#include "spt/ops/lora.h"
#include "spt/ops/rmsnorm.h"
#include "spt/ops/routed_ffn.h"
#include "spt/ops/sparse_attention.h"

namespace spt::model {

// Observes attention layers during a forward pass (codebook learning, selection
// statistics). Every method has an empty default.
struct AttentionProbe {
  virtual ~AttentionProbe() = default;
  // Keys of layer `layer` (0-based): k (B, T, Hk*D), key_mask (B, T) or undefined.
  virtual void keys(int64_t /*layer*/, const Tensor& /*k*/, const Tensor& /*key_mask*/) {}
  // The keys a sparse layer chose: idx (B, H, T, L) for q, k.
  virtual void selection(int64_t /*layer*/, const Tensor& /*q*/, const Tensor& /*k*/,
                         const Tensor& /*key_mask*/, const Tensor& /*idx*/,
                         const ops::SparseAttentionParams& /*p*/) {}
};

// Observes what each transformer block takes and gives during a forward pass
// (the non-finite guard's diagnosis): `where` names the tensor ("input of layer
// 0", "output of layer 3").
struct BlockProbe {
  virtual ~BlockProbe() = default;
  virtual void tensor(const std::string& /*where*/, int64_t /*layer*/, const Tensor& /*t*/) {}
};

// Observes FFN layers during a forward pass (router calibration, router load).
// Every method has an empty default.
struct FfnProbe {
  virtual ~FfnProbe() = default;
  // Input of FFN layer `layer`: x (B, T, d), token_mask (B, T) or undefined.
  virtual void inputs(int64_t /*layer*/, const Tensor& /*x*/, const Tensor& /*token_mask*/) {}
  // A routed layer's grouping: block b ran offsets[b + 1] - offsets[b] (token, slot) entries.
  virtual void load(int64_t /*layer*/, const std::vector<int64_t>& /*offsets*/) {}
};

// Auxiliary losses a training forward adds (the routed FFN's balance loss):
// one (1) tensor per term, already weighted; their gradients flow in backward.
// Told when a Transformer block's backward has finished, i.e. its parameters'
// gradients for this micro-batch are complete (data parallelism starts their
// all-reduce then, while the earlier blocks run backward).
struct GradsReady {
  virtual ~GradsReady() = default;
  virtual void block_done(int64_t block) = 0;
};

struct AuxLosses {
  std::vector<Tensor> terms;
  double total() const;  // sum on the host
};

// What a forward pass needs besides its inputs.
// Activation recomputation (runtime.recompute): what a training forward drops
// and backward computes again, per transformer block. none: everything is kept;
// attention: the attention's activations (q, k, v, the probabilities or the
// sparse indices, the context) are dropped, its input kept; full: only the
// block's input is kept and the whole block runs again in backward. Gradients
// are bit-identical (the same kernels on the same inputs, dropout masks keyed by
// step, micro-batch, layer and site).
enum class Recompute { none, attention, full };

struct StepContext {
  bool training = false;  // dropout on
  uint64_t seed = 0;      // dropout key
  uint64_t step = 0;      // optimizer step (with the micro-batch) keys the masks
  uint64_t micro = 0;     // micro-batch within the step
  AttentionProbe* probe = nullptr;
  bool dense_attention = false;  // sparse layers run dense (codebook calibration)
  FfnProbe* ffn_probe = nullptr;
  bool dense_ffn = false;        // routed layers run dense (router calibration)
  AuxLosses* aux = nullptr;      // training: auxiliary loss terms are added here
  double aux_scale = 1.0;        // weight of this micro-batch's auxiliary terms (1 / micro-batches)
  // false: no backward follows (evaluation, prediction, calibration): each block
  // drops what backward would need as soon as it is done, so memory holds one
  // layer's activations instead of all of them.
  bool keep_saved = true;
  // Data parallelism: this micro-batch is rows [row0, row0 + rows) of the global
  // one, and dropout masks are drawn at those rows' places (DropoutParams::base),
  // so N ranks draw the single-process run's masks. rows = 0: not a slice.
  int64_t row0 = 0, rows = 0;
  GradsReady* grads_ready = nullptr;  // backward: each block reports when its gradients are complete
  Recompute recompute = Recompute::none;  // with keep_saved: what backward recomputes
  BlockProbe* block_probe = nullptr;
  int64_t poison_layer = -1;  // fault injection (tests): this block's output is made NaN
};

// Dropout parameters for one site: the Philox stream is (step, micro, layer, site),
// so a resumed run replays exactly the same masks. `numel`: elements of the
// masked tensor, whose leading dimension(s) run over the micro-batch's rows.
DropoutParams dropout_at(const StepContext& ctx, float p, int layer, int site, int64_t numel);

// A LoRA adapter on a linear layer (spt/ops/lora.h): A (r, in), B (out, r),
// their gradients (undefined when frozen), scale and input dropout.
struct LoraRef {
  Tensor a, b, da, db;
  float scale = 1.f, p = 0.f;
  int layer = 0, site = 0;  // the dropout stream (dropout_at)
  // Saved by forward.
  Tensor u, mask;
  ops::LoraParams params;
  bool active() const { return a.defined(); }
};

// A Linear layer's parameters: weight (out, in), bias (out) or undefined, and
// its LoRA adapter when the store has one (<name>.lora_A / .lora_B).
// `compute` (the store's compute_dtype(), runtime.precision) bf16 / f16: forward
// rounds the f32 master weight to a copy `wc` that the GEMMs of forward and
// backward use (ops/linear.h; the adapter stays f32); release() drops it.
struct LinearRef {
  Tensor w, b, dw, db;
  DType compute = DType::f32;
  Tensor wc;
  LoraRef lora;
  // `lora` gives the adapter's scale and dropout; required when the store holds
  // an adapter for `name`.
  static LinearRef bind(ParameterStore& ps, const std::string& name, bool bias = true,
                        const LoraOptions* lora = nullptr);
  // Drops what forward saved for backward (the adapter's u and mask).
  void release() { lora.u = lora.mask = wc = Tensor(); }
  // w, or its compute copy (made when missing).
  const Tensor& gemm_weight();
  // Row range [begin, end) of the output features (views; e.g. GPT-2's fused
  // c_attn; an adapter keeps A and takes B's rows).
  LinearRef rows(int64_t begin, int64_t end) const;
  // y = x W^T + b (+ the adapter's term; `step` keys its dropout).
  void forward(Tensor& y, const Tensor& x, const StepContext& step = {});
  // dx written when need_dx; dw, db (and the adapter's dA, dB) accumulated when trainable.
  void backward(Tensor& dx, const Tensor& dy, const Tensor& x, bool need_dx = true);
};

// A normalisation layer's parameters: layer norm (weight, bias) or RMS norm
// (LLaMA; weight only, `rms`), with what forward saves for backward.
struct NormRef {
  Tensor w, b, dw, db;  // b, db undefined for RMS norm
  float eps = 1e-5f;
  bool rms = false;
  struct Saved {
    ops::LayerNormSaved ln;
    ops::RmsNormSaved rms;
  };
  static NormRef layer_norm(ParameterStore& ps, const std::string& name, float eps,
                            const std::string& weight = "weight", const std::string& bias = "bias");
  static NormRef rms_norm(ParameterStore& ps, const std::string& name, float eps);
  // y = norm(x), written.
  Tensor forward(Saved& saved, const Tensor& x) const;
  // dx written; dw, db accumulated (into scratch buffers when frozen).
  Tensor backward(const Tensor& dy, const Tensor& x, const Saved& saved);
};

// Multi-head self-attention with its projections, shared by BERT, GPT-2 and LLaMA:
//   y = dropout(Attention(R(x W_q^T + b_q), R(x W_k^T + b_k), x W_v^T + b_v) W_o^T + b_o)
// R is the rotary embedding (spt/ops/rope.h) when `rotary` is set (LLaMA), else
// the identity. Grouped-query attention when params.kv_heads < params.heads.
// Attention is dense, or sparse (spt/ops/sparse_attention.h) in the layers the
// model options make sparse. Dropout sites: 0 = attention probabilities, 1 = output.
struct SelfAttention {
  LinearRef q, k, v, o;
  ops::AttentionParams params;  // heads, kv_heads, causal, scale
  const RotaryTables* rotary = nullptr;  // the model's tables for this forward, or none
  float p_attn = 0, p_out = 0;
  int layer = 0;        // dropout stream
  int64_t index = 0;    // 0-based layer index (codebook names, probes)
  bool sparse = false;  // sparse attention in this layer
  ops::SparseAttentionParams sparse_params;
  Tensor codebooks;     // (Hk, M, C, D/M), state in the ParameterStore

  // Saved by forward.
  Tensor x, qa, ka, va, ctx;
  ops::AttentionSaved attn;
  ops::SparseAttentionSaved sparse_saved;
  bool ran_sparse = false;
  DropoutParams d_out;

  // Binds layer l's projections layers.<l>.attn.{q,k,v,out} (biases when `bias`;
  // their adapters when the store has them) and sets index = l, layer = l + 1.
  void bind(ParameterStore& ps, int64_t l, bool bias, const LoraOptions* lora);
  // Makes this layer sparse when `opts` says so (after params and index are set).
  void bind_sparse(ParameterStore& ps, const SparseAttentionOptions& opts);

  Tensor forward(const Tensor& x_in, const Tensor& key_mask, const StepContext& step);
  // Gradient reaching x through q, k and v (written); parameter gradients accumulated.
  Tensor backward(const Tensor& dy);
  // Drops what forward saved for backward.
  void release();

 private:
  // The rotary embedding (inverse: its transpose, for gradients) of t (B, T, heads * D).
  Tensor rotate(const Tensor& t, int64_t heads, bool inverse) const;
};

// The position-wise feed-forward block, shared by BERT, GPT-2 and LLaMA:
//   y = dropout(act(x W_up^T + b_up) W_down^T + b_down)
// or gated when `gate` is bound (LLaMA's SwiGLU):
//   y = dropout((act(x W_gate^T + b_gate) * (x W_up^T + b_up)) W_down^T + b_down)
// or, in the layers the model options route (spt/model/routed_ffn.h), the
// routed FFN on the same weights: logits = x W_r^T + b_r, each token's top
// `active` blocks with their gates (spt/ops/routed_ffn.h). Dropout site 2 of its layer.
struct FeedForward {
  LinearRef up, down;
  LinearRef gate;      // gated FFN when gate.w is defined
  Activation act = Activation::gelu_erf;
  float p_out = 0;
  int layer = 0;       // dropout stream
  int64_t index = 0;   // 0-based layer index (router names, probes)
  bool routed = false;
  LinearRef router;    // (blocks, d)
  ops::RouteOptions route;
  int64_t blocks = 1;
  float balance = 0;   // load-balancing loss weight (training only)

  // Saved by forward.
  Tensor x, pre, pre_gate, hidden;
  Tensor sel, gates, balance_grad;
  ops::RoutedFfnSaved routed_saved;
  bool ran_routed = false;
  DropoutParams d_out;

  // Binds layer l's layers.<l>.ffn.{up,down} (and gate when `gated`), biases when
  // `bias`, and sets act, index = l, layer = l + 1.
  void bind(ParameterStore& ps, int64_t l, bool bias, const LoraOptions* lora, Activation activation,
            bool gated = false);
  // Makes this layer routed when `opts` says so (after up, down and index are set).
  void bind_routed(ParameterStore& ps, const RoutedFfnOptions& opts);

  // x (B, T, d); token_mask (B, T) or undefined, for probes only.
  Tensor forward(const Tensor& x_in, const StepContext& step, const Tensor& token_mask = Tensor());
  // Gradient reaching x (written); parameter gradients accumulated.
  Tensor backward(const Tensor& dy);
  // Drops what forward saved for backward.
  void release();

 private:
  Tensor forward_routed(const StepContext& step);
  Tensor backward_routed(const Tensor& d_y);
  ops::BlockFfn block_ffn() const;
};

// One Transformer block, shared by every family:
//   pre-norm (GPT-2, LLaMA, OPT):     h = x + attn(n1(x));  y = h + ffn(n2(h))
//   post-norm (BERT, OPT-350m):       h = n1(x + attn(x));  y = n2(h + ffn(h))
// (the sub-layers apply their own output dropout). The attention mask is the
// key padding mask; it is also the FFN's token mask for probes.
struct TransformerBlock {
  NormRef n1, n2;
  SelfAttention attention;
  FeedForward ffn;
  bool pre_norm = true;

  Tensor forward(const Tensor& x, const Tensor& mask, const StepContext& c);
  // Gradient reaching x (written); parameter gradients accumulated.
  Tensor backward(const Tensor& dy);

 private:
  Tensor run(const Tensor& x, const Tensor& mask, const StepContext& c);
  // Saved: the inputs of n1 and n2 (pre-norm: x and h; post-norm: x + attn(x) and h + ffn(h)).
  Tensor in1, in2;
  NormRef::Saved s1, s2;
  GradsReady* grads_ready = nullptr;  // from forward's StepContext
  // Recomputation: the forward's context without its probes and auxiliary
  // losses (they ran once), the block's input and mask (full), the attention's
  // input (attention).
  Recompute recompute = Recompute::none;
  StepContext again;
  Tensor rc_x, rc_mask, rc_attn_in;
};

}  // namespace spt::model
