// fill-mask, text-classification, feature-extraction and text-generation against the fixtures, plus the JSON
// rendering of numbers and strings as Python's json.dumps writes them (values worked out by hand).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pipelines/common.h"
#include "rembert/pipelines.h"
#include "test_util.h"

namespace rembert {
namespace {

using nlohmann::json;
using testing::error_message;
using testing::case_named;
using testing::fixture_path;

TEST(PipelineJson, NumbersAsPythonRepr) {
  using pipelines::json_number;
  EXPECT_EQ(json_number(0.007082420866936445), "0.007082420866936445");
  EXPECT_EQ(json_number(1e-05), "1e-05");
  EXPECT_EQ(json_number(0.0001), "0.0001");
  EXPECT_EQ(json_number(0.00012), "0.00012");
  EXPECT_EQ(json_number(1.5e-07), "1.5e-07");
  EXPECT_EQ(json_number(100.0), "100.0");
  EXPECT_EQ(json_number(1e16), "1e+16");
  EXPECT_EQ(json_number(1.2345678901234568e+17), "1.2345678901234568e+17");
  EXPECT_EQ(json_number(123456789012345.6), "123456789012345.6");
  EXPECT_EQ(json_number(-2.5), "-2.5");
  EXPECT_EQ(json_number(0.0), "0.0");
  EXPECT_EQ(json_number(static_cast<double>(0.1f)), "0.10000000149011612");  // a float32 score widened
  EXPECT_EQ(json_number(std::nan("")), "NaN");
  EXPECT_EQ(json_number(-INFINITY), "-Infinity");
}

TEST(PipelineJson, StringsAsPythonJsonDumps) {
  using pipelines::json_string;
  EXPECT_EQ(json_string("a\"b\\c\n"), R"("a\"b\\c\n")");
  EXPECT_EQ(json_string("\xd7\x99\xd7\x9d"), R"("\u05d9\u05dd")");       // יָם
  EXPECT_EQ(json_string("\xf0\x9f\x98\x80"), R"("\ud83d\ude00")");       // U+1F600, a surrogate pair
  EXPECT_EQ(json_string(std::string("\x01\x7f", 2)), R"("\u0001\u007f")");
}

TEST(PipelineFillMask, MatchesTheFixtureCase) {
  const json c = case_named("fill_mask");
  PipelineModel pm = load_pipeline_model(fixture_path("models/mlm"));
  auto result = fill_mask(pm, c["text"].get<std::string>());
  ASSERT_EQ(result.size(), 1u);
  ASSERT_EQ(result[0].size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    const json& ref = c["top5"][i];
    EXPECT_EQ(result[0][i].token, ref["token"].get<int64_t>()) << i;
    EXPECT_NEAR(result[0][i].score, ref["score"].get<double>(), 1e-6) << i;
    EXPECT_EQ(result[0][i].token_str, ref["token_str"].get<std::string>()) << i;
    EXPECT_EQ(result[0][i].sequence, ref["sequence"].get<std::string>()) << i;
  }
  // One mask: a flat list of {score, token, token_str, sequence}.
  const json rendered = json::parse(to_json(result));
  ASSERT_TRUE(rendered.is_array());
  EXPECT_EQ(rendered[0]["token_str"], "match");
  EXPECT_EQ(rendered[0].begin().key(), "score");
}

TEST(PipelineFillMask, TargetsTopKAndSeveralMasks) {
  PipelineModel pm = load_pipeline_model(fixture_path("models/mlm"));
  const std::string text = "The capital of France is [MASK].";
  auto all = fill_mask(pm, text, FillMaskOptions{2000, {}});
  // Targets restrict the softmax's ranking to those ids; the scores stay the full-vocabulary probabilities.
  std::vector<std::string> warnings;
  // "match" is not a vocabulary piece: its first token ("▁match") replaces it, with transformers' warning, and the
  // duplicate is dropped; top_k is capped at the number of distinct targets.
  auto only = fill_mask(pm, text, FillMaskOptions{5, {"▁does", "▁match", "match"}}, &warnings);
  ASSERT_EQ(only[0].size(), 2u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_CONTAINS(warnings[0], "The specified target token `match` does not exist in the model vocabulary. Replacing with `▁match`.");
  EXPECT_EQ(only[0][0].token, 1615);  // "match", the reference's top prediction
  for (const auto& p : only[0]) {
    auto it = std::find_if(all[0].begin(), all[0].end(), [&](const FillMaskPrediction& q) { return q.token == p.token; });
    ASSERT_NE(it, all[0].end());
    EXPECT_DOUBLE_EQ(it->score, p.score);
  }
  EXPECT_GE(only[0][0].score, only[0][1].score);

  // Two masks: one list per mask, sequences keep the special tokens' text (skip_special_tokens only for one mask).
  auto two = fill_mask(pm, "[MASK] capital of France is [MASK].");
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(json::parse(to_json(two)).size(), 2u);
  EXPECT_TRUE(json::parse(to_json(two))[0].is_array());

  EXPECT_CONTAINS(error_message([&] { fill_mask(pm, "no mask here"); }), "no mask_token ([MASK]) found on the input");
  EXPECT_EQ(error_message([&] { fill_mask(pm, "no mask here"); }).find("mask token"), std::string::npos);
  // Another model's spelling of the mask (RoBERTa's <mask>, a lowercased [mask]) is named, with the one to use.
  for (const std::string other : {"<mask>", "[mask]", "<MASK>", "[Mask]"}) {
    const std::string message = error_message([&] { fill_mask(pm, "The capital of France is " + other + "."); });
    EXPECT_CONTAINS(message, "no mask_token ([MASK]) found on the input");
    EXPECT_CONTAINS(message, "the text holds `" + other + "`, which is not this model's mask token: write `[MASK]`");
  }
  EXPECT_CONTAINS(error_message([&] { fill_mask(pm, text, FillMaskOptions{0, {}}); }), "top_k");
}

TEST(PipelineTextClassification, ScoresFollowTheConfigFunction) {
  PipelineModel pm = load_pipeline_model(fixture_path("models/seqcls"));
  const std::string text = "Hello world, this is a test.";
  // The logits by hand: the model on the tokenized text (the model itself is checked against transformers).
  Encoding enc = pm.tokenizer->encode(text);
  ForwardInputs in;
  in.input_ids = Tensor::from_i64({1, static_cast<int64_t>(enc.input_ids.size())}, enc.input_ids);
  std::vector<float> logits = pm.model->forward(in).logits.to_f32_vector();
  ASSERT_EQ(logits.size(), 3u);
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v));
  std::vector<double> softmax;
  for (float v : logits) softmax.push_back(std::exp(static_cast<double>(v)) / sum);
  const size_t best = static_cast<size_t>(std::max_element(softmax.begin(), softmax.end()) - softmax.begin());

