// Learning-rate schedules with the semantics of transformers' get_*_schedule(_with_warmup) under LambdaLR: the
// learning rate of update `step` (0-based) is peak * factor(step).
#pragma once

#include <cstdint>
#include <string>

namespace rembert::train {

enum class ScheduleKind { Constant, ConstantWithWarmup, Linear, Cosine };

// "constant", "constant_with_warmup", "linear", "cosine" (transformers' SchedulerType names); throws Error listing
// the valid names otherwise.
ScheduleKind schedule_from_name(const std::string& name);
const char* schedule_name(ScheduleKind kind);

struct Schedule {
  ScheduleKind kind = ScheduleKind::Linear;  // the HF Trainer's default
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // the number of updates (Linear and Cosine decay to 0 at total_steps)

  // The multiplier of the peak learning rate for update `step`:
  //   warmup (all but Constant): step / max(1, warmup) while step < warmup_steps; then
  //   Constant, ConstantWithWarmup: 1
  //   Linear: max(0, (total - step) / max(1, total - warmup))
  //   Cosine: max(0, 0.5 * (1 + cos(pi * progress))), progress = (step - warmup) / max(1, total - warmup)
  // Throws Error for a negative step, warmup_steps or total_steps.
  double factor(int64_t step) const;
  double lr(double peak, int64_t step) const { return peak * factor(step); }
};

// Warmup steps from a ratio of the total, as HF TrainingArguments.get_warmup_steps: ceil(ratio * total). Throws
// Error for a ratio outside [0, 1] or a negative total.
int64_t warmup_steps_from_ratio(double ratio, int64_t total_steps);

}  // namespace rembert::train
