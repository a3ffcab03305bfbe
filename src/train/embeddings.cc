// RemBertEmbeddings in train mode: LayerNorm(inputs_embeds + token_type + position), dropout, then the encoder's
// embedding_hidden_mapping_in (E -> H), and their backward.
#include <cstring>

#include "kernels/ops.h"
#include "train/modules.h"

namespace rembert::train {

void embeddings_forward(const model::Params& p, const RemBertConfig& c, const float* inputs_embeds,
                        EmbeddingsSaved& saved, int64_t rows, DropoutStream& dropout, float* h0) {
  const model::Embeddings& emb = p.embeddings;
  const int64_t E = c.input_embedding_size;
  float* x = layer_norm_input(saved.norm, rows, E);
  const float* words = emb.word_embeddings.data<float>();
  const float* types = emb.token_type_embeddings.data<float>();
  const float* positions = emb.position_embeddings.data<float>();
#pragma omp parallel for if (rows * E > 65536) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * E;
    const float* source = inputs_embeds ? inputs_embeds + r * E : words + saved.ids[static_cast<size_t>(r)] * E;
    std::memcpy(row, source, E * sizeof(float));
    // transformers' order of additions: inputs_embeds + token_type_embeddings, then + position_embeddings.
    kernels::add_inplace(row, types + saved.token_types[static_cast<size_t>(r)] * E, E);
    kernels::add_inplace(row, positions + saved.positions[static_cast<size_t>(r)] * E, E);
  }
  saved.projected_input.resize(static_cast<size_t>(rows * E));
  layer_norm_forward(emb.layer_norm, x, rows, E, c.layer_norm_eps, saved.norm, saved.projected_input.data());
  dropout.apply(saved.projected_input.data(), rows * E, static_cast<float>(c.hidden_dropout_prob), saved.keep);
  linear_forward(p.encoder.embedding_hidden_mapping_in, saved.projected_input.data(), rows, h0);
}

void embeddings_backward(const model::Params& p, model::Params& grads, const RemBertConfig& c,
                         EmbeddingsSaved& saved, const float* dh0, int64_t rows, float* d_inputs_embeds) {
  const int64_t E = c.input_embedding_size;
  thread_local std::vector<float> dx_buffer;
  float* dx = thread_scratch(dx_buffer, rows * E);
  linear_backward(p.encoder.embedding_hidden_mapping_in, grads.encoder.embedding_hidden_mapping_in,
                  saved.projected_input.data(), dh0, rows, dx, false);
  dropout_backward(saved.keep, static_cast<float>(c.hidden_dropout_prob), dx, dx, rows * E);
  layer_norm_backward(p.embeddings.layer_norm, grads.embeddings.layer_norm, saved.norm, dx, rows, E, dx);

  // The three lookups scatter their rows' gradient back (serially: rows may share an id).
  model::Embeddings& g = grads.embeddings;
  float* d_words = g.word_embeddings.mutable_data<float>();
  float* d_types = g.token_type_embeddings.mutable_data<float>();
  float* d_positions = g.position_embeddings.mutable_data<float>();
  const int64_t padding_idx = c.pad_token_id.value_or(-1);
  for (int64_t r = 0; r < rows; ++r) {
    const float* d = dx + r * E;
    if (!saved.ids.empty()) {
      const int64_t id = saved.ids[static_cast<size_t>(r)];
      if (id != padding_idx) kernels::add_inplace(d_words + id * E, d, E);
    }
    kernels::add_inplace(d_types + saved.token_types[static_cast<size_t>(r)] * E, d, E);
    kernels::add_inplace(d_positions + saved.positions[static_cast<size_t>(r)] * E, d, E);
  }
  if (d_inputs_embeds) std::memcpy(d_inputs_embeds, dx, static_cast<size_t>(rows * E) * sizeof(float));
}

}  // namespace rembert::train
