// The non-finite guard (train.on_nonfinite). After every step's backward (and
// the gradient all-reduce) the step's loss and the global gradient norm are
// checked. A NaN or an Inf is reported with
//   * the step;
//   * the first tensor of the forward pass that was not finite: the input of the
//     first block (embeddings) or the output of block l, found by running the
//     step's micro-batches forward again with a probe (the same dropout masks,
//     so the same values; one layer's activations at a time);
//   * the trainable tensors whose gradients are not finite, deepest layer first
//     (the order backward reaches them).
// stop: the run ends with that report as its error (the step's update is not
// applied, so the weights and the last checkpoint are as before the step).
// skip: the gradients are zeroed, weights and AdamW moments stay as they were,
// the step counts (the learning-rate schedule and the data move on) and is
// counted in the log, the summary and the checkpoint's trainer state.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "spt/core/error.h"
#include "spt/model/layer_name.h"
#include "src/train/trainer_impl.h"

namespace spt::train {

namespace {

bool finite(const Tensor& t) { return std::isfinite(backend_for(t.device()).sum_squares(t)); }

struct FirstNonfinite : model::BlockProbe {
  std::string where;
  void tensor(const std::string& w, int64_t /*layer*/, const Tensor& t) override {
    if (where.empty() && !finite(t)) where = w;
  }
};


}  // namespace

void Trainer::Impl::setup_nonfinite() {
  skip_nonfinite = cfg.str("train.on_nonfinite") == "skip";
  // Fault injection for the tests: SPT_FAULT_NONFINITE=STEP:LAYER (docs/reliability.md).
  if (const char* f = std::getenv("SPT_FAULT_NONFINITE"); f != nullptr && *f != '\0') {
    const std::string v = f;
    const size_t colon = v.find(':');
    try {
      SPT_CHECK(colon != std::string::npos, "");
      fault_step = std::stoll(v.substr(0, colon));
      fault_layer = std::stoll(v.substr(colon + 1));
    } catch (const std::exception&) {
      fail("[trainer] SPT_FAULT_NONFINITE=", v, " is not STEP:LAYER; hint: unset it (it is for tests)");
    }
    spdlog::warn("fault injection: the output of layer {} is made NaN in step {} (SPT_FAULT_NONFINITE)", fault_layer,
                 fault_step);
  }
}

std::string Trainer::Impl::nonfinite_report(const std::vector<data::Batch>& micro, uint64_t seed) {
  // The forward passes again, this rank's rows, with the probe.
  std::string first;
  const bool split = comm->size() > 1;
  for (size_t i = 0; i < micro.size() && first.empty(); ++i) {
    const auto [r0, r1] = split ? my_rows(micro[i].rows) : std::pair<size_t, size_t>{0, micro[i].rows};
    if (r0 == r1) continue;
    data::Batch slice;
    const data::Batch& b = rows_of(micro[i], r0, r1, slice);
    Tensor labels;
    const model::EncoderBatch mb = to_model_batch(b, labels);
    model::StepContext ctx = step_context(i, seed, r0, r1);
    ctx.keep_saved = false;
    ctx.recompute = model::Recompute::none;
    FirstNonfinite probe;
    ctx.block_probe = &probe;
    const Tensor& logits = net->forward(mb, ctx);
    if (!probe.where.empty()) first = str_cat(probe.where, " (micro-batch ", i, ")");
    else if (!finite(logits)) first = str_cat("the logits (every block's output finite; micro-batch ", i, ")");
  }
  if (first.empty()) first = "none on this process's rows (the loss or the backward pass)";
  // The gradients, deepest layer first.
  std::vector<std::pair<int64_t, std::string>> bad;
  int64_t tensors = 0;
  for (const ParamInfo& p : ps.infos()) {
    if (!p.trainable) continue;
    ++tensors;
    if (!finite(ps.grad(p.name))) bad.emplace_back(model::block_of(p.name), p.name);
  }
  // Backward reaches the head first, then the blocks from the last, the embeddings last.
  auto order = [](const std::pair<int64_t, std::string>& p) {
    if (p.first >= 0) return p.first;
    return p.second.find("embed") != std::string::npos ? int64_t{-1} : INT64_MAX;
  };
  std::stable_sort(bad.begin(), bad.end(), [&](const auto& a, const auto& b) { return order(a) > order(b); });
  std::string grads;
  for (size_t i = 0; i < bad.size() && i < 4; ++i) grads += (i ? ", " : "") + bad[i].second;
  if (bad.size() > 4) grads += ", ...";
  return str_cat("first non-finite activation: ", first, "; non-finite gradients in ", bad.size(), " of ", tensors,
                 " trainable tensors", bad.empty() ? std::string() : str_cat(" (", grads, ")"));
}

bool Trainer::Impl::step_is_finite(double loss, double grad_norm, const std::vector<data::Batch>& micro,
                                   uint64_t seed) {
  if (std::isfinite(loss) && std::isfinite(grad_norm)) return true;
  const std::string what = str_cat("step ", step + 1, ": loss ", loss, ", gradient norm ", grad_norm);
  const std::string report = nonfinite_report(micro, seed);
  log_json({{"type", "nonfinite"}, {"step", step + 1}, {"loss", std::isfinite(loss) ? Json(loss) : Json(nullptr)},
            {"grad_norm_finite", std::isfinite(grad_norm)}, {"report", report},
            {"action", skip_nonfinite ? "skip" : "stop"}});
  if (!skip_nonfinite)
    fail("[trainer] non-finite values at ", what, "; ", report, ". Nothing of this step was applied (the weights and "
         "the last checkpoint are as before it); hint: lower train.learning_rate or raise train.warmup_steps, check "
         "the data of this step, or set train.on_nonfinite = skip to skip such steps");
  ps.zero_grads();
  ++skipped_steps;
  spdlog::warn("[trainer] non-finite values at {}; {}; the step's update is skipped ({} skipped so far)", what, report,
               skipped_steps);
  return false;
}

}  // namespace spt::train
