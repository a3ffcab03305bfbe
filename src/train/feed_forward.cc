// The feed-forward block of RemBertLayer (RemBertIntermediate + RemBertOutput) and RemBertPooler in train mode,
// and their backward.
#include <algorithm>
#include <cstring>

#include "kernels/backward.h"
#include "kernels/ops.h"
#include "train/modules.h"

namespace rembert::train {

namespace {

// d_pre[i] = d_activated[i] * derivative[i] in place, over threads.
void multiply_in_place(float* d, const float* factor, int64_t n) {
  constexpr int64_t kBlock = 16384;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for if (n > 65536) schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t i0 = b * kBlock, i1 = std::min(n, i0 + kBlock);
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) d[i] *= factor[i];
  }
}

}  // namespace

// LayerNorm(dropout(dense_out(act(dense_in(x)))) + x)
void feed_forward_forward(const model::Layer& layer, const RemBertConfig& c, kernels::Activation act, const float* x,
                          int64_t rows, FeedForwardSaved& saved, DropoutStream& dropout, float* out) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  saved.x = x;
  saved.activation_grad.resize(static_cast<size_t>(rows * I));
  saved.activated.resize(static_cast<size_t>(rows * I));
  float* pre = saved.activation_grad.data();
  linear_forward(layer.intermediate, x, rows, pre);
  saved.activation_grad_is_derivative = act == kernels::Activation::Gelu;
  if (saved.activation_grad_is_derivative) {
    // gelu and its derivative in one pass: the backward then only multiplies (pre is overwritten by gelu').
    kernels::gelu_with_derivative(pre, saved.activated.data(), pre, rows * I);
  } else {
    std::copy(pre, pre + rows * I, saved.activated.data());
    kernels::apply_activation(act, saved.activated.data(), rows * I);
  }
  float* y = layer_norm_input(saved.norm, rows, H);
  linear_forward(layer.output, saved.activated.data(), rows, y);
  dropout.apply(y, rows * H, static_cast<float>(c.hidden_dropout_prob), saved.out_keep);
  add_residual(y, x, rows * H);
  layer_norm_forward(layer.output_layer_norm, y, rows, H, c.layer_norm_eps, saved.norm, out);
}

void feed_forward_backward(const model::Layer& layer, model::Layer& grad, const RemBertConfig& c,
                           kernels::Activation act, const FeedForwardSaved& saved, const float* dout, int64_t rows,
                           float* dx) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  // dx = d(LayerNorm input): the residual's gradient, and (through the dropout) dense_out's.
  layer_norm_backward(layer.output_layer_norm, grad.output_layer_norm, saved.norm, dout, rows, H, dx);
  const float* dy = dx;
  if (!saved.out_keep.empty()) {
    thread_local std::vector<float> dy_buffer;
    float* dropped = thread_scratch(dy_buffer, rows * H);
    dropout_backward(saved.out_keep, static_cast<float>(c.hidden_dropout_prob), dx, dropped, rows * H);
    dy = dropped;
  }
  thread_local std::vector<float> d_activated_buffer;
  float* d_activated = thread_scratch(d_activated_buffer, rows * I);
  linear_backward(layer.output, grad.output, saved.activated.data(), dy, rows, d_activated, false);
  if (saved.activation_grad_is_derivative) {
    multiply_in_place(d_activated, saved.activation_grad.data(), rows * I);
  } else {
    kernels::activation_backward(act, saved.activation_grad.data(), d_activated, d_activated, rows * I);
  }
  linear_backward(layer.intermediate, grad.intermediate, saved.x, d_activated, rows, dx, true);
}

void pooler_forward(const model::Linear& dense, const float* sequence, int64_t B, int64_t S, int64_t H,
                    PoolerSaved& saved) {
  saved.first.resize(static_cast<size_t>(B * H));
  for (int64_t b = 0; b < B; ++b) std::memcpy(saved.first.data() + b * H, sequence + b * S * H, H * sizeof(float));
  saved.pooled.resize(static_cast<size_t>(B * H));
  linear_forward(dense, saved.first.data(), B, saved.pooled.data());
  kernels::tanh_inplace(saved.pooled.data(), B * H);
}

void pooler_backward(const model::Linear& dense, model::Linear& grad, const PoolerSaved& saved, const float* d_pooled,
                     int64_t B, int64_t S, int64_t H, float* d_sequence) {
  std::vector<float> d_pre(static_cast<size_t>(B * H));
  for (int64_t i = 0; i < B * H; ++i) {
    const float y = saved.pooled[static_cast<size_t>(i)];
    d_pre[static_cast<size_t>(i)] = d_pooled[i] * (1.0f - y * y);  // tanh' = 1 - tanh²
  }
  std::vector<float> d_first(static_cast<size_t>(B * H));
  linear_backward(dense, grad, saved.first.data(), d_pre.data(), B, d_first.data(), false);
  for (int64_t b = 0; b < B; ++b) kernels::add_inplace(d_sequence + b * S * H, d_first.data() + b * H, H);
}

}  // namespace rembert::train
