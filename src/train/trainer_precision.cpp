// Mixed precision: runtime.precision and runtime.loss_scale.
//
//   fp32  everything in f32.
//   bf16  the linear layers' GEMMs (attention projections, FFN, heads; LoRA's base
//         weight) take bf16 operands: the f32 master weights are rounded at every
//         forward, the activations and gradients entering a GEMM likewise, and the
//         GEMM accumulates in f32 and writes f32. Softmax, norms, losses, the
//         optimizer and the LoRA adapters stay f32 (PyTorch autocast's split).
//   fp16  the same with f16 operands, and dynamic loss scaling (loss_scaler.h) so
//         that small gradients survive f16's range.
// On the CPU both are refused: the processors seen so far (AVX512-BF16, no AMX)
// run bf16 GEMMs slower than f32 ones (docs/PERF.md, "bf16 on the CPU"), and
// the CPU backend computes them by widening to f32 (a reference for the CUDA
// kernels and the tests; SPT_CPU_LOW_PRECISION=1 lets it run anyway).
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "spt/core/error.h"
#include "src/train/trainer_impl.h"

namespace spt::train {

void Trainer::Impl::setup_precision() {
  const std::string prec = cfg.str("runtime.precision");
  compute_dtype = prec == "bf16" ? DType::bf16 : prec == "fp16" ? DType::f16 : DType::f32;
  if (compute_dtype != DType::f32 && device.is_cpu()) {
    const char* allow = std::getenv("SPT_CPU_LOW_PRECISION");
    SPT_CHECK(allow != nullptr && std::string(allow) == "1", "[config] ", cfg.source, ": runtime.precision = ", prec,
              " is refused on the CPU: on the processors measured (AVX512-BF16 without AMX) ", prec,
              " matrix products are slower than f32 ones (0.5-0.8x; PyTorch's bf16 autocast step 0.8x; docs/PERF.md "
              "\"bf16 on the CPU\"), so training would be slower, not faster; hint: use fp32 on the CPU and ", prec,
              " on a GPU (runtime.device = cuda); SPT_CPU_LOW_PRECISION=1 runs it on the CPU anyway, slowly, to "
              "check its numerics");
    spdlog::warn("runtime.precision = {} on the CPU (SPT_CPU_LOW_PRECISION=1): the GEMMs round to {} and run in f32, "
                 "slower than fp32", prec, prec);
  }
  const std::string ls = cfg.str("runtime.loss_scale");
  const bool dynamic = ls == "dynamic" || (ls == "auto" && compute_dtype == DType::f16);
  if (dynamic) scaler = LossScaler(cfg.number("runtime.loss_scale_init"), cfg.integer("runtime.loss_scale_window"));
}

bool Trainer::Impl::overflow_step(double loss, double grad_norm) {
  if (std::isfinite(loss) && std::isfinite(grad_norm)) {
    scaler.update(true);
    return false;
  }
  if (!scaler.owns_overflow()) return false;  // the non-finite guard's: S is down to 1
  const double was = scaler.scale();
  scaler.update(false);
  ps.zero_grads();
  log_json({{"type", "overflow"}, {"step", step + 1}, {"loss_scale", was}, {"new_loss_scale", scaler.scale()},
            {"overflow_steps", scaler.overflows()}});
  spdlog::info("[fp16] step {}: the scaled gradients overflowed at loss scale {:g}; the step is skipped and the "
               "scale halves to {:g} ({} overflow step(s) so far)", step + 1, was, scaler.scale(),
               scaler.overflows());
  return true;
}

}  // namespace spt::train
