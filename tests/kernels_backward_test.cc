// Backward kernels against finite differences of double-precision forward formulas, double references, and the
// conventions PyTorch's autograd uses at kinks; dropout's statistics and determinism; sgemm_ab against a naive loop.
#include <gtest/gtest.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/backward.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "rembert/error.h"

namespace rembert {
namespace {

using kernels::Activation;

// The forward formulas of transformers' ACT2FN (as ops.cc implements them), in double.
double sigmoid_d(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double gelu_d(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

double activation_d(Activation act, double x) {
  switch (act) {
    case Activation::Gelu: return gelu_d(x);
    case Activation::GeluTanh:
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::QuickGelu: return x * sigmoid_d(1.702 * x);
    case Activation::Gelu10: return std::clamp(gelu_d(x), -10.0, 10.0);
    case Activation::Relu: return std::max(x, 0.0);
    case Activation::Relu6: return std::clamp(x, 0.0, 6.0);
    case Activation::Silu: return x * sigmoid_d(x);
    case Activation::Tanh: return std::tanh(x);
    case Activation::Sigmoid: return sigmoid_d(x);
    case Activation::Mish: return x * std::tanh(std::log1p(std::exp(x)));
    case Activation::LeakyRelu: return x >= 0.0 ? x : 0.01 * x;
    case Activation::Linear: return x;
    case Activation::Laplace: return 0.5 * (1.0 + std::erf((x - 0.707107) / (0.282095 * std::sqrt(2.0))));
    case Activation::Relu2: return x > 0.0 ? x * x : 0.0;
  }
  return 0.0;
}

const Activation kAllActivations[] = {
    Activation::Gelu,  Activation::GeluTanh, Activation::QuickGelu, Activation::Gelu10,    Activation::Relu,
    Activation::Relu6, Activation::Silu,     Activation::Tanh,      Activation::Sigmoid,   Activation::Mish,
    Activation::LeakyRelu, Activation::Linear, Activation::Laplace, Activation::Relu2};

TEST(KernelsBackward, EveryActivationMatchesACentralDifferenceOfItsForward) {
  // Away from every kink (0, 6, and gelu(x) = 10 at x ≈ 10), including large magnitudes where exp overflows float.
  std::vector<float> x = {-100.0f, -30.0f, -7.3f, -3.1f, -1.7f, -0.9f, -0.35f, -0.05f, 0.05f, 0.2f, 0.45f, 0.7f,
                          0.8f,    1.3f,   2.2f,  3.7f,  5.1f,  5.9f,  6.8f,   9.7f,   10.5f, 11.5f, 30.0f, 100.0f};
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> dy(x.size());
  for (float& v : dy) v = dist(gen);
  for (Activation act : kAllActivations) {
    std::vector<float> dx(x.size(), std::numeric_limits<float>::quiet_NaN());
    kernels::activation_backward(act, x.data(), dy.data(), dx.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      const double h = 1e-5 * std::max(1.0, std::abs(static_cast<double>(x[i])));
      const double derivative = (activation_d(act, x[i] + h) - activation_d(act, x[i] - h)) / (2.0 * h);
      const double ref = dy[i] * derivative;
      EXPECT_NEAR(dx[i], ref, 2e-5 * (1.0 + std::abs(ref)))
          << "activation " << static_cast<int>(act) << " x " << x[i];
    }
  }
}

TEST(KernelsBackward, ActivationGradientsAtKinksFollowPyTorch) {
  struct Case {
    Activation act;
    float x;
    double derivative;  // dx / dy
  };
  const Case cases[] = {
      {Activation::Relu, 0.0f, 0.0},       {Activation::Relu, -0.0f, 0.0},     {Activation::Relu6, 0.0f, 0.0},
      {Activation::Relu6, 6.0f, 0.0},      {Activation::Relu6, 7.0f, 0.0},     {Activation::Relu6, 3.0f, 1.0},
      {Activation::LeakyRelu, 0.0f, 0.01}, {Activation::LeakyRelu, -2.0f, 0.01}, {Activation::Relu2, 0.0f, 0.0},
      {Activation::Relu2, 1.5f, 3.0},      {Activation::Gelu10, 10.5f, 0.0},   {Activation::Gelu10, 1000.0f, 0.0},
      // gelu(9.99) < 10: the clip is not active, the gradient is gelu's (1 to float precision).
      {Activation::Gelu10, 9.99f, 1.0},    {Activation::Linear, 0.0f, 1.0},
  };
  for (const Case& c : cases) {
    const float dy = -1.25f;
    float dx = 0.0f;
    kernels::activation_backward(c.act, &c.x, &dy, &dx, 1);
    EXPECT_NEAR(dx, dy * c.derivative, 1e-6) << "activation " << static_cast<int>(c.act) << " x " << c.x;
  }
}

TEST(KernelsBackward, ActivationBackwardInPlaceOverManyElements) {
  // dx aliasing dy, and enough elements for the threaded loop.
  const int64_t n = 200000;
  std::mt19937 gen(5);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> x(n), dy(n);
  for (float& v : x) v = dist(gen);
  for (float& v : dy) v = dist(gen);
  for (Activation act : {Activation::Gelu, Activation::GeluTanh, Activation::Mish, Activation::Linear}) {
    std::vector<float> separate(n), inplace = dy;
    kernels::activation_backward(act, x.data(), dy.data(), separate.data(), n);
    kernels::activation_backward(act, x.data(), inplace.data(), inplace.data(), n);
    EXPECT_EQ(separate, inplace) << "activation " << static_cast<int>(act);
    for (int64_t i = 0; i < n; i += 997) {
      const double h = 1e-5 * std::max(1.0, std::abs(static_cast<double>(x[i])));
      const double ref = dy[i] * (activation_d(act, x[i] + h) - activation_d(act, x[i] - h)) / (2.0 * h);
      ASSERT_NEAR(inplace[i], ref, 2e-5 * (1.0 + std::abs(ref))) << "activation " << static_cast<int>(act);
    }
  }
}

// Layer norm in double: out = (x - mean) / sqrt(var + eps) * gamma + beta per row.
std::vector<double> layer_norm_d(const std::vector<double>& x, int64_t rows, int64_t cols,
                                 const std::vector<double>& gamma, const std::vector<double>& beta, double eps) {
  std::vector<double> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const double* in = x.data() + r * cols;
    double mean = 0.0, var = 0.0;
    for (int64_t c = 0; c < cols; ++c) mean += in[c];
    mean /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) var += (in[c] - mean) * (in[c] - mean);
    var /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) {
      out[r * cols + c] = (in[c] - mean) / std::sqrt(var + eps) * gamma[c] + beta[c];
    }
  }
  return out;
}

struct LayerNormCase {
  int64_t rows, cols;
  std::vector<float> x, gamma, beta;
};

LayerNormCase random_layer_norm_case(int64_t rows, int64_t cols, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  LayerNormCase c{rows, cols, std::vector<float>(rows * cols), std::vector<float>(cols), std::vector<float>(cols)};
  for (float& v : c.x) v = 0.5f + 2.0f * dist(gen);
  for (float& v : c.gamma) v = 1.0f + 0.3f * dist(gen);
  for (float& v : c.beta) v = 0.2f * dist(gen);
  return c;
}

TEST(KernelsBackward, LayerNormKeepsItsStatisticsWithoutChangingItsOutput) {
  for (int64_t cols : {1, 7, 64, 1152}) {
    for (float eps : {1e-12f, 1e-5f}) {
      const int64_t rows = cols == 1152 ? 80 : 5;  // 80 x 1152: the threaded loop
      const LayerNormCase c = random_layer_norm_case(rows, cols, static_cast<unsigned>(cols));
      std::vector<float> ref(c.x.size()), out(c.x.size()), mean(rows), rstd(rows);
      kernels::layer_norm(c.x.data(), rows, cols, c.gamma.data(), c.beta.data(), eps, ref.data());
      kernels::layer_norm(c.x.data(), rows, cols, c.gamma.data(), c.beta.data(), eps, out.data(), mean.data(),
                          rstd.data());
      EXPECT_EQ(out, ref) << "cols " << cols;
      std::vector<float> inplace = c.x, mean2(rows), rstd2(rows);
      kernels::layer_norm(inplace.data(), rows, cols, c.gamma.data(), c.beta.data(), eps, inplace.data(),
                          mean2.data(), rstd2.data());
      EXPECT_EQ(inplace, ref) << "cols " << cols << " in place";
      for (int64_t r = 0; r < rows; ++r) {
        double m = 0.0, var = 0.0;
        for (int64_t k = 0; k < cols; ++k) m += c.x[r * cols + k];
        m /= static_cast<double>(cols);
        for (int64_t k = 0; k < cols; ++k) var += (c.x[r * cols + k] - m) * (c.x[r * cols + k] - m);
        var /= static_cast<double>(cols);
        const double inv = 1.0 / std::sqrt(var + eps);
        EXPECT_NEAR(mean[r], m, 1e-6 * (1.0 + std::abs(m))) << "cols " << cols << " row " << r;
        EXPECT_NEAR(rstd[r], inv, 2e-6 * inv) << "cols " << cols << " row " << r;
      }
    }
  }
}

TEST(KernelsBackward, LayerNormBackwardMatchesFiniteDifferences) {
  for (int64_t cols : {1, 2, 5, 33, 130}) {
    const int64_t rows = 3;
    const float eps = 1e-5f;
    const LayerNormCase c = random_layer_norm_case(rows, cols, static_cast<unsigned>(100 + cols));
    std::mt19937 gen(7);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> upstream(rows * cols);
    for (float& v : upstream) v = dist(gen);

    std::vector<double> x(c.x.begin(), c.x.end()), gamma(c.gamma.begin(), c.gamma.end()),
        beta(c.beta.begin(), c.beta.end());
    // loss = sum(upstream * layer_norm(x)), its gradients by central differences.
    auto loss = [&]() {
      const std::vector<double> out = layer_norm_d(x, rows, cols, gamma, beta, eps);
      double sum = 0.0;
      for (size_t i = 0; i < out.size(); ++i) sum += upstream[i] * out[i];
      return sum;
    };
    auto central = [&](double& v) {
      const double h = 1e-6 * std::max(1.0, std::abs(v)), saved = v;
      v = saved + h;
      const double up = loss();
      v = saved - h;
      const double down = loss();
      v = saved;
      return (up - down) / (2.0 * h);
    };

    std::vector<float> out(rows * cols), mean(rows), rstd(rows);
    kernels::layer_norm(c.x.data(), rows, cols, c.gamma.data(), c.beta.data(), eps, out.data(), mean.data(),
                        rstd.data());
    std::vector<float> dx(rows * cols), dgamma(cols, 0.5f), dbeta(cols, -0.25f);  // accumulated onto
    kernels::layer_norm_backward(upstream.data(), c.x.data(), mean.data(), rstd.data(), c.gamma.data(), rows, cols,
                                 dx.data(), dgamma.data(), dbeta.data());
    for (int64_t i = 0; i < rows * cols; ++i) {
      const double ref = central(x[i]);
      EXPECT_NEAR(dx[i], ref, 2e-5 * (1.0 + std::abs(ref))) << "cols " << cols << " dx " << i;
    }
    for (int64_t k = 0; k < cols; ++k) {
      const double ref_gamma = central(gamma[k]) + 0.5, ref_beta = central(beta[k]) - 0.25;
      EXPECT_NEAR(dgamma[k], ref_gamma, 2e-5 * (1.0 + std::abs(ref_gamma))) << "cols " << cols << " dgamma " << k;
      EXPECT_NEAR(dbeta[k], ref_beta, 2e-5 * (1.0 + std::abs(ref_beta))) << "cols " << cols << " dbeta " << k;
    }
    // dx may alias dy.
    std::vector<float> inplace = upstream, dgamma2(cols, 0.0f), dbeta2(cols, 0.0f);
    kernels::layer_norm_backward(inplace.data(), c.x.data(), mean.data(), rstd.data(), c.gamma.data(), rows, cols,
                                 inplace.data(), dgamma2.data(), dbeta2.data());
    EXPECT_EQ(inplace, dx) << "cols " << cols;
  }
}

TEST(KernelsBackward, LayerNormParameterGradientsOverManyRowsAreAccurateAndThreadIndependent) {
  const int64_t rows = 100000, cols = 24;
  const LayerNormCase c = random_layer_norm_case(rows, cols, 21);
  std::mt19937 gen(8);
  std::normal_distribution<float> dist(0.3f, 1.0f);  // a mean: the sums grow with the rows
  std::vector<float> dy(rows * cols);
  for (float& v : dy) v = dist(gen);
  std::vector<float> out(rows * cols), mean(rows), rstd(rows);
  kernels::layer_norm(c.x.data(), rows, cols, c.gamma.data(), c.beta.data(), 1e-12f, out.data(), mean.data(),
                      rstd.data());
  std::vector<double> ref_gamma(cols, 0.0), ref_beta(cols, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) {
      const double xhat = (static_cast<double>(c.x[r * cols + k]) - mean[r]) * rstd[r];
      ref_gamma[k] += dy[r * cols + k] * xhat;
      ref_beta[k] += dy[r * cols + k];
    }
  }
  const int saved_threads = omp_get_max_threads();
  std::vector<float> first_gamma;
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    std::vector<float> dx(rows * cols), dgamma(cols, 0.0f), dbeta(cols, 0.0f);
    kernels::layer_norm_backward(dy.data(), c.x.data(), mean.data(), rstd.data(), c.gamma.data(), rows, cols,
                                 dx.data(), dgamma.data(), dbeta.data());
    for (int64_t k = 0; k < cols; ++k) {
      // Summed in float, 1e5 terms would be off by ~1e-5 relative; the float products xhat add ~2e-5 absolute.
      EXPECT_NEAR(dgamma[k], ref_gamma[k], 1e-6 * std::abs(ref_gamma[k]) + 2e-4) << "col " << k;
      EXPECT_NEAR(dbeta[k], ref_beta[k], 1e-6 * std::abs(ref_beta[k])) << "col " << k;
    }
    if (first_gamma.empty()) {
      first_gamma = dgamma;
    } else {
      EXPECT_EQ(dgamma, first_gamma) << "the sums depend on the thread count";
    }
  }
  omp_set_num_threads(saved_threads);
}

