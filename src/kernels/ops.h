// Element-wise and row-wise kernels over float buffers.
#pragma once

#include <cstdint>

#include "kernels/activation.h"

namespace rembert::kernels {

void apply_activation(Activation act, float* x, int64_t n);

// out[r] = (x[r] - mean) / sqrt(var + eps) * gamma + beta, per row of `cols` values. In place is allowed. When
// given, mean[r] and rstd[r] = 1 / sqrt(var + eps) (biased variance) are kept for the backward
// (kernels/backward.h's layer_norm_backward).
void layer_norm(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta, float eps,
                float* out, float* mean = nullptr, float* rstd = nullptr);

// x = LayerNorm(x + residual) per row (the residual connection and the norm in one pass over the rows).
void add_layer_norm(float* x, const float* residual, int64_t rows, int64_t cols, const float* gamma,
                    const float* beta, float eps);

// x[r] += y[r] element-wise.
void add_inplace(float* x, const float* y, int64_t n);

// In-place softmax over each row of `cols` values.
void softmax_rows(float* x, int64_t rows, int64_t cols);

// In place, per row: softmax(x * scale + mask) * post_scale (attention's scores to probabilities, with the head
// mask's multiplier). mask: [rows, cols] additive, or null.
void scaled_masked_softmax_rows(float* x, int64_t rows, int64_t cols, float scale, const float* mask,
                                float post_scale);

void tanh_inplace(float* x, int64_t n);

}  // namespace rembert::kernels
