// Tests for RemBertConfig: defaults, parsing of the fixture configs, writing like save_pretrained, validation.
#include "rembert/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hidden_act.h"
#include "rembert/error.h"
#include "test_util.h"

namespace {

using rembert::testing::error_message;
using rembert::testing::read_file;

using rembert::Error;
using rembert::RemBertConfig;
using Json = nlohmann::json;

const std::vector<std::string> kFixtureModels = {
    "base", "base_bf16", "base_dropout_cfg", "clm", "decoder_xattn", "mc", "mlm",
    "mlm_sharded", "qa", "seqcls", "seqcls_fp16", "seqcls_multilabel", "seqcls_regression", "tokcls"};

std::string fixture_config_path(const std::string& model) {
  return std::string(REMBERT_FIXTURES_DIR) + "/models/" + model + "/config.json";
}

RemBertConfig parse(const std::string& text) { return RemBertConfig::from_json_string(text, "test.json"); }

// Parses `{"model_type":"rembert", <fields>}`.
RemBertConfig parse_with(const std::string& fields) {
  return parse(R"({"model_type": "rembert", )" + fields + "}");
}

void expect_validate_error(const RemBertConfig& config, const std::string& field) {
  EXPECT_THROW(config.validate(), Error) << field;
  EXPECT_NE(error_message([&] { config.validate(); }).find(field), std::string::npos)
      << "message should name " << field;
}

void expect_parse_error(const std::string& fields, const std::string& field) {
  const std::string message = error_message([&] { parse_with(fields); });
  EXPECT_NE(message.find(field), std::string::npos) << "message '" << message << "' should name " << field;
  EXPECT_NE(message.find("test.json"), std::string::npos) << "message '" << message << "' should name the source";
}

void expect_same_config(const RemBertConfig& a, const RemBertConfig& b) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.input_embedding_size, b.input_embedding_size);
  EXPECT_EQ(a.output_embedding_size, b.output_embedding_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.hidden_act, b.hidden_act);
  EXPECT_EQ(a.hidden_dropout_prob, b.hidden_dropout_prob);
  EXPECT_EQ(a.attention_probs_dropout_prob, b.attention_probs_dropout_prob);
  EXPECT_EQ(a.classifier_dropout_prob, b.classifier_dropout_prob);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.type_vocab_size, b.type_vocab_size);
  EXPECT_EQ(a.initializer_range, b.initializer_range);
  EXPECT_EQ(a.layer_norm_eps, b.layer_norm_eps);
  EXPECT_EQ(a.use_cache, b.use_cache);
  EXPECT_EQ(a.pad_token_id, b.pad_token_id);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_id, b.eos_token_id);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.architectures, b.architectures);
  EXPECT_EQ(a.id2label, b.id2label);
  EXPECT_EQ(a.label2id, b.label2id);
  EXPECT_EQ(a.problem_type, b.problem_type);
  EXPECT_EQ(a.is_decoder, b.is_decoder);
  EXPECT_EQ(a.add_cross_attention, b.add_cross_attention);
  EXPECT_EQ(a.chunk_size_feed_forward, b.chunk_size_feed_forward);
  EXPECT_EQ(a.output_hidden_states, b.output_hidden_states);
  EXPECT_EQ(a.output_attentions, b.output_attentions);
  EXPECT_EQ(a.return_dict, b.return_dict);
  EXPECT_EQ(a.torch_dtype, b.torch_dtype);
  EXPECT_EQ(a.pruned_heads, b.pruned_heads);
  EXPECT_EQ(a.transformers_version, b.transformers_version);
  EXPECT_EQ(a.max_length, b.max_length);
  EXPECT_EQ(a.min_length, b.min_length);
  EXPECT_EQ(a.do_sample, b.do_sample);
  EXPECT_EQ(a.num_beams, b.num_beams);
  EXPECT_EQ(a.temperature, b.temperature);
  EXPECT_EQ(a.top_k, b.top_k);
  EXPECT_EQ(a.top_p, b.top_p);
  EXPECT_EQ(a.embedding_size, b.embedding_size);
  EXPECT_EQ(a.embedding_dropout_prob, b.embedding_dropout_prob);
  EXPECT_EQ(a.extra_json, b.extra_json);
}

// A small valid config to break one field at a time.
RemBertConfig small_config() {
  return parse_with(R"("vocab_size": 100, "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 2,
                       "input_embedding_size": 4, "output_embedding_size": 6, "intermediate_size": 16,
                       "max_position_embeddings": 32, "pad_token_id": 0)");
}

// ---------------------------------------------------------------------------------------------------------------
// Defaults

