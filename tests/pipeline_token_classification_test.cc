// token-classification pipeline (SPEC §4.3): the fixture model's outputs put through transformers' rules, worked
// out here independently (softmax in double, labels from config.id2label), plus hand-made cases for every rule:
// the is_subword heuristic, [UNK] words, B-/I- grouping, first/average/max, ignore_labels, overlapping windows,
// JSON rendering, and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <unistd.h>

#include "pipelines/pipeline_util_ner.h"
#include "rembert/pipelines.h"
#include "test_util.h"

namespace rembert {
namespace {

namespace ner = pipelines::ner;
using testing::error_message;
using testing::fixture_path;

const PipelineModel& tokcls() {
  static PipelineModel pm = load_pipeline_model(fixture_path("models/tokcls"));
  return pm;
}

const std::string kText = "My name is Wolfgang and I live in Berlin, Germany.";

// Softmax over the labels of every token, in double, from the model's logits.
std::vector<std::vector<double>> reference_scores(const PipelineModel& pm, const Encoding& enc) {
  const auto S = static_cast<int64_t>(enc.input_ids.size());
  ForwardInputs in;
  in.input_ids = Tensor::from_i64({1, S}, enc.input_ids);
  in.token_type_ids = Tensor::from_i64({1, S}, enc.token_type_ids);
  in.attention_mask = Tensor::from_i64({1, S}, enc.attention_mask);
  const Tensor logits = pm.model->forward(in).logits;
  const int64_t L = logits.dim(2);
  const std::vector<float> x = logits.to_f32_vector();
  std::vector<std::vector<double>> out;
  for (int64_t t = 0; t < S; ++t) {
    double max = -1e300, sum = 0;
    for (int64_t j = 0; j < L; ++j) max = std::max(max, static_cast<double>(x[static_cast<size_t>(t * L + j)]));
    std::vector<double> p(static_cast<size_t>(L));
    for (int64_t j = 0; j < L; ++j) {
      p[static_cast<size_t>(j)] = std::exp(x[static_cast<size_t>(t * L + j)] - max);
      sum += p[static_cast<size_t>(j)];
    }
    for (double& v : p) v /= sum;
    out.push_back(p);
  }
  return out;
}

size_t argmax(const std::vector<double>& v) { return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin()); }

TokenClassificationOptions with(AggregationStrategy strategy, std::vector<std::string> ignore = {"O"}) {
  TokenClassificationOptions o;
  o.aggregation_strategy = strategy;
  o.ignore_labels = std::move(ignore);
  return o;
}

TEST(TokenClassification, AggregationStrategyNames) {
  EXPECT_EQ(aggregation_strategy_from_name("none"), AggregationStrategy::None);
  EXPECT_EQ(aggregation_strategy_from_name("simple"), AggregationStrategy::Simple);
  EXPECT_EQ(aggregation_strategy_from_name("first"), AggregationStrategy::First);
  EXPECT_EQ(aggregation_strategy_from_name("average"), AggregationStrategy::Average);
  EXPECT_EQ(aggregation_strategy_from_name("MAX"), AggregationStrategy::Max);  // transformers upper()s the name
  const std::string msg = error_message([] { aggregation_strategy_from_name("mean"); });
  EXPECT_CONTAINS(msg, "\"mean\"");
  EXPECT_CONTAINS(msg, "none, simple, first, average or max");
}

// Aggregation none, nothing ignored: one entity per non-special token with the argmax label and its probability.
TEST(TokenClassification, NoneMatchesTheModelTokenByToken) {
  const PipelineModel& pm = tokcls();
  const Encoding enc = pm.tokenizer->encode(kText);
  const auto probs = reference_scores(pm, enc);
  const auto& id2label = pm.model->config().id2label;
  const std::vector<TokenEntity> got = token_classification(pm, kText, with(AggregationStrategy::None, {}));
  ASSERT_EQ(got.size(), enc.input_ids.size() - 2);  // [CLS] and [SEP] skipped
  std::set<std::string> labels_seen;
  for (size_t k = 0; k < got.size(); ++k) {
    const size_t t = k + 1;
    const size_t best = argmax(probs[t]);
    EXPECT_FALSE(got[k].grouped);
    EXPECT_EQ(got[k].entity, id2label.at(static_cast<int64_t>(best))) << t;
    EXPECT_NEAR(got[k].score, probs[t][best], 1e-6) << t;
    EXPECT_EQ(got[k].score, static_cast<double>(static_cast<float>(got[k].score))) << "a float32 value";
    EXPECT_EQ(got[k].index, static_cast<int64_t>(t));
    EXPECT_EQ(got[k].word, pm.tokenizer->convert_id_to_token(enc.input_ids[t]));  // the raw piece, with ▁
    EXPECT_EQ(got[k].start, enc.offsets[t].first);
    EXPECT_EQ(got[k].end, enc.offsets[t].second);
    labels_seen.insert(got[k].entity);
  }
  EXPECT_EQ(got.front().word, "\xe2\x96\x81M");
  EXPECT_GE(labels_seen.size(), 2u) << "the fixture text should exercise several labels";

  // The default ignore_labels ["O"] drops exactly the O tokens.
  const std::vector<TokenEntity> filtered = token_classification(pm, kText);
  size_t not_o = 0;
  for (const TokenEntity& e : got) not_o += e.entity != "O";
  EXPECT_EQ(filtered.size(), not_o);
  for (const TokenEntity& e : filtered) EXPECT_NE(e.entity, "O");
}

// Aggregation simple: consecutive tokens whose tags continue the group (same type, not B-) are merged; the score is
// the mean, the word the pieces decoded, start/end from the first and last piece.
TEST(TokenClassification, SimpleGroupsTheModelsTokens) {
  const PipelineModel& pm = tokcls();
  const Encoding enc = pm.tokenizer->encode(kText);
  const auto probs = reference_scores(pm, enc);
  const auto& id2label = pm.model->config().id2label;
  struct Group {
    std::string type, word;
    double score_sum = 0;
    int n = 0;
    int64_t start = 0, end = 0;
  };
  std::vector<Group> expected;
  std::string last_type;
  for (size_t t = 1; t + 1 < enc.input_ids.size(); ++t) {
    const std::string label = id2label.at(static_cast<int64_t>(argmax(probs[t])));
    const bool b = label.rfind("B-", 0) == 0;
    const std::string type = label.size() > 2 && label[1] == '-' ? label.substr(2) : label;
    if (expected.empty() || b || type != last_type) expected.push_back(Group{type, "", 0, 0, enc.offsets[t].first, 0});
    Group& g = expected.back();
    std::string piece = enc.tokens[t];
    if (piece.rfind("\xe2\x96\x81", 0) == 0) piece = (g.n == 0 ? "" : " ") + piece.substr(3);
    g.word += piece;
    g.score_sum += probs[t][argmax(probs[t])];
    g.end = enc.offsets[t].second;
    ++g.n;
    last_type = type;
  }
  const std::vector<TokenEntity> got = token_classification(pm, kText, with(AggregationStrategy::Simple, {}));
  ASSERT_EQ(got.size(), expected.size());
  bool some_group_has_several_tokens = false;
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_TRUE(got[k].grouped);
    EXPECT_EQ(got[k].entity, expected[k].type) << k;
    EXPECT_EQ(got[k].word, expected[k].word) << k;
    EXPECT_NEAR(got[k].score, expected[k].score_sum / expected[k].n, 1e-6) << k;
    EXPECT_EQ(got[k].start, expected[k].start) << k;
    EXPECT_EQ(got[k].end, expected[k].end) << k;
    some_group_has_several_tokens = some_group_has_several_tokens || expected[k].n > 1;
  }
  EXPECT_TRUE(some_group_has_several_tokens);
}