TEST(KernelsBackward, SoftmaxBackwardMatchesFiniteDifferences) {
  std::mt19937 gen(4);
  std::normal_distribution<double> dist(0.0, 2.0);
  for (int64_t cols : {1, 3, 17, 128}) {
    const int64_t rows = 3;
    std::vector<double> x(rows * cols);
    std::vector<float> upstream(rows * cols);
    for (double& v : x) v = dist(gen);
    for (float& v : upstream) v = static_cast<float>(dist(gen));
    auto softmax_d = [&](const std::vector<double>& in) {
      std::vector<double> out(in.size());
      for (int64_t r = 0; r < rows; ++r) {
        double max = -INFINITY, sum = 0.0;
        for (int64_t k = 0; k < cols; ++k) max = std::max(max, in[r * cols + k]);
        for (int64_t k = 0; k < cols; ++k) sum += std::exp(in[r * cols + k] - max);
        for (int64_t k = 0; k < cols; ++k) out[r * cols + k] = std::exp(in[r * cols + k] - max) / sum;
      }
      return out;
    };
    auto loss = [&]() {
      const std::vector<double> y = softmax_d(x);
      double sum = 0.0;
      for (size_t i = 0; i < y.size(); ++i) sum += upstream[i] * y[i];
      return sum;
    };
    const std::vector<double> y_d = softmax_d(x);
    std::vector<float> y(y_d.begin(), y_d.end()), dx(rows * cols);
    kernels::softmax_rows_backward(y.data(), upstream.data(), dx.data(), rows, cols);
    for (int64_t i = 0; i < rows * cols; ++i) {
      const double saved = x[i], h = 1e-6;
      x[i] = saved + h;
      const double up = loss();
      x[i] = saved - h;
      const double down = loss();
      x[i] = saved;
      const double ref = (up - down) / (2.0 * h);
      EXPECT_NEAR(dx[i], ref, 1e-6 * (1.0 + std::abs(ref))) << "cols " << cols << " element " << i;
    }
    std::vector<float> inplace = upstream;
    kernels::softmax_rows_backward(y.data(), inplace.data(), inplace.data(), rows, cols);
    EXPECT_EQ(inplace, dx);
  }
}

