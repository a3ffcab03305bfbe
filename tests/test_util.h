// Helpers shared by the tests: fixture paths and tensor comparison against reference values.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "rembert/error.h"
#include "rembert/tensor.h"

// EXPECT that `text` contains `part`, printing `text` when it does not.
#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

namespace rembert::testing {

inline std::string fixture_path(const std::string& relative) {
  return std::string(REMBERT_FIXTURES_DIR) + "/" + relative;
}

// Runs `f`, which must throw rembert::Error, and returns the message ("" and a test failure when it does not throw).
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected rembert::Error";
  return "";
}

// The bytes of a tensor, for exact comparisons.
inline std::string raw_bytes(const Tensor& t) {
  return std::string(static_cast<const char*>(t.raw_data()), t.nbytes());
}

// Compares `actual` against `expected` element-wise with |a - e| <= atol + rtol * |e| (numpy.allclose).
// `row_keep`, when non-empty, has one entry per leading row ([B*S] for [B, S, ...] tensors): rows with 0 are skipped
// (padding positions, whose values the reference does not define meaningfully).
inline ::testing::AssertionResult tensors_close(const Tensor& actual, const Tensor& expected, double atol, double rtol,
                                                const std::vector<int64_t>& row_keep = {}) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shape " << shape_to_string(actual.shape()) << " != expected "
                                         << shape_to_string(expected.shape());
  }
  std::vector<float> a = actual.to_f32_vector(), e = expected.to_f32_vector();
  const size_t rows = row_keep.empty() ? 1 : row_keep.size();
  const size_t per_row = a.size() / std::max<size_t>(rows, 1);
  double worst = 0.0;
  size_t bad = 0, first_bad = 0, compared = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!row_keep.empty() && row_keep[i / per_row] == 0) continue;
    ++compared;
    const double diff = std::abs(static_cast<double>(a[i]) - e[i]);
    const bool ok = diff <= atol + rtol * std::abs(static_cast<double>(e[i])) ||
                    (std::isnan(a[i]) && std::isnan(e[i]));
    if (!ok) {
      if (bad++ == 0) first_bad = i;
    }
    if (!std::isnan(diff)) worst = std::max(worst, diff);
  }
  if (bad) {
    return ::testing::AssertionFailure() << bad << " of " << compared << " values differ; first at flat index "
                                         << first_bad << ": " << a[first_bad] << " vs expected " << e[first_bad]
                                         << "; max abs diff " << worst;
  }
  if (compared == 0) return ::testing::AssertionFailure() << "nothing compared";
  return ::testing::AssertionSuccess();
}

}  // namespace rembert::testing
