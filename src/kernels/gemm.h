// Matrix products. Kernels know nothing about RemBERT: plain row-major float buffers in, float buffers out.
// Linear layers (weights packed once) are in packed_linear.h.
#pragma once

#include <cstdint>
#include <string>

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

// sgemm_ab with op(a) and op(b) rounded to bfloat16 (to nearest even) and their products summed in float32, through
// oneDNN's bfloat16 matmul (AVX512-BF16 or AMX): mixed-precision training's products. Each call converts its inputs
// (oneDNN reorders them into the layout its kernel wants), so a and b may change between calls. Throws Error where
// bf16_gemm_available() is false.
void gemm_bf16(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
// Whether oneDNN runs a bfloat16 matmul on this CPU other than its reference loops (ONEDNN_MAX_CPU_ISA honoured;
// decided once per process). Where not, `why_not` (when given) says so.
bool bf16_gemm_available(std::string* why_not = nullptr);

}  // namespace rembert::kernels
