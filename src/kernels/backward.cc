#include "kernels/backward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/random.h"
#include "kernels/per_isa.h"
#include "kernels/scalar_math.h"
#include "rembert/error.h"

namespace rembert::kernels {

namespace {

// Element-wise loops split over threads above this many elements (as ops.cc's).
constexpr int64_t kParallelElements = 65536;

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// dx[i] = grad(x[i], dy[i]); `grad` is a lambda, inlined into the loop.
template <class Grad>
void map_gradient(const float* x, const float* dy, float* dx, int64_t n, Grad grad) {
#pragma omp parallel for if (n > kParallelElements) schedule(static)
  for (int64_t i = 0; i < n; ++i) dx[i] = grad(x[i], dy[i]);
}

// d/dx of ops.cc's gelu_exact, 0.5 x (1 + erf(x / sqrt 2)): Φ(x) + x φ(x).
inline float gelu_exact_derivative(float x) {
  const float kInvSqrt2 = 0.70710678118654752f, kInvSqrt2Pi = 0.39894228040143268f;
  return 0.5f * (1.0f + std::erf(x * kInvSqrt2)) + x * std::exp(-0.5f * x * x) * kInvSqrt2Pi;
}

// exp(x) for x <= 0 (Cephes' expf: x = k ln 2 + r, |r| <= ln 2 / 2, a degree-7 polynomial of r, times 2^k; about
// 1 ulp), 0 below -87 (where float would be denormal). No libm call, so loops over it vectorize.
inline float exp_nonpositive(float x) {
  const float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  const float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: (v + magic) - magic rounds v to the nearest integer
  const float t = x < -87.0f ? -87.0f : x;
  const float k = (t * kLog2e + kRoundMagic) - kRoundMagic;
  const float r = (t - k * kLn2Hi) - k * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;  // 2^k, k in [-126, 0]
  float two_to_k;
  std::memcpy(&two_to_k, &bits, sizeof two_to_k);
  const float y = p * two_to_k;
  return x < -87.0f ? 0.0f : y;
}

// gelu's derivative Φ(x) + x φ(x) with the two approximations above: within 2e-7 of the exact value.
inline float gelu_exact_derivative_fast(float x) {
  const float kInvSqrt2 = 0.70710678118654752f, kInvSqrt2Pi = 0.39894228040143268f;
  return 0.5f * (1.0f + erf_rational(x * kInvSqrt2)) + x * exp_nonpositive(-0.5f * x * x) * kInvSqrt2Pi;
}

REMBERT_PER_ISA void gelu_backward_block(const float* x, const float* dy, float* dx, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * gelu_exact_derivative_fast(x[i]);
}

REMBERT_PER_ISA void gelu_with_derivative_block(const float* x, float* y, float* dydx, int64_t n) {
  const float kInvSqrt2 = 0.70710678118654752f, kInvSqrt2Pi = 0.39894228040143268f;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + erf_rational(v * kInvSqrt2));
    y[i] = v * cdf;
    dydx[i] = cdf + v * exp_nonpositive(-0.5f * v * v) * kInvSqrt2Pi;
  }
}

// Element-wise loops in blocks, over threads above kParallelElements.
constexpr int64_t kElementBlock = 16384;

template <class Block>
void for_blocks(int64_t n, Block block) {
  const int64_t blocks = (n + kElementBlock - 1) / kElementBlock;
#pragma omp parallel for if (n > kParallelElements) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t i0 = b * kElementBlock;
    block(i0, std::min(kElementBlock, n - i0));
  }
}

}  // namespace

void gelu_with_derivative(const float* x, float* y, float* dydx, int64_t n) {
  for_blocks(n, [&](int64_t i0, int64_t len) { gelu_with_derivative_block(x + i0, y + i0, dydx + i0, len); });
}

