// RemBertConfig: reading config.json (with the transformers v4 defaults), validation, and writing it back the way
// save_pretrained does (to_diff_dict: RemBERT keys always, inherited keys only when they differ from the
// PretrainedConfig defaults; json.dumps(indent=2, sort_keys=True) + "\n").
#include "rembert/config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "core/hidden_act.h"
#include "rembert/error.h"

namespace rembert {
namespace {

using Json = nlohmann::json;

constexpr const char* kProblemTypes[] = {"regression", "single_label_classification", "multi_label_classification"};
constexpr const char* kTorchDtypes[] = {"float32", "float16", "bfloat16", "float64"};

[[noreturn]] void throw_type_error(const std::string& source, const std::string& field, const char* expected,
                                   const Json& value) {
  throw Error(source + ": field '" + field + "' must be " + expected + ", got " + value.type_name() + " " +
              value.dump());
}

int64_t as_int(const Json& value, const std::string& field, const std::string& source) {
  if (!value.is_number_integer()) throw_type_error(source, field, "an integer", value);
  if (value.is_number_unsigned() &&
      value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw Error(source + ": field '" + field + "' is out of the int64 range: " + value.dump());
  }
  return value.get<int64_t>();
}

// Integers are accepted where a float is expected (the hub config writes dropout 0), booleans are not.
double as_double(const Json& value, const std::string& field, const std::string& source) {
  if (!value.is_number()) throw_type_error(source, field, "a number", value);
  return value.get<double>();
}

bool as_bool(const Json& value, const std::string& field, const std::string& source) {
  if (!value.is_boolean()) throw_type_error(source, field, "a boolean", value);
  return value.get<bool>();
}

std::string as_string(const Json& value, const std::string& field, const std::string& source) {
  if (!value.is_string()) throw_type_error(source, field, "a string", value);
  return value.get<std::string>();
}

// Reads config keys one by one and remembers which ones it consumed, so the rest can go to extra_json.
class KeyReader {
 public:
  KeyReader(const Json& object, std::string source) : object_(object), source_(std::move(source)) {}

  const std::string& source() const { return source_; }

  // The value of `key`, or nullptr when the key is absent. Marks the key as consumed.
  const Json* find(const std::string& key) {
    consumed_.insert(key);
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  void read(const std::string& key, int64_t& out) {
    if (const Json* v = find(key)) out = as_int(*v, key, source_);
  }
  void read(const std::string& key, double& out) {
    if (const Json* v = find(key)) out = as_double(*v, key, source_);
  }
  void read(const std::string& key, bool& out) {
    if (const Json* v = find(key)) out = as_bool(*v, key, source_);
  }
  void read(const std::string& key, std::string& out) {
    if (const Json* v = find(key)) out = as_string(*v, key, source_);
  }
  // JSON null means "None" for these.
  void read(const std::string& key, std::optional<int64_t>& out) {
    if (const Json* v = find(key)) out = v->is_null() ? std::nullopt : std::optional<int64_t>(as_int(*v, key, source_));
  }
  void read(const std::string& key, std::optional<std::string>& out) {
    if (const Json* v = find(key)) {
      out = v->is_null() ? std::nullopt : std::optional<std::string>(as_string(*v, key, source_));
    }
  }

  // Keys nobody asked for, serialized, so they are written back unchanged.
  std::map<std::string, std::string> unconsumed() const {
    std::map<std::string, std::string> rest;
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (consumed_.count(it.key()) == 0) rest[it.key()] = it.value().dump();
    }
    return rest;
  }

