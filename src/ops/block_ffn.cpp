// The routed FFN's block computation (spt/ops/routed_ffn.h), composed from
// backend kernels. With Fb = F / blocks, k slots per token and the grouped rows
// r = 0 .. N k - 1 (block by block, Backend::ffn_group):
//
//   forward   X_r   = x[token(r)]                       (ffn_gather, not kept)
//             pre_r = X_r W_up[b]^T + b_up[b]            (gemm_grouped, kept)
//             h_r   = act(pre_r), or for gated FFNs (SwiGLU)
//             h_r   = act(X_r W_gate[b]^T + b_gate[b]) pre_r  (that pre-activation kept too)
//             Y_r   = h_r W_down[:, b]^T                 (gemm_grouped)
//             y_n   = b_down + sum_s g_ns Y_pos(n,s)     (ffn_combine)
//   backward  G_r   = dy[token(r)]                       (ffn_gather)
//             dH_r  = G_r W_down[:, b]                   (unscaled by the gate)
//             dg_e  = dH_r . h_r, dH_r *= g_e, h_r *= g_e  (ffn_gate_grad: dL/dg = dy . Y)
//             dW_down[:, b] += G_b^T (g h)_b,  db_down += sum_n dy_n
//             dpre  = act'(pre) dH  (gated: glu_bwd gives dpre for gate and up)
//             dW_up[b] += dpre_b^T X_b,  db_up[b] += sum_r dpre_r  (and the gate's)
//             dx_n  = sum_s (dpre W_up[b] (+ dpre_gate W_gate[b]))_pos(n,s)  (ffn_combine, gates 1)
// W_down[:, b] is read in place (row stride F). Only pre (N k, Fb) is stored
// (and the gate's pre-activation for gated FFNs):
// activations and gathered rows are recomputed, and Y never outlives forward.
#include <vector>

#include "spt/core/profile.h"
#include "spt/ops/routed_ffn.h"
#include "src/ops/check.h"

