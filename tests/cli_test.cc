// The `rembert` command line: forward on the fixture models (the conformance contract through the CLI),
// init-random, and clear errors for bad arguments.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "rembert/model.h"
#include "rembert/safetensors.h"
#include "test_util.h"

namespace rembert {
namespace {

using testing::fixture_path;
using testing::run_cli;
using testing::RunResult;
using testing::scratch_dir;
using testing::tensors_close;

const TensorMap& reference() {
  static SafetensorsFile file = read_safetensors(fixture_path("cases.safetensors"));
  return file.tensors;
}
const Tensor& fixture_tensor(const std::string& name) { return reference().at(name); }

// Writes the case's inputs (`<case>.in.<arg>`) to a safetensors file named after the forward arguments.
std::string write_case_inputs(const std::string& case_name) {
  TensorMap inputs;
  const std::string prefix = case_name + ".in.";
  for (const auto& [name, tensor] : reference()) {
    if (name.compare(0, prefix.size(), prefix) == 0) inputs[name.substr(prefix.size())] = tensor;
  }
  const std::string path = scratch_dir() + case_name + "_inputs.safetensors";
  write_safetensors(path, inputs);
  return path;
}

TensorMap run_forward(const std::string& model, const std::string& case_name, const std::string& flags = "") {
  const std::string in = write_case_inputs(case_name);
  const std::string out = scratch_dir() + case_name + "_outputs.safetensors";
  std::remove(out.c_str());
  RunResult r = run_cli("forward --model " + fixture_path("models/" + model) + " --inputs " + in + " --output " +
                        out + " --threads 2 " + flags);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  TensorMap result;
  for (auto& [name, t] : read_safetensors(out).tensors) result[name] = t;
  return result;
}

TEST(CliForward, BaseModelWithHiddenStatesAndAttentions) {
  TensorMap out = run_forward("base", "base_batch_padded", "--output-hidden-states --output-attentions");
  const std::vector<int64_t> rows = fixture_tensor("base_batch_padded.in.attention_mask").to_i64_vector();
  EXPECT_TRUE(tensors_close(out.at("last_hidden_state"), fixture_tensor("base_batch_padded.last_hidden_state"), 1e-4, 1e-4, rows));
  EXPECT_TRUE(tensors_close(out.at("pooler_output"), fixture_tensor("base_batch_padded.pooler_output"), 1e-4, 1e-4));
  for (int i = 0; i < 4; ++i) {
    const std::string n = "hidden_states." + std::to_string(i);
    EXPECT_TRUE(tensors_close(out.at(n), fixture_tensor("base_batch_padded." + n), 1e-4, 1e-4, rows)) << n;
  }
  EXPECT_EQ(out.at("attentions.2").shape(), (Shape{2, 4, 37, 37}));
  EXPECT_EQ(out.count("hidden_states.4"), 0u);
}

TEST(CliForward, MaskedLMLossAndLogits) {
  TensorMap out = run_forward("mlm", "mlm_batch_labels");
  EXPECT_TRUE(tensors_close(out.at("loss"), fixture_tensor("mlm_batch_labels.loss"), 1e-4, 1e-4));
  EXPECT_TRUE(tensors_close(out.at("logits"), fixture_tensor("mlm_batch_labels.logits"), 1e-4, 1e-4,
                            fixture_tensor("mlm_batch_labels.in.attention_mask").to_i64_vector()));
  EXPECT_EQ(out.count("hidden_states.0"), 0u);
}

TEST(CliForward, EveryHeadThroughTheCli) {
  TensorMap mc = run_forward("mc", "mc_labels");
  EXPECT_TRUE(tensors_close(mc.at("logits"), fixture_tensor("mc_labels.logits"), 1e-4, 1e-4));
  EXPECT_TRUE(tensors_close(mc.at("loss"), fixture_tensor("mc_labels.loss"), 1e-4, 1e-4));
  TensorMap qa = run_forward("qa", "qa_positions");
  EXPECT_TRUE(tensors_close(qa.at("loss"), fixture_tensor("qa_positions.loss"), 1e-4, 1e-4));
  EXPECT_TRUE(tensors_close(qa.at("start_logits"), fixture_tensor("qa_positions.start_logits"), 1e-4, 1e-4));
  TensorMap tok = run_forward("tokcls", "tokcls_labels");
  EXPECT_TRUE(tensors_close(tok.at("loss"), fixture_tensor("tokcls_labels.loss"), 1e-4, 1e-4));
  TensorMap reg = run_forward("seqcls_regression", "seqcls_regression");
  EXPECT_TRUE(tensors_close(reg.at("loss"), fixture_tensor("seqcls_regression.loss"), 1e-4, 1e-4));
  TensorMap fp16 = run_forward("seqcls_fp16", "seqcls_fp16", "--dtype auto");
  EXPECT_TRUE(tensors_close(fp16.at("logits"), fixture_tensor("seqcls_fp16.logits"), 1e-4, 1e-4));
  TensorMap sharded = run_forward("mlm_sharded", "mlm_sharded_single");
  EXPECT_TRUE(tensors_close(sharded.at("logits"), fixture_tensor("mlm_sharded_single.logits"), 1e-4, 1e-4));
  TensorMap clm = run_forward("clm", "clm_batch_labels");
  EXPECT_TRUE(tensors_close(clm.at("loss"), fixture_tensor("clm_batch_labels.loss"), 1e-4, 1e-4));
}

TEST(CliForward, DecoderCrossAttentionsAndCache) {
  TensorMap out = run_forward("decoder_xattn", "decoder_xattn", "--output-attentions --use-cache");
  const std::vector<int64_t> rows = fixture_tensor("decoder_xattn.in.attention_mask").to_i64_vector();
  EXPECT_TRUE(tensors_close(out.at("last_hidden_state"), fixture_tensor("decoder_xattn.last_hidden_state"), 1e-4, 1e-4, rows));
  EXPECT_EQ(out.at("cross_attentions.0").shape(), (Shape{2, 4, 37, 9}));
  EXPECT_EQ(out.at("past_key_values.2.key").shape(), (Shape{2, 4, 37, 16}));
  EXPECT_EQ(out.at("past_key_values.2.cross_value").shape(), (Shape{2, 4, 9, 16}));
}

TEST(CliForward, CacheRoundTripsThroughFiles) {
  // Prompt with --use-cache, then one step whose inputs carry past_key_values.{layer}.{key|value}.
  const std::vector<int64_t> ids = fixture_tensor("clm_incremental.in.input_ids").to_i64_vector();
  TensorMap prompt{{"input_ids", Tensor::from_i64({1, 8}, std::vector<int64_t>(ids.begin(), ids.begin() + 8))}};
  const std::string dir = scratch_dir();
  write_safetensors(dir + "prompt.safetensors", prompt);
  RunResult r = run_cli("forward --model " + fixture_path("models/clm") + " --inputs " + dir +
                        "prompt.safetensors --output " + dir + "prompt_out.safetensors --use-cache");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  SafetensorsFile prompt_out = read_safetensors(dir + "prompt_out.safetensors");
  EXPECT_TRUE(tensors_close(prompt_out.tensors.at("logits"), fixture_tensor("clm_incremental.prompt_logits"), 1e-4, 1e-4));

  TensorMap step{{"input_ids", Tensor::from_i64({1, 1}, {ids[8]})}};
  for (int layer = 0; layer < 3; ++layer) {
    for (const char* part : {"key", "value"}) {
      const std::string name = "past_key_values." + std::to_string(layer) + "." + part;
      step[name] = prompt_out.tensors.at(name);
    }
  }
  write_safetensors(dir + "step.safetensors", step);
  r = run_cli("forward --model " + fixture_path("models/clm") + " --inputs " + dir + "step.safetensors --output " +
              dir + "step_out.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(tensors_close(read_safetensors(dir + "step_out.safetensors").tensors.at("logits"),
                            fixture_tensor("clm_incremental.step_logits.0"), 1e-4, 1e-4));
}

TEST(CliForward, HeadOverridePrintsTheTransformersWarning) {
  const std::string in = write_case_inputs("base_single");
  RunResult r = run_cli("forward --model " + fixture_path("models/base") + " --inputs " + in + " --output " +
                        scratch_dir() + "x.safetensors --head sequence-classification");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Some weights of RemBertForSequenceClassification were not initialized"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("'classifier.weight'"), std::string::npos);
}

TEST(CliForward, BadArgumentsGiveOneClearLine) {
  const std::string in = write_case_inputs("base_single");
  const std::string out = " --output " + scratch_dir() + "bad.safetensors";
  RunResult r = run_cli("forward --model /nonexistent/model --inputs " + in + out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("rembert: error:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/model"), std::string::npos) << r.output;

  r = run_cli("forward --model " + fixture_path("models/base") + " --inputs " + in + out + " --dtype int4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown dtype \"int4\""), std::string::npos) << r.output;

