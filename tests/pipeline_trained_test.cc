// Pipelines on the two small trained models (tests/fixtures/trained, see its README): fill-mask against the
// reference top-5 of the masked LM, text-classification against the language-identification reference predictions.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "rembert/pipelines.h"
#include "test_util.h"

namespace rembert {
namespace {

using nlohmann::json;
using testing::fixture_path;

std::vector<json> read_jsonl(const std::string& path, size_t limit) {
  std::ifstream in(path);
  std::vector<json> out;
  std::string line;
  while (out.size() < limit && std::getline(in, line)) out.push_back(json::parse(line));
  return out;
}

// The references were produced with RemBertTokenizer (slow) semantics; fast gives the same ids on these lines.
class TrainedModels : public ::testing::TestWithParam<TokenizerKind> {};

TEST_P(TrainedModels, FillMaskMatchesTheReferenceTop5) {
  PipelineModel pm = load_pipeline_model(fixture_path("trained/lm"), std::nullopt, {}, GetParam());
  const std::vector<json> refs = read_jsonl(fixture_path("trained/lm/reference_fill_mask.jsonl"), 60);
  ASSERT_EQ(refs.size(), 60u);
  for (const json& ref : refs) {
    auto result = fill_mask(pm, ref["text"].get<std::string>());
    ASSERT_EQ(result.size(), 1u);
    const json& predictions = ref["predictions"];
    ASSERT_EQ(result[0].size(), predictions.size());
    for (size_t k = 0; k < predictions.size(); ++k) {
      SCOPED_TRACE(ref["text"].get<std::string>() + " rank " + std::to_string(k));
      EXPECT_EQ(result[0][k].token, predictions[k]["token"].get<int64_t>());
      EXPECT_NEAR(result[0][k].score, predictions[k]["score"].get<double>(), 1e-5);
      EXPECT_EQ(result[0][k].token_str, predictions[k]["token_str"].get<std::string>());
      EXPECT_EQ(result[0][k].sequence, predictions[k]["sequence"].get<std::string>());
    }
  }
}

TEST_P(TrainedModels, TextClassificationMatchesTheReferencePredictions) {
  PipelineModel pm = load_pipeline_model(fixture_path("trained/langid"), std::nullopt, {}, GetParam());
  // Every 100th line of the 13,501 held-out strings (none of the 16 lines where fast and slow ids differ).
  std::ifstream in(fixture_path("trained/langid/reference_predictions.jsonl"));
  std::string line;
  int64_t number = 0, checked = 0;
  while (std::getline(in, line)) {
    if (number++ % 100 != 0) continue;
    const json ref = json::parse(line);
    auto result = text_classification(pm, ref["text"].get<std::string>());
    ASSERT_EQ(result.size(), 1u);
    EXPECT_EQ(result[0].label, ref["label"].get<std::string>()) << ref["text"];
    EXPECT_NEAR(result[0].score, ref["score"].get<double>(), 1e-5) << ref["text"];
    ++checked;
  }
  EXPECT_GT(checked, 130);
}

INSTANTIATE_TEST_SUITE_P(Pipelines, TrainedModels, ::testing::Values(TokenizerKind::Slow, TokenizerKind::Fast),
                         [](const auto& param_info) { return param_info.param == TokenizerKind::Slow ? "slow" : "fast"; });

}  // namespace
}  // namespace rembert
