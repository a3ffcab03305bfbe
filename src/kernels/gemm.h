// Matrix products. Kernels know nothing about RemBERT: plain row-major float buffers in, float buffers out.
#pragma once

#include <cstdint>

#include "rembert/tensor.h"

namespace rembert::kernels {

// y[m, n] = x[m, k] · w[n, k]ᵀ + bias[n]: a PyTorch Linear, whose weight is stored [out, in].
// `w` holds F32, F16 or BF16 values; reduced-precision weights are widened to float32 block by block, so the
// arithmetic is float32 throughout. `bias` may be null.
void linear(const float* x, int64_t m, int64_t k, const void* w, DType w_dtype, int64_t n, const float* bias,
            float* y);

// c[m, n] = alpha · a[m, k] · op(b) + beta · c, op(b) = b[k, n] or, with transpose_b, b[n, k]ᵀ.
// Leading dimensions give row strides. Single-threaded when called inside a parallel region.
void sgemm(bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace rembert::kernels