TEST(ConfigDefaults, EmptyObjectHasSpecValues) {
  const RemBertConfig c = parse(R"({"model_type":"rembert"})");
  // SPEC §1.1
  EXPECT_EQ(c.vocab_size, 250300);
  EXPECT_EQ(c.hidden_size, 1152);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 18);
  EXPECT_EQ(c.head_dim(), 64);
  EXPECT_EQ(c.input_embedding_size, 256);
  EXPECT_EQ(c.output_embedding_size, 1664);
  EXPECT_EQ(c.intermediate_size, 4608);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_EQ(c.hidden_dropout_prob, 0.0);
  EXPECT_EQ(c.attention_probs_dropout_prob, 0.0);
  EXPECT_EQ(c.classifier_dropout_prob, 0.1);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_EQ(c.type_vocab_size, 2);
  EXPECT_EQ(c.initializer_range, 0.02);
  EXPECT_EQ(c.layer_norm_eps, 1e-12);
  EXPECT_TRUE(c.use_cache);
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_EQ(c.bos_token_id, 312);
  EXPECT_EQ(c.eos_token_id, 313);
  EXPECT_FALSE(c.tie_word_embeddings);
  // SPEC §1.2
  EXPECT_EQ(c.model_type, "rembert");
  EXPECT_TRUE(c.architectures.empty());
  EXPECT_EQ(c.num_labels(), 2);
  EXPECT_EQ(c.id2label, (std::map<int64_t, std::string>{{0, "LABEL_0"}, {1, "LABEL_1"}}));
  EXPECT_EQ(c.label2id, (std::map<std::string, int64_t>{{"LABEL_0", 0}, {"LABEL_1", 1}}));
  EXPECT_FALSE(c.problem_type.has_value());
  EXPECT_FALSE(c.is_decoder);
  EXPECT_FALSE(c.add_cross_attention);
  EXPECT_EQ(c.chunk_size_feed_forward, 0);
  EXPECT_FALSE(c.output_hidden_states);
  EXPECT_FALSE(c.output_attentions);
  EXPECT_TRUE(c.return_dict);
  EXPECT_FALSE(c.torch_dtype.has_value());
  EXPECT_TRUE(c.pruned_heads.empty());
  EXPECT_FALSE(c.transformers_version.has_value());
  EXPECT_EQ(c.max_length, 20);
  EXPECT_EQ(c.min_length, 0);
  EXPECT_FALSE(c.do_sample);
  EXPECT_EQ(c.num_beams, 1);
  EXPECT_EQ(c.temperature, 1.0);
  EXPECT_EQ(c.top_k, 50);
  EXPECT_EQ(c.top_p, 1.0);
  EXPECT_FALSE(c.embedding_size.has_value());
  EXPECT_FALSE(c.embedding_dropout_prob.has_value());
  EXPECT_TRUE(c.extra_json.empty());
}

TEST(ConfigDefaults, EmptyObjectWithoutModelTypeDefaultsToRembert) {
  EXPECT_EQ(parse("{}").model_type, "rembert");
}

TEST(ConfigDefaults, DefaultConstructedIsValid) { EXPECT_NO_THROW(RemBertConfig().validate()); }

// ---------------------------------------------------------------------------------------------------------------
// Fixture configs

TEST(ConfigFixtures, BaseValues) {
  const RemBertConfig c = RemBertConfig::from_json_file(fixture_config_path("base"));
  EXPECT_EQ(c.architectures, std::vector<std::string>{"RemBertModel"});
  EXPECT_EQ(c.vocab_size, 2000);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_hidden_layers, 3);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.head_dim(), 16);
  EXPECT_EQ(c.input_embedding_size, 32);
  EXPECT_EQ(c.output_embedding_size, 48);
  EXPECT_EQ(c.intermediate_size, 128);
  EXPECT_EQ(c.max_position_embeddings, 64);
  EXPECT_EQ(c.initializer_range, 0.1);
  EXPECT_EQ(c.layer_norm_eps, 1e-12);
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_EQ(c.bos_token_id, 2);
  EXPECT_EQ(c.eos_token_id, 3);
  EXPECT_EQ(c.torch_dtype, "float32");
  EXPECT_EQ(c.transformers_version, "4.55.0");
  EXPECT_EQ(c.num_labels(), 2);
  EXPECT_FALSE(c.is_decoder);
  EXPECT_TRUE(c.extra_json.empty());
}

TEST(ConfigFixtures, TokenClassificationLabelNames) {
  const RemBertConfig c = RemBertConfig::from_json_file(fixture_config_path("tokcls"));
  EXPECT_EQ(c.architectures, std::vector<std::string>{"RemBertForTokenClassification"});
  EXPECT_EQ(c.num_labels(), 5);
  EXPECT_EQ(c.id2label, (std::map<int64_t, std::string>{
                            {0, "O"}, {1, "B-PER"}, {2, "I-PER"}, {3, "B-LOC"}, {4, "I-LOC"}}));
  EXPECT_EQ(c.label2id.at("B-LOC"), 3);
  EXPECT_EQ(c.label2id.at("O"), 0);
}

