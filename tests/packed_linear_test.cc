// The packed linear kernel against a double-precision reference: every compute type, several row counts (each its
// own oneDNN primitive), bias and fused GELU, stored F16/BF16 weights, and the bfloat16 fallback's honesty.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/packed_linear.h"
#include "rembert/error.h"

namespace rembert {
namespace {

using kernels::ComputeType;
using kernels::PackedLinear;

std::vector<float> random_values(size_t n, float scale, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

std::vector<double> reference(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
                              int64_t m, int64_t n, int64_t k, bool with_gelu) {
  std::vector<double> y(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = b[static_cast<size_t>(j)];
      for (int64_t t = 0; t < k; ++t) acc += double(x[static_cast<size_t>(i * k + t)]) * w[static_cast<size_t>(j * k + t)];
      y[static_cast<size_t>(i * n + j)] = with_gelu ? gelu(acc) : acc;
    }
  }
  return y;
}

// Largest |y - ref| relative to the largest |ref|.
double relative_error(const std::vector<float>& y, const std::vector<double>& ref) {
  double err = 0.0, scale = 0.0;
  for (size_t i = 0; i < y.size(); ++i) {
    err = std::max(err, std::fabs(y[i] - ref[i]));
    scale = std::max(scale, std::fabs(ref[i]));
  }
  return err / scale;
}

struct KernelCase {
  ComputeType type;
  double tolerance;  // relative to the largest output
};

class PackedLinearTest : public ::testing::TestWithParam<KernelCase> {};

TEST_P(PackedLinearTest, MatchesTheReferenceForEveryRowCount) {
  const KernelCase c = GetParam();
  if (c.type == ComputeType::BFloat16 && !kernels::cpu_has_flag("avx512_bf16") && !kernels::cpu_has_flag("amx_bf16")) {
    GTEST_SKIP() << "this CPU lacks avx512_bf16";
  }
  const int64_t n = 96, k = 80;
  const std::vector<float> w = random_values(static_cast<size_t>(n * k), 0.05f, 1);
  const std::vector<float> b = random_values(static_cast<size_t>(n), 0.1f, 2);
  for (bool with_gelu : {false, true}) {
    PackedLinear lin(w.data(), DType::F32, n, k, b.data(), c.type, with_gelu);
    if (c.type == ComputeType::BFloat16 && lin.compute() != ComputeType::BFloat16) {
      GTEST_SKIP() << "this CPU lacks avx512_bf16";  // flag present but oneDNN capped (ONEDNN_MAX_CPU_ISA)
    }
    EXPECT_EQ(lin.compute(), c.type);
    EXPECT_TRUE(lin.fallback_reason().empty());
    EXPECT_EQ(lin.out_features(), n);
    EXPECT_EQ(lin.in_features(), k);
    for (int64_t m : {1, 3, 17, 128, 200}) {
      const std::vector<float> x = random_values(static_cast<size_t>(m * k), 1.0f, static_cast<uint32_t>(10 + m));
      std::vector<float> y(static_cast<size_t>(m * n), -1.0f);
      lin.forward(x.data(), m, y.data());
      const double err = relative_error(y, reference(x, w, b, m, n, k, with_gelu));
      EXPECT_LT(err, c.tolerance) << kernels::compute_type_name(c.type) << " m=" << m << " gelu=" << with_gelu
                                  << " (" << lin.implementation(m) << ")";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, PackedLinearTest,
                         ::testing::Values(KernelCase{ComputeType::Float32, 1e-6},
                                           KernelCase{ComputeType::BFloat16, 1.5e-2},
                                           KernelCase{ComputeType::Int8, 2e-2}),
                         [](const ::testing::TestParamInfo<KernelCase>& p) { return std::string(kernels::compute_type_name(p.param.type)); });

TEST(PackedLinear, StoredHalfPrecisionWeightsAreWidenedExactlyOnce) {
  const int64_t n = 8, k = 32, m = 5;
  std::vector<float> w = random_values(static_cast<size_t>(n * k), 0.1f, 3);
  std::vector<uint16_t> w16(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    w16[i] = f32_to_bf16(w[i]);
    w[i] = bf16_to_f32(w16[i]);
  }
  const std::vector<float> b(static_cast<size_t>(n), 0.5f);
  const std::vector<float> x = random_values(static_cast<size_t>(m * k), 1.0f, 4);
  PackedLinear lin(w16.data(), DType::BF16, n, k, b.data(), ComputeType::Float32);
  std::vector<float> y(static_cast<size_t>(m * n));
  lin.forward(x.data(), m, y.data());
  EXPECT_LT(relative_error(y, reference(x, w, b, m, n, k, false)), 1e-6);
}

TEST(PackedLinear, BFloat16SaysWhenItFallsBackToFloat32) {
  const int64_t n = 8, k = 16, m = 3;
  std::vector<float> w = random_values(static_cast<size_t>(n * k), 0.1f, 5);
  PackedLinear lin(w.data(), DType::F32, n, k, nullptr, ComputeType::BFloat16);
  EXPECT_EQ(lin.requested(), ComputeType::BFloat16);
  if (lin.compute() == ComputeType::BFloat16) {
    EXPECT_TRUE(lin.fallback_reason().empty());
    EXPECT_EQ(lin.implementation().find("ref"), std::string::npos) << lin.implementation();
  } else {
    // The fallback computes float32 on the bfloat16-rounded weights: exact against that reference.
    EXPECT_EQ(lin.compute(), ComputeType::Float32);
    EXPECT_FALSE(lin.fallback_reason().empty());
    for (float& v : w) v = bf16_to_f32(f32_to_bf16(v));
    const std::vector<float> x = random_values(static_cast<size_t>(m * k), 1.0f, 6);
    std::vector<float> y(static_cast<size_t>(m * n));
    lin.forward(x.data(), m, y.data());
    EXPECT_LT(relative_error(y, reference(x, w, std::vector<float>(static_cast<size_t>(n)), m, n, k, false)), 1e-6);
  }
}

TEST(PackedLinear, ImplementationNamesAreOneDnnKernels) {
  const std::vector<float> w = random_values(64 * 64, 0.1f, 7);
  for (ComputeType t : {ComputeType::Float32, ComputeType::BFloat16, ComputeType::Int8}) {
    PackedLinear lin(w.data(), DType::F32, 64, 64, nullptr, t);
    const std::string impl = lin.implementation(128);
    EXPECT_FALSE(impl.empty());
    EXPECT_NE(impl.rfind("ref", 0), 0u) << kernels::compute_type_name(t) << ": " << impl;
    EXPECT_GT(lin.packed_bytes(), 0u);
  }
}

TEST(PackedLinear, ZeroWidthInputGivesTheBias) {
  const std::vector<float> b = {1.0f, -2.0f};
  PackedLinear lin(nullptr, DType::F32, 2, 0, b.data(), ComputeType::Int8);
  std::vector<float> y(4);
  lin.forward(nullptr, 2, y.data());
  EXPECT_EQ(y, (std::vector<float>{1.0f, -2.0f, 1.0f, -2.0f}));
}

TEST(PackedLinear, Int8GeluEpilogueIsErfGelu) {
  // With k = 0 the output is act(bias): the int8 epilogue's GELU alone, against erf in double precision.
  std::vector<float> b;
  for (float v = -8.0f; v <= 8.0f; v += 0.01f) b.push_back(v);
  const int64_t n = static_cast<int64_t>(b.size());
  PackedLinear lin(nullptr, DType::F32, n, 0, b.data(), ComputeType::Int8, true);
  std::vector<float> y(b.size());
  lin.forward(nullptr, 1, y.data());
  for (size_t i = 0; i < b.size(); ++i) EXPECT_NEAR(y[i], gelu(b[i]), 1e-6) << b[i];
}

TEST(PackedLinear, BadWeightsAreErrors) {
  const std::vector<int64_t> w(4);
  try {
    PackedLinear lin(w.data(), DType::I64, 2, 2, nullptr, ComputeType::Float32);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("I64"), std::string::npos) << e.what();
  }
}

TEST(PackedLinear, ConcurrentCallsAgree) {
  const int64_t n = 64, k = 64, m = 9;
  const std::vector<float> w = random_values(static_cast<size_t>(n * k), 0.1f, 8);
  const std::vector<float> x = random_values(static_cast<size_t>(m * k), 1.0f, 9);
  PackedLinear lin(w.data(), DType::F32, n, k, nullptr, ComputeType::Int8);
  std::vector<float> expected(static_cast<size_t>(m * n));
  lin.forward(x.data(), m, expected.data());
  std::vector<std::vector<float>> got(4, std::vector<float>(static_cast<size_t>(m * n)));
  std::vector<std::thread> threads;
  for (auto& g : got) threads.emplace_back([&] { for (int i = 0; i < 20; ++i) lin.forward(x.data(), m, g.data()); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, expected);
}

}  // namespace
}  // namespace rembert

namespace rembert {
namespace {

// Pre-quantized int8 weights (as rembert convert stores them) pack to the same products as quantizing at load.
TEST(PackedLinearInt8, PreQuantizedWeightsGiveTheProductsOfLoadTimeQuantization) {
  const int64_t n = 40, k = 72, m = 9;
  std::vector<float> w = random_values(static_cast<size_t>(n * k), 0.05f, 5);
  for (int64_t i = 0; i < k; ++i) w[static_cast<size_t>(3 * k + i)] = 0.0f;  // an all-zero channel: scale 1
  const std::vector<float> b = random_values(static_cast<size_t>(n), 0.1f, 6);
  std::vector<int8_t> q(static_cast<size_t>(n * k));
  std::vector<float> scale(static_cast<size_t>(n));
  kernels::quantize_per_channel(w.data(), DType::F32, n, k, q.data(), scale.data());
  EXPECT_EQ(scale[3], 1.0f);
  // Channel 0 by hand: max|w| / 127, and the largest weight maps to +-127.
  float amax = 0.0f;
  int64_t at = 0;
  for (int64_t i = 0; i < k; ++i) {
    if (std::fabs(w[static_cast<size_t>(i)]) > amax) amax = std::fabs(w[static_cast<size_t>(i)]), at = i;
  }
  EXPECT_FLOAT_EQ(scale[0], amax / 127.0f);
  EXPECT_EQ(std::abs(q[static_cast<size_t>(at)]), 127);
  const std::vector<float> x = random_values(static_cast<size_t>(m * k), 1.0f, 7);
  for (bool with_gelu : {false, true}) {
    PackedLinear from_float(w.data(), DType::F32, n, k, b.data(), ComputeType::Int8, with_gelu);
    PackedLinear from_int8(q.data(), scale.data(), n, k, b.data(), with_gelu);
    EXPECT_EQ(from_int8.compute(), ComputeType::Int8);
    EXPECT_EQ(from_int8.packed_bytes(), from_float.packed_bytes());
    std::vector<float> y1(static_cast<size_t>(m * n)), y2(static_cast<size_t>(m * n));
    from_float.forward(x.data(), m, y1.data());
    from_int8.forward(x.data(), m, y2.data());
    EXPECT_EQ(y1, y2);
    EXPECT_LT(relative_error(y2, reference(x, w, b, m, n, k, with_gelu)), 0.03);
  }
}

TEST(PackedLinearInt8, RefusesBadScalesAndOutOfRangeWeights) {
  const int64_t n = 4, k = 8;
  std::vector<int8_t> q(static_cast<size_t>(n * k), 3);
  for (float bad : {0.0f, -1.0f, std::nanf(""), INFINITY}) {
    std::vector<float> scale(static_cast<size_t>(n), 0.01f);
    scale[2] = bad;
    try {
      PackedLinear lin(q.data(), scale.data(), n, k, nullptr);
      ADD_FAILURE() << "scale " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("the scale of output channel 2 is"), std::string::npos) << e.what();
    }
  }
  const std::vector<float> scale(static_cast<size_t>(n), 0.01f);
  q[static_cast<size_t>(k + 5)] = -128;
  try {
    PackedLinear lin(q.data(), scale.data(), n, k, nullptr);
    ADD_FAILURE() << "-128 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight value -128 at [1, 5]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rembert
