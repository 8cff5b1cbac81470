// Op-layer validation for cross-entropy, MSE and the optimizer utilities.
#include <cmath>

#include "spt/ops/loss.h"
#include "spt/ops/optim.h"
#include "spt/core/profile.h"
#include "src/ops/check.h"

namespace spt::ops {

int64_t count_targets(const Tensor& targets, int64_t ignore_index) {
  int64_t n = 0;
  for (int64_t t : targets.to_ints()) n += t != ignore_index ? 1 : 0;
  return n;
}

double cross_entropy_forward(CrossEntropySaved& saved, const Tensor& logits,
                             const Tensor& targets, const CrossEntropyOptions& opt) {
  SPT_PROFILE_SCOPE("cross_entropy_forward");
  const char* op = "cross_entropy";
  check_float(op, "logits", logits);
  check_ndim(op, "logits", logits, 2, "(N, V)");
  check_index(op, "targets", targets);
  check_shape(op, "targets", targets, {logits.dim(0)});
  check_same(op, {&logits, &targets});
  const int64_t N = logits.dim(0), V = logits.dim(1);
  SPT_CHECK(V >= 1, "[", op, "] logits need at least one class, got ", logits.str());
  int64_t counted = 0, bad = 0;
  for (int64_t t : targets.to_ints()) {
    if (t == opt.ignore_index) continue;
    ++counted;
    bad += (t < 0 || t >= V) ? 1 : 0;
  }
  SPT_CHECK(bad == 0, "[", op, "] ", bad, " target(s) outside [0, ", V, ") and != ignore_index ",
            opt.ignore_index, "; hint: check the label mapping against num_labels");
  saved.ignore_index = opt.ignore_index;
  saved.normalizer = opt.normalizer > 0 ? opt.normalizer : static_cast<double>(counted);
  ensure_output(op, "saved.lse", saved.lse, {N}, logits.dtype(), logits.device());
  if (counted == 0) {
    saved.normalizer = std::max(saved.normalizer, 1.0);
    return 0.0;  // every target ignored: zero loss and zero gradient (not NaN)
  }
  Backend& be = backend_for(logits.device());
  Tensor losses = Tensor::empty({N}, logits.dtype(), logits.device());
  const CrossEntropyParams p{N, V, opt.ignore_index};
  be.cross_entropy_fwd(p, losses, saved.lse, logits, targets);
  return be.sum(losses) / saved.normalizer;
}

void cross_entropy_backward(Tensor& dlogits, const Tensor& logits, const Tensor& targets,
                            const CrossEntropySaved& saved, float dloss) {
  SPT_PROFILE_SCOPE("cross_entropy_backward");
  const char* op = "cross_entropy backward";
  check_float(op, "logits", logits);
  check_ndim(op, "logits", logits, 2, "(N, V)");
  check_index(op, "targets", targets);
  check_shape(op, "targets", targets, {logits.dim(0)});
  check_float(op, "saved.lse", saved.lse);
  check_shape(op, "saved.lse", saved.lse, {logits.dim(0)});
  check_same(op, {&logits, &targets, &saved.lse});
  ensure_output(op, "dlogits", dlogits, logits.shape(), logits.dtype(), logits.device());
  const CrossEntropyParams p{logits.dim(0), logits.dim(1), saved.ignore_index};
  const float scale = static_cast<float>(dloss / saved.normalizer);
  backend_for(logits.device()).cross_entropy_bwd(p, dlogits, logits, saved.lse, targets, scale);
}

double mse_forward(MseSaved& saved, const Tensor& pred, const Tensor& target, double normalizer) {
  SPT_PROFILE_SCOPE("mse_forward");
  const char* op = "mse";
  check_float(op, "pred", pred);
  check_float(op, "target", target);
  SPT_CHECK(pred.numel() == target.numel(), "[", op, "] pred ", pred.str(), " and target ",
            target.str(), " differ in size");
  check_same(op, {&pred, &target});
  saved.normalizer = normalizer > 0 ? normalizer : static_cast<double>(std::max<int64_t>(pred.numel(), 1));
  Backend& be = backend_for(pred.device());
  Tensor losses = Tensor::empty(pred.shape(), pred.dtype(), pred.device());
  const Tensor t = target.reshape(pred.shape());
  be.mse_fwd(losses, pred, t);
  return be.sum(losses) / saved.normalizer;
}

void mse_backward(Tensor& dpred, const Tensor& pred, const Tensor& target, const MseSaved& saved,
                  float dloss) {
  SPT_PROFILE_SCOPE("mse_backward");
  const char* op = "mse backward";
  check_float(op, "pred", pred);
  check_float(op, "target", target);
  SPT_CHECK(pred.numel() == target.numel(), "[", op, "] pred ", pred.str(), " and target ",
            target.str(), " differ in size");
  check_same(op, {&pred, &target});
  ensure_output(op, "dpred", dpred, pred.shape(), pred.dtype(), pred.device());
  backend_for(pred.device())
      .mse_bwd(dpred, pred, target.reshape(pred.shape()),
               static_cast<float>(dloss / saved.normalizer));
}

void adamw_step(Tensor& param, Tensor& m, Tensor& v, const Tensor& grad, const AdamWParams& p) {
  SPT_PROFILE_SCOPE("adamw_step");
  const char* op = "adamw";
  using Named = std::pair<const char*, const Tensor*>;
  for (const auto& [name, t] : {Named{"param", &param}, Named{"m", &m}, Named{"v", &v},
                                Named{"grad", &grad}}) {
    check_defined(op, name, *t);
    SPT_CHECK(t->dtype() == DType::f32 && t->is_contiguous(), "[", op, "] ", name,
              " must be contiguous f32, got ", t->str());
    check_shape(op, name, *t, param.shape());
  }
  check_same(op, {&param, &m, &v, &grad});
  SPT_CHECK(p.step >= 1, "[", op, "] step must be >= 1, got ", p.step);
  SPT_CHECK(p.lr >= 0 && p.eps > 0 && p.beta1 >= 0 && p.beta1 < 1 && p.beta2 >= 0 && p.beta2 < 1 &&
                p.weight_decay >= 0,
            "[", op, "] invalid hyper-parameters lr=", p.lr, " betas=(", p.beta1, ", ", p.beta2,
            ") eps=", p.eps, " weight_decay=", p.weight_decay);
  backend_for(param.device()).adamw_step(p, param, m, v, grad);
}

double global_grad_norm(const std::vector<Tensor>& grads) {
  SPT_PROFILE_SCOPE("global_grad_norm");
  double sq = 0;
  for (const Tensor& g : grads) {
    check_float("grad_norm", "grad", g);
    sq += backend_for(g.device()).sum_squares(g);
  }
  return std::sqrt(sq);
}

double clip_grad_norm(std::vector<Tensor>& grads, double max_norm) {
  return clip_grad_norm(grads, max_norm, global_grad_norm(grads));
}

double clip_grad_norm(std::vector<Tensor>& grads, double max_norm, double norm) {
  SPT_PROFILE_SCOPE("clip_grad_norm");
  SPT_CHECK(max_norm > 0, "[clip_grad_norm] max_norm must be positive, got ", max_norm,
            "; hint: set max_grad_norm to a positive value or disable clipping");
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0)
    for (Tensor& g : grads) backend_for(g.device()).scale(g, static_cast<float>(coef));
  return norm;
}

}  // namespace spt::ops
