// kernels::gemm_bf16, mixed-precision training's product: op(a) and op(b) rounded to bfloat16, products summed in
// float32. Checked against a double-precision product of the bfloat16-rounded inputs, and its fallback where the
// CPU (or a cap on oneDNN) has no bfloat16 matmul.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>


#include "kernels/gemm.h"
#include "rembert/error.h"
#include "rembert/tensor.h"
#include "test_util.h"

namespace rembert {
namespace {

float round_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

struct Case {
  bool ta, tb;
  float alpha, beta;
};

class GemmBf16 : public ::testing::TestWithParam<Case> {};

TEST_P(GemmBf16, EqualsTheDoubleProductOfTheRoundedInputs) {
  std::string why_not;
  if (!kernels::bf16_gemm_available(&why_not)) GTEST_SKIP() << "this CPU lacks avx512_bf16 (" << why_not << ")";
  const Case p = GetParam();
  const int64_t m = 37, n = 29, k = 131;              // not multiples of any block
  const int64_t lda = (p.ta ? m : k) + 3, ldb = (p.tb ? k : n) + 5, ldc = n + 2;  // padded rows
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> a(static_cast<size_t>((p.ta ? k : m) * lda)), b(static_cast<size_t>((p.tb ? n : k) * ldb)),
      c(static_cast<size_t>(m * ldc));
  for (float& v : a) v = u(gen);
  for (float& v : b) v = u(gen);
  for (float& v : c) v = u(gen);
  const std::vector<float> c0 = c;
  kernels::gemm_bf16(p.ta, p.tb, m, n, k, p.alpha, a.data(), lda, b.data(), ldb, p.beta, c.data(), ldc);
  auto at = [&](int64_t i, int64_t l) { return round_bf16(p.ta ? a[l * lda + i] : a[i * lda + l]); };
  auto bt = [&](int64_t l, int64_t j) { return round_bf16(p.tb ? b[j * ldb + l] : b[l * ldb + j]); };
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0.0, magnitude = 0.0;
      for (int64_t l = 0; l < k; ++l) {
        const double t = double{at(i, l)} * bt(l, j);  // exact: two 8-bit significands
        ref += t;
        magnitude += std::abs(t);
      }
      ref = p.alpha * ref + p.beta * c0[static_cast<size_t>(i * ldc + j)];
      EXPECT_NEAR(c[static_cast<size_t>(i * ldc + j)], ref, 2e-6 * (magnitude + 1.0)) << "at " << i << ", " << j;
    }
    for (int64_t j = n; j < ldc; ++j) {  // the padding is never written
      EXPECT_EQ(c[static_cast<size_t>(i * ldc + j)], c0[static_cast<size_t>(i * ldc + j)]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, GemmBf16,
                         ::testing::Values(Case{false, false, 1.0f, 0.0f}, Case{false, true, 1.0f, 0.0f},
                                           Case{true, false, 0.5f, 1.0f}, Case{true, true, -2.0f, 0.25f}),
                         [](const ::testing::TestParamInfo<Case>& param) {
                           return std::string(param.param.ta ? "At" : "A") + (param.param.tb ? "Bt" : "B") +
                                  (param.param.beta != 0.0f ? "PlusC" : "");
                         });

// 1 + 2^-10 is 1 in bfloat16 (8-bit significand), so each of the k products is exactly 1: the sum is k, where
// float32 gives k (1 + 2^-10).
TEST(GemmBf16Rounding, InputsAreRoundedToBfloat16) {
  if (!kernels::bf16_gemm_available()) GTEST_SKIP() << "this CPU lacks avx512_bf16";
  const int64_t m = 4, n = 3, k = 64;
  const std::vector<float> a(static_cast<size_t>(m * k), 1.0f + 0x1p-10f), b(static_cast<size_t>(k * n), 1.0f);
  std::vector<float> c(static_cast<size_t>(m * n), std::nanf(""));  // beta 0: c is not read
  kernels::gemm_bf16(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
  for (float v : c) EXPECT_EQ(v, 64.0f);
  kernels::sgemm(false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
  for (float v : c) EXPECT_EQ(v, 64.0f + 0x1p-4f);
}

// k = 0: nothing to multiply, c = beta · c (BLAS; beta 0 writes zeros without reading c), in both precisions.
TEST(GemmBf16Rounding, EmptyProductsScaleC) {
  for (bool bf16 : {false, true}) {
    if (bf16 && !kernels::bf16_gemm_available()) continue;  // the float32 half still ran
    std::vector<float> c = {1.0f, 2.0f, 3.0f, 4.0f}, z = {std::nanf(""), 1.0f, 2.0f, 3.0f};
    const float unused = 7.0f;
    auto gemm = bf16 ? kernels::gemm_bf16 : kernels::sgemm_ab;
    gemm(false, false, 2, 2, 0, 1.0f, &unused, 1, &unused, 2, 0.5f, c.data(), 2);
    EXPECT_EQ(c, (std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f})) << (bf16 ? "bf16" : "f32");
    gemm(true, false, 2, 2, 0, 1.0f, &unused, 2, &unused, 2, 0.0f, z.data(), 2);
    EXPECT_EQ(z, (std::vector<float>(4, 0.0f))) << (bf16 ? "bf16" : "f32");
  }
}

// The path that replaces it where the CPU lacks avx512_bf16: capped at AVX2 (this test's own process, as ctest runs
// it, before oneDNN's first use), oneDNN has no bfloat16 matmul of its own, and gemm_bf16 says so instead of
// running the reference loops.
TEST(GemmBf16Fallback, WithoutBf16TheProductIsRefusedWithTheReason) {
  if (!testing::cap_onednn_at_avx2()) GTEST_SKIP() << testing::kOnednnRanBeforeTheCap;
  std::string why_not;
  EXPECT_FALSE(kernels::bf16_gemm_available(&why_not));
  EXPECT_NE(why_not.find("bfloat16"), std::string::npos) << why_not;
  std::vector<float> x(4, 1.0f), y(4, 0.0f);
  EXPECT_THROW(kernels::gemm_bf16(false, false, 2, 2, 2, 1.0f, x.data(), 2, x.data(), 2, 0.0f, y.data(), 2), Error);
}

}  // namespace
}  // namespace rembert
