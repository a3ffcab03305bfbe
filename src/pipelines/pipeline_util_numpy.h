// float32 arithmetic the way numpy does it, for the post-processing of the token-classification and
// question-answering pipelines (transformers runs their softmax and averages in numpy on float32 arrays).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace rembert::pipelines::numpy {

// numpy's pairwise summation of n contiguous float32 values (np.sum / np.add.reduce along a contiguous axis):
// below 8 values a plain loop, up to 128 eight accumulators, above that the halves (cut at a multiple of 8)
// summed recursively. The accumulator is float32.
inline float pairwise_sum(const float* a, int64_t n) {
  if (n < 8) {
    float res = 0.0f;
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    float r[8];
    for (int k = 0; k < 8; ++k) r[k] = a[k];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int k = 0; k < 8; ++k) r[k] += a[i + k];
    }
    float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

// exp(x - max) / sum over n float32 values, all in float32 (np.exp, np.max, np.sum with pairwise summation).
inline std::vector<float> softmax(const float* x, int64_t n) {
  std::vector<float> p(static_cast<size_t>(n));
  if (n == 0) return p;
  const float max = *std::max_element(x, x + n);
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = std::exp(x[i] - max);
  const float sum = pairwise_sum(p.data(), n);
  for (float& v : p) v = v / sum;
  return p;
}

// np.nanmean of float32 values without NaNs: the float32 sum divided by the count in float64, rounded to float32
// (numpy's _divide_by_count). `values` is summed with pairwise summation (a 1-D nanmean).
inline float mean(const std::vector<float>& values) {
  const float total = pairwise_sum(values.data(), static_cast<int64_t>(values.size()));
  return static_cast<float>(static_cast<double>(total) / static_cast<double>(values.size()));
}

// First index of the largest value (np.argmax).
inline int64_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

}  // namespace rembert::pipelines::numpy
