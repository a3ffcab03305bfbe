#include "model/losses.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "rembert/error.h"

namespace rembert::model {

float cross_entropy(const float* logits, int64_t rows, int64_t classes, const std::vector<int64_t>& targets,
                    int64_t ignore_index, const std::string& what) {
  if (static_cast<int64_t>(targets.size()) != rows) {
    throw Error(what + ": " + std::to_string(targets.size()) + " labels for " + std::to_string(rows) +
                " predictions");
  }
  double total = 0.0;
  int64_t counted = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = targets[static_cast<size_t>(r)];
    if (t == ignore_index) continue;
    if (t < 0 || t >= classes) {
      throw Error(what + ": label " + std::to_string(t) + " is out of range for " + std::to_string(classes) +
                  " classes (use " + std::to_string(ignore_index) + " to ignore a position)");
    }
    const float* row = logits + r * classes;
    const float max = *std::max_element(row, row + classes);
    double sum = 0.0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(row[c]) - max);
    total += std::log(sum) + max - row[t];
    ++counted;
  }
  if (counted == 0) return std::numeric_limits<float>::quiet_NaN();
  return static_cast<float>(total / static_cast<double>(counted));
}

float mse(const std::vector<float>& predictions, const std::vector<float>& targets) {
  if (predictions.size() != targets.size()) {
    throw Error("labels: " + std::to_string(targets.size()) + " regression targets for " +
                std::to_string(predictions.size()) + " predictions");
  }
  if (predictions.empty()) return std::numeric_limits<float>::quiet_NaN();
  double total = 0.0;
  for (size_t i = 0; i < predictions.size(); ++i) {
    const double d = static_cast<double>(predictions[i]) - targets[i];
    total += d * d;
  }
  return static_cast<float>(total / static_cast<double>(predictions.size()));
}

float bce_with_logits(const std::vector<float>& logits, const std::vector<float>& targets) {
  if (logits.size() != targets.size()) {
    throw Error("labels: " + std::to_string(targets.size()) + " multi-label targets for " +
                std::to_string(logits.size()) + " logits");
  }
  if (logits.empty()) return std::numeric_limits<float>::quiet_NaN();
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double x = logits[i], y = targets[i];
    // max(x, 0) - x*y + log(1 + exp(-|x|)): the overflow-free form.
    total += std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));
  }
  return static_cast<float>(total / static_cast<double>(logits.size()));
}

// d/dlogits of the mean: (softmax(row) - onehot(target)) / counted.
void cross_entropy_backward(const float* logits, int64_t rows, int64_t classes, const std::vector<int64_t>& targets,
                            int64_t ignore_index, float scale, float* d_logits) {
  int64_t counted = 0;
  for (int64_t t : targets) counted += t != ignore_index;
  const double weight = counted > 0 ? static_cast<double>(scale) / static_cast<double>(counted) : 0.0;
#pragma omp parallel for if (rows * classes > 65536) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = targets[static_cast<size_t>(r)];
    const float* row = logits + r * classes;
    float* d = d_logits + r * classes;
    if (t == ignore_index) {
      std::fill(d, d + classes, 0.0f);
      continue;
    }
    const float max = *std::max_element(row, row + classes);
    double sum = 0.0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(row[c]) - max);
    for (int64_t c = 0; c < classes; ++c) {
      const double p = std::exp(static_cast<double>(row[c]) - max) / sum;
      d[c] = static_cast<float>((p - (c == t ? 1.0 : 0.0)) * weight);
    }
  }
}

void mse_backward(const std::vector<float>& predictions, const std::vector<float>& targets, float scale,
                  float* d_predictions) {
  const double weight = 2.0 * scale / static_cast<double>(std::max<size_t>(predictions.size(), 1));
  for (size_t i = 0; i < predictions.size(); ++i) {
    d_predictions[i] = static_cast<float>((static_cast<double>(predictions[i]) - targets[i]) * weight);
  }
}

void bce_with_logits_backward(const std::vector<float>& logits, const std::vector<float>& targets, float scale,
                              float* d_logits) {
  const double weight = static_cast<double>(scale) / static_cast<double>(std::max<size_t>(logits.size(), 1));
  for (size_t i = 0; i < logits.size(); ++i) {
    const double sigmoid = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[i])));
    d_logits[i] = static_cast<float>((sigmoid - targets[i]) * weight);
  }
}

}  // namespace rembert::model
