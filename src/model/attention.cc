// RemBertAttention (self and cross attention) and the layouts attention reads keys and values in: transformers'
// legacy cache, the in-place cache (kv_cache.cc) and the padding-free layout's projections.
#include <cstring>

#include "kernels/attention.h"
#include "model/forward_state.h"
#include "model/forward_util.h"
#include "model/model_impl.h"

namespace rembert::model {

// A tensor pair in the cache layout [B, heads, T, D].
KeyValues cache_layout(const Tensor& key, const Tensor& value) {
  return {key.data<float>(), value.data<float>(), key.dim(2)};
}

// Key/value projections of x [B, T, H] written into dst ([B, heads, capacity, D] each) at positions [P, P+T).
void write_key_value(const Attention& a, const float* x, int64_t B, int64_t T, int64_t P, Tensor& dst_key,
                     Tensor& dst_value) {
  const int64_t heads = a.num_heads, D = dst_key.dim(3), capacity = dst_key.dim(2), width = heads * D;
  Tensor k_proj = scratch_f32({B * T, width}), v_proj = scratch_f32({B * T, width});
  apply_linear(a.key, x, B * T, k_proj.mutable_data<float>());
  apply_linear(a.value, x, B * T, v_proj.mutable_data<float>());
  auto scatter = [&](const Tensor& proj, Tensor& dst) {  // [B*T, heads*D] -> per head
    float* d = dst.mutable_data<float>();
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t h = 0; h < heads; ++h) {
        float* row = d + ((b * heads + h) * capacity + P) * D;
        for (int64_t t = 0; t < T; ++t) {
          std::memcpy(row + t * D, proj.data<float>() + (b * T + t) * width + h * D, D * sizeof(float));
        }
      }
    }
  };
  scatter(k_proj, dst_key);
  scatter(v_proj, dst_value);
}

// Key/value projections of x [B, T, H], as new [B, heads, P+T, D] tensors after the cached `past_*`
// ([B, heads, P, D]): transformers' legacy cache, which copies the past every step.
LayerCache project_key_value(const Attention& a, const float* x, int64_t B, int64_t T, int64_t D,
                             const Tensor& past_key, const Tensor& past_value) {
  const int64_t heads = a.num_heads;
  const int64_t P = past_key.defined() ? past_key.dim(2) : 0;
  LayerCache kv{scratch_f32({B, heads, P + T, D}), scratch_f32({B, heads, P + T, D}), {}, {}};
  auto copy_past = [&](const Tensor& past, Tensor& dst) {
    const Tensor past_f32 = past.to_f32();
    for (int64_t bh = 0; bh < B * heads; ++bh) {
      std::memcpy(dst.mutable_data<float>() + bh * (P + T) * D, past_f32.data<float>() + bh * P * D,
                  P * D * sizeof(float));
    }
  };
  if (P > 0) {
    copy_past(past_key, kv.key);
    copy_past(past_value, kv.value);
  }
  write_key_value(a, x, B, T, P, kv.key, kv.value);
  return kv;
}

std::vector<KeyValues> write_row_caches(const Attention& a, const float* x, const CallState& st, size_t layer,
                                        int64_t D) {
  const int64_t B = st.batch, heads = a.num_heads, width = heads * D;
  // One product for all rows (the weights are read once), then each row into its own cache.
  Tensor k_proj = scratch_f32({B, width}), v_proj = scratch_f32({B, width});
  apply_linear(a.key, x, B, k_proj.mutable_data<float>());
  apply_linear(a.value, x, B, v_proj.mutable_data<float>());
  std::vector<KeyValues> kv(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    LayerCache& slot = (*st.row_caches[static_cast<size_t>(b)])[layer];
    const int64_t capacity = slot.key.dim(2), P = st.row_past[static_cast<size_t>(b)];
    for (int64_t h = 0; h < heads; ++h) {
      std::memcpy(slot.key.mutable_data<float>() + (h * capacity + P) * D, k_proj.data<float>() + b * width + h * D,
                  D * sizeof(float));
      std::memcpy(slot.value.mutable_data<float>() + (h * capacity + P) * D, v_proj.data<float>() + b * width + h * D,
                  D * sizeof(float));
    }
    kv[static_cast<size_t>(b)] = {slot.key.data<float>(), slot.value.data<float>(), P + 1, D, capacity * D,
                                  heads * capacity * D};
  }
  return kv;
}

// RemBertAttention: LayerNorm(dense(softmax(q·kᵀ/√D + mask)·v) + h), written to out [B*S, H].
// kv: the cache layout, the in-place cache, or, in the padding-free layout, the [rows, heads*D] projections;
// row_kv: each row's own cache (ForwardInputs::caches; one query per row, nothing to mask).
void attend(const Model::Impl& m, const Attention& a, const float* h, const CallState& st, const KeyValues& kv,
            const float* mask, const float* head_scale, float* probs, float* out,
            const std::vector<KeyValues>* row_kv) {
  const int64_t B = st.batch, S = st.seq, R = st.rows, D = m.config.head_dim(), H = m.config.hidden_size;
  const int64_t width = a.num_heads * D;
  Tensor q = scratch_f32({R, width}), context = scratch_f32({R, width});
  apply_linear(a.query, h, R, q.mutable_data<float>());
  if (row_kv) {
    for (int64_t b = 0; b < B; ++b) {
      const KeyValues& r = (*row_kv)[static_cast<size_t>(b)];
      kernels::AttentionShape shape{1, a.num_heads, 1, r.length, D, r.pos_stride, r.head_stride, r.batch_stride};
      kernels::attention(shape, q.data<float>() + b * width, r.key, r.value, nullptr, head_scale,
                         context.mutable_data<float>() + b * width, nullptr);
    }
  } else if (st.packed) {
    // Each sequence attends over its own tokens only: no padding, no mask.
    for (int64_t b = 0; b < B; ++b) {
      const int64_t L = st.lengths[static_cast<size_t>(b)], off = st.offsets[static_cast<size_t>(b)] * width;
      kernels::AttentionShape shape{1, a.num_heads, L, L, D, width, D};
      kernels::attention(shape, q.data<float>() + off, kv.key + off, kv.value + off, nullptr, head_scale,
                         context.mutable_data<float>() + off, nullptr);
    }
  } else {
    kernels::AttentionShape shape{B, a.num_heads, S, kv.length, D, kv.pos_stride, kv.head_stride, kv.batch_stride};
    kernels::attention(shape, q.data<float>(), kv.key, kv.value, mask, head_scale, context.mutable_data<float>(),
                       probs);
  }
  apply_linear(a.output, context.data<float>(), R, out);
  apply_residual_layer_norm(a.layer_norm, out, h, R, H, m.config.layer_norm_eps);
}

}  // namespace rembert::model