// Aggregation first: words by the fallback heuristic (a piece continues the word when the two characters around
// its start hold no space), the word's label and score from its first piece.
TEST(TokenClassification, FirstTakesTheFirstPieceOfEachWord) {
  const PipelineModel& pm = tokcls();
  const Encoding enc = pm.tokenizer->encode(kText);
  const auto probs = reference_scores(pm, enc);
  const auto& id2label = pm.model->config().id2label;
  struct Word {
    std::string label;
    double score;
    int64_t start, end;
  };
  std::vector<Word> words;
  for (size_t t = 1; t + 1 < enc.input_ids.size(); ++t) {
    const int64_t s = enc.offsets[t].first;
    const bool subword = s > 0 && kText.substr(static_cast<size_t>(s - 1), 2).find(' ') == std::string::npos;
    if (subword && !words.empty()) {
      words.back().end = enc.offsets[t].second;
      continue;
    }
    const size_t best = argmax(probs[t]);
    words.push_back({id2label.at(static_cast<int64_t>(best)), probs[t][best], s, enc.offsets[t].second});
  }
  // "Wolfgang," pieces ▁W o l f g ang make one word, "Germany." another.
  std::vector<TokenEntity> got = token_classification(pm, kText, with(AggregationStrategy::First, {}));
  // Undo the grouping by checking each group against consecutive words.
  size_t w = 0;
  for (const TokenEntity& g : got) {
    ASSERT_LT(w, words.size());
    EXPECT_EQ(g.start, words[w].start);
    double sum = 0;
    int n = 0;
    std::string type;
    while (w < words.size() && (n == 0 || words[w].start < g.end.value())) {
      const std::string& label = words[w].label;
      type = label.size() > 2 && label[1] == '-' ? label.substr(2) : label;
      EXPECT_EQ(g.entity, type);
      sum += words[w].score;
      ++n;
      ++w;
    }
    EXPECT_EQ(g.end, words[w - 1].end);
    EXPECT_NEAR(g.score, sum / n, 1e-6);
  }
  EXPECT_EQ(w, words.size());
  // The word of a multi-word group is its words run through the Metaspace decoder: joined without spaces.
  bool found_joined = false;
  for (const TokenEntity& g : got) found_joined = found_joined || g.word.find("Wolfgang") != std::string::npos;
  EXPECT_TRUE(found_joined);
}

