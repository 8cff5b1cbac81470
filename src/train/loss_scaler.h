// Dynamic loss scaling for fp16 training (runtime.precision = fp16), as
// PyTorch's GradScaler does it:
//   backward runs on S * loss, so small gradients survive the f16 rounding of dy;
//   the gradients are then multiplied by 1 / S before clipping and the update;
//   a step whose loss or gradients are not finite (an overflow of S * dy in f16)
//   is skipped and S halves; after `window` finite steps in a row S doubles.
// While S > 1 an overflow is the scaler's business (counted, logged); at S <= 1
// a non-finite step is a real divergence and goes to the non-finite guard
// (train.on_nonfinite).
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

namespace spt::train {

class LossScaler {
 public:
  LossScaler() = default;  // off: scale 1, never changes
  LossScaler(double init, int64_t window) : on_(true), scale_(init), window_(window) {}

  bool enabled() const { return on_; }
  double scale() const { return scale_; }
  int64_t overflows() const { return overflows_; }
  // True when a non-finite step is an overflow to skip (S halves) rather than
  // one for the non-finite guard.
  bool owns_overflow() const { return on_ && scale_ > 1.0; }
  // After a step: finite (applied) or an overflow (skipped).
  void update(bool finite);

  nlohmann::json state() const;            // for the checkpoint's trainer state
  void load_state(const nlohmann::json& s);  // absent keys: as configured

 private:
  bool on_ = false;
  double scale_ = 1.0;
  int64_t window_ = 2000;
  int64_t good_ = 0;  // finite steps since the last change of S
  int64_t overflows_ = 0;
};

}  // namespace spt::train
