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
//
// LoRA adapters (BlockLora; s scale, D dropout, U_r = u[token(r)], dZ_r = dz[token(r)]):
//   forward   up:   u = D(x) A_up^T (kept);  pre_r += s U_r B_up[b]^T        (gate alike)
//             down: Z_r = D(h_r) A_down[:, b]^T;  z = ffn_combine(Z, gates) (kept);
//                   y += s z B_down^T
//   backward  down: dB_down += s dy^T z;  dz = s dy B_down;
//                   dH_r += D(dZ_r A_down[:, b])  (before the gate step: dL/dg = dH . h
//                   then includes the adapter's part of Y);
//                   dA_down[:, b] += dZ_b^T D(g h)_b
//             up:   dB_up[b] += s dpre_b^T U_b;  du = s ffn_combine(dpre B_up[b]);
//                   dA_up += du^T D(x);  dx += D(du A_up)                   (gate alike)
// D's masks are counter-based and drawn again in backward; only u and z
// (N, r each) are stored.
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

// D(t) into a new tensor (t itself when the adapter has no dropout).
Tensor dropped(Backend& be, const Tensor& t, const BlockLora& l) {
  if (l.dropout.p <= 0.f) return t;
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  be.dropout_fwd(l.dropout, out, t);
  return out;
}

// u (N, r) = D(x) A^T: an up / gate adapter's input side.
Tensor adapter_u(Backend& be, const Tensor& x, const BlockLora& l) {
  const int64_t n = x.dim(0), d = x.dim(1), r = l.a.dim(0);
  Tensor u = Tensor::empty({n, r}, x.dtype(), x.device());
  if (n == 0) return u;
  be.gemm({.trans_b = true, .m = n, .n = r, .k = d, .lda = d, .ldb = d, .ldc = r}, u, dropped(be, x, l), l.a);
  return u;
}

// Rows of t (N, C) per grouped row: out_r = t[token(r)].
Tensor gathered(Backend& be, const RouteParams& p, const RoutedFfnSaved& s, const Tensor& t) {
  Tensor out = Tensor::empty({p.tokens * p.active, t.dim(1)}, t.dtype(), t.device());
  be.ffn_gather(p, out, t, s.order, Tensor());
  return out;
}

// pre (grouped rows, Fb) += s U_r B[b]^T, B (F, r) in blocks of Fb rows.
void add_adapter_rows(Backend& be, const RoutedFfnSaved& s, Tensor& pre, const Tensor& U, const BlockLora& l,
                      int64_t fb) {
  const int64_t r = l.a.dim(0);
  GemmParams p{.trans_b = true, .m = 0, .n = fb, .k = r, .lda = r, .ldb = r, .ldc = fb, .alpha = l.scale, .beta = 1.f};
  p.stride_b_outer = fb * r;
  be.gemm_grouped(p, {s.host_offsets, false}, pre, U, l.b);
}

// The backward of add_adapter_rows for dpre (grouped rows, Fb) and the saved u:
// dB[b] += s dpre_b^T U_b, du = s sum_slots (dpre B[b]); dA += du^T D(x) and,
// when dx is defined, dx += D(du A).
void adapter_rows_backward(Backend& be, const RouteParams& rp, const RoutedFfnSaved& s, Tensor& dx, Tensor& da,
                           Tensor& db, const Tensor& dpre, const Tensor& x, const Tensor& u, const BlockLora& l,
                           int64_t fb) {
  const int64_t r = l.a.dim(0), n = x.dim(0), d = x.dim(1), rows = dpre.dim(0);
  if (db.defined()) {
    Tensor U = gathered(be, rp, s, u);
    be.scale(U, l.scale);
    grouped_accumulate(be, s, db, dpre, U, fb, r, r, fb * r);
  }
  if (!da.defined() && !dx.defined()) return;
  Tensor dU = Tensor::empty({rows, r}, x.dtype(), x.device());
  grouped_rows(be, s, dU, dpre, l.b, false, r, fb, r, fb * r);
  Tensor du = Tensor::empty({n, r}, x.dtype(), x.device());
  be.ffn_combine(rp, du, dU, s.pos, Tensor());
  be.scale(du, l.scale);
  if (da.defined())
    be.gemm({.trans_a = true, .m = r, .n = d, .k = n, .lda = r, .ldb = d, .ldc = d, .beta = 1.f}, da, du,
            dropped(be, x, l));
  if (dx.defined()) {
    Tensor t = Tensor::empty({n, d}, x.dtype(), x.device());
    be.gemm({.m = n, .n = d, .k = r, .lda = r, .ldb = d, .ldc = d}, t, du, l.a);
    if (l.dropout.p > 0.f) be.dropout_bwd(l.dropout, t, t);
    be.axpy(dx, t, 1.f);
  }
}