TEST(TokenClassification, IsSubwordHeuristicCountsCodePoints) {
  const std::string s = "h\xc3\xa9llo w\xc3\xb6rld";  // "héllo wörld"
  EXPECT_FALSE(ner::is_subword_heuristic(s, 0));
  EXPECT_TRUE(ner::is_subword_heuristic(s, 2));    // "él"
  EXPECT_FALSE(ner::is_subword_heuristic(s, 5));   // "o " (an offset that includes the space)
  EXPECT_FALSE(ner::is_subword_heuristic(s, 6));   // " w"
  EXPECT_TRUE(ner::is_subword_heuristic(s, 7));    // "wö" in code points, not bytes
  EXPECT_TRUE(ner::is_subword_heuristic(s, 8));
}

TEST(TokenClassification, GatherPreEntitiesSkipsSpecialsAndUsesTheTextForUnk) {
  const std::string sentence = "Hi \xf0\x9f\x98\x80x";  // "Hi 😀x": 5 code points
  const std::vector<int64_t> ids = {2, 40, 1, 41, 3};
  const std::vector<std::string> tokens = {"[CLS]", "\xe2\x96\x81Hi", "[UNK]", "x", "[SEP]"};
  const std::vector<float> scores = {1, 0, 0.25f, 0.75f, 0.5f, 0.5f, 0.9f, 0.1f, 1, 0};
  const std::vector<std::pair<int64_t, int64_t>> offsets = {{0, 0}, {0, 2}, {2, 4}, {4, 5}, {0, 0}};
  const std::vector<int64_t> special = {1, 0, 0, 0, 1};
  auto pre = ner::gather_pre_entities(sentence, ids, tokens, scores, 2, offsets, special, 1);
  ASSERT_EQ(pre.size(), 3u);
  EXPECT_EQ(pre[0].word, "\xe2\x96\x81Hi");
  EXPECT_EQ(pre[0].index, 1);
  EXPECT_EQ(pre[0].scores, (std::vector<float>{0.25f, 0.75f}));
  EXPECT_FALSE(pre[0].is_subword);
  EXPECT_EQ(pre[1].word, " \xf0\x9f\x98\x80");  // [UNK] -> the text it covers
  EXPECT_FALSE(pre[1].is_subword);              // forced for [UNK]
  EXPECT_EQ(pre[2].word, "x");
  EXPECT_TRUE(pre[2].is_subword);  // text[3:5] = "😀x"
  EXPECT_EQ(pre[2].start, 4);
  EXPECT_EQ(pre[2].end, 5);
  // Without offsets (slow tokenizer): no start/end, never a subword, [UNK] stays.
  pre = ner::gather_pre_entities(sentence, ids, tokens, scores, 2, {}, special, 1);
  ASSERT_EQ(pre.size(), 3u);
  EXPECT_EQ(pre[1].word, "[UNK]");
  EXPECT_FALSE(pre[2].is_subword);
  EXPECT_FALSE(pre[2].start.has_value());
}

