#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "rembert/error.h"

namespace rembert::train {

namespace {
constexpr double kPi = 3.141592653589793;  // Python's math.pi
}  // namespace

ScheduleKind schedule_from_name(const std::string& name) {
  if (name == "constant") return ScheduleKind::Constant;
  if (name == "constant_with_warmup") return ScheduleKind::ConstantWithWarmup;
  if (name == "linear") return ScheduleKind::Linear;
  if (name == "cosine") return ScheduleKind::Cosine;
  throw Error("unknown learning-rate schedule \"" + name +
              "\" (valid: constant, constant_with_warmup, linear, cosine)");
}

const char* schedule_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::Constant: return "constant";
    case ScheduleKind::ConstantWithWarmup: return "constant_with_warmup";
    case ScheduleKind::Linear: return "linear";
    case ScheduleKind::Cosine: return "cosine";
  }
  return "unknown";
}

// The lambdas of transformers' optimization.py, term for term (Python floats are doubles).
double Schedule::factor(int64_t step) const {
  if (step < 0) throw Error("learning-rate schedule: step " + std::to_string(step) + " is negative");
  if (warmup_steps < 0) {
    throw Error("learning-rate schedule: warmup_steps " + std::to_string(warmup_steps) + " is negative");
  }
  if (total_steps < 0) {
    throw Error("learning-rate schedule: total_steps " + std::to_string(total_steps) + " is negative");
  }
  if (kind == ScheduleKind::Constant) return 1.0;
  if (step < warmup_steps) {
    return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  }
  const double decay_span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  switch (kind) {
    case ScheduleKind::ConstantWithWarmup:
      return 1.0;
    case ScheduleKind::Linear:
      return std::max(0.0, static_cast<double>(total_steps - step) / decay_span);
    case ScheduleKind::Cosine: {
      const double progress = static_cast<double>(step - warmup_steps) / decay_span;
      const double num_cycles = 0.5;
      return std::max(0.0, 0.5 * (1.0 + std::cos(kPi * num_cycles * 2.0 * progress)));
    }
    case ScheduleKind::Constant:
      break;
  }
  return 1.0;
}

int64_t warmup_steps_from_ratio(double ratio, int64_t total_steps) {
  if (!(ratio >= 0.0 && ratio <= 1.0)) {
    throw Error("warmup ratio " + std::to_string(ratio) + " is outside [0, 1]");
  }
  if (total_steps < 0) throw Error("total_steps " + std::to_string(total_steps) + " is negative");
  return static_cast<int64_t>(std::ceil(static_cast<double>(total_steps) * ratio));
}

}  // namespace rembert::train
