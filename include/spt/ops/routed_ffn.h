// Routed FFN (the SPT method's second half), the routing ops: a router scores
// the FFN's neuron blocks for each token, the token keeps its best `active`
// blocks with a gate each, and the (token, block) pairs are grouped by block so
// that every block can run one dense matrix multiply over just its tokens (as
// mixture-of-experts systems do).
//
//   route:  logits (N, blocks) -> sel (N, k) i32 (increasing block order),
//           gates (N, k) (sigmoid of the kept logits, or softmax over them)
//   group:  sel -> order (N k) i32, offsets (blocks + 1) i32: block b's entries
//           e = token * k + slot are order[offsets[b] .. offsets[b + 1]), in
//           increasing e (a stable counting sort, so everything downstream sums
//           in a fixed order)
// Formulas in spt/backend/routed_ffn_math.h. The block FFNs themselves come next.
#pragma once

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
// order (N k) and offsets (blocks + 1) written from sel (N, k).
void group_by_block(Tensor& order, Tensor& offsets, const Tensor& sel, int64_t blocks);

}  // namespace spt::ops