namespace spt::ops {

namespace {

struct Dims {
  int64_t n, d, f, fb, k;
};

// Checks x (N, d), the weights, and gates (N, k) when defined.
Dims check_block_ffn(const char* op, const Tensor& x, int64_t k, const Tensor& gates, const BlockFfn& f) {
  check_float(op, "x", x);
  check_ndim(op, "x", x, 2, "(tokens, d)");
  check_float(op, "up_w", f.up_w);
  check_ndim(op, "up_w", f.up_w, 2, "(F, d)");
  const Dims d{x.dim(0), x.dim(1), f.up_w.dim(0), 0, k};
  SPT_CHECK(f.up_w.dim(1) == d.d, "[", op, "] up_w ", f.up_w.str(), " does not match x ", x.str());
  SPT_CHECK(f.blocks >= 1 && d.f % f.blocks == 0, "[", op, "] ", f.blocks,
            " blocks must divide the intermediate size F = ", d.f);
  SPT_CHECK(d.k >= 1 && d.k <= f.blocks, "[", op, "] ", d.k, " blocks per token; 1 to ", f.blocks);
  check_float(op, "down_w", f.down_w);
  check_shape(op, "down_w", f.down_w, {d.d, d.f});
  if (f.up_b.defined()) check_shape(op, "up_b", f.up_b, {d.f});
  if (f.gate_w.defined()) check_shape(op, "gate_w", f.gate_w, {d.f, d.d});
  if (f.gate_b.defined()) {
    SPT_CHECK(f.gate_w.defined(), "[", op, "] gate_b without gate_w");
    check_shape(op, "gate_b", f.gate_b, {d.f});
  }
  if (f.down_b.defined()) check_shape(op, "down_b", f.down_b, {d.d});
  if (gates.defined()) {
    check_float(op, "gates", gates);
    check_shape(op, "gates", gates, {d.n, d.k});
  }
  check_same(op, {&x, &f.up_w, &f.up_b, &f.down_w, &f.down_b, &f.gate_w, &f.gate_b, &gates});
  return {d.n, d.d, d.f, d.f / f.blocks, d.k};
}

RouteParams route_dims(const Dims& d, int64_t blocks) {
  RouteParams p;
  p.tokens = d.n;
  p.blocks = blocks;
  p.active = d.k;
  return p;
}

// rows (m-grouped) = A (grouped rows, lda) op(B_b) with B_b = b + g * stride_b.
void grouped_rows(Backend& be, const RoutedFfnSaved& s, Tensor& c, const Tensor& a, const Tensor& b, bool trans_b,
                  int64_t n, int64_t k, int64_t ldb, int64_t stride_b, float beta = 0.f) {
  GemmParams p{.trans_b = trans_b, .m = 0, .n = n, .k = k, .lda = k, .ldb = ldb, .ldc = n, .beta = beta};
  p.stride_b_outer = stride_b;
  be.gemm_grouped(p, {s.host_offsets, false}, c, a, b);
}

// C_b (m, n; ldc, at g * stride_c) += A_b^T B_b over each group's rows (k-grouped).
void grouped_accumulate(Backend& be, const RoutedFfnSaved& s, Tensor& c, const Tensor& a, const Tensor& b,
                        int64_t m, int64_t n, int64_t ldc, int64_t stride_c) {
  GemmParams p{.trans_a = true, .m = m, .n = n, .k = 0, .lda = m, .ldb = n, .ldc = ldc, .beta = 1.f};
  p.stride_c_outer = stride_c;
  be.gemm_grouped(p, {s.host_offsets, true}, c, a, b);
}

// pre (grouped rows, Fb) += bias[b] over each block's rows.
void add_block_bias(Backend& be, const RoutedFfnSaved& s, Tensor& pre, const Tensor& bias, int64_t fb) {
  if (!bias.defined()) return;
  for (size_t b = 0; b + 1 < s.host_offsets.size(); ++b) {
    if (s.host_offsets[b + 1] == s.host_offsets[b]) continue;
    Tensor rows = pre.narrow0(s.host_offsets[b], s.host_offsets[b + 1]);
    be.add_bias(rows, bias.narrow0(static_cast<int64_t>(b) * fb, static_cast<int64_t>(b + 1) * fb));
  }
}

// dbias[b] += sum of dpre over each block's rows.
void sum_block_bias(Backend& be, const RoutedFfnSaved& s, Tensor& dbias, const Tensor& dpre, int64_t fb) {
  if (!dbias.defined()) return;
  for (size_t b = 0; b + 1 < s.host_offsets.size(); ++b) {
    if (s.host_offsets[b + 1] == s.host_offsets[b]) continue;
    Tensor db = dbias.narrow0(static_cast<int64_t>(b) * fb, static_cast<int64_t>(b + 1) * fb);
    be.sum_rows(db, dpre.narrow0(s.host_offsets[b], s.host_offsets[b + 1]));
  }
}

// h = act(pre), or act(pre_gate) pre for gated FFNs.
void hidden(Backend& be, const BlockFfn& f, const RoutedFfnSaved& s, Tensor& h) {
  if (f.gate_w.defined()) be.glu_fwd(f.act, h, s.pre_gate, s.pre);
  else be.activation_fwd(f.act, h, s.pre);
}

}  // namespace

void routed_ffn_forward(Tensor& y, RoutedFfnSaved& s, const Tensor& x, const Tensor& sel, const Tensor& gates,
                        const BlockFfn& f) {
  SPT_PROFILE_SCOPE("routed_ffn_forward");
  const char* op = "routed_ffn";
  check_index(op, "sel", sel);
  check_ndim(op, "sel", sel, 2, "(tokens, active)");
  const Dims d = check_block_ffn(op, x, sel.dim(1), gates, f);
  check_shape(op, "sel", sel, {d.n, d.k});
  SPT_CHECK(sel.device() == x.device(), "[", op, "] sel is on ", sel.device().str(), ", x on ",
            x.device().str());
  ensure_output(op, "y", y, {d.n, d.d}, x.dtype(), x.device());
  Backend& be = backend_for(x.device());
  group_by_block(s.order, s.offsets, s.pos, sel, f.blocks);
  s.active = d.k;
  const Tensor off = s.offsets.to(Device::cpu());
  s.host_offsets.assign(off.data<int32_t>(), off.data<int32_t>() + f.blocks + 1);
  const RouteParams p = route_dims(d, f.blocks);
  const int64_t rows = d.n * d.k;
  s.pre = Tensor::empty({rows, d.fb}, x.dtype(), x.device());
  s.pre_gate = Tensor();
  if (rows == 0) {
    be.fill(y, 0.0);
    if (f.down_b.defined() && d.n > 0) be.add_bias(y, f.down_b);
    return;
  }
  Tensor buf = Tensor::empty({rows, d.d}, x.dtype(), x.device());
  be.ffn_gather(p, buf, x, s.order, Tensor());
  grouped_rows(be, s, s.pre, buf, f.up_w, true, d.fb, d.d, d.d, d.fb * d.d);
  add_block_bias(be, s, s.pre, f.up_b, d.fb);
  if (f.gate_w.defined()) {
    s.pre_gate = Tensor::empty({rows, d.fb}, x.dtype(), x.device());
    grouped_rows(be, s, s.pre_gate, buf, f.gate_w, true, d.fb, d.d, d.d, d.fb * d.d);
    add_block_bias(be, s, s.pre_gate, f.gate_b, d.fb);
  }
  Tensor h = Tensor::empty({rows, d.fb}, x.dtype(), x.device());
  hidden(be, f, s, h);
  // Y_r = h_r W_down[:, b]^T: W_down[:, b] is (d, Fb) at column b Fb, row stride F.
  grouped_rows(be, s, buf, h, f.down_w, true, d.d, d.fb, d.f, d.fb);
  be.ffn_combine(p, y, buf, s.pos, gates);
  if (f.down_b.defined()) be.add_bias(y, f.down_b);
}

void routed_ffn_backward(Tensor& dx, Tensor& dgates, BlockFfnGrads& g, const Tensor& dy, const Tensor& x,
                         const Tensor& gates, const RoutedFfnSaved& s, const BlockFfn& f, bool need_dx) {
  SPT_PROFILE_SCOPE("routed_ffn_backward");
  const char* op = "routed_ffn backward";
  SPT_CHECK(s.order.defined() && s.pre.defined() && static_cast<int64_t>(s.host_offsets.size()) == f.blocks + 1,
            "[", op, "] no saved forward state for ", f.blocks, " blocks (run routed_ffn_forward first)");
  const Dims d = check_block_ffn(op, x, s.active, gates, f);
  check_float(op, "dy", dy);
  check_shape(op, "dy", dy, {d.n, d.d});
  check_same(op, {&x, &dy, &g.up_w, &g.up_b, &g.down_w, &g.down_b, &g.gate_w, &g.gate_b});
  if (g.gate_w.defined()) check_shape(op, "dgate_w", g.gate_w, {d.f, d.d});
  if (g.gate_b.defined()) check_shape(op, "dgate_b", g.gate_b, {d.f});
  SPT_CHECK(!f.gate_w.defined() || s.pre_gate.defined(), "[", op, "] the forward ran without the gate projection");
  if (g.up_w.defined()) check_shape(op, "dup_w", g.up_w, f.up_w.shape());
  if (g.down_w.defined()) check_shape(op, "ddown_w", g.down_w, f.down_w.shape());
  if (g.up_b.defined()) check_shape(op, "dup_b", g.up_b, {d.f});
  if (g.down_b.defined()) check_shape(op, "ddown_b", g.down_b, {d.d});
  check_shape(op, "pre", s.pre, {d.n * d.k, d.fb});
  Backend& be = backend_for(x.device());
  const RouteParams p = route_dims(d, f.blocks);
  const int64_t rows = d.n * d.k;
  if (need_dx || dx.defined()) ensure_output(op, "dx", dx, x.shape(), x.dtype(), x.device());
  if (gates.defined()) ensure_output(op, "dgates", dgates, gates.shape(), gates.dtype(), gates.device());
  if (g.down_b.defined() && d.n > 0) be.sum_rows(g.down_b, dy);
  if (rows == 0) {
    if (dx.defined()) be.fill(dx, 0.0);
    return;
  }
  Tensor buf = Tensor::empty({rows, d.d}, x.dtype(), x.device());
  Tensor dh = Tensor::empty({rows, d.fb}, x.dtype(), x.device());
  Tensor h = Tensor::empty({rows, d.fb}, x.dtype(), x.device());
  be.ffn_gather(p, buf, dy, s.order, Tensor());
  grouped_rows(be, s, dh, buf, f.down_w, false, d.fb, d.d, d.f, d.fb);
  hidden(be, f, s, h);
  if (gates.defined()) be.ffn_gate_grad(p, dgates, dh, h, s.order, gates);
  // dW_down[:, b] += G_b^T (g h)_b: the gate scaled h's rows above.
  if (g.down_w.defined()) grouped_accumulate(be, s, g.down_w, buf, h, d.d, d.fb, d.f, d.fb);
  Tensor& dpre = h;  // h is not needed any more
  Tensor dpre_gate;
  if (f.gate_w.defined()) {
    dpre_gate = Tensor::empty({rows, d.fb}, x.dtype(), x.device());
    be.glu_bwd(f.act, dpre_gate, dpre, dh, s.pre_gate, s.pre);
  } else {
    be.activation_bwd(f.act, dpre, dh, s.pre);
  }
  sum_block_bias(be, s, g.up_b, dpre, d.fb);
  sum_block_bias(be, s, g.gate_b, dpre_gate, d.fb);
  if (g.up_w.defined() || g.gate_w.defined()) {
    be.ffn_gather(p, buf, x, s.order, Tensor());
    if (g.up_w.defined()) grouped_accumulate(be, s, g.up_w, dpre, buf, d.fb, d.d, d.d, d.fb * d.d);
    if (g.gate_w.defined()) grouped_accumulate(be, s, g.gate_w, dpre_gate, buf, d.fb, d.d, d.d, d.fb * d.d);
  }
  if (!dx.defined()) return;
  grouped_rows(be, s, buf, dpre, f.up_w, false, d.d, d.fb, d.d, d.fb * d.d);
  if (f.gate_w.defined()) grouped_rows(be, s, buf, dpre_gate, f.gate_w, false, d.d, d.fb, d.d, d.fb * d.d, 1.f);
  be.ffn_combine(p, dx, buf, s.pos, Tensor());
}

}  // namespace spt::ops