 private:
  const Json& object_;
  std::string source_;
  std::set<std::string> consumed_;
};

// `where` names the file or call the count came from.
void check_num_labels(int64_t n, const std::string& where) {
  if (n < 0) throw Error(where + ": field 'num_labels' must not be negative, got " + std::to_string(n));
  if (n > RemBertConfig::kMaxNumLabels) {
    throw Error(where + ": field 'num_labels' is " + std::to_string(n) + ", more than the " +
                std::to_string(RemBertConfig::kMaxNumLabels) + " labels rembert.cpp accepts");
  }
}

std::map<int64_t, std::string> default_id2label(int64_t n) {
  std::map<int64_t, std::string> labels;
  for (int64_t i = 0; i < n; ++i) labels[i] = "LABEL_" + std::to_string(i);
  return labels;
}

std::map<std::string, int64_t> invert_labels(const std::map<int64_t, std::string>& id2label) {
  std::map<std::string, int64_t> label2id;
  for (const auto& [id, name] : id2label) label2id[name] = id;
  return label2id;
}

// id2label keys are strings in JSON ("0"); they must be whole decimal integers.
int64_t parse_label_id(const std::string& key, const std::string& source) {
  std::size_t used = 0;
  int64_t id = 0;
  bool ok = !key.empty();
  if (ok) {
    try {
      id = std::stoll(key, &used);
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok || used != key.size()) {
    throw Error(source + ": field 'id2label' has a key that is not an integer: \"" + key + "\"");
  }
  return id;
}

void read_labels(KeyReader& reader, RemBertConfig& config) {
  const std::string& source = reader.source();
  const Json* id2label = reader.find("id2label");
  const Json* label2id = reader.find("label2id");
  const Json* num_labels = reader.find("num_labels");
  if (id2label != nullptr && !id2label->is_null()) {
    if (!id2label->is_object()) throw_type_error(source, "id2label", "an object", *id2label);
    // id2label wins over a disagreeing num_labels (transformers only warns).
    if (num_labels != nullptr && !num_labels->is_null()) as_int(*num_labels, "num_labels", source);
    config.id2label.clear();
    for (auto it = id2label->begin(); it != id2label->end(); ++it) {
      config.id2label[parse_label_id(it.key(), source)] = as_string(it.value(), "id2label[\"" + it.key() + "\"]", source);
    }
    if (label2id != nullptr && !label2id->is_null()) {
      if (!label2id->is_object()) throw_type_error(source, "label2id", "an object", *label2id);
      config.label2id.clear();
      for (auto it = label2id->begin(); it != label2id->end(); ++it) {
        config.label2id[it.key()] = as_int(it.value(), "label2id[\"" + it.key() + "\"]", source);
      }
    } else {
      config.label2id = invert_labels(config.id2label);
    }
    return;
  }
  // Without id2label, transformers' num_labels setter regenerates both maps, discarding any label2id.
  int64_t n = 2;
  if (num_labels != nullptr && !num_labels->is_null()) n = as_int(*num_labels, "num_labels", source);
  check_num_labels(n, source);
  config.id2label = default_id2label(n);
  config.label2id = invert_labels(config.id2label);
}

void read_pruned_heads(KeyReader& reader, RemBertConfig& config) {
  const Json* pruned = reader.find("pruned_heads");
  if (pruned == nullptr || pruned->is_null()) return;
  const std::string& source = reader.source();
  if (!pruned->is_object()) throw_type_error(source, "pruned_heads", "an object", *pruned);
  for (auto it = pruned->begin(); it != pruned->end(); ++it) {
    std::size_t used = 0;
    int64_t layer = 0;
    try {
      layer = std::stoll(it.key(), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (it.key().empty() || used != it.key().size()) {
      throw Error(source + ": field 'pruned_heads' has a key that is not a layer index: \"" + it.key() + "\"");
    }
    const std::string field = "pruned_heads[\"" + it.key() + "\"]";
    if (!it.value().is_array()) throw_type_error(source, field, "a list of head indices", it.value());
    std::vector<int64_t> heads;
    for (const Json& head : it.value()) heads.push_back(as_int(head, field, source));
    config.pruned_heads[layer] = std::move(heads);
  }
}

void read_dtype(KeyReader& reader, RemBertConfig& config) {
  std::optional<std::string> torch_dtype;
  std::optional<std::string> dtype;
  reader.read("torch_dtype", torch_dtype);
  reader.read("dtype", dtype);  // transformers >= 4.56 name; it wins when both are given, as there
  std::optional<std::string> chosen = dtype ? dtype : torch_dtype;
  const std::string prefix = "torch.";
  if (chosen && chosen->compare(0, prefix.size(), prefix) == 0) chosen = chosen->substr(prefix.size());
  config.torch_dtype = chosen;
}

// The legacy google/rembert extras; a JSON null is kept verbatim in extra_json instead.
template <typename T>
void read_legacy(KeyReader& reader, const std::string& key, std::optional<T>& out, RemBertConfig& config) {
  const Json* v = reader.find(key);
  if (v == nullptr) return;
  if (v->is_null()) {
    config.extra_json[key] = "null";
  } else if constexpr (std::is_same_v<T, int64_t>) {
    out = as_int(*v, key, reader.source());
  } else {
    out = as_double(*v, key, reader.source());
  }
}

bool is_probability(double p) { return p >= 0.0 && p <= 1.0; }  // false for NaN

// ACT2FN's names and the function each stands for: the one list of them.
const std::map<std::string, kernels::Activation>& activation_names() {
  using kernels::Activation;
  static const std::map<std::string, Activation> kNames = {
      {"gelu", Activation::Gelu},           {"gelu_python", Activation::Gelu},
      {"gelu_new", Activation::GeluTanh},   {"gelu_pytorch_tanh", Activation::GeluTanh},
      {"gelu_fast", Activation::GeluTanh},  {"gelu_accurate", Activation::GeluTanh},
      {"quick_gelu", Activation::QuickGelu}, {"gelu_10", Activation::Gelu10},
      {"relu", Activation::Relu},           {"relu6", Activation::Relu6},
      {"silu", Activation::Silu},           {"swish", Activation::Silu},
      {"tanh", Activation::Tanh},           {"sigmoid", Activation::Sigmoid},
      {"mish", Activation::Mish},           {"leaky_relu", Activation::LeakyRelu},
      {"linear", Activation::Linear},       {"laplace", Activation::Laplace},
      {"relu2", Activation::Relu2}};
  return kNames;
}

}  // namespace

bool is_known_activation(const std::string& name) { return activation_names().count(name) != 0; }

kernels::Activation activation_from_hidden_act(const std::string& name) {
  const auto it = activation_names().find(name);
  if (it == activation_names().end()) throw Error("hidden_act \"" + name + "\" is not a known activation");
  return it->second;
}

void RemBertConfig::set_num_labels(int64_t n) {
  check_num_labels(n, "set_num_labels");
  // Like the transformers setter: existing labels are kept when the count already matches.
  if (num_labels() == n) return;
  id2label = default_id2label(n);
  label2id = invert_labels(id2label);
}

std::vector<int64_t> RemBertConfig::kept_heads(int64_t layer) const {
  std::set<int64_t> pruned;
  auto it = pruned_heads.find(layer);
  if (it != pruned_heads.end()) pruned.insert(it->second.begin(), it->second.end());
  std::vector<int64_t> kept;
  for (int64_t head = 0; head < num_attention_heads; ++head) {
    if (pruned.count(head) == 0) kept.push_back(head);
  }
  return kept;
}

void RemBertConfig::validate() const {
  if (model_type != "rembert") {
    throw Error("model_type must be \"rembert\", got \"" + model_type + "\"");
  }
  const std::pair<const char*, int64_t> positive_fields[] = {
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"input_embedding_size", input_embedding_size},
      {"output_embedding_size", output_embedding_size},
      {"intermediate_size", intermediate_size},
      {"max_position_embeddings", max_position_embeddings},
      {"type_vocab_size", type_vocab_size},
  };
  for (const auto& [name, value] : positive_fields) {
    if (value < 1) throw Error(std::string(name) + " must be positive, got " + std::to_string(value));
  }
  if (hidden_size % num_attention_heads != 0) {
    throw Error("hidden_size (" + std::to_string(hidden_size) + ") is not a multiple of num_attention_heads (" +
                std::to_string(num_attention_heads) + ")");
  }
  activation_from_hidden_act(hidden_act);  // throws naming hidden_act
  const std::pair<const char*, double> probabilities[] = {
      {"hidden_dropout_prob", hidden_dropout_prob},
      {"attention_probs_dropout_prob", attention_probs_dropout_prob},
      {"classifier_dropout_prob", classifier_dropout_prob},
  };
  for (const auto& [name, value] : probabilities) {
    if (!is_probability(value)) throw Error(std::string(name) + " must be in [0, 1], got " + std::to_string(value));
  }
  if (embedding_dropout_prob && !is_probability(*embedding_dropout_prob)) {
    throw Error("embedding_dropout_prob must be in [0, 1], got " + std::to_string(*embedding_dropout_prob));
  }
  if (!(layer_norm_eps > 0.0)) throw Error("layer_norm_eps must be positive, got " + std::to_string(layer_norm_eps));
  if (add_cross_attention && !is_decoder) {
    throw Error("add_cross_attention requires is_decoder: the model should be used as a decoder model if cross "
                "attention is added");
  }
  if (problem_type) {
    bool known = false;
    for (const char* name : kProblemTypes) known = known || *problem_type == name;
    if (!known) {
      throw Error("problem_type \"" + *problem_type +
                  "\" is not one of regression, single_label_classification, multi_label_classification");
    }
  }
  if (num_labels() < 1) throw Error("num_labels (id2label size) must be at least 1, got " + std::to_string(num_labels()));
  if (pad_token_id && (*pad_token_id < 0 || *pad_token_id >= vocab_size)) {
    throw Error("pad_token_id " + std::to_string(*pad_token_id) + " is outside [0, vocab_size=" +
                std::to_string(vocab_size) + ")");
  }
  for (const auto& [layer, heads] : pruned_heads) {
    if (layer < 0 || layer >= num_hidden_layers) {
      throw Error("pruned_heads: layer " + std::to_string(layer) + " is outside [0, num_hidden_layers=" +
                  std::to_string(num_hidden_layers) + ")");
    }
    for (int64_t head : heads) {
      if (head < 0 || head >= num_attention_heads) {
        throw Error("pruned_heads: head " + std::to_string(head) + " of layer " + std::to_string(layer) +
                    " is outside [0, num_attention_heads=" + std::to_string(num_attention_heads) + ")");
      }
    }
    if (kept_heads(layer).empty()) {
      throw Error("pruned_heads: every head of layer " + std::to_string(layer) + " is pruned");
    }
  }
  if (torch_dtype) {
    bool known = false;
    for (const char* name : kTorchDtypes) known = known || *torch_dtype == name;
    if (!known) {
      throw Error("torch_dtype \"" + *torch_dtype + "\" is not one of float32, float16, bfloat16, float64");
    }
  }
}

RemBertConfig RemBertConfig::from_json_string(const std::string& json_text, const std::string& source) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number too large (fuzz_config)
    throw Error(source + ": invalid JSON: " + e.what());
  }
  if (!root.is_object()) throw Error(source + ": expected a JSON object at the top level, got " + root.type_name());