const std::map<int64_t, std::string> kLabels = {{0, "O"}, {1, "B-PER"}, {2, "I-PER"}, {3, "B-LOC"}, {4, "I-LOC"}};

ner::PreEntity pre(const std::string& word, std::vector<float> scores, int64_t start, int64_t end, bool subword,
                   int64_t index = 0) {
  ner::PreEntity p;
  p.word = word;
  p.scores = std::move(scores);
  p.start = start;
  p.end = end;
  p.is_subword = subword;
  p.index = index;
  return p;
}

// One-hot-ish score vectors: label `l` gets `p`, the rest share 1 - p.
std::vector<float> peak(int l, float p) {
  std::vector<float> v(5, (1 - p) / 4);
  v[static_cast<size_t>(l)] = p;
  return v;
}

TEST(TokenClassification, MetaspaceTokensToString) {
  EXPECT_EQ(ner::metaspace_tokens_to_string({"\xe2\x96\x81Paris"}), "Paris");
  EXPECT_EQ(ner::metaspace_tokens_to_string({"\xe2\x96\x81New", "\xe2\x96\x81York", ","}), "New York,");
  EXPECT_EQ(ner::metaspace_tokens_to_string({"Paris", "France"}), "ParisFrance");  // words: no ▁, no space
  EXPECT_EQ(ner::metaspace_tokens_to_string({"\xe2\x96\x81", "my"}), "my");
  EXPECT_EQ(ner::metaspace_tokens_to_string({"a", "\xe2\x96\x81"}), "a ");
  EXPECT_EQ(ner::metaspace_tokens_to_string({}), "");
}

TEST(TokenClassification, SimpleGroupingFollowsBITags) {
  const std::string M = "\xe2\x96\x81";
  // B-PER I-PER | O O | B-LOC I-LOC | B-LOC | I-PER I-PER | I-LOC | B-PER
  std::vector<ner::PreEntity> p = {
      pre(M + "Jo", peak(1, 0.5f), 0, 2, false, 1), pre("hn", peak(2, 0.75f), 2, 4, true, 2),
      pre(M + "went", peak(0, 0.9f), 4, 9, false, 3), pre(M + "to", peak(0, 0.8f), 9, 12, false, 4),
      pre(M + "New", peak(3, 0.625f), 12, 16, false, 5), pre(M + "York", peak(4, 0.375f), 16, 21, false, 6),
      pre(M + "Rome", peak(3, 0.5f), 21, 26, false, 7), pre(M + "Ann", peak(2, 0.25f), 26, 30, false, 8),
      pre(M + "Lee", peak(2, 0.5f), 30, 34, false, 9), pre(M + "Bay", peak(4, 0.5f), 34, 38, false, 10),
      pre(M + "Bo", peak(1, 0.5f), 38, 41, false, 11)};
  auto got = ner::aggregate(p, AggregationStrategy::Simple, kLabels, ner::metaspace_tokens_to_string);
  ASSERT_EQ(got.size(), 7u);
  const std::vector<std::tuple<std::string, std::string, double, int64_t, int64_t>> expected = {
      {"PER", "John", 0.625, 0, 4},      {"O", "went to", static_cast<float>(static_cast<double>(0.9f + 0.8f) / 2), 4, 12}, {"LOC", "New York", 0.5, 12, 21},
      {"LOC", "Rome", 0.5, 21, 26},      {"PER", "Ann Lee", 0.375, 26, 34}, {"LOC", "Bay", 0.5, 34, 38},
      {"PER", "Bo", 0.5, 38, 41}};
  for (size_t k = 0; k < got.size(); ++k) {
    const auto& [type, word, score, start, end] = expected[k];
    EXPECT_TRUE(got[k].grouped);
    EXPECT_EQ(got[k].entity, type) << k;
    EXPECT_EQ(got[k].word, word) << k;
    EXPECT_EQ(got[k].score, static_cast<double>(static_cast<float>(score))) << k;
    EXPECT_EQ(got[k].start, start) << k;
    EXPECT_EQ(got[k].end, end) << k;
  }
  // The group's score is numpy's float32 mean: (0.9f + 0.8f) in float32, divided in double, rounded to float32.
  EXPECT_EQ(got[1].score, static_cast<double>(static_cast<float>(static_cast<double>(0.9f + 0.8f) / 2)));

  // Aggregation none keeps the tokens, with their index.
  auto none = ner::aggregate(p, AggregationStrategy::None, kLabels, ner::metaspace_tokens_to_string);
  ASSERT_EQ(none.size(), p.size());
  EXPECT_EQ(none[1].entity, "I-PER");
  EXPECT_EQ(none[1].index, 2);
  EXPECT_EQ(none[1].word, "hn");
  EXPECT_FALSE(none[1].grouped);
}