  auto legacy = text_classification(pm, text);  // default: softmax (3 labels), best label only
  ASSERT_EQ(legacy.size(), 1u);
  EXPECT_EQ(legacy[0].label, "LABEL_" + std::to_string(best));
  EXPECT_NEAR(legacy[0].score, softmax[best], 1e-6);

  TextClassificationOptions all;
  all.top_k = 0;
  auto ranked = text_classification(pm, text, nullptr, all);
  ASSERT_EQ(ranked.size(), 3u);
  EXPECT_GE(ranked[0].score, ranked[1].score);
  EXPECT_GE(ranked[1].score, ranked[2].score);

  all.function_to_apply = ClassificationFunction::None;
  auto raw = text_classification(pm, text, nullptr, all);
  EXPECT_NEAR(raw[0].score, *std::max_element(logits.begin(), logits.end()), 1e-6);
  all.function_to_apply = ClassificationFunction::Sigmoid;
  auto sig = text_classification(pm, text, nullptr, all);
  EXPECT_NEAR(sig[0].score, 1.0 / (1.0 + std::exp(-static_cast<double>(raw[0].score))), 1e-6);

  // Regression (num_labels 1): no function by default; multi-label: sigmoid.
  PipelineModel reg = load_pipeline_model(fixture_path("models/seqcls_regression"));
  Encoding renc = reg.tokenizer->encode(text);
  in.input_ids = Tensor::from_i64({1, static_cast<int64_t>(renc.input_ids.size())}, renc.input_ids);
  const float reg_logit = reg.model->forward(in).logits.to_f32_vector()[0];
  EXPECT_NEAR(text_classification(reg, text)[0].score, 1.0 / (1.0 + std::exp(-static_cast<double>(reg_logit))), 1e-6)
      << "num_labels == 1 without problem_type: sigmoid";