std::vector<uint8_t> dropout_mask(int64_t n, float p, uint64_t seed, uint64_t offset) {
  std::vector<float> x(n, 1.0f);
  std::vector<uint8_t> keep(n, 7);
  kernels::dropout_forward(x.data(), n, p, seed, offset, keep.data());
  return keep;
}

TEST(KernelsBackward, DropoutWithZeroProbabilityIsTheIdentity) {
  std::vector<float> x = {1.5f, -2.0f, 0.0f, 3.25f}, original = x;
  std::vector<uint8_t> keep(x.size(), 0);
  kernels::dropout_forward(x.data(), 4, 0.0f, 1, 0, keep.data());
  EXPECT_EQ(x, original);
  EXPECT_EQ(keep, std::vector<uint8_t>(4, 1));
  std::vector<float> dx(4);
  kernels::dropout_backward(original.data(), keep.data(), 0.0f, dx.data(), 4);
  EXPECT_EQ(dx, original);
}

TEST(KernelsBackward, DropoutKeepsOneMinusPScaledByItsInverse) {
  const int64_t n = 1000000;
  const float p = 0.1f;
  std::mt19937 gen(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> original(n);
  for (float& v : original) v = dist(gen);
  std::vector<float> x = original;
  std::vector<uint8_t> keep(n, 7);
  kernels::dropout_forward(x.data(), n, p, 1234, 0, keep.data());
  int64_t kept = 0, both_dropped = 0;
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_TRUE(keep[i] == 0 || keep[i] == 1) << i;
    kept += keep[i];
    if (i + 1 < n && keep[i] == 0 && keep[i + 1] == 0) ++both_dropped;
    const double expected = keep[i] ? original[i] / (1.0 - 0.1) : 0.0;
    ASSERT_NEAR(x[i], expected, 1e-6 * std::abs(expected)) << i;
  }
  // Binomial(1e6, 0.9): standard deviation 300; 6 of them.
  EXPECT_NEAR(static_cast<double>(kept), 0.9 * static_cast<double>(n), 1800.0);
  // Neighbours independent: about n p² pairs both dropped (sd ~ 100).
  EXPECT_NEAR(static_cast<double>(both_dropped), 0.01 * static_cast<double>(n), 700.0);

  // The backward: dy * keep / (1 - p), also in place.
  std::vector<float> dy(n), dx(n);
  for (float& v : dy) v = dist(gen);
  kernels::dropout_backward(dy.data(), keep.data(), p, dx.data(), n);
  for (int64_t i = 0; i < n; i += 13) {
    const double expected = keep[i] ? dy[i] / (1.0 - 0.1) : 0.0;
    ASSERT_NEAR(dx[i], expected, 1e-6 * std::abs(expected)) << i;
  }
  kernels::dropout_backward(dy.data(), keep.data(), p, dy.data(), n);
  EXPECT_EQ(dy, dx);
}

