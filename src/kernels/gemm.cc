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

}  // namespace rembert::kernels
