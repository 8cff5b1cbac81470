// Dynamic loss scaling: see loss_scaler.h.
#include "src/train/loss_scaler.h"

namespace spt::train {

void LossScaler::update(bool finite) {
  if (!on_) return;
  if (!finite) {
    ++overflows_;
    scale_ *= 0.5;
    good_ = 0;
    return;
  }
  if (++good_ >= window_) {
    scale_ *= 2.0;
    good_ = 0;
  }
}

nlohmann::json LossScaler::state() const {
  if (!on_) return nlohmann::json::object();
  return {{"loss_scale", scale_}, {"loss_scale_good_steps", good_}, {"overflow_steps", overflows_}};
}

void LossScaler::load_state(const nlohmann::json& s) {
  if (!on_) return;
  scale_ = s.value("loss_scale", scale_);
  good_ = s.value("loss_scale_good_steps", good_);
  overflows_ = s.value("overflow_steps", overflows_);
}

}  // namespace spt::train