void check_adapter(const char* op, const char* name, const BlockLora& l, int64_t out, int64_t in, const Tensor& x) {
  if (!l.active()) return;
  check_float(op, name, l.a);
  check_ndim(op, name, l.a, 2, "(r, in)");
  SPT_CHECK(l.a.dim(1) == in && l.b.defined(), "[", op, "] ", name, " adapter A ", l.a.str(), " does not take ", in,
            " inputs, or its B is missing");
  check_shape(op, name, l.b, {out, l.a.dim(0)});
  check_same(op, {&x, &l.a, &l.b});
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
  check_adapter(op, "up", f.up_lora, d.f, d.d, x);
  check_adapter(op, "gate", f.gate_lora, d.f, d.d, x);
  check_adapter(op, "down", f.down_lora, d.d, d.f, x);
  SPT_CHECK(!f.gate_lora.active() || f.gate_w.defined(), "[", op, "] a gate adapter without gate weights");
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
  s.pre_gate = s.up_u = s.gate_u = s.down_z = Tensor();
  if (rows == 0) {
    be.fill(y, 0.0);
    if (f.down_b.defined() && d.n > 0) be.add_bias(y, f.down_b);
    return;
  }
  Tensor buf = Tensor::empty({rows, d.d}, x.dtype(), x.device());
  be.ffn_gather(p, buf, x, s.order, Tensor());
  grouped_rows(be, s, s.pre, buf, f.up_w, true, d.fb, d.d, d.d, d.fb * d.d);
  add_block_bias(be, s, s.pre, f.up_b, d.fb);
  if (f.up_lora.active()) {
    s.up_u = adapter_u(be, x, f.up_lora);
    add_adapter_rows(be, s, s.pre, gathered(be, p, s, s.up_u), f.up_lora, d.fb);
  }
  if (f.gate_w.defined()) {
    s.pre_gate = Tensor::empty({rows, d.fb}, x.dtype(), x.device());
    grouped_rows(be, s, s.pre_gate, buf, f.gate_w, true, d.fb, d.d, d.d, d.fb * d.d);
    add_block_bias(be, s, s.pre_gate, f.gate_b, d.fb);
    if (f.gate_lora.active()) {
      s.gate_u = adapter_u(be, x, f.gate_lora);
      add_adapter_rows(be, s, s.pre_gate, gathered(be, p, s, s.gate_u), f.gate_lora, d.fb);
    }
  }
  Tensor h = Tensor::empty({rows, d.fb}, x.dtype(), x.device());
  hidden(be, f, s, h);
  // Y_r = h_r W_down[:, b]^T: W_down[:, b] is (d, Fb) at column b Fb, row stride F.
  grouped_rows(be, s, buf, h, f.down_w, true, d.d, d.fb, d.f, d.fb);
  be.ffn_combine(p, y, buf, s.pos, gates);
  if (f.down_b.defined()) be.add_bias(y, f.down_b);
  if (f.down_lora.active()) {  // A_down[:, b] is (r, Fb) at column b Fb, row stride F
    const BlockLora& l = f.down_lora;
    const int64_t r = l.a.dim(0);
    Tensor Z = Tensor::empty({rows, r}, x.dtype(), x.device());
    grouped_rows(be, s, Z, dropped(be, h, l), l.a, true, r, d.fb, d.f, d.fb);
    s.down_z = Tensor::empty({d.n, r}, x.dtype(), x.device());
    be.ffn_combine(p, s.down_z, Z, s.pos, gates);
    be.gemm({.trans_b = true, .m = d.n, .n = d.d, .k = r, .lda = r, .ldb = r, .ldc = d.d, .alpha = l.scale,
             .beta = 1.f},
            y, s.down_z, l.b);
  }
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
  const struct {
    const char* name;
    const BlockLora& l;
    const Tensor &u, &da, &db;
  } adapters[] = {{"up", f.up_lora, s.up_u, g.up_la, g.up_lb},
                  {"gate", f.gate_lora, s.gate_u, g.gate_la, g.gate_lb},
                  {"down", f.down_lora, s.down_z, g.down_la, g.down_lb}};
  for (const auto& a : adapters) {
    SPT_CHECK(a.l.active() || (!a.da.defined() && !a.db.defined()), "[", op, "] gradients for a ", a.name,
              " adapter the FFN does not have");
    if (!a.l.active()) continue;
    SPT_CHECK(a.u.defined() || d.n * d.k == 0, "[", op, "] the forward ran without the ", a.name, " adapter");
    if (a.da.defined()) check_shape(op, "adapter dA", a.da, a.l.a.shape());
    if (a.db.defined()) check_shape(op, "adapter dB", a.db, a.l.b.shape());
  }
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
  Tensor dZ;  // the down adapter's dz per grouped row
  if (f.down_lora.active()) {
    const BlockLora& l = f.down_lora;
    const int64_t r = l.a.dim(0);
    if (g.down_lb.defined())
      be.gemm({.trans_a = true, .m = d.d, .n = r, .k = d.n, .lda = d.d, .ldb = r, .ldc = r, .alpha = l.scale,
               .beta = 1.f},
              g.down_lb, dy, s.down_z);
    Tensor dz = Tensor::empty({d.n, r}, x.dtype(), x.device());
    be.gemm({.m = d.n, .n = r, .k = d.d, .lda = d.d, .ldb = r, .ldc = r, .alpha = l.scale}, dz, dy, l.b);
    dZ = gathered(be, p, s, dz);
    Tensor t = Tensor::empty({rows, d.fb}, x.dtype(), x.device());
    grouped_rows(be, s, t, dZ, l.a, false, d.fb, r, d.f, d.fb);
    if (l.dropout.p > 0.f) be.dropout_bwd(l.dropout, t, t);
    be.axpy(dh, t, 1.f);
  }
  if (gates.defined()) be.ffn_gate_grad(p, dgates, dh, h, s.order, gates);
  // dW_down[:, b] += G_b^T (g h)_b: the gate scaled h's rows above.
  if (g.down_w.defined()) grouped_accumulate(be, s, g.down_w, buf, h, d.d, d.fb, d.f, d.fb);
  if (g.down_la.defined())  // dA_down[:, b] += dZ_b^T D(g h)_b
    grouped_accumulate(be, s, g.down_la, dZ, dropped(be, h, f.down_lora), f.down_lora.a.dim(0), d.fb, d.f, d.fb);
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
  if (dx.defined()) {
    grouped_rows(be, s, buf, dpre, f.up_w, false, d.d, d.fb, d.d, d.fb * d.d);
    if (f.gate_w.defined()) grouped_rows(be, s, buf, dpre_gate, f.gate_w, false, d.d, d.fb, d.d, d.fb * d.d, 1.f);
    be.ffn_combine(p, dx, buf, s.pos, Tensor());
  }
  Tensor no_dx;
  Tensor& dx_or_none = dx.defined() ? dx : no_dx;
  if (f.up_lora.active())
    adapter_rows_backward(be, p, s, dx_or_none, g.up_la, g.up_lb, dpre, x, s.up_u, f.up_lora, d.fb);
  if (f.gate_lora.active())
    adapter_rows_backward(be, p, s, dx_or_none, g.gate_la, g.gate_lb, dpre_gate, x, s.gate_u, f.gate_lora, d.fb);
}

}  // namespace spt::ops
