// Learning-rate schedules (see include/spt/train/schedule.h).
#include "spt/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "spt/core/error.h"

namespace spt::train {

Schedule schedule_from_name(const std::string& name) {
  if (name == "linear") return Schedule::linear;
  if (name == "cosine") return Schedule::cosine;
  if (name == "constant") return Schedule::constant;
  fail("[schedule] unknown scheduler \"", name, "\"; hint: use linear, cosine or constant");
}

double LrSchedule::lr(int64_t step) const {
  if (step < warmup) return peak * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  const double span = static_cast<double>(std::max<int64_t>(1, total - warmup));
  switch (kind) {
    case Schedule::linear:
      return peak * std::max(0.0, static_cast<double>(total - step) / span);
    case Schedule::cosine: {
      const double progress = static_cast<double>(step - warmup) / span;
      return peak * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
    }
    case Schedule::constant: return peak;
  }
  return peak;
}

int64_t warmup_steps(int64_t steps, double ratio, int64_t total) {
  if (steps > 0) return steps;
  return static_cast<int64_t>(std::ceil(ratio * static_cast<double>(total)));
}

}  // namespace spt::train