TEST(TokenClassification, GroupNameIsTheLabelAfterTheFirstDash) {
  std::vector<TokenEntity> entities(3);
  entities[0].entity = "PER-X";   // no B-/I- prefix: tag "PER-X" for grouping, "X" as the group's name
  entities[1].entity = "PER-X";
  entities[2].entity = "B-MISC-A";
  for (auto& e : entities) {
    e.score = 0.5;
    e.word = "w";
  }
  auto got = ner::group_entities(entities, ner::metaspace_tokens_to_string);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].entity, "X");
  EXPECT_EQ(got[0].word, "ww");
  EXPECT_EQ(got[1].entity, "MISC-A");
  EXPECT_TRUE(ner::group_entities({}, ner::metaspace_tokens_to_string).empty());
}

TEST(TokenClassification, WordStrategiesFirstAverageMax) {
  const std::string M = "\xe2\x96\x81";
  // Word 1 "Parisian" = ▁Par (B-LOC 0.5) + isian (B-PER 0.7); word 2 "Bob" = ▁Bob (I-PER 0.6).
  std::vector<float> a = {0.1f, 0.1f, 0.05f, 0.5f, 0.25f};
  std::vector<float> b = {0.05f, 0.7f, 0.05f, 0.1f, 0.1f};
  std::vector<float> c = {0.1f, 0.1f, 0.6f, 0.1f, 0.1f};
  std::vector<ner::PreEntity> p = {pre(M + "Par", a, 0, 3, false), pre("isian", b, 3, 8, true),
                                   pre(M + "Bob", c, 8, 12, false)};
  auto words = ner::aggregate_words(p, AggregationStrategy::First, kLabels, ner::metaspace_tokens_to_string);
  ASSERT_EQ(words.size(), 2u);
  EXPECT_EQ(words[0].entity, "B-LOC");
  EXPECT_EQ(words[0].score, static_cast<double>(0.5f));
  EXPECT_EQ(words[0].word, "Parisian");
  EXPECT_EQ(words[0].start, 0);
  EXPECT_EQ(words[0].end, 8);
  EXPECT_EQ(words[1].entity, "I-PER");

  words = ner::aggregate_words(p, AggregationStrategy::Max, kLabels, ner::metaspace_tokens_to_string);
  EXPECT_EQ(words[0].entity, "B-PER");
  EXPECT_EQ(words[0].score, static_cast<double>(0.7f));

  words = ner::aggregate_words(p, AggregationStrategy::Average, kLabels, ner::metaspace_tokens_to_string);
  // Column means: O 0.075, B-PER 0.4, I-PER 0.05, B-LOC 0.3, I-LOC 0.175 -> B-PER.
  EXPECT_EQ(words[0].entity, "B-PER");
  EXPECT_EQ(words[0].score, static_cast<double>(static_cast<float>(static_cast<double>(0.1f + 0.7f) / 2)));

  // Grouped: B-PER then I-PER continue one PER group, whose word is the words decoded together (no space: they
  // hold no ▁ any more, exactly what transformers does with a SentencePiece tokenizer).
  auto groups = ner::aggregate(p, AggregationStrategy::Average, kLabels, ner::metaspace_tokens_to_string);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].entity, "PER");
  EXPECT_EQ(groups[0].word, "ParisianBob");
  EXPECT_EQ(groups[0].start, 0);
  EXPECT_EQ(groups[0].end, 12);

  // Max: ties go to the first piece.
  std::vector<ner::PreEntity> tie = {pre(M + "a", peak(3, 0.5f), 0, 1, false), pre("b", peak(1, 0.5f), 1, 2, true)};
  words = ner::aggregate_words(tie, AggregationStrategy::Max, kLabels, ner::metaspace_tokens_to_string);
  EXPECT_EQ(words[0].entity, "B-LOC");
  // A word cannot start with a subword flag on the first pre-entity: it still opens the first word.
  std::vector<ner::PreEntity> lead = {pre("x", peak(1, 0.5f), 1, 2, true), pre("y", peak(2, 0.5f), 2, 3, true)};
  EXPECT_EQ(ner::aggregate_words(lead, AggregationStrategy::First, kLabels, ner::metaspace_tokens_to_string).size(), 1u);
  EXPECT_CONTAINS(error_message([&] {
                    ner::aggregate_words(p, AggregationStrategy::Simple, kLabels, ner::metaspace_tokens_to_string);
                  }),
                  "invalid for word aggregation");
}

