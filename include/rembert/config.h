// RemBertConfig: every field of Hugging Face's `config.json` for model_type "rembert", with the transformers
// defaults (v4 line), validation, and a writer that produces what `save_pretrained` writes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rembert {

struct RemBertConfig {
  // RemBERT-specific fields (SPEC §1.1), with the transformers defaults (= google/rembert).
  int64_t vocab_size = 250300;
  int64_t hidden_size = 1152;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 18;
  int64_t input_embedding_size = 256;
  int64_t output_embedding_size = 1664;
  int64_t intermediate_size = 4608;
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.0;
  double attention_probs_dropout_prob = 0.0;
  double classifier_dropout_prob = 0.1;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;
  bool use_cache = true;
  std::optional<int64_t> pad_token_id = 0;
  std::optional<int64_t> bos_token_id = 312;
  std::optional<int64_t> eos_token_id = 313;
  bool tie_word_embeddings = false;  // forced false by RemBertConfig, whatever the file says

  // Inherited PretrainedConfig fields (SPEC §1.2).
  std::string model_type = "rembert";
  std::vector<std::string> architectures;
  std::map<int64_t, std::string> id2label = {{0, "LABEL_0"}, {1, "LABEL_1"}};
  std::map<std::string, int64_t> label2id = {{"LABEL_0", 0}, {"LABEL_1", 1}};
  std::optional<std::string> problem_type;  // regression | single_label_classification | multi_label_classification
  bool is_decoder = false;
  bool add_cross_attention = false;
  int64_t chunk_size_feed_forward = 0;
  bool output_hidden_states = false;
  bool output_attentions = false;
  bool return_dict = true;
  std::optional<std::string> torch_dtype;  // "float32", "float16", "bfloat16"; read from "torch_dtype" or "dtype"
  std::map<int64_t, std::vector<int64_t>> pruned_heads;  // layer -> pruned head indices
  std::optional<std::string> transformers_version;

  // Legacy generation defaults of PretrainedConfig (seed the generation config).
  int64_t max_length = 20;
  int64_t min_length = 0;
  bool do_sample = false;
  int64_t num_beams = 1;
  double temperature = 1.0;
  int64_t top_k = 50;
  double top_p = 1.0;

  // Legacy extras of the google/rembert config, kept as plain attributes.
  std::optional<int64_t> embedding_size;
  std::optional<double> embedding_dropout_prob;

  // Every other key of the file, as its serialized JSON text, so that writing the config back loses nothing.
  std::map<std::string, std::string> extra_json;

  // Each label is an entry of id2label and label2id, built when the config is read: a bound keeps a hostile
  // config.json ("num_labels": 1e9) from exhausting memory. Far above any classification head we know of.
  static constexpr int64_t kMaxNumLabels = 65536;
  int64_t num_labels() const { return static_cast<int64_t>(id2label.size()); }
  // Sets id2label/label2id to LABEL_0..LABEL_{n-1}, as PretrainedConfig.num_labels = n does.
  // Throws rembert::Error when n is negative or above kMaxNumLabels.
  void set_num_labels(int64_t n);
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Heads kept in `layer` after pruning.
  std::vector<int64_t> kept_heads(int64_t layer) const;

  // Throws rembert::Error naming the offending field.
  void validate() const;

  // Parses config.json text / file; `source` names the file in error messages. Validates.
  static RemBertConfig from_json_string(const std::string& json_text, const std::string& source = "config.json");
  static RemBertConfig from_json_file(const std::string& path);
  // save_pretrained's layout: sorted keys, indent 2; the RemBERT keys always, inherited keys when they differ
  // from the PretrainedConfig defaults, plus architectures/model_type/torch_dtype/transformers_version.
  std::string to_json_string() const;
  void to_json_file(const std::string& path) const;
};

// Names of activations that ACT2FN accepts (SPEC §2.5).
bool is_known_activation(const std::string& name);

}  // namespace rembert