  RemBertConfig config;
  KeyReader reader(root, source);
  reader.read("vocab_size", config.vocab_size);
  reader.read("hidden_size", config.hidden_size);
  reader.read("num_hidden_layers", config.num_hidden_layers);
  reader.read("num_attention_heads", config.num_attention_heads);
  reader.read("input_embedding_size", config.input_embedding_size);
  reader.read("output_embedding_size", config.output_embedding_size);
  reader.read("intermediate_size", config.intermediate_size);
  reader.read("hidden_act", config.hidden_act);
  reader.read("hidden_dropout_prob", config.hidden_dropout_prob);
  reader.read("attention_probs_dropout_prob", config.attention_probs_dropout_prob);
  reader.read("classifier_dropout_prob", config.classifier_dropout_prob);
  reader.read("max_position_embeddings", config.max_position_embeddings);
  reader.read("type_vocab_size", config.type_vocab_size);
  reader.read("initializer_range", config.initializer_range);
  reader.read("layer_norm_eps", config.layer_norm_eps);
  reader.read("use_cache", config.use_cache);
  reader.read("pad_token_id", config.pad_token_id);
  reader.read("bos_token_id", config.bos_token_id);
  reader.read("eos_token_id", config.eos_token_id);
  bool tie_word_embeddings = false;
  reader.read("tie_word_embeddings", tie_word_embeddings);  // type-checked, then ignored: RemBERT forces false
  config.tie_word_embeddings = false;

