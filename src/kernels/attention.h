// Scaled dot-product attention over float buffers.
#pragma once

#include <cstdint>

namespace rembert::kernels {

struct AttentionShape {
  int64_t batch = 0;
  int64_t heads = 0;
  int64_t q_len = 0;   // new positions
  int64_t kv_len = 0;  // past + new positions (or encoder positions for cross-attention)
  int64_t head_dim = 0;
  // Strides of k and v in floats, between positions and between heads; 0 means the cache layout
  // [B, heads, kv_len, head_dim] (position stride head_dim, head stride kv_len*head_dim). Projections laid out as
  // [tokens, heads*head_dim] use position stride heads*head_dim and head stride head_dim.
  int64_t kv_pos_stride = 0;
  int64_t kv_head_stride = 0;
  // Stride between batch rows; 0 means kv_len positions (with kv_pos_stride) or heads heads. A cache preallocated
  // as [B, heads, capacity, head_dim] and filled to kv_len has head stride and batch stride beyond kv_len.
  int64_t kv_batch_stride = 0;
};

// For every batch row b and head h:
//   probs = softmax(q·kᵀ / sqrt(head_dim) + mask[b]) · head_scale[h];   context = probs · v
// q:          [B, q_len, heads*head_dim]   (the output of the query projection, heads side by side)
// k, v:       [B, heads, kv_len, head_dim] (the cache layout), or the strided layout of AttentionShape
// mask:       [B, q_len, kv_len] additive; null for none
// head_scale: [heads] multipliers of the probabilities (transformers' head_mask for this layer); null for ones
// context:    [B, q_len, heads*head_dim]
// probs_out:  [B, heads, q_len, kv_len], written when not null
void attention(const AttentionShape& s, const float* q, const float* k, const float* v, const float* mask,
               const float* head_scale, float* context, float* probs_out);

}  // namespace rembert::kernels
