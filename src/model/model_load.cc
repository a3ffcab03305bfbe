// Building a Model from a config and HF-named tensors: name mapping, shape checks, dtype, missing/unexpected keys.
#include <algorithm>
#include <cmath>
#include <set>

#include "core/files.h"
#include "core/hidden_act.h"
#include "core/random.h"
#include "kernels/threads.h"
#include "model/convert.h"
#include "model/model_impl.h"
#include "rembert/error.h"

namespace rembert {

namespace {

struct HeadNames {
  HeadType head;
  const char* cli;
  const char* cls;
};
constexpr HeadNames kHeadNames[] = {
    {HeadType::Model, "model", "RemBertModel"},
    {HeadType::MaskedLM, "masked-lm", "RemBertForMaskedLM"},
    {HeadType::CausalLM, "causal-lm", "RemBertForCausalLM"},
    {HeadType::SequenceClassification, "sequence-classification", "RemBertForSequenceClassification"},
    {HeadType::MultipleChoice, "multiple-choice", "RemBertForMultipleChoice"},
    {HeadType::TokenClassification, "token-classification", "RemBertForTokenClassification"},
    {HeadType::QuestionAnswering, "question-answering", "RemBertForQuestionAnswering"},
};

const HeadNames& names_of(HeadType head) {
  for (const auto& n : kHeadNames) {
    if (n.head == head) return n;
  }
  throw Error("unknown head type");
}

// The dtype that WeightDType::Auto resolves to: config.torch_dtype, else the first floating checkpoint tensor.
DType resolve_weight_dtype(WeightDType requested, const RemBertConfig& config, const TensorMap& tensors) {
  switch (requested) {
    case WeightDType::Float32: return DType::F32;
    case WeightDType::Float16: return DType::F16;
    case WeightDType::BFloat16: return DType::BF16;
    case WeightDType::Int8: return DType::F32;  // bound as float32, quantized when packed
    case WeightDType::Auto: break;
  }
  if (config.torch_dtype) {
    if (*config.torch_dtype == "float16") return DType::F16;
    if (*config.torch_dtype == "bfloat16") return DType::BF16;
    return DType::F32;
  }
  for (const auto& [name, tensor] : tensors) {
    if (tensor.dtype() == DType::F16 || tensor.dtype() == DType::BF16) return tensor.dtype();
    if (is_floating(tensor.dtype())) return DType::F32;
  }
  return DType::F32;
}

// transformers' _init_weights: Linear/Embedding ~ N(0, initializer_range), biases 0, LayerNorm 1 and 0.
Tensor initial_value(const model::ParamInfo& info, double initializer_range, DType weight_dtype, uint64_t seed,
                     uint64_t stream) {
  Tensor t(DType::F32, info.shape);
  float* data = t.mutable_data<float>();
  const int64_t n = t.numel();
  switch (info.init) {
    case model::ParamInit::Zeros: break;
    case model::ParamInit::Ones: std::fill(data, data + n, 1.0f); break;
    case model::ParamInit::Normal:
      fill_normal(data, n, static_cast<float>(initializer_range), seed, stream);
      break;
  }
  return info.matmul_weight ? t.cast_float(weight_dtype) : t;
}

std::string join_quoted(const std::vector<std::string>& names) {
  std::string s = "[";
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", '" : "'") + names[i] + "'";
  return s + "]";
}

// Matmul weights stay as stored (no copy of a mapped checkpoint): packing widens or rounds them once. Only float16
// storage is rounded here, and F64 is converted.
Tensor bind_matmul_weight(const Tensor& t, DType weight_dtype) {
  if (weight_dtype == DType::F16 || t.dtype() == DType::F64) return t.cast_float(weight_dtype);
  return t;
}

kernels::ComputeType compute_type_of(WeightDType requested) {
  switch (requested) {
    case WeightDType::BFloat16: return kernels::ComputeType::BFloat16;
    case WeightDType::Int8: return kernels::ComputeType::Int8;
    default: return kernels::ComputeType::Float32;
  }
}

// Packs every Linear once for the compute type and releases the bound weight; erf GELU after a product is fused.
// I8 weights (with their scales) are packed as stored. Returns the fallback reason when the compute type is not
// available ("" otherwise).
std::string pack_linears(model::Params& params, kernels::ComputeType compute, kernels::Activation activation,
                         const std::string& source) {
  std::string fallback;
  model::for_each_linear(params, [&](model::Linear& l, bool activated) {
    const bool gelu = activated && activation == kernels::Activation::Gelu;
    const Tensor& w = l.weight;
    if (w.dtype() == DType::I8) {
      try {
        l.packed = std::make_shared<const kernels::PackedLinear>(w.data<int8_t>(), l.weight_scale.data<float>(),
                                                                 w.dim(0), w.dim(1), l.bias.data<float>(), gelu);
      } catch (const Error& e) {
        throw Error(source + ": tensor '" + l.name + ".weight' (with '" + l.name + ".weight_scale'): " + e.what());
      }
    } else {
      l.packed = std::make_shared<const kernels::PackedLinear>(w.raw_data(), w.dtype(), w.dim(0), w.dim(1),
                                                               l.bias.data<float>(), compute, gelu);
    }
    if (fallback.empty()) fallback = l.packed->fallback_reason();
    release_resident_pages(l.weight);
    release_resident_pages(l.weight_scale);
    l.weight = Tensor();
    l.weight_scale = Tensor();
  });
  return fallback;
}

// The scales of the I8 weights of a converted int8 checkpoint ("<weight>_scale", F32 [out], finite and positive),
// checked and bound; a scale without an I8 weight is an error too. Marks what it binds as used.
void bind_weight_scales(model::Params& params, const TensorMap& tensors, const std::string& source,
                        std::set<std::string>& used) {
  model::for_each_linear(params, [&](model::Linear& l, bool) {
    const std::string weight_name = l.name + ".weight";
    std::string found_name;
    const Tensor* scale = model::find_tensor(tensors, weight_name + model::kScaleSuffix, &found_name);
    const bool int8 = l.weight.defined() && l.weight.dtype() == DType::I8;
    if (!int8) {
      if (scale) {
        throw Error(source + ": tensor '" + found_name + "' scales an int8 weight, but '" + weight_name + "' is " +
                    (l.weight.defined() ? dtype_name(l.weight.dtype()) : "missing"));
      }
      return;
    }
    const std::string want = weight_name + model::kScaleSuffix;
    if (!scale) {
      throw Error(source + ": tensor '" + want + "' is missing: the int8 weight '" + weight_name +
                  "' needs its per-output-channel scales (F32 [" + std::to_string(l.weight.dim(0)) + "])");
    }
    if (scale->dtype() != DType::F32 || scale->shape() != Shape{l.weight.dim(0)}) {
      throw Error(source + ": tensor '" + found_name + "' is " + dtype_name(scale->dtype()) + " " +
                  shape_to_string(scale->shape()) + ", expected F32 [" + std::to_string(l.weight.dim(0)) + "]");
    }
    const float* v = scale->data<float>();
    for (int64_t j = 0; j < scale->numel(); ++j) {
      if (!(std::isfinite(v[j]) && v[j] > 0.0f)) {
        throw Error(source + ": tensor '" + found_name + "' holds " + std::to_string(v[j]) + " at [" +
                    std::to_string(j) + "]; scales must be finite and positive");
      }
    }
    l.weight_scale = *scale;
    used.insert(found_name);
  });
}

bool is_ignored_key(const std::string& name) {
  // A non-persistent buffer in current transformers; older checkpoints (google/rembert's .bin) still carry it.
  const std::string suffix = "embeddings.position_ids";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

namespace model {

void bind_parameters(const RemBertConfig& config, HeadType head, bool add_pooling_layer, const TensorMap& tensors,
                     const std::string& source, const BindOptions& options, Params& params,
                     std::vector<std::string>& warnings, std::vector<std::string>& newly_initialized) {
  const std::string class_name = head_class_name(head);

  std::set<std::string> used;
  std::vector<std::string> missing_base, initialised;
  uint64_t param_index = 0;
  model::visit_params(config, head, add_pooling_layer, params,
                      [&](const model::ParamInfo& info, Tensor& slot) {
    ++param_index;
    std::string found_name;
    const Tensor* found = model::find_tensor(tensors, info.name, &found_name);
    if (!found) {
      if (info.group == model::ParamGroup::Base) {
        missing_base.push_back(info.name);
      } else {
        slot = initial_value(info, config.initializer_range, options.weight_dtype, options.init_seed, param_index);
        initialised.push_back(info.name);
      }
      return;
    }
    if (found->shape() != info.shape) {
      throw Error(source + ": tensor '" + found_name + "' has shape " + shape_to_string(found->shape()) +
                  " but the config needs " + shape_to_string(info.shape));
    }
    if (info.matmul_weight && found->dtype() == DType::I8) {
      // Quantized by rembert convert: packed as stored, with its scales (bind_weight_scales).
      if (options.converted != WeightDType::Int8) {
        throw Error(source + ": tensor '" + found_name + "' has dtype I8, but int8 weights need config.json's \"" +
                    model::kConvertRecordKey + "\" record of int8 (written by rembert convert)");
      }
      slot = *found;
      used.insert(found_name);
      return;
    }
    if (!is_floating(found->dtype())) {
      throw Error(source + ": tensor '" + found_name + "' has dtype " + dtype_name(found->dtype()) +
                  ", expected a floating-point dtype");
    }
    slot = info.matmul_weight ? bind_matmul_weight(*found, options.weight_dtype) : found->to_f32();
    used.insert(found_name);
  });

  if (!missing_base.empty()) {
    throw Error(source + ": the checkpoint is missing " + std::to_string(missing_base.size()) + " weight(s) of " +
                class_name + ": " + join_quoted(missing_base));
  }
  bind_weight_scales(params, tensors, source, used);
  newly_initialized = initialised;
  if (!initialised.empty()) {
    warnings.push_back("Some weights of " + class_name + " were not initialized from the model checkpoint at " +
                             source + " and are newly initialized: " + join_quoted(initialised) +
                             "\nYou should probably TRAIN this model on a down-stream task to be able to use it for "
                             "predictions and inference.");
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, tensor] : tensors) {
    if (!used.count(name) && !is_ignored_key(name)) unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    warnings.push_back("Some weights of the model checkpoint at " + source +
                             " were not used when initializing " + class_name + ": " + join_quoted(unexpected));
  }
}

}  // namespace model

const char* head_cli_name(HeadType head) { return names_of(head).cli; }
const char* head_class_name(HeadType head) { return names_of(head).cls; }

HeadType head_from_name(const std::string& name) {
  std::string valid;
  for (const auto& n : kHeadNames) {
    if (name == n.cli || name == n.cls) return n.head;
    valid += std::string(valid.empty() ? "" : ", ") + n.cli;
  }
  throw Error("unknown head \"" + name + "\" (expected one of: " + valid + ", or a RemBert* class name)");
}

HeadType head_from_config(const RemBertConfig& config) {
  if (config.architectures.empty()) return HeadType::Model;
  try {
    return head_from_name(config.architectures.front());
  } catch (const Error&) {
    throw Error("config.json: architectures[0] \"" + config.architectures.front() +
                "\" is not a RemBERT class; choose a head explicitly");
  }
}

WeightDType weight_dtype_from_name(const std::string& name) {
  if (name == "auto") return WeightDType::Auto;
  if (name == "float32" || name == "fp32") return WeightDType::Float32;
  if (name == "float16" || name == "fp16") return WeightDType::Float16;
  if (name == "bfloat16" || name == "bf16") return WeightDType::BFloat16;
  if (name == "int8") return WeightDType::Int8;
  throw Error("unknown dtype \"" + name + "\" (expected auto, float32, float16, bfloat16 or int8)");
}

const char* weight_dtype_name(WeightDType dtype) {
  switch (dtype) {
    case WeightDType::Auto: return "auto";
    case WeightDType::Float32: return "float32";
    case WeightDType::Float16: return "float16";
    case WeightDType::BFloat16: return "bfloat16";
    case WeightDType::Int8: return "int8";
  }
  return "?";
}

void set_num_threads(int threads) { kernels::set_compute_threads(threads); }

int num_threads() { return kernels::compute_threads(); }

std::vector<TensorSpec> parameter_specs(const RemBertConfig& config, HeadType head, bool add_pooling_layer) {
  config.validate();
  std::vector<TensorSpec> specs;
  model::Params params;
  model::visit_params(config, head, add_pooling_layer, params, [&](const model::ParamInfo& info, Tensor&) {
    specs.push_back(TensorSpec{info.name, DType::F32, info.shape});
  });
  return specs;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const RemBertConfig& Model::config() const { return impl_->config; }
HeadType Model::head() const { return impl_->head; }
DType Model::weight_dtype() const { return impl_->weight_dtype; }
bool Model::has_pooler() const { return impl_->params.pooler.has_value(); }
const std::vector<std::string>& Model::warnings() const { return impl_->warnings; }
const std::vector<std::string>& Model::newly_initialized() const { return impl_->newly_initialized; }

std::shared_ptr<const Model> Model::load(const std::string& model_dir, const LoadOptions& options) {
  RemBertConfig config = RemBertConfig::from_json_file(model_dir + "/config.json");
  Checkpoint checkpoint = load_checkpoint(model_dir);
  return from_tensors(config, checkpoint.tensors, options, model_dir);
}

std::shared_ptr<const Model> Model::from_tensors(const RemBertConfig& config, const TensorMap& tensors,
                                                 const LoadOptions& options, const std::string& source) {
  config.validate();
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->head = options.head.value_or(head_from_config(config));
  impl->activation = activation_from_hidden_act(config.hidden_act);
  WeightDType requested = options.dtype.value_or(WeightDType::Float32);
  const std::optional<WeightDType> converted = model::converted_dtype(config, source);
  if (converted) {
    // A converted checkpoint holds its Linear weights for one compute path only.
    if (options.dtype && *options.dtype != WeightDType::Auto && *options.dtype != *converted) {
      throw Error(source + ": config.json field \"" + model::kConvertRecordKey + "\" says this checkpoint was " +
                  "converted to " + weight_dtype_name(*converted) + " by rembert convert, so it computes in " +
                  weight_dtype_name(*converted) + " only; --dtype " + weight_dtype_name(*options.dtype) +
                  " cannot be used (use --dtype auto, or load the original checkpoint)");
    }
    requested = *converted;
    impl->converted = weight_dtype_name(*converted);
  }
  impl->weight_dtype = resolve_weight_dtype(requested, config, tensors);
  if (impl->head == HeadType::QuestionAnswering && config.num_labels() != 2) {
    throw Error(source + ": question answering splits its logits into start and end, so config num_labels must be 2 "
                "(it is " + std::to_string(config.num_labels()) + ")");
  }
  model::BindOptions bind;
  bind.weight_dtype = impl->weight_dtype;
  bind.converted = converted;
  bind.init_seed = options.init_seed;
  model::bind_parameters(config, impl->head, options.add_pooling_layer, tensors, source, bind, impl->params,
                         impl->warnings, impl->newly_initialized);
  advise_random_access(impl->params.embeddings.word_embeddings);  // looked up a row per token
  impl->compute = compute_type_of(requested);
  const std::string fallback = pack_linears(impl->params, impl->compute, impl->activation, source);
  if (!fallback.empty()) {
    impl->fallback = fallback;
    impl->warnings.push_back(std::string(kernels::compute_type_name(impl->compute)) + " compute is not available: " +
                             fallback + "; the weights are held in " + dtype_name(impl->weight_dtype) +
                             " and the products computed in float32");
  }
  if (impl->compute == kernels::ComputeType::Int8) impl->weight_dtype = DType::I8;
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

ComputeInfo Model::compute_info(int64_t rows) const {
  ComputeInfo info;
  info.requested = kernels::compute_type_name(impl_->compute);
  info.compute = info.requested;
  info.fallback = impl_->fallback;
  info.converted = impl_->converted;
  std::set<std::pair<int64_t, int64_t>> seen;
  model::for_each_linear(impl_->params, [&](const model::Linear& l, bool) {
    const kernels::PackedLinear& p = *l.packed;
    info.compute = kernels::compute_type_name(p.compute());
    info.packed_bytes += p.packed_bytes();
    if (seen.insert({p.out_features(), p.in_features()}).second) {
      info.kernels.emplace_back("[" + std::to_string(p.out_features()) + ", " + std::to_string(p.in_features()) + "]",
                                p.implementation(rows));
    }
  });
  return info;
}

std::vector<std::string> cpu_flags() { return kernels::cpu_flags(); }
std::string onednn_version() { return kernels::onednn_version(); }

}  // namespace rembert