TEST(ConfigFixtures, SequenceClassificationVariants) {
  const RemBertConfig seqcls = RemBertConfig::from_json_file(fixture_config_path("seqcls"));
  EXPECT_EQ(seqcls.num_labels(), 3);
  EXPECT_EQ(seqcls.id2label.at(2), "LABEL_2");
  EXPECT_FALSE(seqcls.problem_type.has_value());

  const RemBertConfig regression = RemBertConfig::from_json_file(fixture_config_path("seqcls_regression"));
  EXPECT_EQ(regression.num_labels(), 1);
  EXPECT_EQ(regression.label2id, (std::map<std::string, int64_t>{{"LABEL_0", 0}}));

  const RemBertConfig multilabel = RemBertConfig::from_json_file(fixture_config_path("seqcls_multilabel"));
  EXPECT_EQ(multilabel.num_labels(), 4);
  EXPECT_EQ(multilabel.problem_type, "multi_label_classification");

  const RemBertConfig fp16 = RemBertConfig::from_json_file(fixture_config_path("seqcls_fp16"));
  EXPECT_EQ(fp16.torch_dtype, "float16");
  EXPECT_EQ(fp16.num_labels(), 3);
}

TEST(ConfigFixtures, DecoderFlags) {
  const RemBertConfig xattn = RemBertConfig::from_json_file(fixture_config_path("decoder_xattn"));
  EXPECT_TRUE(xattn.is_decoder);
  EXPECT_TRUE(xattn.add_cross_attention);
  EXPECT_TRUE(xattn.use_cache);

  const RemBertConfig clm = RemBertConfig::from_json_file(fixture_config_path("clm"));
  EXPECT_TRUE(clm.is_decoder);
  EXPECT_FALSE(clm.add_cross_attention);
  EXPECT_EQ(clm.architectures, std::vector<std::string>{"RemBertForCausalLM"});
}

TEST(ConfigFixtures, DtypesAndDropout) {
  EXPECT_EQ(RemBertConfig::from_json_file(fixture_config_path("base_bf16")).torch_dtype, "bfloat16");
  const RemBertConfig dropout = RemBertConfig::from_json_file(fixture_config_path("base_dropout_cfg"));
  EXPECT_EQ(dropout.hidden_dropout_prob, 0.1);
  EXPECT_EQ(dropout.attention_probs_dropout_prob, 0.1);
  EXPECT_EQ(RemBertConfig::from_json_file(fixture_config_path("mlm")).architectures,
            std::vector<std::string>{"RemBertForMaskedLM"});
  EXPECT_EQ(RemBertConfig::from_json_file(fixture_config_path("qa")).num_labels(), 2);
  EXPECT_EQ(RemBertConfig::from_json_file(fixture_config_path("mc")).architectures,
            std::vector<std::string>{"RemBertForMultipleChoice"});
}

TEST(ConfigFixtures, EveryFixtureRoundTrips) {
  for (const std::string& model : kFixtureModels) {
    SCOPED_TRACE(model);
    const RemBertConfig first = RemBertConfig::from_json_file(fixture_config_path(model));
    const RemBertConfig second = RemBertConfig::from_json_string(first.to_json_string(), model);
    expect_same_config(first, second);
    EXPECT_EQ(first.to_json_string(), second.to_json_string());
  }
}

// The fixtures were written by save_pretrained, so writing them back must give the same JSON value.
TEST(ConfigFixtures, WrittenJsonEqualsSavePretrainedOutput) {
  for (const std::string& model : kFixtureModels) {
    SCOPED_TRACE(model);
    const std::string path = fixture_config_path(model);
    const std::string written = RemBertConfig::from_json_file(path).to_json_string();
    EXPECT_EQ(Json::parse(written), Json::parse(read_file(path)));
  }
}

// Same layout as json.dumps(indent=2, sort_keys=True) + "\n": for base the text matches byte for byte.
TEST(ConfigFixtures, BaseWrittenTextMatchesFile) {
  const std::string path = fixture_config_path("base");
  std::string expected = read_file(path);
  if (expected.empty() || expected.back() != '\n') expected += '\n';  // the file may lack the final newline
  EXPECT_EQ(RemBertConfig::from_json_file(path).to_json_string(), expected);
}

TEST(ConfigFixtures, GoogleRembertConfig) {
  const RemBertConfig c = RemBertConfig::from_json_file(std::string(REMBERT_SOURCE_DIR) + "/configs/google-rembert.json");
  EXPECT_EQ(c.architectures, std::vector<std::string>{"RemBertModel"});
  EXPECT_EQ(c.embedding_size, 256);
  EXPECT_EQ(c.embedding_dropout_prob, 0.0);
  EXPECT_EQ(c.vocab_size, 250300);
  EXPECT_EQ(c.hidden_size, 1152);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 18);
  EXPECT_EQ(c.output_embedding_size, 1664);
  EXPECT_EQ(c.bos_token_id, 312);
  EXPECT_EQ(c.eos_token_id, 313);
  EXPECT_EQ(c.torch_dtype, "float32");
  EXPECT_FALSE(c.transformers_version.has_value());
  EXPECT_TRUE(c.extra_json.empty());
  // The hub file writes dropout as integer 0; it comes back as 0.0, the same JSON number.
  EXPECT_EQ(Json::parse(c.to_json_string()),
            Json::parse(read_file(std::string(REMBERT_SOURCE_DIR) + "/configs/google-rembert.json")));
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing details

