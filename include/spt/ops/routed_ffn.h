// Routed FFN (the SPT method's second half), the routing ops: a router scores
// the FFN's neuron blocks for each token, the token keeps its best `active`
// blocks with a gate each, and the (token, block) pairs are grouped by block so
// that every block can run one dense matrix multiply over just its tokens (as
// mixture-of-experts systems do).
//
//   route:  logits (N, blocks) -> sel (N, k) i32 (increasing block order),
//           gates (N, k) (2 sigmoid of the kept logits, or k softmax over them:
//           1 each for zero logits)
//   group:  sel -> order (N k) i32, offsets (blocks + 1) i32: block b's entries
//           e = token * k + slot are order[offsets[b] .. offsets[b + 1]), in
//           increasing e (a stable counting sort, so everything downstream sums
//           in a fixed order)
//   block FFN: the FFN's F intermediate neurons as `blocks` blocks of F / blocks;
//           entry e = (n, s) runs token n through block b = sel[n, s]:
//             Y_e = act(x_n W_up[b]^T + b_up[b]) W_down[:, b]^T
//             y_n = b_down + sum_s gates[n, s] Y_(n, s)      (slots in order)
//           computed as gathered per-block GEMMs over the grouped rows
//           (Backend::gemm_grouped). With every block kept and gates 1 this is
//           the dense FFN.
// Routing formulas in spt/backend/routed_ffn_math.h.
#pragma once

#include <vector>

#include "spt/backend/backend.h"

namespace spt::ops {

struct RouteOptions {
  int64_t active = 1;                // k, 1 <= k <= blocks
  RouteGate gate = RouteGate::sigmoid;
};

// logits (N, blocks) f32/f64, blocks <= 128. sel, gates written.
void route_forward(Tensor& sel, Tensor& gates, const Tensor& logits, const RouteOptions& o);
// dlogits (N, blocks) written from dgates (N, k) and the forward's gates and sel.
void route_backward(Tensor& dlogits, const Tensor& dgates, const Tensor& gates, const Tensor& sel,
                    int64_t blocks, const RouteOptions& o);
// Load-balancing loss of a routed layer (Backend::ffn_balance): loss (1) and
// dlogits (N, blocks) written from logits (N, blocks), fractions (blocks) of the
// entries each block received (held fixed), and the loss weight. tokens >= 1.
void route_balance(Tensor& loss, Tensor& dlogits, const Tensor& logits, const Tensor& fractions, float weight);
// Fractions (blocks) of the N k entries per block from the grouping's host offsets.
std::vector<double> block_fractions(const std::vector<int64_t>& host_offsets);

// order (N k), offsets (blocks + 1) and pos (N k, order's inverse) written from sel (N, k).
void group_by_block(Tensor& order, Tensor& offsets, Tensor& pos, const Tensor& sel, int64_t blocks);

// A dense FFN's weights read as neuron blocks: up (F, d), down (d, F), biases
// (F) and (d) or undefined; block b is neurons [b F / blocks, (b + 1) F / blocks).
// Gated FFNs (LLaMA's SwiGLU: h = act(x W_gate^T) * (x W_up^T)) also have gate (F, d)
// (and its bias or undefined); gate and up use the same neuron blocks.
//
// Each of the three linears may carry a LoRA adapter (spt/ops/lora.h): A (r, in),
// B (out, r), scale s, dropout D on the adapter's input; its term joins the
// block computation so that a block's adapter rows / columns run with the block:
//   up (gate alike): u_n = D(x_n) A_up^T (N, r);  pre of (n, b) += s u_n B_up[b]^T
//   down: z_n = sum_s g_ns D(h_(n,s)) A_down[:, b]^T (N, r);  y_n += s z_n B_down^T
// With every block kept and gates 1 this is the dense FFN with the same adapters.
// D(h) is drawn over the grouped rows (N k, F / blocks) (counter-based: drawn
// again in backward, nothing stored); D(x) over x, as the dense layer does.
struct BlockLora {
  Tensor a, b;  // undefined a: no adapter
  float scale = 1.f;
  DropoutParams dropout;  // p = 0: none
  bool active() const { return a.defined(); }
};

struct BlockFfn {
  Tensor up_w, up_b, down_w, down_b;
  Tensor gate_w, gate_b;
  Activation act = Activation::gelu_erf;
  int64_t blocks = 1;
  BlockLora up_lora, gate_lora, down_lora;
};

// Gradients of BlockFfn's tensors, accumulated (+=); undefined = frozen.
struct BlockFfnGrads {
  Tensor up_w, up_b, down_w, down_b;
  Tensor gate_w, gate_b;
  // The adapters' A and B (undefined: none or frozen).
  Tensor up_la, up_lb, gate_la, gate_lb, down_la, down_lb;
};

// What the routed FFN's backward needs: the grouping and the pre-activations of
// the grouped rows (N k, F / blocks). The activations, gathered inputs and
// per-entry outputs are recomputed, not stored.
struct RoutedFfnSaved {
  Tensor order, offsets, pos, pre;
  Tensor pre_gate;  // gated FFNs
  Tensor up_u, gate_u, down_z;  // the adapters' (N, r) activations u (unscaled) and z
  std::vector<int64_t> host_offsets;  // offsets on the host (group sizes for the GEMMs)
  int64_t active = 0;                 // k
};

// y (N, d) written from x (N, d), sel (N, k) i32 and gates (N, k) (undefined:
// every gate is 1).
void routed_ffn_forward(Tensor& y, RoutedFfnSaved& saved, const Tensor& x, const Tensor& sel,
                        const Tensor& gates, const BlockFfn& f);
// dx (when need_dx) and dgates (when gates are defined) written; parameter
// gradients accumulated into g.
void routed_ffn_backward(Tensor& dx, Tensor& dgates, BlockFfnGrads& g, const Tensor& dy, const Tensor& x,
                         const Tensor& gates, const RoutedFfnSaved& saved, const BlockFfn& f,
                         bool need_dx = true);

}  // namespace spt::ops
