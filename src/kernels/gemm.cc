#include "kernels/gemm.h"

#include <algorithm>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.h>

#include "kernels/threads.h"
#include "rembert/error.h"

namespace rembert::kernels {

void sgemm(bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  sgemm_ab(false, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void sgemm_ab(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  dnnl_status_t status = dnnl_success;
  maybe_serial(m * n * k, [&] {
    status = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c,
                        ldc);
  });
  if (status != dnnl_success) {
    throw Error("sgemm failed (oneDNN status " + std::to_string(static_cast<int>(status)) + ") for m " +
                std::to_string(m) + ", n " + std::to_string(n) + ", k " + std::to_string(k) + ", lda " +
                std::to_string(lda) + ", ldb " + std::to_string(ldb) + ", ldc " + std::to_string(ldc));
  }
}

}  // namespace rembert::kernels
