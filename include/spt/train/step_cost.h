// The predicted cost of one training step (what --dry-run prints for dense vs
// SPT): an analytic count, not a measurement.
//
// FLOPs (2 per multiply-add) of forward + backward over rows x seq tokens:
//   linear (in -> out):      forward 2 N in out; backward 2 N in out for dx, and
//                            2 N in out more for dW when the weight trains;
//                            a routed FFN's linears x active / blocks, plus the
//                            router (d -> blocks); a LoRA adapter of rank r
//                            adds 2 N r (in + out) forward and twice that back;
//   attention (per layer):   4 B H T K dh forward (scores, then P V), twice that
//                            backward, K = T dense (spt computes the causal
//                            mask's half too) or L sparse, plus the sparse
//                            selection's table look-ups (B H T T dh / d_sub);
//   LM head:                 2 N d V forward, again for dx, again when trained;
//   recomputation:           the recomputed part's forward once more.
// Activation bytes kept for backward (f32; the peak over the step's backward):
//   per block: its two norm inputs (2 N d); the attention's input, q, k, v and
//   context, plus the probabilities and their dropout (2 x 4 B H T T) or the
//   sparse indices and log-sum-exp (B H T (L idx + 4)); the FFN's input, pre-
//   activation(s) and activation (a routed FFN: its chosen blocks' share); a LoRA
//   adapter's u (N r). recompute = attention keeps the attention's input only,
//   full only each block's input; both hold one layer's worth again at the peak.
//   The causal LM head's logits (N V).
#pragma once

#include <cstdint>
#include <string>

#include "spt/io/model_config.h"
#include "spt/model/layers.h"
#include "spt/model/options.h"

namespace spt::train {

struct StepCost {
  double flops = 0;           // forward + backward
  double activation_bytes = 0;
};

StepCost predict_step_cost(const io::ModelConfig& cfg, io::ModelHead head, const model::ModelOptions& opts,
                           int64_t rows, int64_t seq, model::Recompute recompute);

// The --dry-run table: dense full fine-tuning, dense LoRA, and this run's
// settings (when they differ), at rows x seq.
std::string step_cost_table(const io::ModelConfig& cfg, io::ModelHead head, const model::ModelOptions& opts,
                            int64_t rows, int64_t seq, model::Recompute recompute);

}  // namespace spt::train
