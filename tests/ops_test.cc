// Element-wise and row-wise kernels against double-precision references.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/attention.h"
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

TEST(Attention, ReadsAPreallocatedCacheThroughItsStrides) {
  // k, v: [B=2, heads=2, capacity=3, D=1], filled to 2 positions; the third slot is NaN and must never be read.
  // With q = 1 and D = 1 the scores are the keys: softmax(0, ln 3) = (1/4, 3/4), softmax(x, x) = (1/2, 1/2).
  const float nan = std::numeric_limits<float>::quiet_NaN(), ln3 = std::log(3.0f);
  const std::vector<float> k = {0, ln3, nan, ln3, 0, nan, 0, 0, nan, ln3, ln3, nan};
  const std::vector<float> v = {4, 8, nan, 4, 8, nan, 2, 6, nan, 1, 3, nan};
  const std::vector<float> q(4, 1.0f);
  std::vector<float> context(4, -1.0f);
  kernels::AttentionShape shape{2, 2, 1, 2, 1, /*kv_pos_stride=*/1, /*kv_head_stride=*/3, /*kv_batch_stride=*/6};
  kernels::attention(shape, q.data(), k.data(), v.data(), nullptr, nullptr, context.data(), nullptr);
  // b0: 4/4 + 8*3/4 = 7, 4*3/4 + 8/4 = 5; b1: (2 + 6)/2 = 4, (1 + 3)/2 = 2.
  const std::vector<float> expected = {7, 5, 4, 2};
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(context[i], expected[i], 1e-5) << "output " << i;
}

}  // namespace
}  // namespace rembert
