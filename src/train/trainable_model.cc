// TrainableModel: float32 parameters and gradients laid out as model::Params, and the train-mode forward and
// backward of the whole model: embeddings -> layers (self-attention, cross-attention, feed-forward) -> pooler ->
// head, then the same in reverse.
#include "rembert/train.h"

#include <algorithm>
#include <cstring>

#include "core/hidden_act.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "kernels/threads.h"
#include "model/forward_util.h"
#include "model/inputs.h"
#include "model/masks.h"
#include "model/params.h"
#include "rembert/error.h"
#include "train/heads.h"
#include "train/modules.h"

namespace rembert {

namespace {

// What one layer's forward keeps for its backward.
struct LayerSaved {
  train::AttentionSaved attention, crossattention;
  std::vector<float> attention_out;  // [rows, H]: the feed-forward's input
  std::vector<float> cross_out;
  train::FeedForwardSaved feed_forward;
};

// The training workspace: everything the last forward kept, reused (not reallocated) by the next call.
struct Workspace {
  train::EmbeddingsSaved embeddings;
  std::vector<std::vector<float>> hidden;  // hidden[0] embeddings, hidden[i + 1] the output of layer i [rows, H]
  std::vector<LayerSaved> layers;
  train::PoolerSaved pooler;
  train::HeadSaved head;
  std::vector<float> d_hidden, d_below;  // the backward's gradients of the hidden states [rows, H]
};

Tensor owned_copy(const Tensor& t) {
  const Tensor f = t.to_f32();
  Tensor out(DType::F32, f.shape());
  std::memcpy(out.mutable_data<float>(), f.data<float>(), f.nbytes());
  return out;
}

}  // namespace

struct TrainableModel::Impl {
  RemBertConfig config;
  HeadType head = HeadType::Model;
  kernels::Activation activation = kernels::Activation::Gelu;
  model::Params params, grads;
  std::vector<Parameter> parameters;  // state-dict order; value/grad share storage with params/grads
  std::vector<std::string> warnings, newly_initialized;
  TrainPrecision requested = TrainPrecision::Float32, precision = TrainPrecision::Float32;
  std::string precision_fallback;  // why precision != requested
  Workspace workspace;
};

TrainPrecision train_precision_from_name(const std::string& name) {
  if (name == "float32") return TrainPrecision::Float32;
  if (name == "bfloat16") return TrainPrecision::BFloat16;
  throw Error("unknown training precision '" + name + "' (expected float32 or bfloat16)");
}

const char* train_precision_name(TrainPrecision precision) {
  return precision == TrainPrecision::BFloat16 ? "bfloat16" : "float32";
}

TrainableModel::TrainableModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrainableModel::~TrainableModel() = default;

std::unique_ptr<TrainableModel> TrainableModel::load(const std::string& model_dir,
                                                     const TrainableLoadOptions& options) {
  RemBertConfig config = RemBertConfig::from_json_file(model_dir + "/config.json");
  Checkpoint checkpoint = load_checkpoint(model_dir);
  return from_tensors(config, checkpoint.tensors, options, model_dir);
}

std::unique_ptr<TrainableModel> TrainableModel::from_tensors(const RemBertConfig& config, const TensorMap& tensors,
                                                             const TrainableLoadOptions& options,
                                                             const std::string& source) {
  config.validate();
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->head = options.head.value_or(head_from_config(config));
  impl->activation = activation_from_hidden_act(config.hidden_act);
  impl->requested = impl->precision = options.precision;
  if (options.precision == TrainPrecision::BFloat16 && !kernels::bf16_gemm_available(&impl->precision_fallback)) {
    impl->precision = TrainPrecision::Float32;
  }
  if (impl->head == HeadType::QuestionAnswering && config.num_labels() != 2) {
    throw Error(source + ": question answering splits its logits into start and end, so config num_labels must be 2 "
                "(it is " + std::to_string(config.num_labels()) + ")");
  }
  for (const auto& [name, tensor] : tensors) {
    if (tensor.dtype() == DType::I8) {
      throw Error(source + ": tensor '" + name + "' is int8 (a checkpoint written by rembert convert); training "
                  "needs the original floating-point checkpoint");
    }
  }
  model::BindOptions bind;
  bind.init_seed = options.init_seed;
  model::bind_parameters(config, impl->head, options.add_pooling_layer, tensors, source, bind, impl->params,
                         impl->warnings, impl->newly_initialized);
  // Owned float32 values (the checkpoint may be a read-only mapping, or half precision) and zero gradients.
  std::vector<std::string> names;
  std::vector<Tensor*> values, grads;
  model::visit_params(config, impl->head, options.add_pooling_layer, impl->params,
                      [&](const model::ParamInfo& info, Tensor& slot) {
    slot = owned_copy(slot);
    names.push_back(info.name);
    values.push_back(&slot);
  });
  model::visit_params(config, impl->head, options.add_pooling_layer, impl->grads,
                      [&](const model::ParamInfo& info, Tensor& slot) {
    slot = Tensor(DType::F32, info.shape);
    grads.push_back(&slot);
  });
  for (size_t i = 0; i < names.size(); ++i) impl->parameters.push_back({names[i], *values[i], *grads[i]});
  return std::unique_ptr<TrainableModel>(new TrainableModel(std::move(impl)));
}

const RemBertConfig& TrainableModel::config() const { return impl_->config; }
HeadType TrainableModel::head() const { return impl_->head; }
std::vector<TrainableModel::Parameter>& TrainableModel::parameters() { return impl_->parameters; }
const std::vector<TrainableModel::Parameter>& TrainableModel::parameters() const { return impl_->parameters; }
const std::vector<std::string>& TrainableModel::warnings() const { return impl_->warnings; }
const std::vector<std::string>& TrainableModel::newly_initialized() const { return impl_->newly_initialized; }

ComputeInfo TrainableModel::compute_info() const {
  ComputeInfo info;
  info.requested = train_precision_name(impl_->requested);
  info.compute = train_precision_name(impl_->precision);
  info.fallback = impl_->precision_fallback;
  return info;
}

void TrainableModel::zero_grad() {
  kernels::prepare_compute_thread();
  // Pieces of at most 1M floats over the threads: one thread alone does not reach the memory bandwidth.
  constexpr int64_t kPiece = int64_t{1} << 20;
  struct Piece {
    float* data;
    int64_t n;
  };
  std::vector<Piece> pieces;
  for (Parameter& p : impl_->parameters) {
    float* g = p.grad.mutable_data<float>();
    for (int64_t i = 0; i < p.grad.numel(); i += kPiece) pieces.push_back({g + i, std::min(kPiece, p.grad.numel() - i)});
  }
  const int64_t n = static_cast<int64_t>(pieces.size());
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t i = 0; i < n; ++i) {
    std::memset(pieces[static_cast<size_t>(i)].data, 0, static_cast<size_t>(pieces[static_cast<size_t>(i)].n) * sizeof(float));
  }
}

