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

}  // namespace rembert::kernels
