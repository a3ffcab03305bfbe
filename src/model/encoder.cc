// RemBertEncoder and RemBertPooler: the layer loop (attention from attention.cc, then the feed-forward), the pooler,
// and the padding-free layout of right-padded batches.
#include <cstring>
#include <numeric>
#include <vector>

#include "kernels/ops.h"
#include "model/forward_state.h"
#include "model/forward_util.h"
#include "model/model_impl.h"

namespace rembert::model {

// [rows, W] activations back to [B, S, W]; padded positions are zero in the padding-free layout.
Tensor to_positions(const Tensor& rows, const CallState& st) {
  const int64_t W = rows.dim(-1);
  if (!st.packed) return rows.reshape({st.batch, st.seq, W});
  Tensor out = new_f32({st.batch, st.seq, W});
  for (int64_t r = 0; r < st.rows; ++r) {
    std::memcpy(out.mutable_data<float>() + st.flat[r] * W, rows.data<float>() + r * W, W * sizeof(float));
  }
  return out;
}

// RemBertModel.forward on inputs already flattened to [B, S].
BaseOutputs run_base(const Model::Impl& m, const ForwardInputs& in, CallState& st) {
  const RemBertConfig& c = m.config;
  const int64_t B = st.batch, S = st.seq, H = c.hidden_size, D = c.head_dim();
  const auto& layers = m.params.encoder.layers;
  BaseOutputs out;

  const int64_t R = st.rows;
  Tensor h = embed(m, in, st);
  if (st.output_hidden_states) out.hidden_states.push_back(to_positions(h, st));

  for (size_t i = 0; i < layers.size(); ++i) {
    const model::Layer& layer = layers[i];
    const float* head_scale = st.head_scale.empty() ? nullptr : st.head_scale[i].data();
    const LayerCache* past = in.past_key_values.empty() ? nullptr : &in.past_key_values[i];

    LayerCache kv;  // this layer's keys and values (the legacy cache output)
    KeyValues self;
    std::vector<KeyValues> row_kv;
    if (!st.row_caches.empty()) {
      row_kv = write_row_caches(layer.attention, h.data<float>(), st, i, D);
    } else if (st.packed) {
      const int64_t width = layer.attention.num_heads * D;
      kv.key = scratch_f32({R, width});
      kv.value = scratch_f32({R, width});
      apply_linear(layer.attention.key, h.data<float>(), R, kv.key.mutable_data<float>());
      apply_linear(layer.attention.value, h.data<float>(), R, kv.value.mutable_data<float>());
      self = {kv.key.data<float>(), kv.value.data<float>(), R, width, D};
    } else if (st.cache) {
      // Appended after the cached positions; attention reads the filled part of the preallocated buffers.
      LayerCache& slot = (*st.cache)[i];
      write_key_value(layer.attention, h.data<float>(), B, S, st.past, slot.key, slot.value);
      const int64_t capacity = slot.key.dim(2), heads = slot.key.dim(1);
      self = {slot.key.data<float>(), slot.value.data<float>(), st.past + S, D, capacity * D, heads * capacity * D};
    } else {
      kv = project_key_value(layer.attention, h.data<float>(), B, S, D, past ? past->key : Tensor(),
                             past ? past->value : Tensor());
      self = cache_layout(kv.key, kv.value);
    }
    Tensor probs;
    if (st.output_attentions) probs = new_f32({B, layer.attention.num_heads, S, st.past + S});
    Tensor h1 = scratch_f32({R, H});
    attend(m, layer.attention, h.data<float>(), st, self, st.self_mask.data<float>(), head_scale,
           probs.defined() ? probs.mutable_data<float>() : nullptr, h1.mutable_data<float>(),
           row_kv.empty() ? nullptr : &row_kv);
    if (st.output_attentions) out.attentions.push_back(probs);

    if (layer.crossattention && st.encoder_states) {
      const Attention& cross = *layer.crossattention;
      // Cross keys/values depend only on the encoder: computed once, then taken from the cache.
      LayerCache* slot = st.cache ? &(*st.cache)[i] : nullptr;
      const LayerCache* cached = slot ? slot : past;
      if (cached && cached->cross_key.defined()) {
        kv.cross_key = cached->cross_key.to_f32();
        kv.cross_value = cached->cross_value.to_f32();
      } else {
        LayerCache ckv = project_key_value(cross, st.encoder_states, B, st.encoder_seq, D, Tensor(), Tensor());
        kv.cross_key = ckv.key;
        kv.cross_value = ckv.value;
        if (slot) {
          slot->cross_key = kv.cross_key;
          slot->cross_value = kv.cross_value;
        }
      }
      Tensor cross_probs;
      if (st.output_attentions) cross_probs = new_f32({B, cross.num_heads, S, kv.cross_key.dim(2)});
      Tensor h2 = scratch_f32({B * S, H});
      attend(m, cross, h1.data<float>(), st, cache_layout(kv.cross_key, kv.cross_value), st.cross_mask.data<float>(),
             head_scale, cross_probs.defined() ? cross_probs.mutable_data<float>() : nullptr,
             h2.mutable_data<float>());
      h1 = h2;
      if (st.output_attentions) out.cross_attentions.push_back(cross_probs);
    }

    // Feed-forward: LayerNorm(dense_IxH(act(dense_HxI(h1))) + h1).
    Tensor inter = scratch_f32({R, c.intermediate_size});
    apply_linear_act(layer.intermediate, m.activation, h1.data<float>(), R, inter.mutable_data<float>());
    Tensor h_next = scratch_f32({R, H});
    apply_linear(layer.output, inter.data<float>(), R, h_next.mutable_data<float>());
    apply_residual_layer_norm(layer.output_layer_norm, h_next.mutable_data<float>(), h1.data<float>(), R, H,
                              c.layer_norm_eps);
    h = h_next;

    if (st.use_cache && !st.cache) out.cache.push_back(kv);
    if (st.output_hidden_states) out.hidden_states.push_back(to_positions(h, st));
  }
  out.sequence = h;  // [rows, H]

  if (m.params.pooler) {  // tanh(dense(h[:, 0]))
    Tensor first = scratch_f32({B, H});
    for (int64_t b = 0; b < B; ++b) {
      const int64_t row = st.packed ? st.offsets[static_cast<size_t>(b)] : b * S;
      std::memcpy(first.mutable_data<float>() + b * H, h.data<float>() + row * H, H * sizeof(float));
    }
    out.pooled = new_f32({B, H});
    apply_linear(*m.params.pooler, first.data<float>(), B, out.pooled.mutable_data<float>());
    kernels::tanh_inplace(out.pooled.mutable_data<float>(), B * H);
  }
  return out;
}

// Right-padded encoder batches skip their padding: the dense layers run on the real tokens only and each
// sequence attends over itself. Exact on every real position; padded positions come out as zeros. Everything that
// reads padded positions (attention maps, losses over labels, decoders and caches, 3-D masks) keeps the full layout.
void choose_layout(const ForwardInputs& in, const RemBertConfig& c, CallState& st) {
  const int64_t B = st.batch, S = st.seq;
  st.packed = false;
  st.rows = B * S;
  st.flat.resize(static_cast<size_t>(B * S));
  for (int64_t i = 0; i < B * S; ++i) st.flat[static_cast<size_t>(i)] = i;
  const bool eligible = in.skip_padding && !c.is_decoder && in.past_key_values.empty() && in.attention_mask.defined() &&
                        in.attention_mask.shape() == Shape{B, S} && !st.output_attentions && !in.labels.defined() &&
                        !in.start_positions.defined() && !in.end_positions.defined();
  if (!eligible) return;
  const std::vector<float> m = mask_values(in.attention_mask);
  std::vector<int64_t> lengths(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    int64_t len = 0;
    while (len < S && m[static_cast<size_t>(b * S + len)] == 1.0f) ++len;
    for (int64_t s = len; s < S; ++s) {
      if (m[static_cast<size_t>(b * S + s)] != 0.0f) return;  // not right padding
    }
    if (len == 0) return;
    lengths[static_cast<size_t>(b)] = len;
  }
  const int64_t tokens = std::accumulate(lengths.begin(), lengths.end(), int64_t{0});
  if (tokens == B * S) return;  // nothing to skip
  st.packed = true;
  st.rows = tokens;
  st.lengths = lengths;
  st.offsets.assign(static_cast<size_t>(B), 0);
  st.flat.clear();
  for (int64_t b = 0; b < B; ++b) {
    st.offsets[static_cast<size_t>(b)] = static_cast<int64_t>(st.flat.size());
    for (int64_t s = 0; s < lengths[static_cast<size_t>(b)]; ++s) st.flat.push_back(b * S + s);
  }
}

}  // namespace rembert::model
