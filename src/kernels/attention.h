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
};

// For every batch row b and head h:
//   probs = softmax(q·kᵀ / sqrt(head_dim) + mask[b]) · head_scale[h];   context = probs · v
// q:          [B, q_len, heads*head_dim]   (the output of the query projection, heads side by side)
// k, v:       [B, heads, kv_len, head_dim] (the cache layout)
// mask:       [B, q_len, kv_len] additive; null for none
// head_scale: [heads] multipliers of the probabilities (transformers' head_mask for this layer); null for ones
// context:    [B, q_len, heads*head_dim]
// probs_out:  [B, heads, q_len, kv_len], written when not null
void attention(const AttentionShape& s, const float* q, const float* k, const float* v, const float* mask,
               const float* head_scale, float* context, float* probs_out);

}  // namespace rembert::kernels
