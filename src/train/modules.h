// The modules of RemBERT in train mode, each forward beside its backward (llm.c's *_forward / *_backward pairs).
// A forward writes what its backward needs into the module's saved state (the training workspace); the backward
// ADDS to the gradients of the parameters (`grads`, laid out like the parameters) and writes the gradient of the
// module's input. Activations are float32 row-major, rows = B*S positions (the full padded layout).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/ops.h"
#include "model/params.h"
#include "rembert/config.h"
#include "rembert/tensor.h"

namespace rembert::train {

// Seeded inverted dropout: every site takes the next `n` positions of one counter, so a call's masks are a pure
// function of the seed and the call's shapes.
struct DropoutStream {
  bool on = false;
  uint64_t seed = 0;
  uint64_t offset = 0;
  // Drops x[0..n) in place with probability p when on and p > 0, recording the kept elements in `keep`
  // (left empty when nothing is dropped).
  void apply(float* x, int64_t n, float p, std::vector<uint8_t>& keep);
};
// dx = dy where nothing was dropped, else dy * keep / (1 - p). dx may alias dy.
void dropout_backward(const std::vector<uint8_t>& keep, float p, const float* dy, float* dx, int64_t n);

// A buffer of at least n floats owned by the calling thread and kept between calls: the modules' temporaries
// (every call of one use site on one thread shares it, so it is only valid until that site's next call).
inline float* thread_scratch(std::vector<float>& buffer, int64_t n) {
  if (buffer.size() < static_cast<size_t>(n)) buffer.resize(static_cast<size_t>(n));
  return buffer.data();
}

// y[i] += x[i] over threads (residual connections).
void add_residual(float* y, const float* x, int64_t n);

// ---- Linear: y = x·Wᵀ + b
// Its products run in float32, or with bfloat16 inputs while a BFloat16Products lives on the calling thread (the
// mixed-precision step of TrainableModel::forward_backward).
class BFloat16Products {
 public:
  explicit BFloat16Products(bool on);
  ~BFloat16Products();
  BFloat16Products(const BFloat16Products&) = delete;
  BFloat16Products& operator=(const BFloat16Products&) = delete;

 private:
  bool previous_;
};
void linear_forward(const model::Linear& l, const float* x, int64_t rows, float* y);
// dW += dyᵀ·x, db += Σ dy; dx = dy·W (written, or added with accumulate_dx); dx may be null.
void linear_backward(const model::Linear& l, model::Linear& grad, const float* x, const float* dy, int64_t rows,
                     float* dx, bool accumulate_dx);

// ---- LayerNorm with its statistics
struct LayerNormSaved {
  std::vector<float> input, mean, rstd;  // input [rows, width]
};
// saved.input sized for [rows, width], for a caller that computes the LayerNorm's input in place there (then
// layer_norm_forward copies nothing).
float* layer_norm_input(LayerNormSaved& saved, int64_t rows, int64_t width);
// x may be layer_norm_input(saved, ...).
void layer_norm_forward(const model::LayerNorm& ln, const float* x, int64_t rows, int64_t width, double eps,
                        LayerNormSaved& saved, float* y);
// dx written (may alias dy).
void layer_norm_backward(const model::LayerNorm& ln, model::LayerNorm& grad, const LayerNormSaved& saved,
                         const float* dy, int64_t rows, int64_t width, float* dx);

// ---- RemBertEmbeddings and the encoder's E->H projection
struct EmbeddingsSaved {
  std::vector<int64_t> ids, token_types, positions;  // [rows]; ids empty with inputs_embeds
  LayerNormSaved norm;                               // input: inputs_embeds + token_type + position
  std::vector<float> projected_input;                // LayerNorm output after dropout [rows, E]
  std::vector<uint8_t> keep;
};
// h0 [rows, H]. `inputs_embeds` [rows, E] or null (then `ids`).
void embeddings_forward(const model::Params& p, const RemBertConfig& c, const float* inputs_embeds,
                        EmbeddingsSaved& saved, int64_t rows, DropoutStream& dropout, float* h0);
// d_inputs_embeds [rows, E] written when not null. The word-embedding row of pad_token_id gets no gradient
// (transformers' padding_idx).
void embeddings_backward(const model::Params& p, model::Params& grads, const RemBertConfig& c,
                         EmbeddingsSaved& saved, const float* dh0, int64_t rows, float* d_inputs_embeds);

// ---- RemBertAttention (self or cross): LayerNorm(dropout(dense(softmax(q·kᵀ/√D + mask)·v)) + x)
struct AttentionShape {
  int64_t batch = 0, q_len = 0, kv_len = 0;  // kv_len = q_len for self-attention
};
struct AttentionSaved {
  const float* x = nullptr;         // query input [B*q_len, H]
  const float* kv_x = nullptr;      // key/value input [B*kv_len, H] (== x for self-attention)
  const float* mask = nullptr;      // [B, q_len, kv_len] additive
  const float* head_scale = nullptr;  // [heads] or null
  std::vector<float> q, k, v;       // projections [rows, heads*D]
  std::vector<float> probs;         // softmax before dropout and head scale [B, heads, q_len, kv_len]
  std::vector<uint8_t> probs_keep;
  std::vector<float> context;       // [B*q_len, heads*D]
  std::vector<uint8_t> out_keep;
  LayerNormSaved norm;              // input: dropout(dense(context)) + x
};
void attention_forward(const model::Attention& a, const RemBertConfig& c, const AttentionShape& s, const float* x,
                       const float* kv_x, const float* mask, const float* head_scale, AttentionSaved& saved,
                       DropoutStream& dropout, float* out);
// dx [B*q_len, H] written; d_kv_x [B*kv_len, H] added (self-attention: pass dx, which then holds both);
// d_head_scale [heads] added when not null.
void attention_backward(const model::Attention& a, model::Attention& grad, const RemBertConfig& c,
                        const AttentionShape& s, const AttentionSaved& saved, const float* dout, float* dx,
                        float* d_kv_x, float* d_head_scale);

// ---- The feed-forward block of RemBertLayer: LayerNorm(dropout(dense(act(dense(x)))) + x)
struct FeedForwardSaved {
  const float* x = nullptr;               // [rows, H]
  std::vector<float> activated;           // act(dense_in(x)) [rows, I]: dense_out's input
  // [rows, I]: act'(dense_in(x)) for gelu (computed with the forward), else the pre-activation dense_in(x).
  std::vector<float> activation_grad;
  bool activation_grad_is_derivative = false;
  std::vector<uint8_t> out_keep;
  LayerNormSaved norm;
};
void feed_forward_forward(const model::Layer& layer, const RemBertConfig& c, kernels::Activation act, const float* x,
                          int64_t rows, FeedForwardSaved& saved, DropoutStream& dropout, float* out);
// dx written.
void feed_forward_backward(const model::Layer& layer, model::Layer& grad, const RemBertConfig& c,
                           kernels::Activation act, const FeedForwardSaved& saved, const float* dout, int64_t rows,
                           float* dx);

// ---- RemBertPooler: tanh(dense(h[:, 0]))
struct PoolerSaved {
  std::vector<float> first;   // [B, H]
  std::vector<float> pooled;  // [B, H]
};
void pooler_forward(const model::Linear& dense, const float* sequence, int64_t B, int64_t S, int64_t H,
                    PoolerSaved& saved);
// Adds the gradient of the first positions to d_sequence [B*S, H].
void pooler_backward(const model::Linear& dense, model::Linear& grad, const PoolerSaved& saved, const float* d_pooled,
                     int64_t B, int64_t S, int64_t H, float* d_sequence);

}  // namespace rembert::train
