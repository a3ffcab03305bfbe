// RemBertEmbeddings: word (or given inputs_embeds), token type and position embeddings, LayerNorm, then the
// encoder's embedding_hidden_mapping_in (E -> H).
#include <cstring>
#include <vector>

#include "kernels/ops.h"
#include "model/forward_state.h"
#include "model/forward_util.h"
#include "model/model_impl.h"

namespace rembert::model {

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

}  // namespace rembert::model
