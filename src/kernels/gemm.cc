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