TEST(KernelsBackward, DropoutMaskIsAPureFunctionOfSeedAndPosition) {
  const int64_t n = 300000;  // above the threaded loop's threshold
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<uint8_t> one_thread = dropout_mask(n, 0.3f, 42, 0);
  omp_set_num_threads(2);
  const std::vector<uint8_t> two_threads = dropout_mask(n, 0.3f, 42, 0);
  omp_set_num_threads(saved_threads);
  EXPECT_EQ(one_thread, two_threads);
  EXPECT_EQ(dropout_mask(n, 0.3f, 42, 0), one_thread);  // deterministic

  // Offsets index one stream: elements [1000, n) of offset 0 are offset 1000's [0, n - 1000).
  const std::vector<uint8_t> shifted = dropout_mask(n - 1000, 0.3f, 42, 1000);
  EXPECT_TRUE(std::equal(shifted.begin(), shifted.end(), one_thread.begin() + 1000));

  auto differing = [&](const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    int64_t count = 0;
    for (size_t i = 0; i < a.size(); ++i) count += a[i] != b[i];
    return static_cast<double>(count) / static_cast<double>(a.size());
  };
  // Independent masks at p = 0.3 differ in 2 p (1 - p) = 42% of the positions.
  EXPECT_NEAR(differing(dropout_mask(n, 0.3f, 42, static_cast<uint64_t>(n)), one_thread), 0.42, 0.01);
  EXPECT_NEAR(differing(dropout_mask(n, 0.3f, 43, 0), one_thread), 0.42, 0.01);
}