  const std::string pair = "a second text";
  EXPECT_EQ(text_classification(pm, text, &pair).size(), 1u);
  EXPECT_CONTAINS(error_message([] { classification_function_from_name("relu"); }), "unknown function_to_apply");
  PipelineModel mlm = load_pipeline_model(fixture_path("models/mlm"));
  EXPECT_CONTAINS(error_message([&] { text_classification(mlm, text); }), "needs RemBertForSequenceClassification");
}

TEST(PipelineFeatureExtraction, LastHiddenStateAndPooling) {
  PipelineModel pm = load_pipeline_model(fixture_path("models/base"));
  const std::string text = "Feature extraction test";
  Tensor f = feature_extraction(pm, text);
  Encoding enc = pm.tokenizer->encode(text);
  const auto S = static_cast<int64_t>(enc.input_ids.size());
  ASSERT_EQ(f.shape(), (Shape{1, S, 64}));
  ForwardInputs in;
  in.input_ids = Tensor::from_i64({1, S}, enc.input_ids);
  EXPECT_TRUE(testing::tensors_close(f, pm.model->forward(in).last_hidden_state, 0, 0));

  FeatureExtractionOptions mean;
  mean.pooling = Pooling::Mean;
  mean.normalize = true;
  Tensor pooled = feature_extraction(pm, text, mean);
  ASSERT_EQ(pooled.shape(), (Shape{64}));
  std::vector<double> expect(64, 0.0);
  for (int64_t t = 0; t < S; ++t)
    for (int64_t h = 0; h < 64; ++h) expect[h] += f.data<float>()[t * 64 + h] / static_cast<double>(S);
  double norm = 0;
  for (double v : expect) norm += v * v;
  for (int64_t h = 0; h < 64; ++h) EXPECT_NEAR(pooled.data<float>()[h], expect[h] / std::sqrt(norm), 1e-5);

  const json nested = json::parse(to_json_features(f));
  ASSERT_EQ(nested.size(), 1u);
  ASSERT_EQ(nested[0].size(), static_cast<size_t>(S));
  EXPECT_EQ(nested[0][0].size(), 64u);
  EXPECT_EQ(nested[0][1][2].get<double>(), static_cast<double>(f.data<float>()[64 + 2]));
}

TEST(PipelineTextGeneration, GreedyMatchesTheFixture) {
  const json c = case_named("clm_greedy");
  PipelineModel pm = load_pipeline_model(fixture_path("models/clm"));
  GenerationOptions o;
  o.max_new_tokens = c["max_new_tokens"].get<int64_t>();
  o.eos_token_id = c["eos_token_id"].get<int64_t>();
  std::vector<int64_t> streamed;
  o.on_token = [&](int64_t t) { streamed.push_back(t); };
  const auto prompt = c["prompt_ids"].get<std::vector<int64_t>>();
  GenerationResult r = text_generation_from_ids(pm, prompt, o);
  EXPECT_EQ(r.generated_ids, c["new_tokens"].get<std::vector<int64_t>>());
  EXPECT_EQ(streamed, r.generated_ids);
  // generated_text = the decoded prompt + the decoding of everything minus the decoded prompt's characters.
  DecodeOptions d;
  d.skip_special_tokens = true;
  const std::string full = pm.tokenizer->decode(c["full_sequence"].get<std::vector<int64_t>>(), d);
  EXPECT_EQ(r.generated_text, full);
  o.return_full_text = false;
  const std::string prompt_text = pm.tokenizer->decode(prompt, d);
  EXPECT_EQ(text_generation_from_ids(pm, prompt, o).generated_text, full.substr(prompt_text.size()));
}

TEST(PipelineTextGeneration, SamplingIsSeededAndRespectsTopK) {
  PipelineModel pm = load_pipeline_model(fixture_path("models/clm"));
  GenerationOptions o;
  o.do_sample = true;
  o.max_new_tokens = 8;
  o.eos_token_id = -1;  // never stop early
  o.seed = 42;
  o.top_k = 1;  // top-k of 1 is greedy whatever the draw
  const std::vector<int64_t> prompt = {2, 731, 5, 652, 311, 283, 23, 1173};
  auto sampled = generate(*pm.model, prompt, o);
  GenerationOptions greedy;
  greedy.max_new_tokens = 8;
  greedy.eos_token_id = -1;
  EXPECT_EQ(sampled, generate(*pm.model, prompt, greedy));
  o.top_k = 50;
  o.temperature = 1.5;
  EXPECT_EQ(generate(*pm.model, prompt, o), generate(*pm.model, prompt, o)) << "same seed, same tokens";
  EXPECT_EQ(generate(*pm.model, prompt, o).size(), 8u);
  EXPECT_CONTAINS(error_message([&] { generate(*pm.model, {}, o); }), "prompt is empty");
  PipelineModel base = load_pipeline_model(fixture_path("models/base"));
  EXPECT_CONTAINS(error_message([&] { generate(*base.model, prompt, o); }), "needs RemBertForCausalLM");
}

}  // namespace
}  // namespace rembert