TEST(TokenClassification, IgnoreLabelsApplyAfterGrouping) {
  const std::string M = "\xe2\x96\x81";
  std::vector<ner::PreEntity> p = {pre(M + "Ann", peak(1, 0.5f), 0, 3, false), pre(M + "in", peak(0, 0.5f), 3, 6, false),
                                   pre(M + "Rome", peak(3, 0.5f), 6, 11, false)};
  auto grouped = ner::aggregate(p, AggregationStrategy::Simple, kLabels, ner::metaspace_tokens_to_string);
  // Token labels do not match group names: "B-PER" filters nothing once grouped as "PER".
  EXPECT_EQ(ner::filter_ignored(grouped, {"B-PER", "O"}).size(), 2u);
  auto kept = ner::filter_ignored(grouped, {"PER", "O"});
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].entity, "LOC");
  EXPECT_EQ(ner::filter_ignored(grouped, {}).size(), 3u);
  auto tokens = ner::aggregate(p, AggregationStrategy::None, kLabels, ner::metaspace_tokens_to_string);
  EXPECT_EQ(ner::filter_ignored(tokens, {"B-PER"}).size(), 2u);
}

TokenEntity span(int64_t start, int64_t end, double score, const std::string& word) {
  TokenEntity e;
  e.grouped = true;
  e.entity = "PER";
  e.start = start;
  e.end = end;
  e.score = score;
  e.word = word;
  return e;
}

TEST(TokenClassification, OverlappingEntitiesKeepTheLongerThenTheLikelier) {
  // Chunk 1 saw "Ann" (0-3) and "Lee" (10-13); chunk 2 saw "Ann Lee" (0..13 is not in it) ... by start order:
  auto got = ner::aggregate_overlapping_entities({span(10, 13, 0.9, "Lee"), span(0, 3, 0.5, "Ann"),
                                                  span(10, 20, 0.4, "Lee Smith"), span(20, 24, 0.3, "Rome"),
                                                  span(20, 24, 0.6, "Rome2"), span(22, 24, 0.99, "me")});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].word, "Ann");
  EXPECT_EQ(got[1].word, "Lee Smith");  // longer wins over the likelier "Lee"
  EXPECT_EQ(got[2].word, "Rome2");      // same length: the higher score; "me" is inside and shorter
  EXPECT_TRUE(ner::aggregate_overlapping_entities({}).empty());
}

TEST(TokenClassification, JsonRendering) {
  TokenEntity token;
  token.entity = "B-PER";
  token.score = static_cast<double>(0.9f);
  token.index = 3;
  token.word = "\xe2\x96\x81Ren\xc3\xa9\"";
  token.start = 4;
  token.end = 9;
  EXPECT_EQ(to_json(std::vector<TokenEntity>{token}),
            "[{\"entity\": \"B-PER\", \"score\": 0.8999999761581421, \"index\": 3, \"word\": \"\\u2581Ren\\u00e9\\\"\", "
            "\"start\": 4, \"end\": 9}]");
  TokenEntity group = span(0, 7, 1e-5, "New York");
  group.entity = "LOC";
  TokenEntity slow = span(0, 0, 0.5, "x");
  slow.start.reset();
  slow.end.reset();
  slow.grouped = false;
  slow.entity = "O";
  EXPECT_EQ(to_json(std::vector<TokenEntity>{group, slow}),
            "[{\"entity_group\": \"LOC\", \"score\": 1e-05, \"word\": \"New York\", \"start\": 0, \"end\": 7}, "
            "{\"entity\": \"O\", \"score\": 0.5, \"index\": 0, \"word\": \"x\", \"start\": null, \"end\": null}]");
  EXPECT_EQ(to_json(std::vector<TokenEntity>{}), "[]");
}