void activation_backward(Activation act, const float* x, const float* dy, float* dx, int64_t n) {
  // Where the forward has a kink the gradient is selected (not multiplied by 0), as PyTorch's backward kernels do.
  switch (act) {
    case Activation::Gelu:
      for_blocks(n, [&](int64_t i0, int64_t len) { gelu_backward_block(x + i0, dy + i0, dx + i0, len); });
      break;
    case Activation::GeluTanh:
      map_gradient(x, dy, dx, n, [](float v, float g) {
        const float kSqrt2OverPi = 0.79788456080286536f, kCubic = 0.044715f;
        const float t = std::tanh(kSqrt2OverPi * (v + kCubic * v * v * v));
        return g * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kCubic * v * v));
      });
      break;
    case Activation::QuickGelu:
      map_gradient(x, dy, dx, n, [](float v, float g) {
        const float s = sigmoid(1.702f * v);
        return g * (s + 1.702f * v * s * (1.0f - s));
      });
      break;
    case Activation::Gelu10:
      // clamp(gelu(x), -10, 10): clamp's backward passes the gradient where min <= gelu(x) <= max.
      map_gradient(x, dy, dx, n, [](float v, float g) {
        const float y = 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
        return y >= -10.0f && y <= 10.0f ? g * gelu_exact_derivative(v) : 0.0f;
      });
      break;
    case Activation::Relu:
      map_gradient(x, dy, dx, n, [](float v, float g) { return v > 0.0f ? g : 0.0f; });
      break;
    case Activation::Relu6:
      map_gradient(x, dy, dx, n, [](float v, float g) { return v > 0.0f && v < 6.0f ? g : 0.0f; });
      break;
    case Activation::Silu:
      map_gradient(x, dy, dx, n, [](float v, float g) {
        const float s = sigmoid(v);
        return g * s * (1.0f + v * (1.0f - s));
      });
      break;
    case Activation::Tanh:
      map_gradient(x, dy, dx, n, [](float v, float g) {
        const float t = std::tanh(v);
        return g * (1.0f - t * t);
      });
      break;
    case Activation::Sigmoid:
      map_gradient(x, dy, dx, n, [](float v, float g) {
        const float s = sigmoid(v);
        return g * s * (1.0f - s);
      });
      break;
    case Activation::Mish:
      // x tanh(softplus(x)): tanh(sp) + x sech²(sp) sigmoid(x), softplus' being the sigmoid.
      map_gradient(x, dy, dx, n, [](float v, float g) {
        const float t = std::tanh(std::log1p(std::exp(v)));
        return g * (t + v * (1.0f - t * t) * sigmoid(v));
      });
      break;
    case Activation::LeakyRelu:
      map_gradient(x, dy, dx, n, [](float v, float g) { return v > 0.0f ? g : 0.01f * g; });
      break;
    case Activation::Linear:
      if (dx != dy) std::memmove(dx, dy, static_cast<size_t>(std::max<int64_t>(n, 0)) * sizeof(float));
      break;
    case Activation::Laplace:
      // 0.5 (1 + erf(z)), z = (x - mu) / (sigma sqrt 2): exp(-z²) / (sigma sqrt(2 pi)).
      map_gradient(x, dy, dx, n, [](float v, float g) {
        const float mu = 0.707107f, sigma = 0.282095f;
        const float z = (v - mu) / (sigma * 1.41421356237f);
        return g * std::exp(-z * z) * (1.0f / (sigma * 2.50662827463f));
      });
      break;
    case Activation::Relu2:
      map_gradient(x, dy, dx, n, [](float v, float g) { return v > 0.0f ? 2.0f * v * g : 0.0f; });
      break;
  }
}

namespace {

// Reductions over rows run on fixed chunks of rows, each summing into its own double partials, the partials then
// added in chunk order: the result depends on the row count only, not on the threads. At most kMaxRowChunks chunks
// (bounded scratch), at least kMinChunkRows rows each.
constexpr int64_t kMaxRowChunks = 64;
constexpr int64_t kMinChunkRows = 16;

int64_t rows_per_chunk(int64_t rows) {
  return std::max(kMinChunkRows, (rows + kMaxRowChunks - 1) / kMaxRowChunks);
}

// Rows [0, rows) of layer norm's backward: dx, and dgamma / dbeta partials added to acc_g / acc_b [cols].
REMBERT_PER_ISA void layer_norm_backward_rows(const float* dy, const float* x, const float* mean, const float* rstd,
                                              const float* gamma, int64_t rows, int64_t cols, float* dx,
                                              double* acc_g, double* acc_b) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* dyr = dy + r * cols;
    const float* xr = x + r * cols;
    float* dxr = dx + r * cols;
    const float m = mean[r], s = rstd[r];
    // dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy gamma, xhat = (x - mean) rstd (PyTorch's formula).
    double sum_g = 0.0, sum_gx = 0.0;
#pragma omp simd reduction(+ : sum_g, sum_gx)
    for (int64_t c = 0; c < cols; ++c) {
      const float xhat = (xr[c] - m) * s;
      const float g = dyr[c] * gamma[c];
      sum_g += g;
      sum_gx += static_cast<double>(g) * xhat;
      acc_b[c] += dyr[c];
      acc_g[c] += static_cast<double>(dyr[c]) * xhat;
    }
    const float mean_g = static_cast<float>(sum_g / static_cast<double>(cols));
    const float mean_gx = static_cast<float>(sum_gx / static_cast<double>(cols));
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) {
      const float xhat = (xr[c] - m) * s;
      dxr[c] = s * (dyr[c] * gamma[c] - mean_g - xhat * mean_gx);
    }
  }
}

REMBERT_PER_ISA void column_sums_rows(const float* dy, int64_t rows, int64_t cols, double* acc) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* dyr = dy + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) acc[c] += dyr[c];
  }
}

// out[c] += sum over chunks of partials[chunk * stride + c], in chunk order.
void add_partials(const double* partials, int64_t chunks, int64_t stride, int64_t cols, float* out) {
  for (int64_t c = 0; c < cols; ++c) {
    double sum = 0.0;
    for (int64_t k = 0; k < chunks; ++k) sum += partials[k * stride + c];
    out[c] = static_cast<float>(static_cast<double>(out[c]) + sum);
  }
}

}  // namespace

