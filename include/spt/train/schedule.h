// Learning-rate schedules, as transformers' get_scheduler computes them: the
// multiplier of the peak rate at optimizer step `step` (0-based, the step about
// to be taken), with linear warmup over `warmup` steps, then
//   linear:   (total - step) / (total - warmup), floored at 0
//   cosine:   0.5 (1 + cos(pi * progress)),  progress = (step - warmup) / (total - warmup)
//   constant: 1
#pragma once

#include <cstdint>
#include <string>

namespace spt::train {

enum class Schedule { linear, cosine, constant };
Schedule schedule_from_name(const std::string& name);

struct LrSchedule {
  Schedule kind = Schedule::linear;
  double peak = 2e-5;
  int64_t warmup = 0;
  int64_t total = 1;
  double lr(int64_t step) const;
};

// Warmup steps: `warmup_steps` when > 0, else ceil(ratio * total) (as transformers).
int64_t warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total);

}  // namespace spt::train
