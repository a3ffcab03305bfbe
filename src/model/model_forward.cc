// The forward pass: embeddings -> encoder -> pooler, then the head (heads.cc), following transformers'
// modeling_rembert; the masks are built in masks.cc.
// Activations are float32 row-major buffers; shapes are given in comments as [B, S, H] (batch, sequence, width).
#include <cstring>
#include <numeric>
#include <string>

#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kernels/threads.h"
#include "model/forward_util.h"
#include "model/heads.h"
#include "model/masks.h"
#include "model/model_impl.h"
#include "rembert/error.h"

namespace rembert {

namespace {

using model::Attention;
using model::LayerNorm;
using model::Linear;

using model::apply_layer_norm;
using model::apply_linear;
using model::apply_linear_act;
using model::apply_residual_layer_norm;
using model::expect_shape;
using model::index_values;
using model::mask_values;
using model::new_f32;
using model::scratch_f32;

// Everything one call needs besides the weights.
struct CallState {
  int64_t batch = 0, seq = 0, past = 0;
  bool use_cache = false, output_attentions = false, output_hidden_states = false;
  // Activation rows. Normally B*S, one per position. In the padding-free layout (`packed`), only the real tokens
  // of a right-padded batch, back to back: row r holds position flat[r] = b*S + s, sequence b starts at offsets[b].
  int64_t rows = 0;
  bool packed = false;
  std::vector<int64_t> flat, offsets, lengths;
  Tensor self_mask;   // [B, S, P+S] additive
  Tensor cross_mask;  // [B, S, S_enc] additive, when cross-attention runs
  const float* encoder_states = nullptr;  // [B, S_enc, H]
  int64_t encoder_seq = 0;
  std::vector<std::vector<float>> head_scale;  // per layer; empty = no head mask
  // The in-place cache's layers (ForwardInputs::cache): keys/values [B, heads, capacity, D], past positions filled.
  std::vector<LayerCache>* cache = nullptr;
};

// Embeddings (width E, SPEC §2.1) followed by the encoder's E->H projection: [B*S, H].
Tensor embed(const Model::Impl& m, const ForwardInputs& in, const CallState& st) {
  const RemBertConfig& c = m.config;
  const model::Embeddings& emb = m.params.embeddings;
  const int64_t B = st.batch, S = st.seq, E = c.input_embedding_size;

  std::vector<int64_t> token_types(static_cast<size_t>(B * S), 0);
  if (in.token_type_ids.defined()) {
    expect_shape(in.token_type_ids, {B, S}, "token_type_ids");
    token_types = index_values(in.token_type_ids, "token_type_ids", c.type_vocab_size, "type_vocab_size");
  }
  std::vector<int64_t> positions(static_cast<size_t>(B * S));
  if (in.position_ids.defined()) {
    const Tensor& pos = in.position_ids;
    const bool broadcast = pos.shape() == Shape{S} || pos.shape() == Shape{1, S};
    if (!broadcast) expect_shape(pos, {B, S}, "position_ids");
    std::vector<int64_t> v =
        index_values(pos, "position_ids", c.max_position_embeddings, "max_position_embeddings");
    for (int64_t i = 0; i < B * S; ++i) positions[static_cast<size_t>(i)] = v[static_cast<size_t>(broadcast ? i % S : i)];
  } else {
    for (int64_t i = 0; i < B * S; ++i) positions[static_cast<size_t>(i)] = st.past + i % S;
  }

  const int64_t R = st.rows;
  Tensor x = scratch_f32({R, E});
  float* xd = x.mutable_data<float>();
  if (in.input_ids.defined()) {
    std::vector<int64_t> ids = index_values(in.input_ids, "input_ids", c.vocab_size, "vocab_size");
    const float* table = emb.word_embeddings.data<float>();
    for (int64_t r = 0; r < R; ++r) {
      std::memcpy(xd + r * E, table + ids[static_cast<size_t>(st.flat[r])] * E, E * sizeof(float));
    }
  } else {
    Tensor given = in.inputs_embeds.to_f32();
    for (int64_t r = 0; r < R; ++r) std::memcpy(xd + r * E, given.data<float>() + st.flat[r] * E, E * sizeof(float));
  }
  // inputs_embeds + token_type_embeddings, then + position_embeddings (transformers' order of additions).
  const float* types = emb.token_type_embeddings.data<float>();
  const float* pos_table = emb.position_embeddings.data<float>();
  for (int64_t r = 0; r < R; ++r) {
    const auto f = static_cast<size_t>(st.flat[r]);
    kernels::add_inplace(xd + r * E, types + token_types[f] * E, E);
    kernels::add_inplace(xd + r * E, pos_table + positions[f] * E, E);
  }
  apply_layer_norm(emb.layer_norm, xd, R, E, c.layer_norm_eps);

  const int64_t H = c.hidden_size;
  Tensor h = scratch_f32({R, H});
  apply_linear(m.params.encoder.embedding_hidden_mapping_in, xd, R, h.mutable_data<float>());
  return h;
}

// Keys and values as attention reads them: their start and the strides of their layout (kernels::AttentionShape).
struct KeyValues {
  const float* key = nullptr;
  const float* value = nullptr;
  int64_t length = 0;                                         // positions
  int64_t pos_stride = 0, head_stride = 0, batch_stride = 0;  // 0: [B, heads, length, D]
};

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

// RemBertAttention: LayerNorm(dense(softmax(q·kᵀ/√D + mask)·v) + h), written to out [B*S, H].
// kv: the cache layout, the in-place cache, or, in the padding-free layout, the [rows, heads*D] projections.
void attend(const Model::Impl& m, const Attention& a, const float* h, const CallState& st, const KeyValues& kv,
            const float* mask, const float* head_scale, float* probs, float* out) {
  const int64_t B = st.batch, S = st.seq, R = st.rows, D = m.config.head_dim(), H = m.config.hidden_size;
  const int64_t width = a.num_heads * D;
  Tensor q = scratch_f32({R, width}), context = scratch_f32({R, width});
  apply_linear(a.query, h, R, q.mutable_data<float>());
  if (st.packed) {
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

struct BaseOutputs {
  Tensor sequence;  // [rows, H]
  Tensor pooled;    // [B, H]
  std::vector<Tensor> hidden_states, attentions, cross_attentions;
  std::vector<LayerCache> cache;
};

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
    if (st.packed) {
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
           probs.defined() ? probs.mutable_data<float>() : nullptr, h1.mutable_data<float>());
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

// Multiple choice flattens [B, C, ...] inputs to [B*C, ...] (SPEC §2.9).
Tensor flatten_choices(const Tensor& t) {
  if (!t.defined()) return t;
  if (t.ndim() < 2) throw Error("multiple choice inputs need a choices dimension, got " + shape_to_string(t.shape()));
  Shape s = t.shape();
  Shape flat = {s[0] * s[1]};
  flat.insert(flat.end(), s.begin() + 2, s.end());
  return t.reshape(flat);
}

}  // namespace

ForwardOutputs Model::forward(const ForwardInputs& raw) const {
  kernels::prepare_compute_thread();
  const Impl& m = *impl_;
  const RemBertConfig& c = m.config;
  const HeadType head = m.head;

  ForwardInputs in = raw;
  if (head == HeadType::MultipleChoice) {
    for (Tensor* t : {&in.input_ids, &in.attention_mask, &in.token_type_ids, &in.position_ids, &in.inputs_embeds}) {
      *t = flatten_choices(*t);
    }
  }
  if (in.input_ids.defined() == in.inputs_embeds.defined()) {
    throw Error(in.input_ids.defined() ? "give either input_ids or inputs_embeds, not both"
                                       : "give input_ids or inputs_embeds");
  }

  CallState st;
  if (in.input_ids.defined()) {
    if (in.input_ids.ndim() != 2) {
      throw Error("input_ids: expected shape [batch, sequence]" +
                  std::string(head == HeadType::MultipleChoice ? " per choice ([batch, choices, sequence])" : "") +
                  ", got " + shape_to_string(raw.input_ids.shape()));
    }
    st.batch = in.input_ids.dim(0);
    st.seq = in.input_ids.dim(1);
  } else {
    if (in.inputs_embeds.ndim() != 3 || in.inputs_embeds.dim(2) != c.input_embedding_size ||
        !is_floating(in.inputs_embeds.dtype())) {
      throw Error("inputs_embeds: expected a float tensor [batch, sequence, " +
                  std::to_string(c.input_embedding_size) + "] (input_embedding_size), got " +
                  shape_to_string(raw.inputs_embeds.shape()));
    }
    st.batch = in.inputs_embeds.dim(0);
    st.seq = in.inputs_embeds.dim(1);
  }
  const int64_t B = st.batch, S = st.seq;
  if (S == 0) throw Error("input: the sequence is empty");

  // The cache belongs to decoders only (SPEC §2.8).
  st.use_cache = c.is_decoder && in.use_cache.value_or(c.use_cache);
  st.output_attentions = in.output_attentions.value_or(c.output_attentions);
  st.output_hidden_states = in.output_hidden_states.value_or(c.output_hidden_states);
  const auto& layers = m.params.encoder.layers;
  if (!in.past_key_values.empty()) {
    if (!c.is_decoder) throw Error("past_key_values: only decoder models (config is_decoder) take a cache");
    if (in.past_key_values.size() != layers.size()) {
      throw Error("past_key_values: " + std::to_string(in.past_key_values.size()) + " layers given, the model has " +
                  std::to_string(layers.size()));
    }
    st.past = in.past_key_values[0].key.defined() ? in.past_key_values[0].key.dim(-2) : 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      const LayerCache& p = in.past_key_values[i];
      const Shape want = {B, layers[i].attention.num_heads, st.past, c.head_dim()};
      const std::string name = "past_key_values." + std::to_string(i);
      expect_shape(p.key, want, (name + ".key").c_str());
      expect_shape(p.value, want, (name + ".value").c_str());
      if (p.cross_key.defined() != p.cross_value.defined()) {
        throw Error(name + ": give both cross_key and cross_value, or neither");
      }
    }
  }
  const int64_t cached = in.cache ? in.cache->length_ : st.past;
  if (!in.position_ids.defined() && cached + S > c.max_position_embeddings) {
    throw Error("input: past length " + std::to_string(cached) + " + sequence length " + std::to_string(S) +
                " exceeds max_position_embeddings " + std::to_string(c.max_position_embeddings));
  }
  if (in.cache) {
    KVCache& cache = *in.cache;
    if (!c.is_decoder) throw Error("cache: only decoder models (config is_decoder) take a cache");
    if (!in.past_key_values.empty()) throw Error("cache: give either cache or past_key_values, not both");
    if (cache.layers_.size() != layers.size() || cache.batch_ != B) {
      throw Error("cache: made for " + std::to_string(cache.layers_.size()) + " layers and batch " +
                  std::to_string(cache.batch_) + ", the model has " + std::to_string(layers.size()) +
                  " layers and the input batch " + std::to_string(B));
    }
    for (size_t i = 0; i < layers.size(); ++i) {
      if (cache.layers_[i].key.dim(1) != layers[i].attention.num_heads || cache.layers_[i].key.dim(3) != c.head_dim()) {
        throw Error("cache: layer " + std::to_string(i) + " was made for another model (heads or head_dim differ)");
      }
    }
    if (cache.length_ + S > cache.capacity_) {
      throw Error("cache: " + std::to_string(cache.length_) + " cached positions + sequence length " +
                  std::to_string(S) + " exceed its capacity " + std::to_string(cache.capacity_));
    }
    st.past = cache.length_;
    st.cache = &cache.layers_;
  }
  choose_layout(in, c, st);
  if (!st.packed) st.self_mask = model::self_attention_mask(in.attention_mask, B, S, st.past, c.is_decoder);
  st.head_scale = model::head_scales(in.head_mask, m.params);

  Tensor encoder_states;
  if (c.is_decoder && in.encoder_hidden_states.defined()) {
    if (!c.add_cross_attention) {
      throw Error("encoder_hidden_states: this model has no cross-attention layers (config add_cross_attention)");
    }
    const Tensor& e = in.encoder_hidden_states;
    if (e.ndim() != 3 || e.dim(0) != B || e.dim(2) != c.hidden_size) {
      throw Error("encoder_hidden_states: expected shape [" + std::to_string(B) + ", encoder sequence, " +
                  std::to_string(c.hidden_size) + "], got " + shape_to_string(e.shape()));
    }
    encoder_states = e.to_f32();
    st.encoder_states = encoder_states.data<float>();
    st.encoder_seq = e.dim(1);
    st.cross_mask = model::cross_attention_mask(in.encoder_attention_mask, B, S, st.encoder_seq);
    // Cached cross keys/values must fit the encoder states that the mask describes.
    const std::vector<LayerCache>& given = in.cache ? in.cache->layers_ : in.past_key_values;
    for (size_t i = 0; i < given.size(); ++i) {
      if (!given[i].cross_key.defined() || !layers[i].crossattention) continue;
      const Shape want = {B, layers[i].crossattention->num_heads, st.encoder_seq, c.head_dim()};
      const std::string name = (in.cache ? "cache." : "past_key_values.") + std::to_string(i);
      expect_shape(given[i].cross_key, want, (name + ".cross_key").c_str());
      expect_shape(given[i].cross_value, want, (name + ".cross_value").c_str());
    }
  }

  BaseOutputs base = run_base(m, in, st);
  if (in.cache) in.cache->length_ += S;

  ForwardOutputs out;
  out.hidden_states = std::move(base.hidden_states);
  out.attentions = std::move(base.attentions);
  out.cross_attentions = std::move(base.cross_attentions);
  out.past_key_values = std::move(base.cache);

  // The heads read every position (padded ones are zero in the padding-free layout).
  model::compute_head(m, raw, in, B, S, to_positions(base.sequence, st), base.pooled, out);
  return out;
}

}  // namespace rembert