TEST(KernelsBackward, DropoutRejectsProbabilitiesOutsideZeroToOne) {
  std::vector<float> x(4, 1.0f);
  std::vector<uint8_t> keep(4);
  for (float p : {1.0f, 1.5f, -0.1f, std::numeric_limits<float>::quiet_NaN()}) {
    EXPECT_THROW(kernels::dropout_forward(x.data(), 4, p, 1, 0, keep.data()), Error) << p;
    EXPECT_THROW(kernels::dropout_backward(x.data(), keep.data(), p, x.data(), 4), Error) << p;
  }
  EXPECT_EQ(x, std::vector<float>(4, 1.0f));
}

TEST(KernelsBackward, ColumnSumsAccumulateAccurately) {
  for (int64_t rows : {1, 17, 100000}) {
    for (int64_t cols : {1, 3, 130}) {
      if (rows == 100000 && cols == 130) continue;
      std::mt19937 gen(static_cast<unsigned>(rows + cols));
      std::normal_distribution<float> dist(0.7f, 1.0f);
      std::vector<float> dy(rows * cols), db(cols);
      for (float& v : dy) v = dist(gen);
      for (float& v : db) v = dist(gen);
      std::vector<double> ref(db.begin(), db.end());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) ref[c] += dy[r * cols + c];
      }
      kernels::add_column_sums(dy.data(), rows, cols, db.data());
      for (int64_t c = 0; c < cols; ++c) {
        EXPECT_NEAR(db[c], ref[c], 1e-6 * std::abs(ref[c]) + 1e-6) << rows << " x " << cols << " col " << c;
      }
    }
  }
}