TEST(TokenClassification, SlowTokenizerHasNoOffsets) {
  static PipelineModel pm = load_pipeline_model(fixture_path("models/tokcls"), std::nullopt, {}, TokenizerKind::Slow);
  ASSERT_FALSE(pm.tokenizer->is_fast());
  const auto fast = token_classification(tokcls(), kText, with(AggregationStrategy::None, {}));
  const auto slow = token_classification(pm, kText, with(AggregationStrategy::None, {}));
  ASSERT_EQ(slow.size(), fast.size());
  for (size_t k = 0; k < slow.size(); ++k) {
    EXPECT_EQ(slow[k].entity, fast[k].entity);
    EXPECT_EQ(slow[k].word, fast[k].word);
    EXPECT_FALSE(slow[k].start.has_value());
  }
  EXPECT_CONTAINS(to_json(slow), "\"start\": null, \"end\": null}");
  // Simple grouping works without offsets; the words come from sentencepiece's decode_pieces.
  const auto groups = token_classification(pm, kText, with(AggregationStrategy::Simple, {}));
  const auto fast_groups = token_classification(tokcls(), kText, with(AggregationStrategy::Simple, {}));
  ASSERT_EQ(groups.size(), fast_groups.size());
  for (size_t k = 0; k < groups.size(); ++k) EXPECT_EQ(groups[k].word, fast_groups[k].word);
  EXPECT_EQ(ner::sentencepiece_tokens_to_string({"[CLS]", "\xe2\x96\x81" "a", "[UNK]", "b"}, *pm.tokenizer),
            "a \xe2\x81\x87 b");
  // Word strategies and stride need a fast tokenizer.
  EXPECT_CONTAINS(error_message([&] { token_classification(pm, kText, with(AggregationStrategy::First)); }),
                  "Slow tokenizers cannot handle subwords");
  TokenClassificationOptions o = with(AggregationStrategy::Simple);
  o.stride = 2;
  EXPECT_CONTAINS(error_message([&] { token_classification(pm, kText, o); }), "slow tokenizer");
}

TEST(TokenClassification, WarnsAboutTheHeuristicForWordStrategies) {
  std::vector<std::string> warnings;
  token_classification(tokcls(), kText, with(AggregationStrategy::Max), &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_CONTAINS(warnings[0], "fallback heuristic");
  warnings.clear();
  token_classification(tokcls(), kText, with(AggregationStrategy::Simple), &warnings);
  EXPECT_TRUE(warnings.empty());
}

TEST(TokenClassification, ErrorsForTheWrongModelAndOverlongText) {
  static PipelineModel qa = load_pipeline_model(fixture_path("models/qa"));
  EXPECT_CONTAINS(error_message([&] { token_classification(qa, kText); }),
                  "token-classification needs RemBertForTokenClassification");
  std::string longer;
  for (int i = 0; i < 20; ++i) longer += "Berlin and Rome. ";
  EXPECT_CONTAINS(error_message([&] { token_classification(tokcls(), longer); }), "max_position_embeddings (64)");
  TokenClassificationOptions o = with(AggregationStrategy::None);
  o.stride = 4;
  EXPECT_CONTAINS(error_message([&] { token_classification(tokcls(), kText, o); }),
                  "`stride` was provided to process all the text but `aggregation_strategy=\"none\"`");
  o.stride = -1;
  EXPECT_CONTAINS(error_message([&] { token_classification(tokcls(), kText, o); }), "`stride` must be >= 0");
}

// A copy of the tokcls model whose tokenizer_config sets model_max_length: truncation, and stride windows.
class WindowedTokenClassification : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    namespace fs = std::filesystem;
    dir_ = new std::string(::testing::TempDir() + "rembert_tokcls_" + std::to_string(::getpid()));
    fs::remove_all(*dir_);
    fs::copy(fixture_path("models/tokcls"), *dir_);
    nlohmann::json cfg = nlohmann::json::parse(std::ifstream(*dir_ + "/tokenizer_config.json"));
    cfg["model_max_length"] = 16;
    std::ofstream(*dir_ + "/tokenizer_config.json") << cfg.dump(2);
    pm_ = new PipelineModel(load_pipeline_model(*dir_));
  }
  static void TearDownTestSuite() {
    delete pm_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::string* dir_;
  static PipelineModel* pm_;
};
std::string* WindowedTokenClassification::dir_ = nullptr;
PipelineModel* WindowedTokenClassification::pm_ = nullptr;