TEST(ConfigParse, DtypeKeyAcceptedLikeTorchDtype) {
  EXPECT_EQ(parse_with(R"("dtype": "bfloat16")").torch_dtype, "bfloat16");
  // Newer transformers: `dtype` wins over `torch_dtype`.
  EXPECT_EQ(parse_with(R"("dtype": "float16", "torch_dtype": "float32")").torch_dtype, "float16");
  EXPECT_EQ(parse_with(R"("torch_dtype": "torch.float32")").torch_dtype, "float32");
  EXPECT_EQ(parse_with(R"("dtype": "torch.bfloat16")").torch_dtype, "bfloat16");
  EXPECT_FALSE(parse_with(R"("torch_dtype": null)").torch_dtype.has_value());
  // Written back under the torch_dtype name; `dtype` is not kept as an extra key.
  const Json written = Json::parse(parse_with(R"("dtype": "float16")").to_json_string());
  EXPECT_EQ(written.at("torch_dtype"), "float16");
  EXPECT_FALSE(written.contains("dtype"));
}

TEST(ConfigParse, NullTokenIdsAndProblemType) {
  const RemBertConfig c =
      parse_with(R"("pad_token_id": null, "bos_token_id": null, "eos_token_id": null, "problem_type": null)");
  EXPECT_FALSE(c.pad_token_id.has_value());
  EXPECT_FALSE(c.bos_token_id.has_value());
  EXPECT_FALSE(c.eos_token_id.has_value());
  EXPECT_FALSE(c.problem_type.has_value());
  // RemBERT-specific keys are always written, as null when unset.
  const Json written = Json::parse(c.to_json_string());
  EXPECT_TRUE(written.at("pad_token_id").is_null());
  EXPECT_TRUE(written.at("eos_token_id").is_null());
  EXPECT_FALSE(written.contains("problem_type"));
}

TEST(ConfigParse, NumLabelsWithoutId2LabelGeneratesNames) {
  const RemBertConfig c = parse_with(R"("num_labels": 3)");
  EXPECT_EQ(c.num_labels(), 3);
  EXPECT_EQ(c.id2label.at(2), "LABEL_2");
  EXPECT_EQ(c.label2id.at("LABEL_1"), 1);
  EXPECT_FALSE(c.extra_json.count("num_labels"));
}

// A hostile num_labels must be refused before any label is built (the fuzzer's
// regressions/config/num_labels_289665 spent 15 s building names; 1e9 would exhaust memory).
TEST(ConfigParse, NumLabelsAboveTheBoundIsRefused) {
  EXPECT_EQ(parse_with(R"("num_labels": 65536)").num_labels(), 65536);
  EXPECT_EQ(RemBertConfig::kMaxNumLabels, 65536);
  expect_parse_error(R"("num_labels": 65537)", "num_labels");
  expect_parse_error(R"("num_labels": 1000000000)", "num_labels");
  expect_parse_error(R"("num_labels": -1)", "num_labels");
  RemBertConfig c;
  EXPECT_THROW(c.set_num_labels(65537), Error);
  EXPECT_EQ(c.num_labels(), 2) << "a refused count leaves the labels as they were";
}

TEST(ConfigParse, Id2LabelWinsOverNumLabels) {
  const RemBertConfig c = parse_with(R"("num_labels": 5, "id2label": {"0": "neg", "1": "pos", "2": "neutral"})");
  EXPECT_EQ(c.num_labels(), 3);
  EXPECT_EQ(c.id2label.at(1), "pos");
}

TEST(ConfigParse, Label2IdDerivedFromId2Label) {
  const RemBertConfig c = parse_with(R"("id2label": {"0": "neg", "1": "pos", "10": "x"})");
  EXPECT_EQ(c.label2id, (std::map<std::string, int64_t>{{"neg", 0}, {"pos", 1}, {"x", 10}}));
  EXPECT_EQ(c.id2label.at(10), "x");
}