TEST(KernelsBackward, SgemmAbMatchesANaiveProductForEveryTransposition) {
  const int64_t m = 5, n = 7, k = 11;
  const float alpha = 0.7f, beta = 0.3f;
  std::mt19937 gen(9);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (bool transpose_a : {false, true}) {
    for (bool transpose_b : {false, true}) {
      // Stored shapes with leading dimensions wider than the rows: a [m, k] or [k, m], b [k, n] or [n, k].
      const int64_t a_rows = transpose_a ? k : m, a_cols = transpose_a ? m : k;
      const int64_t b_rows = transpose_b ? n : k, b_cols = transpose_b ? k : n;
      const int64_t lda = a_cols + 3, ldb = b_cols + 2, ldc = n + 4;
      std::vector<float> a(a_rows * lda), b(b_rows * ldb), c(m * ldc);
      for (float& v : a) v = dist(gen);
      for (float& v : b) v = dist(gen);
      for (float& v : c) v = dist(gen);
      std::vector<double> ref(c.begin(), c.end());
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          double sum = 0.0;
          for (int64_t p = 0; p < k; ++p) {
            const double av = transpose_a ? a[p * lda + i] : a[i * lda + p];
            const double bv = transpose_b ? b[j * ldb + p] : b[p * ldb + j];
            sum += av * bv;
          }
          ref[i * ldc + j] = alpha * sum + beta * ref[i * ldc + j];
        }
      }
      kernels::sgemm_ab(transpose_a, transpose_b, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < ldc; ++j) {
          // Columns past n are padding and must stay untouched.
          EXPECT_NEAR(c[i * ldc + j], ref[i * ldc + j], 1e-5)
              << "transpose_a " << transpose_a << " transpose_b " << transpose_b << " at " << i << ", " << j;
        }
      }
    }
  }
}

TEST(KernelsBackward, SgemmAbReportsInvalidLeadingDimensions) {
  std::vector<float> a(6), b(6), c(4);
  // a [2, 3] with lda 1 < 3.
  EXPECT_THROW(kernels::sgemm_ab(false, false, 2, 2, 3, 1.0f, a.data(), 1, b.data(), 2, 0.0f, c.data(), 2), Error);
}

}  // namespace
}  // namespace rembert
