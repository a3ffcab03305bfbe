#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "rembert/error.h"

namespace rembert::kernels {

Activation activation_from_name(const std::string& name) {
  if (name == "gelu" || name == "gelu_python") return Activation::Gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast" || name == "gelu_accurate") {
    return Activation::GeluTanh;
  }
  if (name == "quick_gelu") return Activation::QuickGelu;
  if (name == "gelu_10") return Activation::Gelu10;
  if (name == "relu") return Activation::Relu;
  if (name == "relu6") return Activation::Relu6;
  if (name == "silu" || name == "swish") return Activation::Silu;
  if (name == "tanh") return Activation::Tanh;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "mish") return Activation::Mish;
  if (name == "leaky_relu") return Activation::LeakyRelu;
  if (name == "linear") return Activation::Linear;
  if (name == "laplace") return Activation::Laplace;
  if (name == "relu2") return Activation::Relu2;
  throw Error("hidden_act: unknown activation \"" + name + "\"");
}

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

void layer_norm(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta, float eps,
                float* out) {
#pragma omp parallel for if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * cols;
    float* o = out + r * cols;
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) sum += in[c];
    const float mean = static_cast<float>(sum / static_cast<double>(cols));
    double sq = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      const float d = in[c] - mean;
      sq += static_cast<double>(d) * d;
    }
    const float inv_std = 1.0f / std::sqrt(static_cast<float>(sq / static_cast<double>(cols)) + eps);
    for (int64_t c = 0; c < cols; ++c) o[c] = (in[c] - mean) * inv_std * gamma[c] + beta[c];
  }
}

void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void softmax_rows(float* x, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    float max = -INFINITY;
    for (int64_t c = 0; c < cols; ++c) max = std::max(max, row[c]);
    float sum = 0.0f;
    for (int64_t c = 0; c < cols; ++c) {
      row[c] = std::exp(row[c] - max);
      sum += row[c];
    }
    const float inv = 1.0f / sum;
    for (int64_t c = 0; c < cols; ++c) row[c] *= inv;
  }
}

void tanh_inplace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
}

}  // namespace rembert::kernels
