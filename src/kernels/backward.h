// Backward kernels for training: the gradients of the forward kernels in ops.h, dropout, and bias-gradient column
// sums. Plain row-major float buffers, PyTorch's autograd conventions. Reductions over rows (dgamma, dbeta, bias
// gradients) are summed in double per column, split over columns rather than rows, so that their results do not
// depend on the thread count.
#pragma once

#include <cstdint>

#include "kernels/ops.h"

namespace rembert::kernels {

// d/dx of apply_activation: dx[i] = dy[i] * act'(x[i]), x the activation's input. dx may alias dy.
// At kinks PyTorch's conventions: relu'(0) = 0 (threshold_backward), relu6 passes the gradient only where
// 0 < x < 6 (hardtanh_backward), leaky_relu'(0) = 0.01, relu2'(0) = 0, gelu_10 is 0 where the clip of gelu(x) to
// [-10, 10] is active.
void activation_backward(Activation act, const float* x, const float* dy, float* dx, int64_t n);

// The exact (erf) gelu and its derivative in one pass: y = x Φ(x), dydx = Φ(x) + x φ(x), with vectorized
// approximations of erf and exp (within 2e-7 of the exact values). For a forward that keeps what its backward
// multiplies by.
void gelu_with_derivative(const float* x, float* y, float* dydx, int64_t n);

// Backward of layer_norm (ops.h) from its input x and the mean / rstd it kept: dx written (may alias dy), dgamma[c] and
// dbeta[c] accumulated (+=) over the rows.
void layer_norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma,
                         int64_t rows, int64_t cols, float* dx, float* dgamma, float* dbeta);

// Softmax backward per row of `cols` from the softmax output y: dx = y * (dy - sum_j dy_j * y_j). dx may alias dy.
void softmax_rows_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols);

// Inverted dropout in place: x[i] kept with probability 1 - p and scaled by 1 / (1 - p), else multiplied by 0 (as
// PyTorch, so a NaN stays NaN); keep[i] = 1 or 0 records the decision. The decisions are a pure function of
// (seed, offset + i), the same whatever the thread count, so consecutive calls with offsets advanced by n draw
// one stream. p == 0: x unchanged, keep all 1. Throws Error unless 0 <= p < 1.
void dropout_forward(float* x, int64_t n, float p, uint64_t seed, uint64_t offset, uint8_t* keep);
// dx = dy * keep / (1 - p); dx may alias dy. Throws Error unless 0 <= p < 1.
void dropout_backward(const float* dy, const uint8_t* keep, float p, float* dx, int64_t n);

// Bias gradients: db[c] += sum_r dy[r, c], dy [rows, cols] row-major.
void add_column_sums(const float* dy, int64_t rows, int64_t cols, float* db);

}  // namespace rembert::kernels
