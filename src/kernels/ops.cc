#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "rembert/error.h"
#include "kernels/per_isa.h"

namespace rembert::kernels {

namespace {

float gelu_exact(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }

float gelu_tanh(float x) {
  const float kSqrt2OverPi = 0.79788456080286536f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

void apply_activation(Activation act, float* x, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    float r = v;
    switch (act) {
      case Activation::Gelu: r = gelu_exact(v); break;
      case Activation::GeluTanh: r = gelu_tanh(v); break;
      case Activation::QuickGelu: r = v * sigmoid(1.702f * v); break;
      case Activation::Gelu10: r = std::clamp(gelu_exact(v), -10.0f, 10.0f); break;
      case Activation::Relu: r = std::max(v, 0.0f); break;
      case Activation::Relu6: r = std::clamp(v, 0.0f, 6.0f); break;
      case Activation::Silu: r = v * sigmoid(v); break;
      case Activation::Tanh: r = std::tanh(v); break;
      case Activation::Sigmoid: r = sigmoid(v); break;
      case Activation::Mish: r = v * std::tanh(std::log1p(std::exp(v))); break;
      case Activation::LeakyRelu: r = v >= 0.0f ? v : 0.01f * v; break;
      case Activation::Linear: break;
      case Activation::Laplace: {
        // transformers' LaplaceActivation: 0.5 * (1 + erf((x - mu) / (sigma * sqrt(2)))), mu 0.707107, sigma 0.282095
        const float mu = 0.707107f, sigma = 0.282095f;
        r = 0.5f * (1.0f + std::erf((v - mu) / (sigma * 1.41421356237f)));
        break;
      }
      case Activation::Relu2: {
        const float p = std::max(v, 0.0f);
        r = p * p;
        break;
      }
    }
    x[i] = r;
  }
}

namespace {

// One row of (x [+ residual]) normalized: the sum is formed in float as the separate add would, the statistics in
// double (two passes, as PyTorch's float32 layer norm is accurate to), the rest vectorized per ISA.
REMBERT_PER_ISA void layer_norm_row(const float* in, const float* residual, int64_t cols, const float* gamma,
                                    const float* beta, float eps, float* o, float* mean_out, float* rstd_out) {
  double sum = 0.0;
  if (residual) {
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < cols; ++c) {
      o[c] = in[c] + residual[c];
      sum += o[c];
    }
    in = o;
  } else {
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < cols; ++c) sum += in[c];
  }
  const float mean = static_cast<float>(sum / static_cast<double>(cols));
  double sq = 0.0;
#pragma omp simd reduction(+ : sq)
  for (int64_t c = 0; c < cols; ++c) {
    const float d = in[c] - mean;
    sq += static_cast<double>(d) * d;
  }
  const float inv_std = 1.0f / std::sqrt(static_cast<float>(sq / static_cast<double>(cols)) + eps);
  if (mean_out) *mean_out = mean;
  if (rstd_out) *rstd_out = inv_std;
#pragma omp simd
  for (int64_t c = 0; c < cols; ++c) o[c] = (in[c] - mean) * inv_std * gamma[c] + beta[c];
}

REMBERT_PER_ISA void add_row(float* x, const float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace

void layer_norm(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta, float eps,
                float* out, float* mean, float* rstd) {
#pragma omp parallel for if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    layer_norm_row(x + r * cols, nullptr, cols, gamma, beta, eps, out + r * cols, mean ? mean + r : nullptr,
                   rstd ? rstd + r : nullptr);
  }
}

void add_layer_norm(float* x, const float* residual, int64_t rows, int64_t cols, const float* gamma,
                    const float* beta, float eps) {
#pragma omp parallel for if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    layer_norm_row(x + r * cols, residual + r * cols, cols, gamma, beta, eps, x + r * cols, nullptr, nullptr);
  }
}

void add_inplace(float* x, const float* y, int64_t n) { add_row(x, y, n); }

namespace {

// exp(x) for x <= 0 (softmax after subtracting the row maximum) without a libm call, so the loop vectorizes:
// Cephes' expf (n = round(x / ln 2), a degree-6 polynomial of the remainder, times 2^n; about 1 ulp). Below -87 the
// result is under 2e-38 and returned as 0 (also for -inf and the masked positions' float-min).
inline float exp_nonpositive(float x) {
  const float xc = x < -87.0f ? -87.0f : x;
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: round to nearest for |v| < 2^22
  const float n = (xc * 1.44269504088896341f + kMagic) - kMagic;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < -87.0f ? 0.0f : y * scale;
}

REMBERT_PER_ISA void softmax_row(float* row, int64_t cols) {
  float max = -INFINITY;
#pragma omp simd reduction(max : max)
  for (int64_t c = 0; c < cols; ++c) max = row[c] > max ? row[c] : max;
  if (max == -INFINITY) max = 0.0f;  // an all -inf row: exp gives 0s, 0 / 0 makes it NaN as with std::exp
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t c = 0; c < cols; ++c) {
    row[c] = exp_nonpositive(row[c] - max);
    sum += row[c];
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int64_t c = 0; c < cols; ++c) row[c] *= inv;
}

// softmax(row * scale + mask) * post_scale in two passes over the row: the scaled, masked values and their maximum,
// then exp, sum and the normalization.
REMBERT_PER_ISA void scaled_masked_softmax_row(float* row, int64_t cols, float scale, const float* mask,
                                               float post_scale) {
  float max = -INFINITY;
  if (mask) {
#pragma omp simd reduction(max : max)
    for (int64_t c = 0; c < cols; ++c) {
      row[c] = row[c] * scale + mask[c];
      max = row[c] > max ? row[c] : max;
    }
  } else {
#pragma omp simd reduction(max : max)
    for (int64_t c = 0; c < cols; ++c) {
      row[c] = row[c] * scale;
      max = row[c] > max ? row[c] : max;
    }
  }
  if (max == -INFINITY) max = 0.0f;
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t c = 0; c < cols; ++c) {
    row[c] = exp_nonpositive(row[c] - max);
    sum += row[c];
  }
  const float inv = post_scale / sum;
#pragma omp simd
  for (int64_t c = 0; c < cols; ++c) row[c] *= inv;
}

}  // namespace

void softmax_rows(float* x, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) softmax_row(x + r * cols, cols);
}

void scaled_masked_softmax_rows(float* x, int64_t rows, int64_t cols, float scale, const float* mask,
                                float post_scale) {
  for (int64_t r = 0; r < rows; ++r) {
    scaled_masked_softmax_row(x + r * cols, cols, scale, mask ? mask + r * cols : nullptr, post_scale);
  }
}

void tanh_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
}

}  // namespace rembert::kernels