  r = run_cli("forward --model " + fixture_path("models/base") + " --inputs " + in + out + " --head nope");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown head \"nope\""), std::string::npos) << r.output;

  TensorMap wrong{{"input_idz", Tensor::from_i64({1, 2}, {2, 3})}};
  write_safetensors(scratch_dir() + "wrong.safetensors", wrong);
  r = run_cli("forward --model " + fixture_path("models/base") + " --inputs " + scratch_dir() +
              "wrong.safetensors" + out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown input tensor 'input_idz'"), std::string::npos) << r.output;

  TensorMap big{{"input_ids", Tensor::from_i64({1, 2}, {2, 99999})}};
  write_safetensors(scratch_dir() + "big.safetensors", big);
  r = run_cli("forward --model " + fixture_path("models/base") + " --inputs " + scratch_dir() +
              "big.safetensors" + out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("input_ids: value 99999 is out of range"), std::string::npos) << r.output;

  r = run_cli("forward --model " + fixture_path("models/base"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--inputs is required"), std::string::npos) << r.output;
}

TEST(CliInitRandom, WritesALoadableCheckpointWithTransformersInit) {
  const std::string dir = scratch_dir() + "random_model";
  RunResult r = run_cli("init-random --config " + fixture_path("models/tokcls/config.json") + " --out " + dir +
                        " --seed 7 --dtype bfloat16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto model = Model::load(dir, LoadOptions{std::nullopt, WeightDType::Auto, true, 0});
  EXPECT_EQ(model->head(), HeadType::TokenClassification);
  EXPECT_EQ(model->weight_dtype(), DType::BF16);
  EXPECT_TRUE(model->warnings().empty());
  EXPECT_EQ(model->config().id2label.at(3), RemBertConfig::from_json_file(fixture_path("models/tokcls/config.json"))
                                                .id2label.at(3));

  SafetensorsFile file = read_safetensors(dir + "/model.safetensors");
  EXPECT_EQ(file.tensors.size(), parameter_specs(model->config(), HeadType::TokenClassification).size());
  // LayerNorm weights 1, biases 0, Linear weights ~ N(0, initializer_range = 0.1).
  for (float v : file.tensors.at("rembert.embeddings.LayerNorm.weight").to_f32_vector()) ASSERT_EQ(v, 1.0f);
  for (float v : file.tensors.at("rembert.encoder.layer.0.intermediate.dense.bias").to_f32_vector()) ASSERT_EQ(v, 0.0f);
  std::vector<float> w = file.tensors.at("rembert.embeddings.word_embeddings.weight").to_f32_vector();
  double sum = 0, sq = 0;
  for (float v : w) {
    sum += v;
    sq += static_cast<double>(v) * v;
  }
  const double mean = sum / static_cast<double>(w.size());
  const double stddev = std::sqrt(sq / static_cast<double>(w.size()) - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.003);
  EXPECT_NEAR(stddev, 0.1, 0.003);

  ForwardInputs in;
  in.input_ids = Tensor::from_i64({1, 4}, {2, 10, 11, 3});
  EXPECT_EQ(model->forward(in).logits.shape(), (Shape{1, 4, 5}));

  r = run_cli("init-random --config /nonexistent.json --out " + dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent.json"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace rembert

namespace rembert {
namespace {

TEST(CliBench, EncoderCasesOfAHeadCheckpointRunTheBareEncoder) {
  // Prints one JSON line per case and a load line; the encoder cases load the checkpoint as a bare RemBertModel
  // (no figures are checked: speed is not a test).
  RunResult r = testing::run_cli("bench --model " + testing::fixture_path("models/mlm") +
                                 " --dtype int8 --reps 1 --warmup 0 --case encoder:2:8 --case mixed:3,5 --case mlm-one:1:8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.out);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 4u) << r.out;
  EXPECT_EQ(rows[0]["case"], "encoder:2:8");
  EXPECT_EQ(rows[0]["tokens"], 16);
  EXPECT_EQ(rows[0]["dtype"], "int8");
  EXPECT_EQ(rows[1]["tokens"], 8);
  EXPECT_EQ(rows[2]["case"], "mlm-one:1:8");
  EXPECT_TRUE(rows[3].contains("peak_rss_mb"));
  r = testing::run_cli("bench --model " + testing::fixture_path("models/base") + " --reps 1 --case mlm-one:1:8");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "needs a masked-LM model");
}

}  // namespace
}  // namespace rembert