TEST_F(WindowedTokenClassification, TruncatesAtModelMaxLength) {
  ASSERT_EQ(pm_->tokenizer->model_max_length(), 16);
  const auto got = token_classification(*pm_, kText, with(AggregationStrategy::None, {}));
  ASSERT_EQ(got.size(), 14u);  // 16 minus [CLS] and [SEP]
  // The same tokens as the untruncated run up to there? Not the same scores (attention sees less), same pieces.
  const auto full = token_classification(tokcls(), kText, with(AggregationStrategy::None, {}));
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k].word, full[k].word);
    EXPECT_EQ(got[k].start, full[k].start);
  }
}

TEST_F(WindowedTokenClassification, StrideWindowsAreMergedWithoutOverlaps) {
  TokenClassificationOptions o = with(AggregationStrategy::Simple, {});
  o.stride = 5;
  const auto got = token_classification(*pm_, kText, o);
  // Windows of 14 text tokens moving by 9. Independently: every window's groups (transformers' rules on each
  // window's own tokens), then the overlap rule.
  EncodeOptions eo;
  eo.truncation = Truncation::LongestFirst;
  eo.max_length = 16;
  eo.stride = 5;
  eo.return_overflowing_tokens = true;
  eo.overflow_covers_whole_text = true;  // as the pipeline walks the text
  eo.padding = Padding::Longest;
  const BatchEncoding batch = pm_->tokenizer->encode_batch({kText}, nullptr, eo);
  ASSERT_GE(batch.encodings.size(), 2u);
  std::vector<TokenEntity> all;
  for (const Encoding& enc : batch.encodings) {
    const auto probs = reference_scores(*pm_, enc);
    std::vector<ner::PreEntity> pres;
    for (size_t t = 0; t < enc.input_ids.size(); ++t) {
      if (enc.special_tokens_mask[t]) continue;
      std::vector<float> p(probs[t].begin(), probs[t].end());
      pres.push_back(pre(enc.tokens[t], p, enc.offsets[t].first, enc.offsets[t].second, false, static_cast<int64_t>(t)));
    }
    auto groups = ner::aggregate(pres, AggregationStrategy::Simple, pm_->model->config().id2label,
                                 ner::metaspace_tokens_to_string);
    all.insert(all.end(), groups.begin(), groups.end());
  }
  const auto expected = ner::aggregate_overlapping_entities(all);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k].entity, expected[k].entity) << k;
    EXPECT_EQ(got[k].word, expected[k].word) << k;
    EXPECT_EQ(got[k].start, expected[k].start) << k;
    EXPECT_EQ(got[k].end, expected[k].end) << k;
    EXPECT_NEAR(got[k].score, expected[k].score, 1e-6) << k;
    if (k) {
      EXPECT_GE(*got[k].start, *got[k - 1].end) << "entities must not overlap";
    }
  }

  o.stride = 16;
  EXPECT_CONTAINS(error_message([&] { token_classification(*pm_, kText, o); }),
                  "`stride` must be less than `tokenizer.model_max_length`");
  o.stride = 14;  // less than 16 but not less than 16 - 2 special tokens: the tokenizer refuses
  EXPECT_CONTAINS(error_message([&] { token_classification(*pm_, kText, o); }), "stride");
}

// See WindowsCoverTheWholeContext in the question-answering tests: transformers v4's windows cover the whole text.
TEST_F(WindowedTokenClassification, StrideWindowsCoverTheWholeText) {
  TokenClassificationOptions o = with(AggregationStrategy::Simple, {});
  o.stride = 5;
  const auto got = token_classification(*pm_, kText, o);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().end, static_cast<int64_t>(kText.size()));
}

TEST(TokenClassification, EmptyTextHasNoEntities) {
  EXPECT_TRUE(token_classification(tokcls(), "", with(AggregationStrategy::None, {})).empty());
  EXPECT_TRUE(token_classification(tokcls(), "", with(AggregationStrategy::First, {})).empty());
}

}  // namespace
}  // namespace rembert