void layer_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                         int64_t rows, int64_t cols, float* dx, float* dgamma, float* dbeta) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t chunk_rows = rows_per_chunk(rows);
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  // Per chunk: cols dgamma partials, then cols dbeta partials.
  std::vector<double> partials(static_cast<size_t>(chunks * 2 * cols), 0.0);
#pragma omp parallel for if (rows * cols > kParallelElements) schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t r0 = k * chunk_rows, r1 = std::min(rows, r0 + chunk_rows);
    double* acc = partials.data() + k * 2 * cols;
    layer_norm_backward_rows(dy + r0 * cols, x + r0 * cols, mean + r0, rstd + r0, gamma, r1 - r0, cols,
                             dx + r0 * cols, acc, acc + cols);
  }
  add_partials(partials.data(), chunks, 2 * cols, cols, dgamma);
  add_partials(partials.data() + cols, chunks, 2 * cols, cols, dbeta);
}

void add_column_sums(const float* dy, int64_t rows, int64_t cols, float* db) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t chunk_rows = rows_per_chunk(rows);
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  std::vector<double> partials(static_cast<size_t>(chunks * cols), 0.0);
#pragma omp parallel for if (rows * cols > kParallelElements) schedule(static)
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t r0 = k * chunk_rows, r1 = std::min(rows, r0 + chunk_rows);
    column_sums_rows(dy + r0 * cols, r1 - r0, cols, partials.data() + k * cols);
  }
  add_partials(partials.data(), chunks, cols, cols, db);
}

namespace {

REMBERT_PER_ISA void softmax_backward_row(const float* y, const float* dy, float* dx, int64_t cols) {
  double dot = 0.0;
#pragma omp simd reduction(+ : dot)
  for (int64_t c = 0; c < cols; ++c) dot += static_cast<double>(dy[c]) * y[c];
  const float d = static_cast<float>(dot);
#pragma omp simd
  for (int64_t c = 0; c < cols; ++c) dx[c] = y[c] * (dy[c] - d);
}

}  // namespace

void softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
#pragma omp parallel for if (rows * cols > kParallelElements)
  for (int64_t r = 0; r < rows; ++r) softmax_backward_row(y + r * cols, dy + r * cols, dx + r * cols, cols);
}

namespace {

void check_dropout_probability(float p, const char* function) {
  if (!(p >= 0.0f && p < 1.0f)) {
    throw Error(std::string(function) + ": dropout probability " + std::to_string(p) + " is not in [0, 1)");
  }
}

constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ull;
constexpr int64_t kDropoutBlock = 16384;

// Element i's decision: the high 32 bits of SplitMix64's output number `index` from state `base` (a uniform in
// [0, 2^32)) at or above `threshold`.
REMBERT_PER_ISA void dropout_block(float* x, int64_t n, uint64_t base, uint64_t first_index, uint64_t threshold,
                                   float scale, uint8_t* keep) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t h = splitmix64(base + (first_index + static_cast<uint64_t>(i)) * kGoldenGamma);
    const bool kept = (h >> 32) >= threshold;
    keep[i] = kept ? 1 : 0;
    x[i] *= kept ? scale : 0.0f;
  }
}

REMBERT_PER_ISA void dropout_backward_block(const float* dy, const uint8_t* keep, float scale, float* dx,
                                            int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (keep[i] ? scale : 0.0f);
}

}  // namespace

void dropout_forward(float* x, int64_t n, float p, uint64_t seed, uint64_t offset, uint8_t* keep) {
  check_dropout_probability(p, "dropout_forward");
  if (n <= 0) return;
  if (p == 0.0f) {
    std::memset(keep, 1, static_cast<size_t>(n));
    return;
  }
  const uint64_t base = splitmix64(seed ^ 0x5851f42d4c957f2dull);
  // P(uniform32 >= threshold) = 1 - threshold / 2^32 = 1 - p to within 2^-32; threshold < 2^32 as p < 1.
  const uint64_t threshold = static_cast<uint64_t>(static_cast<double>(p) * 4294967296.0);
  const float scale = 1.0f / (1.0f - p);  // PyTorch's: the mask divided by (1 - p) in float
  const int64_t blocks = (n + kDropoutBlock - 1) / kDropoutBlock;
#pragma omp parallel for if (n > kParallelElements) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t i0 = b * kDropoutBlock, len = std::min(kDropoutBlock, n - i0);
    dropout_block(x + i0, len, base, offset + static_cast<uint64_t>(i0), threshold, scale, keep + i0);
  }
}

void dropout_backward(const float* dy, const uint8_t* keep, float p, float* dx, int64_t n) {
  check_dropout_probability(p, "dropout_backward");
  if (n <= 0) return;
  const float scale = 1.0f / (1.0f - p);
  const int64_t blocks = (n + kDropoutBlock - 1) / kDropoutBlock;
#pragma omp parallel for if (n > kParallelElements) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t i0 = b * kDropoutBlock, len = std::min(kDropoutBlock, n - i0);
    dropout_backward_block(dy + i0, keep + i0, scale, dx + i0, len);
  }
}

}  // namespace rembert::kernels
