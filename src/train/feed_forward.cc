// The feed-forward block of RemBertLayer (RemBertIntermediate + RemBertOutput) and RemBertPooler in train mode,
// and their backward.
#include <cstring>

#include "kernels/backward.h"
#include "kernels/ops.h"
#include "train/modules.h"

namespace rembert::train {

// LayerNorm(dropout(dense_out(act(dense_in(x)))) + x)
void feed_forward_forward(const model::Layer& layer, const RemBertConfig& c, kernels::Activation act, const float* x,
                          int64_t rows, FeedForwardSaved& saved, DropoutStream& dropout, float* out) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  saved.x = x;
  saved.pre_activation.resize(static_cast<size_t>(rows * I));
  linear_forward(layer.intermediate, x, rows, saved.pre_activation.data());
  std::vector<float> activated(saved.pre_activation);
  kernels::apply_activation(act, activated.data(), rows * I);
  std::vector<float> y(static_cast<size_t>(rows * H));
  linear_forward(layer.output, activated.data(), rows, y.data());
  dropout.apply(y.data(), rows * H, static_cast<float>(c.hidden_dropout_prob), saved.out_keep);
  for (int64_t i = 0; i < rows * H; ++i) y[static_cast<size_t>(i)] += x[i];
  layer_norm_forward(layer.output_layer_norm, y.data(), rows, H, c.layer_norm_eps, saved.norm, out);
}

void feed_forward_backward(const model::Layer& layer, model::Layer& grad, const RemBertConfig& c,
                           kernels::Activation act, const FeedForwardSaved& saved, const float* dout, int64_t rows,
                           float* dx) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  std::vector<float> dz(static_cast<size_t>(rows * H));
  layer_norm_backward(layer.output_layer_norm, grad.output_layer_norm, saved.norm, dout, rows, H, dz.data());
  std::memcpy(dx, dz.data(), dz.size() * sizeof(float));  // the residual
  dropout_backward(saved.out_keep, static_cast<float>(c.hidden_dropout_prob), dz.data(), dz.data(), rows * H);
  std::vector<float> activated(saved.pre_activation);
  kernels::apply_activation(act, activated.data(), rows * I);
  std::vector<float> d_activated(static_cast<size_t>(rows * I));
  linear_backward(layer.output, grad.output, activated.data(), dz.data(), rows, d_activated.data(), false);
  kernels::activation_backward(act, saved.pre_activation.data(), d_activated.data(), d_activated.data(), rows * I);
  linear_backward(layer.intermediate, grad.intermediate, saved.x, d_activated.data(), rows, dx, true);
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
