// rembert convert (convert_model): a converted folder loads to outputs identical to loading its source with the
// same --dtype (bytewise: the stored int8 weights and scales are those the load-time quantization makes, and bf16
// weights are the same rounding), the trained models keep their predictions, and broken converted files are errors
// naming the tensor or config.json field.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "rembert/model.h"
#include "rembert/pipelines.h"
#include "test_util.h"

namespace rembert {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::error_message;
using testing::fixture_path;
using testing::read_jsonl;
using testing::raw_bytes;
using testing::run_cli;
using testing::RunResult;
using testing::scratch_dir;

// Converts a fixture (once per process) and returns the folder.
std::string converted(const std::string& fixture, WeightDType dtype) {
  const std::string out = scratch_dir() + "converted_" + fs::path(fixture).filename().string() + "_" +
                          weight_dtype_name(dtype);
  if (!fs::exists(out + "/model.safetensors")) {
    ConvertOptions options;
    options.dtype = dtype;
    convert_model(fixture_path(fixture), out, options);
  }
  return out;
}

const TensorMap& cases() {
  static SafetensorsFile file = read_safetensors(fixture_path("cases.safetensors"));
  return file.tensors;
}

// The inputs of one case of cases.safetensors ("<case>.in.<argument>").
ForwardInputs case_inputs(const std::string& name) {
  ForwardInputs in;
  std::map<std::string, Tensor*> slots = {
      {"input_ids", &in.input_ids},         {"attention_mask", &in.attention_mask},
      {"token_type_ids", &in.token_type_ids}, {"position_ids", &in.position_ids},
      {"labels", &in.labels},               {"start_positions", &in.start_positions},
      {"end_positions", &in.end_positions}, {"encoder_hidden_states", &in.encoder_hidden_states},
      {"encoder_attention_mask", &in.encoder_attention_mask}};
  for (auto& [field, slot] : slots) {
    auto it = cases().find(name + ".in." + field);
    if (it != cases().end()) *slot = it->second;
  }
  return in;
}

// Every output tensor, by name.
std::map<std::string, Tensor> outputs_of(const ForwardOutputs& out) {
  std::map<std::string, Tensor> t;
  for (const auto& [name, value] : std::map<std::string, const Tensor*>{
           {"loss", &out.loss}, {"logits", &out.logits}, {"start_logits", &out.start_logits},
           {"end_logits", &out.end_logits}, {"last_hidden_state", &out.last_hidden_state},
           {"pooler_output", &out.pooler_output}}) {
    if (value->defined()) t[name] = *value;
  }
  return t;
}

struct ConvertCase {
  const char* model;  // under tests/fixtures/models
  const char* input;  // a case of cases.safetensors
};

class ConvertFixture : public ::testing::TestWithParam<ConvertCase> {};

TEST_P(ConvertFixture, LoadsToTheOutputsOfTheSourceWithThatDtype) {
  const ConvertCase c = GetParam();
  for (WeightDType dtype : {WeightDType::Int8, WeightDType::BFloat16}) {
    SCOPED_TRACE(weight_dtype_name(dtype));
    LoadOptions source_options;
    source_options.dtype = dtype;
    auto source = Model::load(fixture_path(std::string("models/") + c.model), source_options);
    auto conv = Model::load(converted(std::string("models/") + c.model, dtype));  // the default: the record's
    EXPECT_EQ(conv->compute_info().converted, weight_dtype_name(dtype));
    EXPECT_EQ(conv->compute_info().compute, source->compute_info().compute);
    EXPECT_EQ(conv->weight_dtype(), dtype == WeightDType::Int8 ? DType::I8 : DType::BF16);
    EXPECT_EQ(conv->warnings().size(), source->warnings().size());
    LoadOptions as_stored;
    as_stored.dtype = WeightDType::Auto;  // auto means the record's dtype too
    EXPECT_EQ(Model::load(converted(std::string("models/") + c.model, dtype), as_stored)->compute_info().converted,
              weight_dtype_name(dtype));
    const ForwardInputs in = case_inputs(c.input);
    const auto expected = outputs_of(source->forward(in));
    const auto actual = outputs_of(conv->forward(in));
    ASSERT_FALSE(expected.empty());
    ASSERT_EQ(actual.size(), expected.size());
    for (const auto& [name, t] : expected) {
      ASSERT_EQ(actual.at(name).shape(), t.shape()) << name;
      EXPECT_TRUE(raw_bytes(actual.at(name)) == raw_bytes(t)) << name << " differs";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ConvertFixture,
                         ::testing::Values(ConvertCase{"base", "base_batch_padded"},
                                           ConvertCase{"base_bf16", "bf16_batch"},
                                           ConvertCase{"mlm", "fill_mask"},
                                           ConvertCase{"mlm_sharded", "mlm_sharded_single"},
                                           ConvertCase{"clm", "clm_batch_labels"},
                                           ConvertCase{"seqcls_fp16", "seqcls_fp16"}, ConvertCase{"mc", "mc_labels"},
                                           ConvertCase{"tokcls", "tokcls_labels"}, ConvertCase{"qa", "qa_positions"},
                                           ConvertCase{"decoder_xattn", "decoder_xattn"}),
                         [](const ::testing::TestParamInfo<ConvertCase>& p) { return std::string(p.param.model); });

TEST(Convert, StoresInt8WeightsWithScalesAndTheRecord) {
  const std::string dir = converted("models/mlm", WeightDType::Int8);
  SafetensorsFile file = read_safetensors(dir + "/model.safetensors");
  SafetensorsFile source = read_safetensors(fixture_path("models/mlm/model.safetensors"));
  const Tensor& q = file.tensors.at("rembert.encoder.layer.0.attention.self.query.weight");
  const Tensor& s = file.tensors.at("rembert.encoder.layer.0.attention.self.query.weight_scale");
  const Tensor& w = source.tensors.at("rembert.encoder.layer.0.attention.self.query.weight");
  ASSERT_EQ(q.dtype(), DType::I8);
  ASSERT_EQ(q.shape(), w.shape());
  ASSERT_EQ(s.dtype(), DType::F32);
  ASSERT_EQ(s.shape(), Shape{w.dim(0)});
  // Hand-checked against the definition: scale = max|w| / 127 per output channel, q = round(w / scale).
  const int64_t k = w.dim(1);
  for (int64_t j : {int64_t{0}, w.dim(0) - 1}) {
    float amax = 0.0f;
    for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::fabs(w.data<float>()[j * k + i]));
    EXPECT_FLOAT_EQ(s.data<float>()[j], amax / 127.0f);
    for (int64_t i = 0; i < k; ++i) {
      EXPECT_EQ(q.data<int8_t>()[j * k + i], static_cast<int8_t>(std::nearbyint(w.data<float>()[j * k + i] /
                                                                                 s.data<float>()[j])));
    }
  }
  // Everything else is copied unchanged (bytes and dtype).
  for (const char* name : {"rembert.embeddings.word_embeddings.weight", "cls.predictions.LayerNorm.weight",
                           "rembert.encoder.layer.0.attention.self.query.bias"}) {
    EXPECT_EQ(file.tensors.at(name).dtype(), source.tensors.at(name).dtype()) << name;
    EXPECT_TRUE(raw_bytes(file.tensors.at(name)) == raw_bytes(source.tensors.at(name))) << name;
  }
  // Every Linear: weight and scale; nothing else added.
  size_t scales = 0;
  for (const auto& [name, t] : file.tensors) {
    scales += name.size() > 13 && name.substr(name.size() - 13) == ".weight_scale";
  }
  EXPECT_EQ(file.tensors.size(), source.tensors.size() + scales);
  EXPECT_EQ(scales, 3u * 6 + 1 + 2);  // 3 layers x 6 Linears, E->H, LM head dense + decoder

  const json config = json::parse(testing::read_file(dir + "/config.json"));
  const json source_config = json::parse(testing::read_file(fixture_path("models/mlm/config.json")));
  EXPECT_EQ(config.at("rembert_cpp_quantization").at("dtype"), "int8");
  EXPECT_EQ(config.at("rembert_cpp_quantization").at("weights"), "symmetric per output channel");
  EXPECT_EQ(config.at("quantization_config").at("quant_method"), "rembert.cpp");
  for (const auto& [key, value] : source_config.items()) EXPECT_EQ(config.at(key), value) << key;
  for (const char* f : {"sentencepiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
    EXPECT_EQ(testing::read_file(dir + "/" + f), testing::read_file(fixture_path("models/mlm/") + f)) << f;
  }
}

TEST(Convert, StoresBFloat16WeightsAndATransformersReadableConfig) {
  const std::string dir = converted("models/seqcls", WeightDType::BFloat16);
  SafetensorsFile file = read_safetensors(dir + "/model.safetensors");
  SafetensorsFile source = read_safetensors(fixture_path("models/seqcls/model.safetensors"));
  const Tensor& w = file.tensors.at("classifier.weight");
  ASSERT_EQ(w.dtype(), DType::BF16);
  EXPECT_TRUE(raw_bytes(w) == raw_bytes(source.tensors.at("classifier.weight").cast_float(DType::BF16)));
  EXPECT_EQ(file.tensors.at("classifier.bias").dtype(), DType::F32);
  EXPECT_EQ(file.tensors.size(), source.tensors.size());
  const json config = json::parse(testing::read_file(dir + "/config.json"));
  EXPECT_EQ(config.at("torch_dtype"), "bfloat16");
  EXPECT_EQ(config.at("rembert_cpp_quantization").at("dtype"), "bfloat16");
  EXPECT_FALSE(config.contains("quantization_config"));  // transformers would refuse an unknown quant_method
}

// The pipelines' results of the trained models: a converted folder gives exactly the source's with that dtype, so
// the accuracy figures of compute_path_test (same strings) are those of the converted folders too.
void for_each_conversion(const std::string& fixture, TokenizerKind tokenizer,
                         const std::function<void(const PipelineModel& source, const PipelineModel& conv)>& compare) {
  for (WeightDType dtype : {WeightDType::Int8, WeightDType::BFloat16}) {
    SCOPED_TRACE(weight_dtype_name(dtype));
    LoadOptions o;
    o.dtype = dtype;
    const PipelineModel source = load_pipeline_model(fixture_path(fixture), std::nullopt, o, tokenizer);
    const PipelineModel conv = load_pipeline_model(converted(fixture, dtype), std::nullopt, {}, tokenizer);
    compare(source, conv);
  }
}

TEST(ConvertTrained, FillMaskPredictionsAreThoseOfTheSource) {
  const std::vector<json> refs = read_jsonl(fixture_path("trained/lm/reference_fill_mask.jsonl"));
  ASSERT_EQ(refs.size(), 300u);
  for_each_conversion("trained/lm", TokenizerKind::Fast, [&](const PipelineModel& source, const PipelineModel& conv) {
    int agree = 0;
    for (const json& ref : refs) {
      const std::string text = ref.at("text");
      auto a = fill_mask(conv, text), e = fill_mask(source, text);
      ASSERT_EQ(a.size(), 1u);
      ASSERT_EQ(a.at(0).size(), e.at(0).size());
      for (size_t r = 0; r < e[0].size(); ++r) {
        EXPECT_EQ(a[0][r].token, e[0][r].token) << text;
        EXPECT_EQ(a[0][r].score, e[0][r].score) << text;
      }
      agree += a[0].at(0).token == ref["predictions"][0]["token"].get<int64_t>();
    }
    std::cout << "converted: fill-mask top-1 agreement with float32 " << agree << "/300\n";
  });
}

TEST(ConvertTrained, LanguageIdPredictionsAreThoseOfTheSource) {
  const std::vector<json> tests = read_jsonl(fixture_path("trained/langid/test.jsonl"));
  for_each_conversion("trained/langid", TokenizerKind::Slow,
                      [&](const PipelineModel& source, const PipelineModel& conv) {
    // Every 4th of the 13,501 held-out strings, as compute_path_test.
    int64_t right = 0, count = 0;
    for (size_t i = 0; i < tests.size(); i += 4, ++count) {
      const std::string text = tests[i].at("text");
      const auto a = text_classification(conv, text).at(0), e = text_classification(source, text).at(0);
      EXPECT_EQ(a.label, e.label) << text;
      EXPECT_EQ(a.score, e.score) << text;
      right += a.label == tests[i].at("label");
    }
    std::cout << "converted: language-id accuracy " << 100.0 * static_cast<double>(right) / static_cast<double>(count)
              << "%\n";
  });
}

// A copy of the converted int8 `mlm` folder whose weights file is `tensors`, and whose config is `config`.
std::string broken_copy(const std::string& name, const TensorMap& tensors, const json* config = nullptr) {
  const std::string src = converted("models/mlm", WeightDType::Int8);
  const std::string dir = scratch_dir() + "broken_" + name;
  fs::remove_all(dir);
  fs::copy(src, dir);
  fs::remove(dir + "/model.safetensors");
  write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  if (config) testing::write_file(dir + "/config.json", config->dump(2));
  return dir;
}

TensorMap converted_tensors() {
  SafetensorsFile file = read_safetensors(converted("models/mlm", WeightDType::Int8) + "/model.safetensors");
  TensorMap out;
  for (const auto& [name, t] : file.tensors) {  // owned copies, so they can be edited
    Tensor copy(t.dtype(), t.shape());
    if (t.nbytes()) std::memcpy(copy.raw_mutable_data(), t.raw_data(), t.nbytes());
    out.emplace(name, copy);
  }
  return out;
}

const std::string kWeight = "rembert.encoder.layer.1.intermediate.dense.weight";
const std::string kScale = kWeight + "_scale";

std::string load_error(const std::string& dir, LoadOptions options = {}) {
  return error_message([&] { Model::load(dir, options); });
}

TEST(ConvertErrors, MissingScale) {
  TensorMap t = converted_tensors();
  t.erase(kScale);
  const std::string msg = load_error(broken_copy("missing_scale", t));
  EXPECT_CONTAINS(msg, "tensor '" + kScale + "' is missing");
}

TEST(ConvertErrors, ScaleOfTheWrongDtypeOrShape) {
  TensorMap t = converted_tensors();
  t[kScale] = t.at(kScale).cast_float(DType::BF16);
  EXPECT_CONTAINS(load_error(broken_copy("scale_bf16", t)), "tensor '" + kScale + "' is BF16");
  t = converted_tensors();
  t[kScale] = Tensor(DType::F32, {3});
  EXPECT_CONTAINS(load_error(broken_copy("scale_shape", t)), "tensor '" + kScale + "' is F32 [3], expected F32 [");
}

TEST(ConvertErrors, NonFiniteOrNegativeScale) {
  for (float bad : {-0.5f, 0.0f, std::nanf(""), INFINITY}) {
    TensorMap t = converted_tensors();
    t.at(kScale).mutable_data<float>()[7] = bad;
    const std::string msg = load_error(broken_copy("scale_value", t));
    EXPECT_CONTAINS(msg, "tensor '" + kScale + "' holds ");
    EXPECT_CONTAINS(msg, " at [7]; scales must be finite and positive");
  }
}

TEST(ConvertErrors, WeightOfTheWrongDtypeShapeOrRange) {
  TensorMap t = converted_tensors();
  t[kWeight] = Tensor(DType::I16, t.at(kWeight).shape());
  EXPECT_CONTAINS(load_error(broken_copy("weight_i16", t)), "tensor '" + kWeight + "' has dtype I16");
  t = converted_tensors();
  t[kWeight] = Tensor(DType::I8, {2, 2});
  EXPECT_CONTAINS(load_error(broken_copy("weight_shape", t)), "tensor '" + kWeight + "' has shape [2, 2]");
  t = converted_tensors();
  t.at(kWeight).mutable_data<int8_t>()[5] = -128;
  EXPECT_CONTAINS(load_error(broken_copy("weight_128", t)), "tensor '" + kWeight.substr(0, kWeight.size() - 7));
  EXPECT_CONTAINS(load_error(broken_copy("weight_128", t)), "weight value -128 at [0, 5]");
  // A scale whose weight is float: not what rembert convert writes.
  t = converted_tensors();
  t[kWeight] = Tensor(DType::F32, t.at(kWeight).shape());
  EXPECT_CONTAINS(load_error(broken_copy("weight_f32", t)), "tensor '" + kScale + "' scales an int8 weight, but '" +
                                                               kWeight + "' is F32");
}

TEST(ConvertErrors, TruncatedWeightsFile) {
  const std::string dir = broken_copy("truncated", converted_tensors());
  const std::string path = dir + "/model.safetensors";
  fs::resize_file(path, fs::file_size(path) - 1000);
  EXPECT_CONTAINS(load_error(dir), "safetensors file '" + path + "'");
}

TEST(ConvertErrors, RecordsThatAreNotOurs) {
  const json config = json::parse(testing::read_file(converted("models/mlm", WeightDType::Int8) + "/config.json"));
  const TensorMap tensors = converted_tensors();
  struct Edit {
    const char* object;
    const char* field;
    json value;
    const char* error;
  };
  const Edit edits[] = {
      {"rembert_cpp_quantization", "dtype", "int4", "config.json field \"rembert_cpp_quantization.dtype\" is \"int4\""},
      {"rembert_cpp_quantization", "activations", "static",
       "config.json field \"rembert_cpp_quantization.activations\" is \"static\""},
      {"rembert_cpp_quantization", "format_version", 2, "\"rembert_cpp_quantization.format_version\" is 2"},
      {"rembert_cpp_quantization", "group_size", 32,
       "\"rembert_cpp_quantization.group_size\" is not a field of the record"},
      {"quantization_config", "quant_method", "gptq", "\"quantization_config.quant_method\" is \"gptq\""},
  };
  for (const Edit& e : edits) {
    json c = config;
    c[e.object][e.field] = e.value;
    EXPECT_CONTAINS(load_error(broken_copy(std::string("record_") + e.field, tensors, &c)), e.error);
  }
  // int8 weights without the record.
  json c = config;
  c.erase("rembert_cpp_quantization");
  c.erase("quantization_config");
  EXPECT_CONTAINS(load_error(broken_copy("record_none", tensors, &c)), "' has dtype I8, but int8 weights need");
  // A dtype the record does not allow.
  for (WeightDType d : {WeightDType::BFloat16, WeightDType::Float32, WeightDType::Float16}) {
    LoadOptions o;
    o.dtype = d;
    const std::string msg = load_error(converted("models/mlm", WeightDType::Int8), o);
    EXPECT_CONTAINS(msg, "config.json field \"rembert_cpp_quantization\" says this checkpoint was converted to int8");
    EXPECT_CONTAINS(msg, std::string("--dtype ") + weight_dtype_name(d) + " cannot be used");
  }
}

TEST(ConvertErrors, RefusesBadRequests) {
  ConvertOptions o;
  o.dtype = WeightDType::Float32;
  EXPECT_CONTAINS(error_message([&] { convert_model(fixture_path("models/base"), scratch_dir() + "x", o); }),
                  "--dtype must be int8 or bfloat16");
  o.dtype = WeightDType::Int8;
  EXPECT_CONTAINS(error_message([&] {
                    convert_model(converted("models/base", WeightDType::Int8), scratch_dir() + "twice", o);
                  }),
                  "is converted already (to int8)");
  const std::string full = converted("models/base", WeightDType::BFloat16);
  EXPECT_CONTAINS(error_message([&] { convert_model(fixture_path("models/base"), full, o); }),
                  "convert: --out '" + full + "' is not empty; pass --force to replace it");
  EXPECT_CONTAINS(error_message([&] { convert_model(fixture_path("models/base"), fixture_path("models/base"), o); }),
                  "is the source model folder");
  EXPECT_TRUE(fs::exists(fixture_path("models/base/model.safetensors")));
}

TEST(ConvertCli, ConvertsRefusesToOverwriteAndLoadsEverywhere) {
  const std::string out = scratch_dir() + "cli_converted";
  fs::remove_all(out);
  const std::string src = fixture_path("trained/lm");
  RunResult r = run_cli("convert --model " + src + " --dtype int8 --out " + out + " --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.out, "wrote " + out + " (int8, 27 Linear weights converted)");
  EXPECT_TRUE(fs::exists(out + "/model.safetensors"));
  for (const auto& entry : fs::directory_iterator(scratch_dir())) {  // the temporary folder is gone
    EXPECT_EQ(entry.path().string().find(".convert-tmp-"), std::string::npos) << entry.path();
  }

  r = run_cli("convert --model " + src + " --dtype bfloat16 --out " + out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "rembert: error: convert: --out '" + out + "' is not empty; pass --force to replace it");
  EXPECT_EQ(json::parse(testing::read_file(out + "/config.json"))["rembert_cpp_quantization"]["dtype"], "int8");

  r = run_cli("info --model " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.out, "converted: int8");
  EXPECT_CONTAINS(r.out, "compute: int8");
  EXPECT_CONTAINS(r.out, "weights held as: I8");
  r = run_cli("info --model " + out + " --dtype bfloat16");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "\"rembert_cpp_quantization\" says this checkpoint was converted to int8");

  const std::string text = "\"The filter applied to the endpoints [MASK] the resolved service.\"";
  RunResult from_source = run_cli("fill-mask --model " + src + " --dtype int8 " + text);
  RunResult from_converted = run_cli("fill-mask --model " + out + " " + text);
  ASSERT_EQ(from_converted.exit_code, 0) << from_converted.output;
  EXPECT_EQ(from_converted.out, from_source.out);
  EXPECT_EQ(from_converted.err, "");

  r = run_cli("convert --model " + src + " --dtype bfloat16 --out " + out + "/ --force");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json::parse(testing::read_file(out + "/config.json"))["rembert_cpp_quantization"]["dtype"], "bfloat16");
  from_source = run_cli("fill-mask --model " + src + " --dtype bfloat16 " + text);
  from_converted = run_cli("fill-mask --model " + out + " --dtype auto " + text);
  EXPECT_EQ(from_converted.out, from_source.out);

  r = run_cli("convert --model " + src + " --dtype float16 --out " + scratch_dir() + "cli_f16");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "--dtype must be int8 or bfloat16");
}

}  // namespace
}  // namespace rembert