TensorMap TrainableModel::state_dict() const {
  TensorMap out;
  for (const Parameter& p : impl_->parameters) out[p.name] = p.value;
  return out;
}

TrainStepOutputs TrainableModel::forward_backward(const ForwardInputs& raw, const TrainStepOptions& options) {
  kernels::prepare_compute_thread();
  Impl& m = *impl_;
  const RemBertConfig& c = m.config;
  const model::Params& p = m.params;
  Workspace& ws = m.workspace;
  const train::BFloat16Products products(m.precision == TrainPrecision::BFloat16);
  if (!raw.past_key_values.empty() || raw.cache) {
    throw Error("forward_backward: caches (past_key_values, cache) are for generation, not training");
  }
  if (!raw.logits_rows.empty()) throw Error("forward_backward: logits_rows is not supported in training");

  ForwardInputs in = raw;
  int64_t choices = 1;
  if (m.head == HeadType::MultipleChoice) {
    const Tensor& shaped = raw.input_ids.defined() ? raw.input_ids : raw.inputs_embeds;
    if (shaped.defined() && shaped.ndim() >= 2) choices = shaped.dim(1);
    model::flatten_choice_inputs(in);
  }
  const model::BatchShape shape = model::batch_shape(in, raw, c, m.head == HeadType::MultipleChoice);
  const int64_t B = shape.batch, S = shape.seq;
  const int64_t E = c.input_embedding_size, H = c.hidden_size;
  Tensor inputs_embeds;
  if (in.input_ids.defined()) {
    ws.embeddings.ids = model::index_values(in.input_ids, "input_ids", c.vocab_size, "vocab_size");
  } else {
    inputs_embeds = in.inputs_embeds.to_f32();
    ws.embeddings.ids.clear();
  }
  const int64_t R = B * S;
  if (in.position_ids.defined()) {
    const Tensor& pos = in.position_ids;
    const bool broadcast = pos.shape() == Shape{S} || pos.shape() == Shape{1, S};
    if (!broadcast) model::expect_shape(pos, {B, S}, "position_ids");
    const std::vector<int64_t> v =
        model::index_values(pos, "position_ids", c.max_position_embeddings, "max_position_embeddings");
    ws.embeddings.positions.resize(static_cast<size_t>(R));
    for (int64_t i = 0; i < R; ++i) ws.embeddings.positions[static_cast<size_t>(i)] = v[static_cast<size_t>(broadcast ? i % S : i)];
  } else {
    if (S > c.max_position_embeddings) {
      throw Error("input: sequence length " + std::to_string(S) + " exceeds max_position_embeddings " +
                  std::to_string(c.max_position_embeddings));
    }
    ws.embeddings.positions.resize(static_cast<size_t>(R));
    for (int64_t i = 0; i < R; ++i) ws.embeddings.positions[static_cast<size_t>(i)] = i % S;
  }
  ws.embeddings.token_types.assign(static_cast<size_t>(R), 0);
  if (in.token_type_ids.defined()) {
    model::expect_shape(in.token_type_ids, {B, S}, "token_type_ids");
    ws.embeddings.token_types = model::index_values(in.token_type_ids, "token_type_ids", c.type_vocab_size,
                                                    "type_vocab_size");
  }
  const Tensor self_mask = model::self_attention_mask(in.attention_mask, B, S, 0, c.is_decoder);
  const std::vector<std::vector<float>> head_scale =
      model::head_scales(in.head_mask, p, in.encoder_hidden_states.defined());

  // Cross-attention reads the encoder's states (decoders with add_cross_attention).
  Tensor encoder_states, cross_mask;
  int64_t S_enc = 0;
  if (in.encoder_hidden_states.defined()) {
    if (!c.is_decoder || !c.add_cross_attention) {
      throw Error("encoder_hidden_states: this model has no cross-attention layers (config add_cross_attention)");
    }
    const Tensor& e = in.encoder_hidden_states;
    if (e.ndim() != 3 || e.dim(0) != B || e.dim(2) != H) {
      throw Error("encoder_hidden_states: expected shape [" + std::to_string(B) + ", encoder sequence, " +
                  std::to_string(H) + "], got " + shape_to_string(e.shape()));
    }
    encoder_states = owned_copy(e);
    S_enc = e.dim(1);
    cross_mask = model::cross_attention_mask(in.encoder_attention_mask, B, S, S_enc);
  }

  train::DropoutStream dropout{options.dropout, options.dropout_seed, 0};
  const size_t L = p.encoder.layers.size();
  ws.hidden.resize(L + 1);
  ws.layers.resize(L);
  for (auto& h : ws.hidden) h.resize(static_cast<size_t>(R * H));

  // ---- forward
  train::embeddings_forward(p, c, inputs_embeds.defined() ? inputs_embeds.data<float>() : nullptr, ws.embeddings, R,
                            dropout, ws.hidden[0].data());
  const train::AttentionShape self_shape{B, S, S}, cross_shape{B, S, S_enc};
  for (size_t i = 0; i < L; ++i) {
    const model::Layer& layer = p.encoder.layers[i];
    LayerSaved& saved = ws.layers[i];
    const float* scale = head_scale.empty() ? nullptr : head_scale[i].data();
    const float* x = ws.hidden[i].data();
    saved.attention_out.resize(static_cast<size_t>(R * H));
    train::attention_forward(layer.attention, c, self_shape, x, x, self_mask.data<float>(), scale, saved.attention,
                             dropout, saved.attention_out.data());
    const float* ffn_in = saved.attention_out.data();
    if (layer.crossattention && encoder_states.defined()) {
      saved.cross_out.resize(static_cast<size_t>(R * H));
      train::attention_forward(*layer.crossattention, c, cross_shape, ffn_in, encoder_states.data<float>(),
                               cross_mask.data<float>(), scale, saved.crossattention, dropout, saved.cross_out.data());
      ffn_in = saved.cross_out.data();
    }
    train::feed_forward_forward(layer, c, m.activation, ffn_in, R, saved.feed_forward, dropout, ws.hidden[i + 1].data());
  }
  const float* sequence = ws.hidden[L].data();
  const float* pooled = nullptr;
  if (p.pooler) {
    train::pooler_forward(*p.pooler, sequence, B, S, H, ws.pooler);
    pooled = ws.pooler.pooled.data();
  }
  train::HeadOutputs head = train::head_forward(p, c, m.head, m.activation, in, B, S, choices, sequence, pooled,
                                                dropout, options.backward, options.loss_scale, ws.head);
  TrainStepOutputs out;
  out.loss = head.loss;
  out.logits = head.logits;
  out.start_logits = head.start_logits;
  out.end_logits = head.end_logits;
  if (!options.backward) return out;

  // ---- backward
  model::Params& g = m.grads;
  std::vector<float>& d_hidden = ws.d_hidden;
  std::vector<float>& d_below = ws.d_below;
  d_hidden.assign(static_cast<size_t>(R * H), 0.0f);
  d_below.resize(static_cast<size_t>(R * H));
  std::vector<float> d_pooled(static_cast<size_t>(B * H), 0.0f);
  train::head_backward(p, g, c, m.head, m.activation, ws.head, B, S, sequence, d_hidden.data(), d_pooled.data());
  if (p.pooler && train::head_reads_pooled(m.head)) {
    train::pooler_backward(*p.pooler, *g.pooler, ws.pooler, d_pooled.data(), B, S, H, d_hidden.data());
  }
  std::vector<float> d_scale;  // [layers, heads]
  const int64_t heads = in.head_mask.defined() ? in.head_mask.dim(-1) : 0;
  if (!head_scale.empty()) d_scale.assign(L * static_cast<size_t>(heads), 0.0f);
  std::vector<float> d_encoder;
  if (encoder_states.defined()) d_encoder.assign(static_cast<size_t>(B * S_enc * H), 0.0f);
  for (size_t i = L; i-- > 0;) {
    const model::Layer& layer = p.encoder.layers[i];
    model::Layer& layer_grad = g.encoder.layers[i];
    LayerSaved& saved = ws.layers[i];
    float* ds = d_scale.empty() ? nullptr : d_scale.data() + i * static_cast<size_t>(heads);
    // d_hidden: d(layer output) -> d(feed-forward input) in d_below
    train::feed_forward_backward(layer, layer_grad, c, m.activation, saved.feed_forward, d_hidden.data(), R,
                                 d_below.data());
    if (layer.crossattention && encoder_states.defined()) {
      train::attention_backward(*layer.crossattention, *layer_grad.crossattention, c, cross_shape,
                                saved.crossattention, d_below.data(), d_hidden.data(), d_encoder.data(), ds);
      std::swap(d_hidden, d_below);
    }
    train::attention_backward(layer.attention, layer_grad.attention, c, self_shape, saved.attention, d_below.data(),
                              d_hidden.data(), d_hidden.data(), ds);
  }
  if (inputs_embeds.defined()) out.grad_inputs_embeds = Tensor(DType::F32, {B, S, E});
  train::embeddings_backward(p, g, c, ws.embeddings, d_hidden.data(), R,
                             inputs_embeds.defined() ? out.grad_inputs_embeds.mutable_data<float>() : nullptr);
  if (inputs_embeds.defined() && m.head == HeadType::MultipleChoice) {
    out.grad_inputs_embeds = out.grad_inputs_embeds.reshape(raw.inputs_embeds.shape());
  }
  if (!d_scale.empty()) {
    out.grad_head_mask = Tensor(DType::F32, in.head_mask.shape());
    float* dst = out.grad_head_mask.mutable_data<float>();
    if (in.head_mask.ndim() == 2) {
      std::memcpy(dst, d_scale.data(), d_scale.size() * sizeof(float));
    } else {  // one [heads] mask shared by every layer: the gradients add up
      for (size_t i = 0; i < L; ++i) {
        for (int64_t h = 0; h < heads; ++h) dst[h] += d_scale[i * static_cast<size_t>(heads) + static_cast<size_t>(h)];
      }
    }
  }
  if (!d_encoder.empty()) {
    out.grad_encoder_hidden_states = Tensor(DType::F32, {B, S_enc, H});
    std::memcpy(out.grad_encoder_hidden_states.mutable_data<float>(), d_encoder.data(), d_encoder.size() * sizeof(float));
  }
  return out;
}

}  // namespace rembert
