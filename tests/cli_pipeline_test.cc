// The pipeline commands end to end: JSON on stdout as transformers prints it, JSON Lines on stdin, streaming, and
// errors on stderr with a non-zero exit.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace rembert {
namespace {

using nlohmann::json;
using testing::case_named;
using testing::fixture_path;
using testing::run_cli;
using testing::RunResult;

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) lines.push_back(json::parse(line));
  return lines;
}

TEST(CliFillMask, PrintsTheFixtureTop5) {
  const json c = case_named("fill_mask");
  RunResult r = run_cli("fill-mask --model " + fixture_path("models/mlm") + " \"" + c["text"].get<std::string>() + "\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<json> lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_EQ(lines[0].size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(lines[0][i]["token"], c["top5"][i]["token"]);
    EXPECT_EQ(lines[0][i]["token_str"], c["top5"][i]["token_str"]);
    EXPECT_EQ(lines[0][i]["sequence"], c["top5"][i]["sequence"]);
    EXPECT_NEAR(lines[0][i]["score"].get<double>(), c["top5"][i]["score"].get<double>(), 1e-6);
  }
}

TEST(CliFillMask, JsonLinesOnStdinAndErrors) {
  const std::string input = "\"The capital of France is [MASK].\"\n{\"text\": \"[MASK] is a city.\"}\n";
  RunResult r = run_cli("fill-mask --model " + fixture_path("models/mlm") + " --top-k 2", &input);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<json> lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].size(), 2u);
  EXPECT_EQ(lines[1].size(), 2u);

  r = run_cli("fill-mask --model " + fixture_path("models/mlm") + " \"no mask here\"");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "no mask_token ([MASK]) found on the input");
  EXPECT_TRUE(r.out.empty());
  r = run_cli("fill-mask --model " + fixture_path("models/mlm") + " \"Paris is the <mask> of France.\"");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "the text holds `<mask>`, which is not this model's mask token: write `[MASK]`");

  const std::string bad = "\"fine [MASK]\"\nnot json\n";
  r = run_cli("fill-mask --model " + fixture_path("models/mlm"), &bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "stdin line 2: not JSON");
  EXPECT_EQ(json_lines(r.out).size(), 1u) << "the first line's result is printed before the error";

  // google/rembert-like situation: a checkpoint without the MLM head says its predictions are noise.
  r = run_cli("fill-mask --model " + fixture_path("models/base") + " \"a [MASK]\"");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_CONTAINS(r.err, "predictions below are noise");
  EXPECT_CONTAINS(r.err, "newly initialized");
}

TEST(CliTextGeneration, GreedyFromIdsAsJsonAndStreamed) {
  const json c = case_named("clm_greedy");
  std::string ids;
  for (const auto& id : c["prompt_ids"]) ids += (ids.empty() ? "" : ",") + std::to_string(id.get<int64_t>());
  RunResult r = run_cli("text-generation --model " + fixture_path("models/clm") + " --input-ids " + ids +
                        " --max-new-tokens 10 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json out = json::parse(r.out);
  EXPECT_EQ(out["generated_ids"], c["new_tokens"]);

  RunResult streamed = run_cli("text-generation --model " + fixture_path("models/clm") + " --input-ids " + ids +
                               " --max-new-tokens 10");
  ASSERT_EQ(streamed.exit_code, 0) << streamed.output;
  EXPECT_EQ(streamed.out, out["generated_text"].get<std::string>() + "\n");

  r = run_cli("text-generation --model " + fixture_path("models/clm") + " --input-ids 2,x,3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "--input-ids: 'x' is not an integer");
}

TEST(CliTextClassification, PairsTopKAndLegacyForm) {
  const std::string model = fixture_path("models/seqcls");
  RunResult r = run_cli("text-classification --model " + model + " \"a sentence\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json legacy = json::parse(r.out);
  ASSERT_EQ(legacy.size(), 1u);  // [{"label", "score"}]
  EXPECT_TRUE(legacy[0].contains("label"));

  const std::string input = "{\"text\": \"a sentence\", \"text_pair\": \"another\"}\n[[\"a sentence\", \"another\"]]\n";
  r = run_cli("text-classification --model " + model + " --top-k all", &input);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<json> lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].size(), 3u);
  EXPECT_EQ(lines[0], lines[1]) << "the dict and legacy pair forms are the same input";

  const std::string ambiguous = "[\"a\", \"b\"]\n";
  r = run_cli("text-classification --model " + model, &ambiguous);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "pair form [[text, text_pair]]");
}

TEST(CliFeatureExtraction, NestedListOrPooledVector) {
  RunResult r = run_cli("feature-extraction --model " + fixture_path("models/base") + " \"hello world\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json f = json::parse(r.out);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0][0].size(), 64u);
  r = run_cli("feature-extraction --model " + fixture_path("models/base") + " --pooling mean --normalize \"hello world\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json v = json::parse(r.out);
  ASSERT_EQ(v.size(), 64u);
  double norm = 0;
  for (const auto& x : v) norm += x.get<double>() * x.get<double>();
  EXPECT_NEAR(norm, 1.0, 1e-5);
}

TEST(CliTokenClassification, TokensAndGroups) {
  const std::string model = fixture_path("models/tokcls");
  RunResult r = run_cli("token-classification --model " + model + " --ignore-labels '' \"Hello Paris\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json tokens = json::parse(r.out);
  ASSERT_FALSE(tokens.empty());
  for (const auto& t : tokens) {
    EXPECT_TRUE(t.contains("entity") && t.contains("index") && t.contains("start") && t.contains("end")) << t;
  }
  r = run_cli("token-classification --model " + model + " --aggregation-strategy simple --ignore-labels '' \"Hello Paris\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& g : json::parse(r.out)) EXPECT_TRUE(g.contains("entity_group")) << g;
  r = run_cli("token-classification --model " + model + " --aggregation-strategy sideways \"x\"");
  EXPECT_EQ(r.exit_code, 1);
}

TEST(CliQuestionAnswering, OptionsAndJsonLines) {
  const std::string model = fixture_path("models/qa");
  RunResult r = run_cli("question-answering --model " + model +
                        " --max-seq-len 64 --question \"Where?\" --context \"In the small house by the river.\"");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json one = json::parse(r.out);
  ASSERT_TRUE(one.is_object()) << one;
  for (const char* key : {"score", "start", "end", "answer"}) EXPECT_TRUE(one.contains(key)) << key;

  const std::string input = "{\"question\": \"Where?\", \"context\": \"In the small house by the river.\"}\n";
  r = run_cli("question-answering --model " + model + " --max-seq-len 64 --top-k 3", &input);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json many = json::parse(r.out);
  ASSERT_TRUE(many.is_array()) << many;
  EXPECT_GE(many[0]["score"].get<double>(), many.back()["score"].get<double>());

  r = run_cli("question-answering --model " + model + " --question \"Where?\" --context \"x\" --top-k 0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_CONTAINS(r.err, "top_k");
}

}  // namespace
}  // namespace rembert
