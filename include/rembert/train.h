// Fine-tuning: a RemBERT model whose float32 parameters can be trained, with the backward pass of everything the
// forward does, as transformers' RemBert* classes compute it in train mode.
//
//   auto model = rembert::TrainableModel::load("path/to/model_dir");   // head from config.architectures[0]
//   rembert::ForwardInputs in;  in.input_ids = ...;  in.labels = ...;
//   model->zero_grad();
//   rembert::TrainStepOutputs out = model->forward_backward(in);       // out.loss; gradients in parameters()
//
// Thread safety: one TrainableModel is used by one thread at a time (its parameters change, and the workspace of
// the last call is kept for the next).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rembert/config.h"
#include "rembert/model.h"
#include "rembert/safetensors.h"
#include "rembert/tensor.h"

namespace rembert {

// What the matmul products of a training step are computed in. Parameters, gradients, optimizer state and every
// other op stay float32 (float32 master weights) either way.
//  - Float32: float32 products, as PyTorch trains in float32 (what the conformance fixtures check).
//  - BFloat16: mixed precision: the products of every Linear layer (forward, and both products of its backward)
//    take their inputs rounded to bfloat16 and sum in float32, on oneDNN's AVX512-BF16 or AMX matmul. Where the
//    CPU has neither, the model computes in float32 and compute_info() says why.
enum class TrainPrecision { Float32, BFloat16 };
TrainPrecision train_precision_from_name(const std::string& name);  // "float32", "bfloat16"; Error otherwise
const char* train_precision_name(TrainPrecision precision);

struct TrainableLoadOptions {
  std::optional<HeadType> head;  // default: head_from_config
  bool add_pooling_layer = true; // RemBertModel only
  uint64_t init_seed = 0;        // seed of the initialisation of head weights missing from the checkpoint
  TrainPrecision precision = TrainPrecision::Float32;
};

struct TrainStepOptions {
  // Train-mode dropout with the config's probabilities (hidden, attention, classifier). Off: the eval-mode forward,
  // which is also what train mode computes when every probability is 0.
  bool dropout = false;
  uint64_t dropout_seed = 0;  // the dropout masks are a pure function of (seed, position in the call)
  bool backward = true;       // false: the forward and loss only
  // Gradients are those of loss_scale * loss, ADDED to the parameters' gradients (zero_grad() clears them), so
  // micro-batches of gradient accumulation add up; the HF Trainer uses loss_scale = 1 / accumulation steps.
  float loss_scale = 1.0f;
};

struct TrainStepOutputs {
  Tensor loss;                           // []
  Tensor logits;                         // as ForwardOutputs::logits
  Tensor start_logits, end_logits;       // question answering
  Tensor grad_inputs_embeds;             // d loss / d inputs_embeds, when inputs_embeds were given
  Tensor grad_head_mask;                 // d loss / d head_mask (same shape), when head_mask was given
  Tensor grad_encoder_hidden_states;     // d loss / d encoder_hidden_states, when given (cross-attention)
};

class TrainableModel {
 public:
  struct Parameter {
    std::string name;  // the state-dict key of the transformers class, e.g. "rembert.embeddings.LayerNorm.weight"
    Tensor value;      // F32, owned
    Tensor grad;       // F32, same shape
  };

  static std::unique_ptr<TrainableModel> load(const std::string& model_dir, const TrainableLoadOptions& options = {});
  static std::unique_ptr<TrainableModel> from_tensors(const RemBertConfig& config, const TensorMap& tensors,
                                                      const TrainableLoadOptions& options = {},
                                                      const std::string& source = "<tensors>");
  ~TrainableModel();
  TrainableModel(const TrainableModel&) = delete;
  TrainableModel& operator=(const TrainableModel&) = delete;

  const RemBertConfig& config() const;
  HeadType head() const;
  // Every parameter in state-dict order. The values may be changed in place (an optimizer step).
  std::vector<Parameter>& parameters();
  const std::vector<Parameter>& parameters() const;
  // Warnings of loading (newly initialised or unused weights), as Model::warnings.
  const std::vector<std::string>& warnings() const;
  const std::vector<std::string>& newly_initialized() const;
  // The precision asked for (requested), the one the products run in (compute) and why they differ (fallback).
  ComputeInfo compute_info() const;

  void zero_grad();
  // One forward in train mode and, with options.backward, the backward of its loss. Needs the head's labels
  // (labels, or start_positions and end_positions) for a backward. Not for caches (past_key_values, cache).
  TrainStepOutputs forward_backward(const ForwardInputs& inputs, const TrainStepOptions& options = {});

  // The parameters by state-dict name (sharing storage with parameters()), for saving or for Model::from_tensors.
  TensorMap state_dict() const;

 private:
  struct Impl;
  explicit TrainableModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rembert
