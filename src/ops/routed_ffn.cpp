// Routed FFN routing: checks at the op boundary, then the backend's kernels
// (src/cpu/routed_ffn.cpp, cuda/routed_ffn.cu).
#include "spt/ops/routed_ffn.h"

#include "spt/core/profile.h"
#include "src/ops/check.h"

namespace spt::ops {

namespace {

constexpr int64_t kMaxBlocks = 128;  // route_row keeps the chosen blocks as 128 bits

RouteParams route_params(const char* op, int64_t tokens, int64_t blocks, const RouteOptions& o) {
  RouteParams p;
  p.tokens = tokens;
  p.blocks = blocks;
  p.active = o.active;
  p.gate = o.gate;
  SPT_CHECK(p.blocks >= 1 && p.blocks <= kMaxBlocks, "[", op, "] ", p.blocks, " blocks; the router handles 1 to ",
            kMaxBlocks);
  SPT_CHECK(p.active >= 1 && p.active <= p.blocks, "[", op, "] active = ", p.active, " blocks per token must be in [1, ",
            p.blocks, "]");
  return p;
}

void check_sel(const char* op, const Tensor& sel, const RouteParams& p) {
  check_index(op, "sel", sel);
  check_shape(op, "sel", sel, {p.tokens, p.active});
}

}  // namespace

void route_forward(Tensor& sel, Tensor& gates, const Tensor& logits, const RouteOptions& o) {
  SPT_PROFILE_SCOPE("route_forward");
  const char* op = "ffn_route";
  check_float(op, "logits", logits);
  check_ndim(op, "logits", logits, 2, "(tokens, blocks)");
  const RouteParams p = route_params(op, logits.dim(0), logits.dim(1), o);
  ensure_output(op, "sel", sel, {p.tokens, p.active}, DType::i32, logits.device());
  ensure_output(op, "gates", gates, {p.tokens, p.active}, logits.dtype(), logits.device());
  if (p.tokens == 0) return;
  backend_for(logits.device()).ffn_route_fwd(p, sel, gates, logits);
}

void route_backward(Tensor& dlogits, const Tensor& dgates, const Tensor& gates, const Tensor& sel,
                    int64_t blocks, const RouteOptions& o) {
  SPT_PROFILE_SCOPE("route_backward");
  const char* op = "ffn_route";
  check_float(op, "gates", gates);
  check_ndim(op, "gates", gates, 2, "(tokens, active)");
  check_float(op, "dgates", dgates);
  check_shape(op, "dgates", dgates, gates.shape());
  check_same(op, {&gates, &dgates, &sel});
  const RouteParams p = route_params(op, gates.dim(0), blocks, o);
  check_sel(op, sel, p);
  check_shape(op, "gates", gates, {p.tokens, p.active});
  ensure_output(op, "dlogits", dlogits, {p.tokens, p.blocks}, gates.dtype(), gates.device());
  if (p.tokens == 0) return;
  backend_for(gates.device()).ffn_route_bwd(p, dlogits, dgates, gates, sel);
}

void route_balance(Tensor& loss, Tensor& dlogits, const Tensor& logits, const Tensor& fractions, float weight) {
  SPT_PROFILE_SCOPE("route_balance");
  const char* op = "ffn_balance";
  check_float(op, "logits", logits);
  check_ndim(op, "logits", logits, 2, "(tokens, blocks)");
  check_float(op, "fractions", fractions);
  check_shape(op, "fractions", fractions, {logits.dim(1)});
  check_same(op, {&logits, &fractions});
  SPT_CHECK(logits.dim(0) >= 1, "[", op, "] no tokens");
  SPT_CHECK(weight >= 0.f, "[", op, "] weight ", weight, " must be >= 0");
  RouteParams p;
  p.tokens = logits.dim(0);
  p.blocks = logits.dim(1);
  ensure_output(op, "loss", loss, {1}, logits.dtype(), logits.device());
  ensure_output(op, "dlogits", dlogits, logits.shape(), logits.dtype(), logits.device());
  backend_for(logits.device()).ffn_balance(p, loss, dlogits, logits, fractions, weight);
}

std::vector<double> block_fractions(const std::vector<int64_t>& host_offsets) {
  std::vector<double> f;
  const double total = host_offsets.empty() ? 0.0 : static_cast<double>(host_offsets.back());
  for (size_t b = 0; b + 1 < host_offsets.size(); ++b)
    f.push_back(total > 0 ? static_cast<double>(host_offsets[b + 1] - host_offsets[b]) / total : 0.0);
  return f;
}

void group_by_block(Tensor& order, Tensor& offsets, Tensor& pos, const Tensor& sel, int64_t blocks) {
  SPT_PROFILE_SCOPE("group_by_block");
  const char* op = "ffn_group";
  check_index(op, "sel", sel);
  check_ndim(op, "sel", sel, 2, "(tokens, active)");
  SPT_CHECK(blocks >= 1 && blocks <= kMaxBlocks, "[", op, "] ", blocks, " blocks; 1 to ", kMaxBlocks);
  RouteParams p;
  p.tokens = sel.dim(0);
  p.active = sel.dim(1);
  p.blocks = blocks;
  check_index_range(op, "sel", sel, blocks);
  ensure_output(op, "order", order, {p.tokens * p.active}, DType::i32, sel.device());
  ensure_output(op, "offsets", offsets, {blocks + 1}, DType::i32, sel.device());
  ensure_output(op, "pos", pos, {p.tokens * p.active}, DType::i32, sel.device());
  backend_for(sel.device()).ffn_group(p, order, offsets, pos, sel);
}

}  // namespace spt::ops