  reader.read("model_type", config.model_type);
  if (const Json* archs = reader.find("architectures"); archs != nullptr && !archs->is_null()) {
    if (!archs->is_array()) throw_type_error(source, "architectures", "a list of strings", *archs);
    for (const Json& name : *archs) config.architectures.push_back(as_string(name, "architectures", source));
  }
  read_labels(reader, config);
  reader.read("problem_type", config.problem_type);
  reader.read("is_decoder", config.is_decoder);
  reader.read("add_cross_attention", config.add_cross_attention);
  reader.read("chunk_size_feed_forward", config.chunk_size_feed_forward);
  reader.read("output_hidden_states", config.output_hidden_states);
  reader.read("output_attentions", config.output_attentions);
  reader.read("return_dict", config.return_dict);
  read_dtype(reader, config);
  read_pruned_heads(reader, config);
  reader.read("transformers_version", config.transformers_version);

  reader.read("max_length", config.max_length);
  reader.read("min_length", config.min_length);
  reader.read("do_sample", config.do_sample);
  reader.read("num_beams", config.num_beams);
  reader.read("temperature", config.temperature);
  reader.read("top_k", config.top_k);
  reader.read("top_p", config.top_p);

  read_legacy(reader, "embedding_size", config.embedding_size, config);
  read_legacy(reader, "embedding_dropout_prob", config.embedding_dropout_prob, config);

