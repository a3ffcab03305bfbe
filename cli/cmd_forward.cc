// rembert forward: one forward pass from a safetensors file of inputs to a safetensors file of outputs, named after
// transformers' forward arguments and output fields. The conformance contract of the test suite, and a debugging tool.
#include <cstdio>
#include <map>
#include <string>

#include "commands.h"
#include "rembert/error.h"
#include "rembert/hub.h"
#include "rembert/model.h"
#include "rembert/train.h"

namespace rembert::cli {

namespace {

struct ForwardOptions {
  std::string model_dir, inputs_path, output_path, head, dtype, revision;
  bool output_hidden_states = false, output_attentions = false, use_cache = false, backward = false;
  int threads = 0;
};

}  // namespace

ForwardInputs read_forward_inputs(const std::string& path, size_t num_layers) {
  SafetensorsFile file = read_safetensors(path);
  // A fixture file (tests/fixtures/training) names its inputs "in.<argument>" beside its expected outputs.
  bool fixture = false;
  for (const auto& entry : file.tensors) fixture = fixture || entry.first.rfind("in.", 0) == 0;
  if (fixture) {
    TensorMap inputs;
    for (const auto& [name, tensor] : file.tensors) {
      if (name.rfind("in.", 0) == 0) inputs[name.substr(3)] = tensor;
    }
    file.tensors = std::move(inputs);
  }
  ForwardInputs in;
  std::map<std::string, Tensor*> slots = {
      {"input_ids", &in.input_ids},
      {"inputs_embeds", &in.inputs_embeds},
      {"attention_mask", &in.attention_mask},
      {"token_type_ids", &in.token_type_ids},
      {"position_ids", &in.position_ids},
      {"head_mask", &in.head_mask},
      {"encoder_hidden_states", &in.encoder_hidden_states},
      {"encoder_attention_mask", &in.encoder_attention_mask},
      {"labels", &in.labels},
      {"start_positions", &in.start_positions},
      {"end_positions", &in.end_positions},
  };
  std::vector<LayerCache> past(num_layers);
  bool has_past = false;
  for (auto& [name, tensor] : file.tensors) {
    auto slot = slots.find(name);
    if (slot != slots.end()) {
      *slot->second = tensor;
      continue;
    }
    // past_key_values.{layer}.{key|value|cross_key|cross_value}
    const std::string prefix = "past_key_values.";
    if (name.compare(0, prefix.size(), prefix) == 0) {
      const std::string rest = name.substr(prefix.size());
      const size_t dot = rest.find('.');
      size_t layer = num_layers;
      try {
        size_t used = 0;
        layer = std::stoul(rest.substr(0, dot), &used);
        if (used != dot) layer = num_layers;
      } catch (const std::exception&) {
      }
      const std::string part = dot == std::string::npos ? "" : rest.substr(dot + 1);
      if (layer < num_layers) {
        LayerCache& c = past[layer];
        Tensor* target = part == "key"           ? &c.key
                         : part == "value"       ? &c.value
                         : part == "cross_key"   ? &c.cross_key
                         : part == "cross_value" ? &c.cross_value
                                                 : nullptr;
        if (target) {
          *target = tensor;
          has_past = true;
          continue;
        }
      }
    }
    throw Error(path + ": unknown input tensor '" + name +
                "' (expected transformers forward argument names such as input_ids, attention_mask, token_type_ids, "
                "position_ids, head_mask, inputs_embeds, labels, start_positions, end_positions, "
                "encoder_hidden_states, encoder_attention_mask, past_key_values.<layer>.<key|value>)");
  }
  if (has_past) {
    for (size_t i = 0; i < num_layers; ++i) {
      if (!past[i].key.defined() || !past[i].value.defined()) {
        throw Error(path + ": past_key_values." + std::to_string(i) + ".key/.value missing (the cache needs every layer)");
      }
    }
    in.past_key_values = std::move(past);
  }
  return in;
}

namespace {

// t[name] = value as float32, when the output was computed.
void put_defined(TensorMap& t, const std::string& name, const Tensor& value) {
  if (value.defined()) t[name] = value.to_f32();
}

// The heads' outputs, under their transformers names.
void put_head_outputs(TensorMap& t, const Tensor& loss, const Tensor& logits, const Tensor& start_logits,
                      const Tensor& end_logits) {
  put_defined(t, "loss", loss);
  put_defined(t, "logits", logits);
  put_defined(t, "start_logits", start_logits);
  put_defined(t, "end_logits", end_logits);
}

TensorMap outputs_to_tensors(const ForwardOutputs& out) {
  TensorMap t;
  auto put = [&](const std::string& name, const Tensor& value) { put_defined(t, name, value); };
  put_head_outputs(t, out.loss, out.logits, out.start_logits, out.end_logits);
  put("last_hidden_state", out.last_hidden_state);
  put("pooler_output", out.pooler_output);
  for (size_t i = 0; i < out.hidden_states.size(); ++i) put("hidden_states." + std::to_string(i), out.hidden_states[i]);
  for (size_t i = 0; i < out.attentions.size(); ++i) put("attentions." + std::to_string(i), out.attentions[i]);
  for (size_t i = 0; i < out.cross_attentions.size(); ++i) {
    put("cross_attentions." + std::to_string(i), out.cross_attentions[i]);
  }
  for (size_t i = 0; i < out.past_key_values.size(); ++i) {
    const std::string p = "past_key_values." + std::to_string(i) + ".";
    put(p + "key", out.past_key_values[i].key);
    put(p + "value", out.past_key_values[i].value);
    put(p + "cross_key", out.past_key_values[i].cross_key);
    put(p + "cross_value", out.past_key_values[i].cross_value);
  }
  return t;
}

}  // namespace

std::shared_ptr<const Model> load_model(const std::string& model, const std::string& revision,
                                        const std::string& dtype, const std::string& head, std::string* dir) {
  LoadOptions load;
  if (!dtype.empty()) load.dtype = weight_dtype_from_name(dtype);
  if (!head.empty()) load.head = head_from_name(head);
  HubOptions hub;
  hub.revision = revision;
  const std::string resolved = resolve_model_for_task(model, hub, ModelParts{true, false, true});
  if (dir) *dir = resolved;
  return Model::load(resolved, load);
}

namespace {

// --backward: the train-mode forward (dropout off) and the gradient of its loss with respect to every parameter
// ("grad.<state-dict key>") and to the differentiable inputs given (grad.inputs_embeds, grad.head_mask,
// grad.encoder_hidden_states).
void run_backward(const ForwardOptions& o) {
  if (o.output_hidden_states || o.output_attentions || o.use_cache) {
    throw Error("--backward writes the loss, the logits and the gradients; it does not take --output-hidden-states, "
                "--output-attentions or --use-cache");
  }
  if (!o.dtype.empty() && o.dtype != "float32" && o.dtype != "fp32") {
    throw Error("--backward computes in float32 (the training precision); --dtype " + o.dtype + " cannot be used");
  }
  TrainableLoadOptions load;
  if (!o.head.empty()) load.head = head_from_name(o.head);
  HubOptions hub;
  hub.revision = o.revision;
  auto model = TrainableModel::load(resolve_model_for_task(o.model_dir, hub, ModelParts{true, false, true}), load);
  for (const auto& warning : model->warnings()) std::fprintf(stderr, "rembert: warning: %s\n", warning.c_str());
  ForwardInputs in = read_forward_inputs(o.inputs_path, static_cast<size_t>(model->config().num_hidden_layers));
  if (!in.past_key_values.empty()) throw Error(o.inputs_path + ": --backward takes no past_key_values");
  model->zero_grad();
  TrainStepOutputs out = model->forward_backward(in);
  TensorMap t;
  put_head_outputs(t, out.loss, out.logits, out.start_logits, out.end_logits);
  put_defined(t, "grad.inputs_embeds", out.grad_inputs_embeds);
  put_defined(t, "grad.head_mask", out.grad_head_mask);
  put_defined(t, "grad.encoder_hidden_states", out.grad_encoder_hidden_states);
  for (const auto& p : model->parameters()) put_defined(t, "grad." + p.name, p.grad);
  write_safetensors(o.output_path, t, {{"format", "pt"}});
}

void run_forward(const ForwardOptions& o) {
  set_num_threads(o.threads);
  if (o.backward) return run_backward(o);
  auto model = load_model(o.model_dir, o.revision, o.dtype, o.head);
  for (const auto& warning : model->warnings()) std::fprintf(stderr, "rembert: warning: %s\n", warning.c_str());

  ForwardInputs in = read_forward_inputs(o.inputs_path, static_cast<size_t>(model->config().num_hidden_layers));
  in.output_hidden_states = o.output_hidden_states;
  in.output_attentions = o.output_attentions;
  in.use_cache = o.use_cache;
  ForwardOutputs out = model->forward(in);
  write_safetensors(o.output_path, outputs_to_tensors(out), {{"format", "pt"}});
}

}  // namespace

Command add_forward_command(CLI::App& app) {
  auto o = std::make_shared<ForwardOptions>();
  CLI::App* cmd = app.add_subcommand("forward", "Run one forward pass: inputs and outputs are safetensors files");
  cmd->add_option("--model", o->model_dir, "Model folder (config.json + weights), or hub id such as google/rembert")
      ->required();
  cmd->add_option("--revision", o->revision, "Hub branch, tag or commit (default main)");
  cmd->add_option("--inputs", o->inputs_path, "safetensors file of forward arguments (input_ids, attention_mask, ...)")
      ->required();
  cmd->add_option("--output", o->output_path, "safetensors file to write the outputs to")->required();
  cmd->add_option("--head", o->head,
                  "model, masked-lm, causal-lm, sequence-classification, multiple-choice, token-classification or "
                  "question-answering (default: config architectures[0])");
  cmd->add_flag("--output-hidden-states", o->output_hidden_states, "Also write hidden_states.{i}");
  cmd->add_flag("--output-attentions", o->output_attentions, "Also write attentions.{i} (and cross_attentions.{i})");
  cmd->add_flag("--use-cache", o->use_cache, "Decoders: write past_key_values.{layer}.{key|value}");
  cmd->add_option("--dtype", o->dtype,
                  "Compute path: float32, bfloat16, int8; auto (weights as stored), float16 (weights): computed in "
                  "float32 (default: float32, or the dtype of a model written by rembert convert)");
  cmd->add_flag("--backward", o->backward,
                "Also run the backward of the loss (labels needed) and write grad.<parameter> for every parameter, "
                "and grad.inputs_embeds / grad.head_mask when those inputs are given (float32, dropout off)");
  cmd->add_option("--threads", o->threads, "Threads (default: all cores)");
  return [o] { run_forward(*o); };
}

}  // namespace rembert::cli