TEST(ConfigParse, PrunedHeadsKeysAreLayers) {
  const RemBertConfig c = parse_with(R"("num_attention_heads": 4, "hidden_size": 64, "num_hidden_layers": 3,
                                        "pruned_heads": {"0": [2, 0], "2": [3]})");
  EXPECT_EQ(c.pruned_heads.at(0), (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(c.pruned_heads.at(2), (std::vector<int64_t>{3}));
  EXPECT_EQ(c.kept_heads(0), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(c.kept_heads(1), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(c.kept_heads(2), (std::vector<int64_t>{0, 1, 2}));
  const Json written = Json::parse(c.to_json_string());
  EXPECT_EQ(written.at("pruned_heads"), Json::parse(R"({"0": [2, 0], "2": [3]})"));
}

TEST(ConfigParse, TieWordEmbeddingsForcedFalse) {
  const RemBertConfig c = parse_with(R"("tie_word_embeddings": true)");
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(Json::parse(c.to_json_string()).at("tie_word_embeddings"), false);
}

TEST(ConfigParse, InheritedFieldsRead) {
  const RemBertConfig c = parse_with(R"("chunk_size_feed_forward": 4, "output_hidden_states": true,
      "output_attentions": true, "return_dict": false, "max_length": 64, "min_length": 2, "do_sample": true,
      "num_beams": 4, "temperature": 0.7, "top_k": 10, "top_p": 0.9)");
  EXPECT_EQ(c.chunk_size_feed_forward, 4);
  EXPECT_TRUE(c.output_hidden_states);
  EXPECT_TRUE(c.output_attentions);
  EXPECT_FALSE(c.return_dict);
  EXPECT_EQ(c.max_length, 64);
  EXPECT_EQ(c.min_length, 2);
  EXPECT_TRUE(c.do_sample);
  EXPECT_EQ(c.num_beams, 4);
  EXPECT_EQ(c.temperature, 0.7);
  EXPECT_EQ(c.top_k, 10);
  EXPECT_EQ(c.top_p, 0.9);
  EXPECT_TRUE(c.extra_json.empty());
  // Non-default inherited values are written back.
  const RemBertConfig again = RemBertConfig::from_json_string(c.to_json_string(), "again");
  expect_same_config(c, again);
}

TEST(ConfigParse, UnknownKeysSurviveRoundTrip) {
  const std::string extras = R"("finetuning_task": "mnli", "tokenizer_class": "RemBertTokenizer",
      "decoder_start_token_id": null, "sep_token_id": 313, "output_past": true, "gradient_checkpointing": false,
      "task_specific_params": {"summarization": {"num_beams": 4, "length_penalty": 2.0}},
      "some_list": [1, 2.5, "x"], "some_float": 0.1)";
  const RemBertConfig c = parse_with(extras);
  EXPECT_EQ(c.extra_json.size(), 9u);
  EXPECT_EQ(c.extra_json.at("finetuning_task"), "\"mnli\"");
  EXPECT_EQ(c.extra_json.at("decoder_start_token_id"), "null");
  const Json written = Json::parse(c.to_json_string());
  const Json original = Json::parse("{" + extras + "}");
  for (auto it = original.begin(); it != original.end(); ++it) {
    SCOPED_TRACE(it.key());
    ASSERT_TRUE(written.contains(it.key()));
    EXPECT_EQ(written.at(it.key()), it.value());
  }
  expect_same_config(c, RemBertConfig::from_json_string(c.to_json_string(), "again"));
}

TEST(ConfigParse, LegacyExtrasKept) {
  const RemBertConfig c = parse_with(R"("embedding_size": 256, "embedding_dropout_prob": 0.0)");
  EXPECT_EQ(c.embedding_size, 256);
  EXPECT_EQ(c.embedding_dropout_prob, 0.0);
  const Json written = Json::parse(c.to_json_string());
  EXPECT_EQ(written.at("embedding_size"), 256);
  EXPECT_TRUE(written.at("embedding_dropout_prob").is_number_float());
  EXPECT_FALSE(Json::parse(RemBertConfig().to_json_string()).contains("embedding_size"));
}

TEST(ConfigParse, NullLegacyExtraWrittenBackAsNull) {
  const RemBertConfig c = parse_with(R"("embedding_size": null)");
  EXPECT_FALSE(c.embedding_size.has_value());
  EXPECT_TRUE(Json::parse(c.to_json_string()).at("embedding_size").is_null());
}

TEST(ConfigParse, IntegerAcceptedWhereFloatExpected) {
  const RemBertConfig c = parse_with(R"("hidden_dropout_prob": 0, "layer_norm_eps": 1)");
  EXPECT_EQ(c.hidden_dropout_prob, 0.0);
  EXPECT_EQ(c.layer_norm_eps, 1.0);
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

TEST(ConfigWrite, FloatsRoundTripAndStayFloats) {
  const std::string text = parse_with(R"("hidden_dropout_prob": 0.0, "classifier_dropout_prob": 0.1,
                                          "layer_norm_eps": 1e-12, "initializer_range": 0.02)")
                               .to_json_string();
  EXPECT_NE(text.find("\"hidden_dropout_prob\": 0.0,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"classifier_dropout_prob\": 0.1,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"layer_norm_eps\": 1e-12,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"initializer_range\": 0.02,"), std::string::npos) << text;
}

TEST(ConfigWrite, SortedKeysIndentTwoTrailingNewline) {
  const std::string text = RemBertConfig().to_json_string();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.rfind("{\n  \"", 0), 0u) << text;
  // Keys appear in sorted order.
  const Json value = Json::parse(text);
  std::size_t last = 0;
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::size_t at = text.find("\"" + it.key() + "\":");
    ASSERT_NE(at, std::string::npos);
    EXPECT_GT(at, last);
    last = at;
  }
}

TEST(ConfigWrite, DefaultInheritedKeysOmitted) {
  const Json written = Json::parse(RemBertConfig().to_json_string());
  for (const char* key : {"id2label", "label2id", "problem_type", "is_decoder", "add_cross_attention",
                          "chunk_size_feed_forward", "output_hidden_states", "output_attentions", "return_dict",
                          "pruned_heads", "max_length", "num_beams", "temperature", "top_k", "top_p",
                          "architectures", "torch_dtype", "transformers_version", "embedding_size"}) {
    EXPECT_FALSE(written.contains(key)) << key;
  }
  for (const char* key : {"vocab_size", "hidden_act", "use_cache", "pad_token_id", "bos_token_id", "eos_token_id",
                          "tie_word_embeddings", "model_type", "layer_norm_eps", "classifier_dropout_prob"}) {
    EXPECT_TRUE(written.contains(key)) << key;
  }
}

TEST(ConfigWrite, LabelsWrittenWhenNotDefault) {
  RemBertConfig c;
  c.id2label = {{0, "neg"}, {1, "pos"}};
  c.label2id = {{"neg", 0}, {"pos", 1}};
  Json written = Json::parse(c.to_json_string());
  EXPECT_EQ(written.at("id2label"), Json::parse(R"({"0": "neg", "1": "pos"})"));
  EXPECT_EQ(written.at("label2id"), Json::parse(R"({"neg": 0, "pos": 1})"));

  c.set_num_labels(3);
  written = Json::parse(c.to_json_string());
  EXPECT_EQ(written.at("id2label").size(), 3u);
  EXPECT_EQ(written.at("id2label").at("2"), "LABEL_2");
}

TEST(ConfigWrite, NonAsciiEscapedLikePython) {
  RemBertConfig c;
  c.id2label = {{0, "n\xc3\xa9g"}, {1, "pos"}};
  c.label2id = {{"n\xc3\xa9g", 0}, {"pos", 1}};
  const std::string text = c.to_json_string();
  EXPECT_NE(text.find("\"n\\u00e9g\""), std::string::npos) << text;
  EXPECT_EQ(RemBertConfig::from_json_string(text, "again").id2label.at(0), "n\xc3\xa9g");
}

TEST(ConfigWrite, ToJsonFileWritesAndReadsBack) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() / "rembert_config_test_write.json";
  RemBertConfig c = small_config();
  c.problem_type = "regression";
  c.set_num_labels(1);
  c.to_json_file(path.string());
  expect_same_config(c, RemBertConfig::from_json_file(path.string()));
  std::filesystem::remove(path);
}

// ---------------------------------------------------------------------------------------------------------------
// Labels and heads helpers

TEST(ConfigLabels, SetNumLabelsRegeneratesNames) {
  RemBertConfig c;
  c.set_num_labels(4);
  EXPECT_EQ(c.num_labels(), 4);
  EXPECT_EQ(c.id2label.at(3), "LABEL_3");
  EXPECT_EQ(c.label2id.at("LABEL_3"), 3);
  c.set_num_labels(1);
  EXPECT_EQ(c.id2label, (std::map<int64_t, std::string>{{0, "LABEL_0"}}));
  EXPECT_EQ(c.label2id, (std::map<std::string, int64_t>{{"LABEL_0", 0}}));
  EXPECT_THROW(c.set_num_labels(-1), Error);
}

TEST(ConfigLabels, SetNumLabelsKeepsNamesWhenCountMatches) {
  RemBertConfig c;
  c.id2label = {{0, "neg"}, {1, "pos"}};
  c.label2id = {{"neg", 0}, {"pos", 1}};
  c.set_num_labels(2);  // transformers' setter only regenerates when the count changes
  EXPECT_EQ(c.id2label.at(1), "pos");
}

TEST(ConfigHeads, KeptHeadsWithoutPruning) {
  const RemBertConfig c = small_config();
  EXPECT_EQ(c.kept_heads(0), (std::vector<int64_t>{0, 1}));
}

// ---------------------------------------------------------------------------------------------------------------
// Validation

TEST(ConfigValidate, SmallConfigIsValid) { EXPECT_NO_THROW(small_config().validate()); }

TEST(ConfigValidate, ModelType) {
  RemBertConfig c = small_config();
  c.model_type = "bert";
  expect_validate_error(c, "model_type");
  expect_parse_error(R"("model_type": "bert")", "model_type");
}

TEST(ConfigValidate, SizesMustBePositive) {
  const std::vector<std::pair<std::string, int64_t RemBertConfig::*>> fields = {
      {"vocab_size", &RemBertConfig::vocab_size},
      {"hidden_size", &RemBertConfig::hidden_size},
      {"num_hidden_layers", &RemBertConfig::num_hidden_layers},
      {"num_attention_heads", &RemBertConfig::num_attention_heads},
      {"input_embedding_size", &RemBertConfig::input_embedding_size},
      {"output_embedding_size", &RemBertConfig::output_embedding_size},
      {"intermediate_size", &RemBertConfig::intermediate_size},
      {"max_position_embeddings", &RemBertConfig::max_position_embeddings},
      {"type_vocab_size", &RemBertConfig::type_vocab_size},
  };
  for (const auto& [name, member] : fields) {
    SCOPED_TRACE(name);
    for (int64_t bad : {int64_t{0}, int64_t{-3}}) {
      RemBertConfig c = small_config();
      c.*member = bad;
      expect_validate_error(c, name);
    }
  }
  expect_parse_error(R"("num_hidden_layers": 0)", "num_hidden_layers");
}

TEST(ConfigValidate, HiddenSizeDivisibleByHeads) {
  RemBertConfig c = small_config();
  c.hidden_size = 10;
  c.num_attention_heads = 4;
  expect_validate_error(c, "hidden_size");
  expect_validate_error(c, "num_attention_heads");
}

TEST(ConfigValidate, UnknownActivation) {
  RemBertConfig c = small_config();
  c.hidden_act = "gelu_fancy";
  expect_validate_error(c, "hidden_act");
  for (const char* name : {"gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "quick_gelu", "gelu_10",
                           "gelu_accurate", "gelu_python", "relu", "relu6", "silu", "swish", "tanh", "sigmoid",
                           "mish", "leaky_relu", "linear", "laplace", "relu2"}) {
    EXPECT_TRUE(rembert::is_known_activation(name)) << name;
    c.hidden_act = name;
    EXPECT_NO_THROW(c.validate()) << name;
  }
  EXPECT_FALSE(rembert::is_known_activation("GELU"));
  EXPECT_FALSE(rembert::is_known_activation(""));
}

// The config owns ACT2FN's names; the kernels see only the function each name stands for.
TEST(ConfigValidate, HiddenActNamesMapToTheKernelsFunctions) {
  using rembert::kernels::Activation;
  const std::pair<const char*, Activation> names[] = {
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
  for (const auto& [name, function] : names) EXPECT_EQ(rembert::activation_from_hidden_act(name), function) << name;
  for (const char* unknown : {"GELU", "", "gelu_fancy"}) {
    const std::string message = error_message([&] { rembert::activation_from_hidden_act(unknown); });
    EXPECT_NE(message.find("hidden_act"), std::string::npos) << message;
    EXPECT_NE(message.find(std::string("\"") + unknown + "\""), std::string::npos) << message;
  }
}

TEST(ConfigValidate, DropoutProbabilitiesInUnitInterval) {
  const std::vector<std::pair<std::string, double RemBertConfig::*>> fields = {
      {"hidden_dropout_prob", &RemBertConfig::hidden_dropout_prob},
      {"attention_probs_dropout_prob", &RemBertConfig::attention_probs_dropout_prob},
      {"classifier_dropout_prob", &RemBertConfig::classifier_dropout_prob},
  };
  for (const auto& [name, member] : fields) {
    SCOPED_TRACE(name);
    for (double bad : {-0.1, 1.5, std::nan("")}) {
      RemBertConfig c = small_config();
      c.*member = bad;
      expect_validate_error(c, name);
    }
    RemBertConfig edge = small_config();
    edge.*member = 1.0;
    EXPECT_NO_THROW(edge.validate());
  }
  RemBertConfig c = small_config();
  c.embedding_dropout_prob = 2.0;
  expect_validate_error(c, "embedding_dropout_prob");
}

TEST(ConfigValidate, LayerNormEpsPositive) {
  for (double bad : {0.0, -1e-12}) {
    RemBertConfig c = small_config();
    c.layer_norm_eps = bad;
    expect_validate_error(c, "layer_norm_eps");
  }
}

TEST(ConfigValidate, CrossAttentionRequiresDecoder) {
  RemBertConfig c = small_config();
  c.add_cross_attention = true;
  expect_validate_error(c, "add_cross_attention");
  EXPECT_NE(error_message([&] { c.validate(); }).find("decoder"), std::string::npos);
  c.is_decoder = true;
  EXPECT_NO_THROW(c.validate());
}

TEST(ConfigValidate, ProblemType) {
  RemBertConfig c = small_config();
  for (const char* ok : {"regression", "single_label_classification", "multi_label_classification"}) {
    c.problem_type = ok;
    EXPECT_NO_THROW(c.validate()) << ok;
  }
  c.problem_type = "classification";
  expect_validate_error(c, "problem_type");
}

TEST(ConfigValidate, AtLeastOneLabel) {
  RemBertConfig c = small_config();
  c.id2label.clear();
  c.label2id.clear();
  expect_validate_error(c, "num_labels");
  expect_parse_error(R"("num_labels": 0)", "num_labels");
  expect_parse_error(R"("id2label": {})", "num_labels");
}

TEST(ConfigValidate, PadTokenInVocabulary) {
  RemBertConfig c = small_config();  // vocab_size 100
  c.pad_token_id = 100;
  expect_validate_error(c, "pad_token_id");
  c.pad_token_id = -1;
  expect_validate_error(c, "pad_token_id");
  c.pad_token_id = 99;
  EXPECT_NO_THROW(c.validate());
  c.pad_token_id = std::nullopt;
  EXPECT_NO_THROW(c.validate());
}

TEST(ConfigValidate, PrunedHeads) {
  RemBertConfig c = small_config();  // 2 layers, 2 heads
  c.pruned_heads = {{0, {1}}};
  EXPECT_NO_THROW(c.validate());
  c.pruned_heads = {{0, {2}}};
  expect_validate_error(c, "pruned_heads");
  c.pruned_heads = {{0, {-1}}};
  expect_validate_error(c, "pruned_heads");
  c.pruned_heads = {{1, {0, 1}}};  // every head of the layer
  expect_validate_error(c, "pruned_heads");
  c.pruned_heads = {{2, {0}}};  // layer out of range
  expect_validate_error(c, "pruned_heads");
  c.pruned_heads = {{-1, {0}}};
  expect_validate_error(c, "pruned_heads");
}

TEST(ConfigValidate, TorchDtype) {
  RemBertConfig c = small_config();
  for (const char* ok : {"float32", "float16", "bfloat16", "float64"}) {
    c.torch_dtype = ok;
    EXPECT_NO_THROW(c.validate()) << ok;
  }
  c.torch_dtype = "int8";
  expect_validate_error(c, "torch_dtype");
  expect_parse_error(R"("torch_dtype": "auto")", "torch_dtype");
}

// ---------------------------------------------------------------------------------------------------------------
// Errors while reading

TEST(ConfigErrors, WrongTypeNamesField) {
  expect_parse_error(R"("hidden_size": "abc")", "hidden_size");
  expect_parse_error(R"("hidden_size": 64.0)", "hidden_size");  // a float where an int is needed
  expect_parse_error(R"("num_hidden_layers": 2.5)", "num_hidden_layers");
  expect_parse_error(R"("use_cache": 1)", "use_cache");
  expect_parse_error(R"("hidden_dropout_prob": "0.1")", "hidden_dropout_prob");
  expect_parse_error(R"("hidden_dropout_prob": true)", "hidden_dropout_prob");
  expect_parse_error(R"("hidden_act": 3)", "hidden_act");
  expect_parse_error(R"("pad_token_id": "0")", "pad_token_id");
  expect_parse_error(R"("architectures": "RemBertModel")", "architectures");
  expect_parse_error(R"("id2label": {"a": "x"})", "id2label");
  expect_parse_error(R"("id2label": {"0": 1})", "id2label");
  expect_parse_error(R"("label2id": {"x": "0"}, "id2label": {"0": "x"})", "label2id");
  expect_parse_error(R"("num_labels": "3")", "num_labels");
  expect_parse_error(R"("pruned_heads": {"0": 1})", "pruned_heads");
  expect_parse_error(R"("pruned_heads": {"x": [1]})", "pruned_heads");
  expect_parse_error(R"("torch_dtype": 32)", "torch_dtype");
  expect_parse_error(R"("embedding_size": 2.5)", "embedding_size");
  expect_parse_error(R"("vocab_size": 18446744073709551615)", "vocab_size");
}

TEST(ConfigErrors, WrongTypeInFileNamesFieldAndFile) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() / "rembert_config_test_type.json";
  std::ofstream(path) << R"({"model_type": "rembert", "hidden_size": "abc"})";
  const std::string message = error_message([&] { RemBertConfig::from_json_file(path.string()); });
  EXPECT_NE(message.find("hidden_size"), std::string::npos) << message;
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  std::filesystem::remove(path);
}

TEST(ConfigErrors, InvalidJsonNamesFile) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() / "rembert_config_test_invalid.json";
  std::ofstream(path) << R"({"model_type": "rembert", )";
  const std::string message = error_message([&] { RemBertConfig::from_json_file(path.string()); });
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  std::filesystem::remove(path);

  EXPECT_NE(error_message([] { RemBertConfig::from_json_string("[1, 2]", "list.json"); }).find("list.json"),
            std::string::npos);
}

// nlohmann reports a number too large for a double as out_of_range, not parse_error (found by fuzz_config).
TEST(ConfigErrors, NumberTooLargeIsInvalidJson) {
  const std::string message =
      error_message([] { RemBertConfig::from_json_string(R"({"layer_norm_eps": 1e400})", "big.json"); });
  EXPECT_NE(message.find("big.json: invalid JSON"), std::string::npos) << message;
}

TEST(ConfigErrors, MissingFileNamesPath) {
  const std::string path = "/nonexistent/dir/config.json";
  const std::string message = error_message([&] { RemBertConfig::from_json_file(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

TEST(ConfigErrors, ValidationErrorFromFileNamesFile) {
  const std::string message = error_message([] {
    RemBertConfig::from_json_string(R"({"model_type": "rembert", "hidden_act": "nope"})", "dir/config.json");
  });
  EXPECT_NE(message.find("dir/config.json"), std::string::npos) << message;
  EXPECT_NE(message.find("hidden_act"), std::string::npos) << message;
}

}  // namespace
