// Model::forward, following transformers' modeling_rembert: the input and cache checks, the masks (masks.cc),
// then embeddings (embeddings.cc) -> encoder -> pooler (encoder.cc, attention.cc), then the head (heads.cc).
#include <string>
#include <vector>

#include "kernels/threads.h"
#include "model/forward_state.h"
#include "model/forward_util.h"
#include "model/inputs.h"
#include "model/heads.h"
#include "model/masks.h"
#include "model/model_impl.h"
#include "rembert/error.h"

namespace rembert {

namespace {

using model::BaseOutputs;
using model::CallState;

using model::choose_layout;
using model::expect_shape;
using model::flatten_choices;
using model::run_base;
using model::to_positions;

}  // namespace

ForwardOutputs Model::forward(const ForwardInputs& raw) const {
  kernels::prepare_compute_thread();
  const Impl& m = *impl_;
  const RemBertConfig& c = m.config;
  const HeadType head = m.head;

  ForwardInputs in = raw;
  if (head == HeadType::MultipleChoice) model::flatten_choice_inputs(in);
  CallState st;
  const model::BatchShape shape = model::batch_shape(in, raw, c, head == HeadType::MultipleChoice);
  st.batch = shape.batch;
  st.seq = shape.seq;
  const int64_t B = st.batch, S = st.seq;

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
  if (!in.caches.empty()) {
    // One decode step of independent sequences: each row at its own cache's position.
    if (!c.is_decoder) throw Error("caches: only decoder models (config is_decoder) take a cache");
    if (in.cache || !in.past_key_values.empty()) throw Error("caches: give caches alone, without cache or past_key_values");
    if (static_cast<int64_t>(in.caches.size()) != B || S != 1) {
      throw Error("caches: one cache per row and one token per row, got " + std::to_string(in.caches.size()) +
                  " caches for input [" + std::to_string(B) + ", " + std::to_string(S) + "]");
    }
    if (in.attention_mask.defined() || in.position_ids.defined() || in.encoder_hidden_states.defined() ||
        st.output_attentions) {
      throw Error("caches: attention_mask, position_ids, encoder_hidden_states and output_attentions are not taken "
                  "(each row attends over its own cache)");
    }
    std::vector<int64_t> positions;
    for (size_t b = 0; b < in.caches.size(); ++b) {
      KVCache* cache = in.caches[b];
      const std::string name = "caches[" + std::to_string(b) + "]";
      if (!cache) throw Error(name + ": null");
      if (cache->batch_ != 1 || cache->layers_.size() != layers.size() ||
          cache->layers_[0].key.dim(1) != layers[0].attention.num_heads) {
        throw Error(name + ": expected a batch-1 cache of this model");
      }
      if (cache->length_ + 1 > cache->capacity_) {
        throw Error(name + ": " + std::to_string(cache->length_) + " cached positions fill its capacity " +
                    std::to_string(cache->capacity_));
      }
      for (size_t k = 0; k < b; ++k) {
        if (in.caches[k] == cache) throw Error(name + ": the same cache as caches[" + std::to_string(k) + "]");
      }
      st.row_caches.push_back(&cache->layers_);
      st.row_past.push_back(cache->length_);
      positions.push_back(cache->length_);
    }
    in.position_ids = Tensor::from_i64({B, 1}, positions);
    st.use_cache = false;  // the caches are the cache
  }
  choose_layout(in, c, st);
  if (!st.packed && st.row_caches.empty()) st.self_mask = model::self_attention_mask(in.attention_mask, B, S, st.past, c.is_decoder);
  st.head_scale = model::head_scales(in.head_mask, m.params, c.is_decoder && in.encoder_hidden_states.defined());

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
  for (KVCache* cache : in.caches) cache->length_ += 1;

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
