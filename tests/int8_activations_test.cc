// The int8 path on CPUs with and without VNNI: which way the u8 activation codes reach oneDNN's product
// (kernels::Int8Activations), and products whose u8 x s8 pairs would saturate a 16-bit sum (vpmaddubsw, CPUs without
// VNNI) against a double-precision reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/packed_linear.h"
#include "test_util.h"

namespace rembert {
namespace {

using kernels::ComputeType;
using kernels::Int8Activations;
using kernels::PackedLinear;

bool cpu_has_vnni() {
  return kernels::cpu_has_flag("avx512_vnni") || kernels::cpu_has_flag("avx_vnni") ||
         kernels::cpu_has_flag("amx_int8");
}

// Non-empty when ONEDNN_MAX_CPU_ISA caps what oneDNN may use, so that the CPU's flags do not say what it runs.
std::string isa_cap() {
  const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
  return cap ? std::string("ONEDNN_MAX_CPU_ISA=") + cap + " caps oneDNN below the CPU's flags" : "";
}

TEST(Int8Activations, CodesGoAsTwoHalvesExactlyWhenTheCpuLacksVnni) {
  if (!isa_cap().empty()) GTEST_SKIP() << isa_cap();
  const Int8Activations expected = cpu_has_vnni() ? Int8Activations::U8 : Int8Activations::U8AsTwo7BitHalves;
  EXPECT_EQ(kernels::int8_activations(), expected);
  const std::vector<float> w(16, 0.5f);
  PackedLinear int8(w.data(), DType::F32, 4, 4, nullptr, ComputeType::Int8);
  EXPECT_EQ(int8.compute(), ComputeType::Int8);
  EXPECT_EQ(int8.int8_activations(), expected);
  PackedLinear f32(w.data(), DType::F32, 4, 4, nullptr, ComputeType::Float32);
  EXPECT_EQ(f32.int8_activations(), Int8Activations::U8);  // nothing to split
  EXPECT_STREQ(kernels::int8_activations_name(Int8Activations::U8), "u8");
  EXPECT_STREQ(kernels::int8_activations_name(Int8Activations::U8AsTwo7BitHalves), "u8 as two 7-bit halves");
}

TEST(Int8Activations, WithVnniTheCodesGoWhole) {
  if (!cpu_has_vnni()) GTEST_SKIP() << "this CPU lacks avx512_vnni / avx_vnni / amx_int8";
  if (!isa_cap().empty()) GTEST_SKIP() << isa_cap();
  EXPECT_EQ(kernels::int8_activations(), Int8Activations::U8);
}


// Activations on the u8 grid of their row (code * max / 255, min 0, so zero point 0) with codes 160..255, and
// weights on the int8 grid of their channel (q / 127 * amax, |q| = 127 somewhere): quantization is exact, so the
// int8 product must equal the double reference up to float rounding. Every pair of these u8 x s8 products exceeds
// int16 (160 * 127 * 2 > 32767) in channels 0 and 3, where a saturating sum loses ~half the value; with 7-bit codes
// the odd codes round off by half a 7-bit step.
void expect_products_whose_pairs_would_saturate_int16_are_exact() {
  const int64_t m = 5, n = 6, k = 67;  // odd k: the kernels' remainder loops too
  std::mt19937 gen(11);
  std::uniform_int_distribution<int> code(160, 255), weight_code(-127, 127);
  std::vector<float> x(static_cast<size_t>(m * k)), w(static_cast<size_t>(n * k)), b(static_cast<size_t>(n));
  for (int64_t r = 0; r < m; ++r) {
    const float row_max = 0.5f + static_cast<float>(r);
    for (int64_t i = 0; i < k; ++i) {
      const int c = i == r ? 255 : code(gen);
      x[static_cast<size_t>(r * k + i)] = static_cast<float>(c) * (row_max / 255.0f);
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    const float amax = 0.25f * static_cast<float>(j + 1);
    for (int64_t i = 0; i < k; ++i) {
      int q = weight_code(gen);
      if (j == 0) q = 127;
      if (j == 1) q = i % 2 ? 127 : -127;
      if (j == 3) q = -127;
      if (i == j) q = 127;  // the channel's max|w| is amax
      w[static_cast<size_t>(j * k + i)] = static_cast<float>(q) * (amax / 127.0f);
    }
    b[static_cast<size_t>(j)] = 0.125f * static_cast<float>(j);
  }
  PackedLinear lin(w.data(), DType::F32, n, k, b.data(), ComputeType::Int8);
  ASSERT_EQ(lin.compute(), ComputeType::Int8);
  std::vector<float> y(static_cast<size_t>(m * n));
  lin.forward(x.data(), m, y.data());
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      double ref = b[static_cast<size_t>(j)], magnitude = 0.0;
      for (int64_t i = 0; i < k; ++i) {
        const double p = static_cast<double>(x[static_cast<size_t>(r * k + i)]) * w[static_cast<size_t>(j * k + i)];
        ref += p;
        magnitude += std::abs(p);
      }
      EXPECT_NEAR(y[static_cast<size_t>(r * n + j)], ref, 1e-5 * magnitude + 1e-6) << "row " << r << " channel " << j;
    }
  }
}

TEST(Int8Activations, ProductsWhosePairsWouldSaturateInt16AreExact) {
  expect_products_whose_pairs_would_saturate_int16_are_exact();
}

// The VNNI-less path on any CPU: where the CPU has VNNI, oneDNN is capped at AVX2 for this process (ctest runs
// every test in a process of its own, and the cap must come before oneDNN's first use).
TEST(Int8Activations, WithoutVnniTheCodesGoAsHalves) {
  if (cpu_has_vnni() && isa_cap().empty() && !testing::cap_onednn_at_avx2()) {
    GTEST_SKIP() << testing::kOnednnRanBeforeTheCap;
  }
  EXPECT_EQ(kernels::int8_activations(), Int8Activations::U8AsTwo7BitHalves);
  expect_products_whose_pairs_would_saturate_int16_are_exact();
}

// Any activations (some negative, so a zero point inside the codes; mostly positive, as after GELU, so most codes
// are large and many pairs would saturate int16): within the quantization error. Per term, the activation is off by
// at most one u8 step of its row (half a step from rounding, up to another half where the rounded zero point pushes
// an extreme code into the clamp) and the weight by half an int8 step of its channel.
TEST(Int8Activations, ProductsStayWithinTheU8QuantizationError) {
  const int64_t m = 9, n = 33, k = 301;
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> activation(-0.25f, 1.0f), weight(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * k)), w(static_cast<size_t>(n * k));
  for (float& v : x) v = activation(gen);
  for (float& v : w) v = weight(gen);
  PackedLinear lin(w.data(), DType::F32, n, k, nullptr, ComputeType::Int8);
  std::vector<float> y(static_cast<size_t>(m * n));
  lin.forward(x.data(), m, y.data());
  double worst_ratio = 0.0;
  for (int64_t r = 0; r < m; ++r) {
    const float* row = x.data() + r * k;
    double lo = 0.0, hi = 0.0;
    for (int64_t i = 0; i < k; ++i) lo = std::min(lo, double{row[i]}), hi = std::max(hi, double{row[i]});
    const double sx = (hi - lo) / 255.0;
    for (int64_t j = 0; j < n; ++j) {
      const float* wj = w.data() + j * k;
      double amax = 0.0;
      for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::abs(double{wj[i]}));
      const double sw = amax / 127.0;
      double ref = 0.0, bound = 0.0;
      for (int64_t i = 0; i < k; ++i) {
        ref += double{row[i]} * wj[i];
        bound += (std::abs(double{wj[i]}) + sw / 2) * sx + std::abs(double{row[i]}) * sw / 2;
      }
      const double err = std::abs(y[static_cast<size_t>(r * n + j)] - ref);
      EXPECT_LE(err, bound * (1 + 1e-5)) << "row " << r << " channel " << j;
      worst_ratio = std::max(worst_ratio, err / bound);
    }
  }
  EXPECT_GT(worst_ratio, 0.0);  // quantized, not float32
}

}  // namespace
}  // namespace rembert
