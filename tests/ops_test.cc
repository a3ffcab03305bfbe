// Element-wise and row-wise kernels against double-precision references.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/ops.h"

namespace rembert {
namespace {

TEST(Ops, SoftmaxMatchesTheDoubleReferenceIncludingMaskedPositions) {
  std::mt19937 gen(3);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  for (int64_t cols : {1, 7, 16, 129, 512}) {
    std::vector<float> x(static_cast<size_t>(3 * cols));
    for (float& v : x) v = dist(gen);
    // Row 1 has masked positions (transformers adds float min), row 2 values far below the maximum.
    for (int64_t c = 0; c < cols; c += 3) x[static_cast<size_t>(cols + c)] = std::numeric_limits<float>::lowest();
    x[static_cast<size_t>(2 * cols)] = 100.0f;
    std::vector<float> y = x;
    kernels::softmax_rows(y.data(), 3, cols);
    for (int64_t r = 0; r < 3; ++r) {
      const float* in = x.data() + r * cols;
      double max = -INFINITY, sum = 0.0;
      for (int64_t c = 0; c < cols; ++c) max = std::max(max, static_cast<double>(in[c]));
      // The differences as float computes them (their rounding is the input's, not the kernel's).
      auto diff = [&](int64_t c) { return static_cast<double>(in[c] - static_cast<float>(max)); };
      for (int64_t c = 0; c < cols; ++c) sum += std::exp(diff(c));
      for (int64_t c = 0; c < cols; ++c) {
        const double ref = std::exp(diff(c)) / sum;
        EXPECT_NEAR(y[static_cast<size_t>(r * cols + c)], ref, 1e-6 * ref + 1e-30) << "row " << r << " col " << c;
      }
    }
  }
}

}  // namespace
}  // namespace rembert
