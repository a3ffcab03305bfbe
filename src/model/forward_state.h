// What the files of the forward pass share: embeddings.cc, attention.cc, encoder.cc and model_forward.cc, one
// module of transformers' modeling_rembert each. Internal to the library.
// Activations are float32 row-major buffers; shapes are given in comments as [B, S, H] (batch, sequence, width).
#pragma once

#include <cstdint>
#include <vector>

#include "model/model_impl.h"
#include "model/params.h"
#include "rembert/model.h"
#include "rembert/tensor.h"

namespace rembert::model {

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
  // ForwardInputs::caches: row b's layers and its cached positions (a decode step of one token per row).
  std::vector<std::vector<LayerCache>*> row_caches;
  std::vector<int64_t> row_past;
};

// Keys and values as attention reads them: their start and the strides of their layout (kernels::AttentionShape).
struct KeyValues {
  const float* key = nullptr;
  const float* value = nullptr;
  int64_t length = 0;                                         // positions
  int64_t pos_stride = 0, head_stride = 0, batch_stride = 0;  // 0: [B, heads, length, D]
};

// The encoder's outputs (RemBertModel's), before the head.
struct BaseOutputs {
  Tensor sequence;  // [rows, H]
  Tensor pooled;    // [B, H]
  std::vector<Tensor> hidden_states, attentions, cross_attentions;
  std::vector<LayerCache> cache;
};

// embeddings.cc: RemBertEmbeddings and the encoder's embedding_hidden_mapping_in, [rows, H].
Tensor embed(const Model::Impl& m, const ForwardInputs& in, const CallState& st);

// attention.cc: RemBertAttention, self and cross, and the key/value layouts and caches.
KeyValues cache_layout(const Tensor& key, const Tensor& value);
void write_key_value(const Attention& a, const float* x, int64_t B, int64_t T, int64_t P, Tensor& dst_key,
                     Tensor& dst_value);
LayerCache project_key_value(const Attention& a, const float* x, int64_t B, int64_t T, int64_t D,
                             const Tensor& past_key, const Tensor& past_value);
void attend(const Model::Impl& m, const Attention& a, const float* h, const CallState& st, const KeyValues& kv,
            const float* mask, const float* head_scale, float* probs, float* out,
            const std::vector<KeyValues>* row_kv = nullptr);
// Each row's key and value projection written into its own cache (ForwardInputs::caches) at its position.
std::vector<KeyValues> write_row_caches(const Attention& a, const float* x, const CallState& st, size_t layer,
                                        int64_t D);

// encoder.cc: RemBertEncoder's layer loop, the feed-forward and the pooler, and the padding-free layout.
BaseOutputs run_base(const Model::Impl& m, const ForwardInputs& in, CallState& st);
Tensor to_positions(const Tensor& rows, const CallState& st);
void choose_layout(const ForwardInputs& in, const RemBertConfig& c, CallState& st);

}  // namespace rembert::model
