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

// Attention's softmax(scores * scale + mask) * head multiplier against the double reference, one row fully masked
// (transformers then gives every position the same probability).
TEST(Ops, ScaledMaskedSoftmaxMatchesTheDoubleReference) {
  std::mt19937 gen(5);
  std::normal_distribution<float> dist(0.0f, 8.0f);
  const int64_t rows = 3, cols = 37;
  const float scale = 0.125f, post = 0.5f, lowest = std::numeric_limits<float>::lowest();
  std::vector<float> x(static_cast<size_t>(rows * cols)), mask(x.size(), 0.0f);
  for (float& v : x) v = dist(gen);
  for (int64_t c = 0; c < cols; c += 4) mask[static_cast<size_t>(c)] = lowest;         // row 0: some masked
  for (int64_t c = 0; c < cols; ++c) mask[static_cast<size_t>(2 * cols + c)] = lowest;  // row 2: all masked
  for (const float* m : {static_cast<const float*>(nullptr), static_cast<const float*>(mask.data())}) {
    std::vector<float> y = x;
    kernels::scaled_masked_softmax_rows(y.data(), rows, cols, scale, m, post);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> t(static_cast<size_t>(cols));  // the scaled, masked scores as float computes them
      for (int64_t c = 0; c < cols; ++c) {
        const auto i = static_cast<size_t>(r * cols + c);
        t[static_cast<size_t>(c)] = x[i] * scale + (m ? m[i] : 0.0f);
      }
      double max = -INFINITY, sum = 0.0;
      for (float v : t) max = std::max(max, static_cast<double>(v));
      for (float v : t) sum += std::exp(static_cast<double>(v - static_cast<float>(max)));
      for (int64_t c = 0; c < cols; ++c) {
        const double ref = post * std::exp(static_cast<double>(t[static_cast<size_t>(c)] - static_cast<float>(max))) / sum;
        EXPECT_NEAR(y[static_cast<size_t>(r * cols + c)], ref, 1e-6 * ref + 1e-30)
            << (m ? "masked" : "unmasked") << " row " << r << " col " << c;
      }
    }
  }
  // The fully masked row: every probability post / cols.
  std::vector<float> y = x;
  kernels::scaled_masked_softmax_rows(y.data(), rows, cols, scale, mask.data(), post);
  EXPECT_NEAR(y[static_cast<size_t>(2 * cols + 5)], post / cols, 1e-7);
}

// LayerNorm(x + residual) against the double reference of the float sum; in place, as the model calls it.
TEST(Ops, ResidualLayerNormMatchesTheDoubleReference) {
  std::mt19937 gen(7);
  std::normal_distribution<float> dist(1.0f, 3.0f);
  const int64_t rows = 4, cols = 1152;  // 4 x 1152 > 65536 / 16: also the threaded loop when OpenMP has threads
  std::vector<float> x(static_cast<size_t>(rows * cols)), res(x.size()), gamma(static_cast<size_t>(cols)),
      beta(gamma.size());
  for (float& v : x) v = dist(gen);
  for (float& v : res) v = dist(gen);
  for (float& v : gamma) v = dist(gen);
  for (float& v : beta) v = dist(gen);
  const float eps = 1e-12f;
  std::vector<float> y = x;
  kernels::add_layer_norm(y.data(), res.data(), rows, cols, gamma.data(), beta.data(), eps);
  std::vector<float> plain = x;  // layer_norm alone on the sum computed beforehand gives the same values
  for (size_t i = 0; i < plain.size(); ++i) plain[i] += res[i];
  kernels::layer_norm(plain.data(), rows, cols, gamma.data(), beta.data(), eps, plain.data());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0.0, var = 0.0;
    for (int64_t c = 0; c < cols; ++c) mean += x[static_cast<size_t>(r * cols + c)] + res[static_cast<size_t>(r * cols + c)];
    mean /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) {
      const double d = static_cast<double>(x[static_cast<size_t>(r * cols + c)] + res[static_cast<size_t>(r * cols + c)]) - mean;
      var += d * d;
    }
    var /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) {
      const auto i = static_cast<size_t>(r * cols + c);
      const double ref = (static_cast<double>(x[i] + res[i]) - mean) / std::sqrt(var + eps) * gamma[static_cast<size_t>(c)] +
                         beta[static_cast<size_t>(c)];
      EXPECT_NEAR(y[i], ref, 2e-5 * (std::fabs(ref) + 1.0)) << "row " << r << " col " << c;
      EXPECT_EQ(y[i], plain[i]) << "row " << r << " col " << c;
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
