// The op library's names (see include/spt/ops/op_list.h).
#include "spt/ops/op_list.h"

namespace spt::ops {

const std::vector<std::string>& op_names() {
  static const std::vector<std::string> names = {
      "linear",  "lora_linear", "embedding", "layernorm", "rmsnorm", "rope", "gelu",          "gelu_tanh",
      "relu",    "silu",        "glu",       "tanh",      "softmax",   "dropout",       "dropout_bits", "residual",
      "attention", "sparse_attention", "sparse_select", "ffn_route", "ffn_group", "ffn_balance", "routed_ffn", "mean_pool", "cross_entropy", "mse",   "adamw",     "clip_grad_norm"};
  return names;
}

}  // namespace spt::ops
