// The parameters of RemBERT, one struct per Hugging Face module, and the one mapping from HF state-dict names to
// them (visit_params). Shapes follow PyTorch: Linear weights are [out, in].
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernels/packed_linear.h"
#include "rembert/config.h"
#include "rembert/model.h"
#include "rembert/tensor.h"

namespace rembert::model {

struct Linear {
  std::string name;     // the HF module path, e.g. "rembert.encoder.layer.0.intermediate.dense"
  Tensor weight;        // [out, in]; F32, F16 or BF16 as bound from the checkpoint, or I8 (see weight_scale);
                        // released once packed
  Tensor weight_scale;  // [out] F32 with an I8 weight: weight = weight_scale * int8 (written by rembert convert)
  Tensor bias;          // [out], F32
  // Weight and bias packed once at load for the model's compute type; what forward uses.
  std::shared_ptr<const kernels::PackedLinear> packed;
  int64_t out_features() const { return packed->out_features(); }
  int64_t in_features() const { return packed->in_features(); }
};

struct LayerNorm {
  Tensor weight, bias;  // [width], F32
};

struct Embeddings {            // RemBertEmbeddings, width E
  Tensor word_embeddings;        // [V, E]
  Tensor position_embeddings;    // [max_positions, E]
  Tensor token_type_embeddings;  // [type_vocab, E]
  LayerNorm layer_norm;
};

struct Attention {  // RemBertAttention: self (or cross) attention + RemBertSelfOutput
  Linear query, key, value;  // [heads*D, H]
  Linear output;             // attention.output.dense [H, heads*D]
  LayerNorm layer_norm;      // attention.output.LayerNorm
  int64_t num_heads = 0;     // after pruning
};

struct Layer {  // RemBertLayer
  Attention attention;
  std::optional<Attention> crossattention;
  Linear intermediate;  // intermediate.dense [I, H]
  Linear output;        // output.dense [H, I]
  LayerNorm output_layer_norm;
};

struct Encoder {
  Linear embedding_hidden_mapping_in;  // [H, E]
  std::vector<Layer> layers;
};

struct LMHead {  // cls.predictions
  Linear dense;      // [O, H]
  LayerNorm layer_norm;
  Linear decoder;    // [V, O]
};

struct Params {
  Embeddings embeddings;
  Encoder encoder;
  std::optional<Linear> pooler;      // pooler.dense
  std::optional<LMHead> lm_head;     // masked-lm, causal-lm
  std::optional<Linear> classifier;  // sequence/multiple-choice/token classification: classifier; QA: qa_outputs
};

// Missing weights of the Base group are an error; Pooler and Head weights are initialised as transformers does.
enum class ParamGroup { Base, Pooler, Head };
enum class ParamInit { Normal, Zeros, Ones };

struct ParamInfo {
  std::string name;  // HF state-dict name, with "rembert." for the heads
  Shape shape;
  ParamGroup group;
  ParamInit init;
  bool matmul_weight;  // held in the model's weight dtype; everything else is float32
};

bool head_has_pooler(HeadType head, bool add_pooling_layer);

// Calls `visit` for every Linear of `params`; `activated` is true for those followed by config.hidden_act
// (intermediate.dense and the LM head's dense).
void for_each_linear(Params& params, const std::function<void(Linear&, bool activated)>& visit);
void for_each_linear(const Params& params, const std::function<void(const Linear&, bool activated)>& visit);

// Looks `name` up with and without the "rembert." prefix (not for "cls." names), so base checkpoints load into
// heads and back; `found_name` receives the name it was found under.
const Tensor* find_tensor(const TensorMap& tensors, const std::string& name, std::string* found_name);

// Lays out `params` for (config, head) and calls `visit` for every parameter slot in state-dict order. Slots that
// exist already are kept, so a second visit of bound params reaches the bound tensors.
void visit_params(const RemBertConfig& config, HeadType head, bool add_pooling_layer, Params& params,
                  const std::function<void(const ParamInfo&, Tensor& slot)>& visit);

// How bind_parameters binds checkpoint tensors to parameter slots.
struct BindOptions {
  DType weight_dtype = DType::F32;          // what matmul weights are held in (packing converts the rest)
  std::optional<WeightDType> converted;    // the dtype of a checkpoint written by convert_model, if it is one
  uint64_t init_seed = 0;                  // seed of the initialisation of head weights the checkpoint lacks
};

// Binds every parameter slot of `params` (laid out for config and head) from `tensors`, as from_pretrained does:
// names with or without "rembert.", shapes checked, missing Base weights an Error naming them, missing Pooler/Head
// weights initialised (and listed in newly_initialized), unused checkpoint tensors reported in `warnings`.
// Floating tensors are bound without a copy where their dtype allows; `source` names the checkpoint in messages.
void bind_parameters(const RemBertConfig& config, HeadType head, bool add_pooling_layer, const TensorMap& tensors,
                     const std::string& source, const BindOptions& options, Params& params,
                     std::vector<std::string>& warnings, std::vector<std::string>& newly_initialized);

}  // namespace rembert::model