  for (auto& [key, text] : reader.unconsumed()) config.extra_json[key] = std::move(text);

  try {
    config.validate();
  } catch (const Error& e) {
    throw Error(source + ": " + e.what());
  }
  return config;
}

RemBertConfig RemBertConfig::from_json_file(const std::string& path) {
  return from_json_string(read_file(path, "config file"), path);
}

std::string RemBertConfig::to_json_string() const {
  Json out = Json::object();
  // Extras first, so a modelled field always wins over a stray duplicate.
  for (const auto& [key, text] : extra_json) {
    try {
      out[key] = Json::parse(text);
    } catch (const Json::exception& e) {
      throw Error("extra_json[\"" + key + "\"] is not valid JSON: " + e.what());
    }
  }
  auto optional_int = [](const std::optional<int64_t>& v) { return v ? Json(*v) : Json(nullptr); };

  // RemBERT keys: never equal to both the PretrainedConfig and the RemBertConfig defaults, so always written.
  out["vocab_size"] = vocab_size;
  out["hidden_size"] = hidden_size;
  out["num_hidden_layers"] = num_hidden_layers;
  out["num_attention_heads"] = num_attention_heads;
  out["input_embedding_size"] = input_embedding_size;
  out["output_embedding_size"] = output_embedding_size;
  out["intermediate_size"] = intermediate_size;
  out["hidden_act"] = hidden_act;
  out["hidden_dropout_prob"] = hidden_dropout_prob;
  out["attention_probs_dropout_prob"] = attention_probs_dropout_prob;
  out["classifier_dropout_prob"] = classifier_dropout_prob;
  out["max_position_embeddings"] = max_position_embeddings;
  out["type_vocab_size"] = type_vocab_size;
  out["initializer_range"] = initializer_range;
  out["layer_norm_eps"] = layer_norm_eps;
  out["use_cache"] = use_cache;
  out["pad_token_id"] = optional_int(pad_token_id);
  out["bos_token_id"] = optional_int(bos_token_id);
  out["eos_token_id"] = optional_int(eos_token_id);
  out["tie_word_embeddings"] = false;
  out["model_type"] = "rembert";

  if (!architectures.empty()) out["architectures"] = architectures;
  if (torch_dtype) out["torch_dtype"] = *torch_dtype;
  if (transformers_version) out["transformers_version"] = *transformers_version;

  // Inherited keys only when they differ from the PretrainedConfig defaults.
  if (id2label != default_id2label(2)) {
    Json labels = Json::object();
    for (const auto& [id, name] : id2label) labels[std::to_string(id)] = name;
    out["id2label"] = labels;
  }
  if (label2id != invert_labels(default_id2label(2))) out["label2id"] = label2id;
  if (problem_type) out["problem_type"] = *problem_type;
  if (is_decoder) out["is_decoder"] = true;
  if (add_cross_attention) out["add_cross_attention"] = true;
  if (chunk_size_feed_forward != 0) out["chunk_size_feed_forward"] = chunk_size_feed_forward;
  if (output_hidden_states) out["output_hidden_states"] = true;
  if (output_attentions) out["output_attentions"] = true;
  if (!return_dict) out["return_dict"] = false;
  if (!pruned_heads.empty()) {
    Json heads = Json::object();
    for (const auto& [layer, list] : pruned_heads) heads[std::to_string(layer)] = list;
    out["pruned_heads"] = heads;
  }
  if (max_length != 20) out["max_length"] = max_length;
  if (min_length != 0) out["min_length"] = min_length;
  if (do_sample) out["do_sample"] = true;
  if (num_beams != 1) out["num_beams"] = num_beams;
  if (temperature != 1.0) out["temperature"] = temperature;
  if (top_k != 50) out["top_k"] = top_k;
  if (top_p != 1.0) out["top_p"] = top_p;

  if (embedding_size) out["embedding_size"] = *embedding_size;
  if (embedding_dropout_prob) out["embedding_dropout_prob"] = *embedding_dropout_prob;

  // json.dumps(indent=2, sort_keys=True) escapes non-ASCII by default; nlohmann's object is already key-sorted.
  return out.dump(2, ' ', /*ensure_ascii=*/true) + "\n";
}

void RemBertConfig::to_json_file(const std::string& path) const {
  const std::string text = to_json_string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot open '" + path + "' for writing");
  out << text;
  out.flush();
  if (!out) throw Error("cannot write config file '" + path + "'");
}

}  // namespace rembert
