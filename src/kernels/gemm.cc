#include "kernels/gemm.h"

#include <algorithm>
#include <string>
#include <vector>

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include "rembert/error.h"

namespace rembert::kernels {

namespace {

// Below this many multiply-adds a product runs on the calling thread: waking the other threads costs more than it
// saves, and on a busy machine a barrier can wait a whole scheduler time slice for a descheduled thread.
constexpr int64_t kParallelMinWork = int64_t{1} << 23;

// Runs `f` with this thread's OpenMP team size limited to one (the setting is per thread, so other callers are not
// affected) when the work is small.
template <class F>
void maybe_serial(int64_t work, F&& f) {
  if (work >= kParallelMinWork || omp_in_parallel()) {
    f();
    return;
  }
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  f();
  omp_set_num_threads(saved);
}

}  // namespace

void sgemm(bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  dnnl_status_t status = dnnl_success;
  maybe_serial(m * n * k, [&] {
    status = dnnl_sgemm('N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  });
  if (status != dnnl_success) {
    throw Error("sgemm failed (oneDNN status " + std::to_string(static_cast<int>(status)) + ")");
  }
}

namespace {

// Rows of a reduced-precision weight widened per block: big enough to keep sgemm efficient, small enough to stay
// in cache.
constexpr int64_t kWidenBlockRows = 256;

void widen_rows(const uint16_t* src, DType dtype, int64_t count, float* dst) {
  if (dtype == DType::BF16) {
    for (int64_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(src[i]);
  } else {
    for (int64_t i = 0; i < count; ++i) dst[i] = f16_to_f32(src[i]);
  }
}

}  // namespace

void linear(const float* x, int64_t m, int64_t k, const void* w, DType w_dtype, int64_t n, const float* bias,
            float* y) {
  if (m == 0 || n == 0) return;
  for (int64_t i = 0; i < m; ++i) {
    float* row = y + i * n;
    if (bias) {
      std::copy(bias, bias + n, row);
    } else {
      std::fill(row, row + n, 0.0f);
    }
  }
  if (k == 0) return;
  if (w_dtype == DType::F32) {
    sgemm(true, m, n, k, 1.0f, x, k, static_cast<const float*>(w), k, 1.0f, y, n);
    return;
  }
  if (w_dtype != DType::F16 && w_dtype != DType::BF16) {
    throw Error(std::string("linear: unsupported weight dtype ") + dtype_name(w_dtype));
  }
  const auto* w16 = static_cast<const uint16_t*>(w);
  std::vector<float> block(static_cast<size_t>(std::min(n, kWidenBlockRows) * k));
  for (int64_t row0 = 0; row0 < n; row0 += kWidenBlockRows) {
    const int64_t rows = std::min(kWidenBlockRows, n - row0);
    widen_rows(w16 + row0 * k, w_dtype, rows * k, block.data());
    sgemm(true, m, rows, k, 1.0f, x, k, block.data(), k, 1.0f, y + row0, n);
  }
}

}  // namespace rembert::kernels
