// Matrix products. Kernels know nothing about RemBERT: plain row-major float buffers in, float buffers out.
// Linear layers (weights packed once) are in packed_linear.h.
#pragma once

#include <cstdint>

#include "rembert/tensor.h"

namespace rembert::kernels {

// c[m, n] = alpha · a[m, k] · op(b) + beta · c, op(b) = b[k, n] or, with transpose_b, b[n, k]ᵀ.
// Leading dimensions give row strides. Single-threaded when called inside a parallel region.
void sgemm(bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// c[m, n] = alpha · op(a) · op(b) + beta · c, op(a) = a[m, k] or, with transpose_a, a[k, m]ᵀ; op(b) as in sgemm.
// The general product the backward passes need (dW = dYᵀ · X, dX = dY · W). Row-major, leading dimensions the row
// strides of a, b and c as stored. Single-threaded when called inside a parallel region.
void sgemm_ab(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
              int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace rembert::kernels
