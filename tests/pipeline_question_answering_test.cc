// question-answering pipeline (SPEC §4.4): span scoring on hand-made logits, p_mask, word alignment, merging and
// ranking of answers, JSON, errors, and the fixture model's start/end logits put through transformers' rules worked
// out here independently (double softmax, brute-force search of the answer band), over one window or several.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <tuple>

#include "pipelines/pipeline_util_qa.h"
#include "rembert/pipelines.h"
#include "test_util.h"

namespace rembert {
namespace {

namespace qa = pipelines::qa;
using testing::error_message;
using testing::fixture_path;

const PipelineModel& qa_model() {
  static PipelineModel pm = load_pipeline_model(fixture_path("models/qa"));
  return pm;
}

const std::string kQuestion = "Where do I live?";
const std::string kContext = "My name is Wolfgang and I live in Berlin, Germany.";
const std::string kLongContext =
    "My name is Wolfgang and I live in Berlin, Germany. My sister Anna lives in Rome, where she teaches music at a "
    "school near the river. Our parents moved to Lisbon last year.";

// ---- span scoring on hand-made logits
// Positions: 0 [CLS], 1-2 question, 3-5 context, 6 [SEP]. Allowed: 0, 3, 4, 5.
// exp(start) over the allowed = 1, 2, 4, 1 (sum 8); exp(end) = 1, 1, 2, 5 (sum 9). After zeroing position 0 the
// candidates are p_start[i] * p_end[j] = (exp_s[i] * exp_e[j]) / 72.
const std::vector<float> kStart = {0, 5, 5, std::log(2.0f), std::log(4.0f), 0, 9};
const std::vector<float> kEnd = {0, 5, 5, 0, std::log(2.0f), std::log(5.0f), 9};
const std::vector<int64_t> kPMask = {0, 1, 1, 0, 0, 0, 1};

void expect_spans(const std::vector<qa::SpanScore>& got, const std::vector<std::tuple<int64_t, int64_t, double>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k].start, std::get<0>(want[k])) << k;
    EXPECT_EQ(got[k].end, std::get<1>(want[k])) << k;
    EXPECT_NEAR(got[k].score, std::get<2>(want[k]), 1e-6) << k;
  }
}

TEST(QuestionAnsweringScoring, TopKInsideTheAnswerBand) {
  double null_score = 1000000;
  expect_spans(qa::select_starts_ends(kStart, kEnd, kPMask, {}, 1, false, 15, &null_score), {{4, 5, 20 / 72.0}});
  EXPECT_EQ(null_score, 1000000) << "untouched without handle_impossible_answer";
  expect_spans(qa::select_starts_ends(kStart, kEnd, kPMask, {}, 3, false, 15, &null_score),
               {{4, 5, 20 / 72.0}, {3, 5, 10 / 72.0}, {4, 4, 8 / 72.0}});
  // max_answer_len 2 drops (3, 5); 1 keeps single tokens only.
  expect_spans(qa::select_starts_ends(kStart, kEnd, kPMask, {}, 5, false, 2, &null_score),
               {{4, 5, 20 / 72.0}, {4, 4, 8 / 72.0}, {5, 5, 5 / 72.0}, {3, 4, 4 / 72.0}, {3, 3, 2 / 72.0}});
  expect_spans(qa::select_starts_ends(kStart, kEnd, kPMask, {}, 3, false, 1, &null_score),
               {{4, 4, 8 / 72.0}, {5, 5, 5 / 72.0}, {3, 3, 2 / 72.0}});
  // More than the positive candidates: the six come first, in order; anything after them scores 0 and starts and
  // ends on allowed positions (transformers' np.isin also lets position 0 through).
  auto many = qa::select_starts_ends(kStart, kEnd, kPMask, {}, 10, false, 15, &null_score);
  ASSERT_GE(many.size(), 6u);
  expect_spans(std::vector<qa::SpanScore>(many.begin(), many.begin() + 6),
               {{4, 5, 20 / 72.0}, {3, 5, 10 / 72.0}, {4, 4, 8 / 72.0}, {5, 5, 5 / 72.0}, {3, 4, 4 / 72.0},
                {3, 3, 2 / 72.0}});
  for (size_t k = 6; k < many.size(); ++k) {
    EXPECT_EQ(many[k].score, 0.0f);
    for (int64_t x : {many[k].start, many[k].end}) EXPECT_TRUE(x == 0 || (x >= 3 && x <= 5)) << x;
  }
}

TEST(QuestionAnsweringScoring, AttentionMaskAndNullScore) {
  double null_score = 1000000;
  // Position 4 masked by the attention mask: exp(start) over 0, 3, 5 = 1, 2, 1; exp(end) = 1, 1, 5.
  const std::vector<int64_t> attention = {1, 1, 1, 1, 0, 1, 1};
  expect_spans(qa::select_starts_ends(kStart, kEnd, kPMask, attention, 2, true, 15, &null_score),
               {{3, 5, 0.5 * 5 / 7.0}, {5, 5, 0.25 * 5 / 7.0}});
  EXPECT_NEAR(null_score, 0.25 / 7, 1e-7);  // p_start[0] * p_end[0] before position 0 is zeroed
  EXPECT_EQ(null_score, static_cast<double>(static_cast<float>(null_score))) << "a float32 product";
  qa::select_starts_ends(kStart, kEnd, kPMask, {}, 1, true, 15, &null_score);
  EXPECT_NEAR(null_score, 1 / 72.0, 1e-7) << "a smaller one from the next window";
  qa::select_starts_ends(kStart, kEnd, kPMask, attention, 1, true, 15, &null_score);
  EXPECT_NEAR(null_score, 1 / 72.0, 1e-7) << "the minimum over windows is kept";
  // A confident [CLS]: the null score dominates, the spans shrink.
  std::vector<float> s = kStart, e = kEnd;
  s[0] = e[0] = 20;
  double confident = 1000000;
  auto spans = qa::select_starts_ends(s, e, kPMask, {}, 1, true, 15, &confident);
  EXPECT_GT(confident, 0.99);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_LT(spans[0].score, 1e-6);
}

TEST(QuestionAnsweringScoring, LengthMismatchIsAnError) {
  double null_score = 0;
  EXPECT_CONTAINS(error_message([&] { qa::select_starts_ends(kStart, kEnd, {0, 1}, {}, 1, false, 15, &null_score); }),
                  "differ in length");
}

// ---- windows, words, characters
// [CLS] ▁Who ? [SEP] | ▁H ell o ▁w or " [MASK]" x 😀 | [SEP] over the context "Hello wor [MASK]x😀".
Encoding hand_window() {
  Encoding e;
  e.tokens = {"[CLS]", "\xe2\x96\x81Who", "?", "[SEP]", "\xe2\x96\x81H", "ell", "o", "\xe2\x96\x81w", "or",
              " [MASK]", "x", "\xf0\x9f\x98\x80", "[SEP]"};
  e.input_ids = {2, 100, 101, 3, 424, 723, 10, 592, 59, 4, 74, 1, 3};
  e.token_type_ids = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  e.special_tokens_mask = {1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  e.attention_mask.assign(e.input_ids.size(), 1);
  e.offsets = {{0, 0}, {0, 3}, {3, 4}, {0, 0}, {0, 1}, {1, 4}, {4, 5}, {5, 7}, {7, 9}, {9, 16}, {16, 17}, {17, 18},
               {0, 0}};
  return e;
}

TEST(QuestionAnsweringWindows, PMaskSequenceIdsAndWords) {
  const Encoding w = hand_window();
  EXPECT_EQ(qa::sequence_ids(w), (std::vector<int64_t>{-1, 0, 0, -1, 1, 1, 1, 1, 1, 1, 1, 1, -1}));
  EXPECT_EQ(qa::p_mask(w, 2), (std::vector<int64_t>{0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  // A pieces starting with ▁ opens a word; the added token is a word of its own (and so is what follows it); an
  // unknown piece (unk id, its own text) continues the word; numbering restarts in each sequence.
  EXPECT_EQ(qa::word_ids(w, *qa_model().tokenizer),
            (std::vector<int64_t>{-1, 0, 0, -1, 0, 0, 0, 1, 1, 2, 3, 3, -1}));
  // The real tokenizer's pair encoding: question first, context tokens in sequence 1.
  const Encoding real = qa_model().tokenizer->encode(kQuestion, &kContext);
  const auto p = qa::p_mask(real, qa_model().tokenizer->cls_token_id());
  ASSERT_EQ(p.size(), real.input_ids.size());
  EXPECT_EQ(p.front(), 0);
  EXPECT_EQ(p.back(), 1);
  for (size_t i = 1; i + 1 < p.size(); ++i) EXPECT_EQ(p[i], real.token_type_ids[i] == 1 ? 0 : 1) << i;
}

TEST(QuestionAnsweringWindows, AnswerCharactersAlignToWords) {
  const Encoding w = hand_window();
  const auto words = qa::word_ids(w, *qa_model().tokenizer);
  // "ell".."or": words 0 and 1 of the context (not the question's word 0) -> "Hello wor".
  EXPECT_EQ(qa::answer_chars(w, words, 5, 8, true), (std::pair<int64_t, int64_t>{0, 9}));
  EXPECT_EQ(qa::answer_chars(w, words, 5, 8, false), (std::pair<int64_t, int64_t>{1, 9}));
  EXPECT_EQ(qa::answer_chars(w, words, 10, 10, true), (std::pair<int64_t, int64_t>{16, 18}));  // "x😀"
  EXPECT_EQ(qa::answer_chars(w, words, 9, 9, true), (std::pair<int64_t, int64_t>{9, 16}));
  // [CLS] has no word: the token offsets.
  EXPECT_EQ(qa::answer_chars(w, words, 0, 0, true), (std::pair<int64_t, int64_t>{0, 0}));
  EXPECT_EQ(qa::answer_chars(w, words, 0, 6, true), (std::pair<int64_t, int64_t>{0, 5}));
}

// ---- merging, ranking, JSON
TEST(QuestionAnsweringAnswers, EqualTextsMergeCaseInsensitively) {
  std::vector<Answer> answers;
  qa::add_or_merge(answers, {0.25, 5, 11, "Berlin"});
  qa::add_or_merge(answers, {0.125, 30, 34, "Rome"});
  qa::add_or_merge(answers, {0.5, 20, 26, "BERLIN"});
  qa::add_or_merge(answers, {0.0625, 40, 45, "\xc3\xa9" "cole"});  // école
  qa::add_or_merge(answers, {0.0625, 50, 55, "\xc3\x89" "COLE"});  // ÉCOLE
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(answers[0].answer, "Berlin");  // the first one keeps its text and place
  EXPECT_EQ(answers[0].start, 5);
  EXPECT_EQ(answers[0].score, 0.75);
  EXPECT_EQ(answers[2].score, 0.125);

  auto ranked = qa::finish(answers, false, 1000000, 5);
  ASSERT_EQ(ranked.size(), 3u);
  EXPECT_EQ(ranked[0].answer, "Berlin");
  EXPECT_EQ(ranked[1].answer, "Rome");
  // The null answer competes with its score; ties keep their order (a stable sort); top_k cuts.
  ranked = qa::finish({{0.25, 1, 2, "a"}, {0.5, 3, 4, "b"}, {0.25, 5, 6, "c"}}, true, 0.25, 3);
  ASSERT_EQ(ranked.size(), 3u);
  EXPECT_EQ(ranked[0].answer, "b");
  EXPECT_EQ(ranked[1].answer, "a");
  EXPECT_EQ(ranked[2].answer, "c");
  ranked = qa::finish({{0.25, 1, 2, "a"}}, true, 0.375, 2);
  ASSERT_EQ(ranked.size(), 2u);
  EXPECT_EQ(ranked[0].answer, "");
  EXPECT_EQ(ranked[0].start, 0);
  EXPECT_EQ(ranked[0].end, 0);
  EXPECT_EQ(ranked[0].score, 0.375);
}

TEST(QuestionAnsweringAnswers, Json) {
  const Answer a{static_cast<double>(0.9f), 11, 17, "Berl\xc3\xadn"};
  const Answer b{1e-5, 0, 0, ""};
  EXPECT_EQ(to_json({a}), "{\"score\": 0.8999999761581421, \"start\": 11, \"end\": 17, \"answer\": \"Berl\\u00edn\"}");
  EXPECT_EQ(to_json({a}, true), to_json({a}));
  EXPECT_EQ(to_json({a}, false), "[" + to_json({a}) + "]");
  EXPECT_EQ(to_json({a, b}, true),
            "[{\"score\": 0.8999999761581421, \"start\": 11, \"end\": 17, \"answer\": \"Berl\\u00edn\"}, "
            "{\"score\": 1e-05, \"start\": 0, \"end\": 0, \"answer\": \"\"}]");
  EXPECT_EQ(to_json({}, true), "[]");
}

// ---- the fixture model, worked out independently
struct Candidate {
  double score;
  int64_t start, end;  // characters (token offsets)
  std::string text;
};

// The allowed tokens of a window, its softmaxes in double and the best spans (the per-window top_k), by brute force.
std::vector<Candidate> window_candidates(const Encoding& w, const std::string& context, int64_t top_k,
                                         int64_t max_answer_len, double* null_score) {
  const auto S = static_cast<int64_t>(w.input_ids.size());
  ForwardInputs in;
  in.input_ids = Tensor::from_i64({1, S}, w.input_ids);
  in.token_type_ids = Tensor::from_i64({1, S}, w.token_type_ids);
  in.attention_mask = Tensor::from_i64({1, S}, w.attention_mask);
  const ForwardOutputs out = qa_model().model->forward(in);
  const std::vector<float> sl = out.start_logits.to_f32_vector(), el = out.end_logits.to_f32_vector();
  std::vector<bool> ok(static_cast<size_t>(S));
  for (int64_t i = 0; i < S; ++i) {
    ok[static_cast<size_t>(i)] = i == 0 || (w.special_tokens_mask[static_cast<size_t>(i)] == 0 &&
                                            w.token_type_ids[static_cast<size_t>(i)] == 1);
  }
  auto softmax = [&](const std::vector<float>& x) {
    double max = -1e300, sum = 0;
    for (int64_t i = 0; i < S; ++i) {
      if (ok[static_cast<size_t>(i)]) max = std::max(max, static_cast<double>(x[static_cast<size_t>(i)]));
    }
    std::vector<double> p(static_cast<size_t>(S), 0.0);
    for (int64_t i = 0; i < S; ++i) {
      if (ok[static_cast<size_t>(i)]) sum += p[static_cast<size_t>(i)] = std::exp(x[static_cast<size_t>(i)] - max);
    }
    for (double& v : p) v /= sum;
    return p;
  };
  const std::vector<double> ps = softmax(sl), pe = softmax(el);
  *null_score = std::min(*null_score, ps[0] * pe[0]);
  std::vector<Candidate> all;
  for (int64_t i = 1; i < S; ++i) {
    for (int64_t j = i; j < S && j < i + max_answer_len; ++j) {
      if (!ok[static_cast<size_t>(i)] || !ok[static_cast<size_t>(j)]) continue;
      const int64_t a = w.offsets[static_cast<size_t>(i)].first, b = w.offsets[static_cast<size_t>(j)].second;
      all.push_back({ps[static_cast<size_t>(i)] * pe[static_cast<size_t>(j)], a, b,
                     context.substr(static_cast<size_t>(a), static_cast<size_t>(b - a))});  // ASCII context
    }
  }
  std::stable_sort(all.begin(), all.end(), [](const Candidate& x, const Candidate& y) { return x.score > y.score; });
  if (static_cast<int64_t>(all.size()) > top_k) all.resize(static_cast<size_t>(top_k));
  return all;
}

std::vector<Candidate> expected_answers(const std::string& context, int64_t max_seq_len, int64_t doc_stride,
                                        int64_t top_k, int64_t max_answer_len, size_t* windows = nullptr,
                                        double* null_score = nullptr) {
  EncodeOptions eo;
  eo.truncation = Truncation::OnlySecond;
  eo.max_length = max_seq_len;
  eo.stride = doc_stride;
  eo.return_overflowing_tokens = true;
  eo.overflow_covers_whole_text = true;  // transformers v4 walks the whole context in windows
  const std::vector<std::string> contexts = {context};
  const BatchEncoding batch = qa_model().tokenizer->encode_batch({kQuestion}, &contexts, eo);
  if (windows) *windows = batch.encodings.size();
  double null = 1000000;
  std::vector<Candidate> merged;
  for (const Encoding& w : batch.encodings) {
    EXPECT_LE(static_cast<int64_t>(w.input_ids.size()), max_seq_len);
    for (const Candidate& c : window_candidates(w, context, top_k, max_answer_len, &null)) {
      auto lower = [](std::string s) {
        for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return s;
      };
      auto it = std::find_if(merged.begin(), merged.end(), [&](const Candidate& m) { return lower(m.text) == lower(c.text); });
      if (it != merged.end()) {
        it->score += c.score;
      } else {
        merged.push_back(c);
      }
    }
  }
  if (null_score) *null_score = null;
  std::stable_sort(merged.begin(), merged.end(), [](const Candidate& x, const Candidate& y) { return x.score > y.score; });
  if (static_cast<int64_t>(merged.size()) > top_k) merged.resize(static_cast<size_t>(top_k));
  return merged;
}

void expect_answers(const std::vector<Answer>& got, const std::vector<Candidate>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_NEAR(got[k].score, want[k].score, 1e-6) << k;
    EXPECT_EQ(got[k].start, want[k].start) << k;
    EXPECT_EQ(got[k].end, want[k].end) << k;
    EXPECT_EQ(got[k].answer, want[k].text) << k;
  }
}

QuestionAnsweringOptions options(int64_t top_k, int64_t max_seq_len, int64_t doc_stride, bool align = false) {
  QuestionAnsweringOptions o;
  o.top_k = top_k;
  o.max_seq_len = max_seq_len;
  o.doc_stride = doc_stride;
  o.align_to_words = align;
  return o;
}

TEST(QuestionAnsweringFixture, OneWindowMatchesTheModel) {
  expect_answers(question_answering(qa_model(), kQuestion, kContext, options(1, 64, 16)),
                 expected_answers(kContext, 64, 16, 1, 15));
  expect_answers(question_answering(qa_model(), kQuestion, kContext, options(5, 64, 16)),
                 expected_answers(kContext, 64, 16, 5, 15));
  // The transformers defaults (max_seq_len 384, doc_stride 128) on a context that fits the model.
  QuestionAnsweringOptions defaults;
  defaults.align_to_words = false;
  expect_answers(question_answering(qa_model(), kQuestion, kContext, defaults), expected_answers(kContext, 64, 16, 1, 15));
}

TEST(QuestionAnsweringFixture, MaxAnswerLenLimitsTheTokens) {
  const auto got = question_answering(qa_model(), kQuestion, kContext, [] {
    QuestionAnsweringOptions o = options(8, 64, 16);
    o.max_answer_len = 1;
    return o;
  }());
  expect_answers(got, expected_answers(kContext, 64, 16, 8, 1));
  const Encoding enc = qa_model().tokenizer->encode(kQuestion, &kContext);
  for (const Answer& a : got) {
    bool one_token = false;
    for (size_t t = 0; t < enc.offsets.size(); ++t) {
      one_token = one_token || (enc.token_type_ids[t] == 1 && enc.offsets[t] == std::pair<int64_t, int64_t>{a.start, a.end});
    }
    EXPECT_TRUE(one_token) << a.answer;
  }
}

TEST(QuestionAnsweringFixture, LongContextInOverlappingWindows) {
  size_t windows = 0;
  const auto expected = expected_answers(kLongContext, 24, 8, 4, 15, &windows);
  EXPECT_GE(windows, 4u);
  expect_answers(question_answering(qa_model(), kQuestion, kLongContext, options(4, 24, 8)), expected);
  // Overlapping windows see the same spans: their equal answers were merged (scores added), so the answers are
  // distinct texts.
  const auto many = question_answering(qa_model(), kQuestion, kLongContext, options(40, 24, 8));
  for (size_t i = 0; i < many.size(); ++i) {
    for (size_t j = i + 1; j < many.size(); ++j) EXPECT_NE(many[i].answer, many[j].answer);
    if (i) {
      EXPECT_GE(many[i - 1].score, many[i].score);
    }
  }
  expect_answers(many, expected_answers(kLongContext, 24, 8, 40, 15));
}

// transformers v4 (tokenizers <= 0.22) cuts the whole context into windows; tokenizers 0.23.1+ stops tokenizing at
// max_length (huggingface/tokenizers#2091), which overflow_covers_whole_text undoes for the pipelines.
TEST(QuestionAnsweringFixture, WindowsCoverTheWholeContext) {
  EncodeOptions eo;
  eo.truncation = Truncation::OnlySecond;
  eo.max_length = 24;
  eo.stride = 8;
  eo.return_overflowing_tokens = true;
  eo.overflow_covers_whole_text = true;
  const std::vector<std::string> contexts = {kLongContext};
  const BatchEncoding batch = qa_model().tokenizer->encode_batch({kQuestion}, &contexts, eo);
  int64_t covered = 0;
  for (const Encoding& w : batch.encodings) {
    for (size_t t = 0; t < w.offsets.size(); ++t) {
      if (w.token_type_ids[t] == 1 && !w.special_tokens_mask[t]) covered = std::max(covered, w.offsets[t].second);
    }
  }
  ASSERT_EQ(covered, static_cast<int64_t>(kLongContext.size())) << "the windows must reach the end of the context";
  // Every part of the context can hold an answer: the last word is among the single-token candidates.
  QuestionAnsweringOptions o = options(200, 24, 8);
  o.max_answer_len = 1;
  bool saw_end = false;
  for (const Answer& a : question_answering(qa_model(), kQuestion, kLongContext, o)) {
    saw_end = saw_end || a.end == static_cast<int64_t>(kLongContext.size());
  }
  EXPECT_TRUE(saw_end);
}

// Offsets and answers count code points, as Python's str does.
TEST(QuestionAnsweringFixture, CharacterOffsetsAreCodePoints) {
  const std::string context = "Zo\xc3\xab und J\xc3\xbcrgen wohnen in K\xc3\xb6ln am Rhein.";  // Zoë, Jürgen, Köln
  auto code_points = [](const std::string& s) {
    std::vector<std::string> out;
    for (size_t i = 0; i < s.size();) {
      size_t n = 1;
      while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
      out.push_back(s.substr(i, n));
      i += n;
    }
    return out;
  };
  const auto chars = code_points(context);
  for (bool align : {false, true}) {
    for (const Answer& a : question_answering(qa_model(), kQuestion, context, options(10, 64, 16, align))) {
      ASSERT_LE(a.start, a.end);
      ASSERT_LE(a.end, static_cast<int64_t>(chars.size()));
      std::string slice;
      for (int64_t c = a.start; c < a.end; ++c) slice += chars[static_cast<size_t>(c)];
      EXPECT_EQ(a.answer, slice);
    }
  }
  const auto last = question_answering(qa_model(), kQuestion, context, [] {
    QuestionAnsweringOptions o = options(400, 64, 16);
    o.max_answer_len = 1;
    return o;
  }());
  bool saw_end = false;
  for (const Answer& a : last) saw_end = saw_end || a.end == static_cast<int64_t>(chars.size());
  EXPECT_TRUE(saw_end) << "the last token ends at the code-point length " << chars.size();
}

TEST(QuestionAnsweringFixture, AlignToWordsWidensTheSpanToWholeWords) {
  for (int64_t top_k : {1, 3}) {
    const auto raw = question_answering(qa_model(), kQuestion, kContext, options(top_k, 64, 16, false));
    const auto aligned = question_answering(qa_model(), kQuestion, kContext, options(top_k, 64, 16, true));
    ASSERT_EQ(raw.size(), aligned.size());
    for (size_t k = 0; k < raw.size(); ++k) {
      EXPECT_LE(aligned[k].start, raw[k].start);
      EXPECT_GE(aligned[k].end, raw[k].end);
      // A word starts after a space (offsets of a ▁ piece include it) or at 0, and ends before a space or the end.
      const auto s = static_cast<size_t>(aligned[k].start), e = static_cast<size_t>(aligned[k].end);
      EXPECT_TRUE(s == 0 || kContext[s] == ' ') << aligned[k].answer;
      EXPECT_TRUE(e == kContext.size() || kContext[e] == ' ') << aligned[k].answer;
      EXPECT_EQ(aligned[k].answer, kContext.substr(s, e - s));
    }
  }
}

TEST(QuestionAnsweringFixture, HandleImpossibleAnswerAddsTheNullAnswer) {
  double null_score = 0;
  size_t windows = 0;
  auto expected = expected_answers(kLongContext, 24, 8, 50, 15, &windows, &null_score);
  const auto got = question_answering(qa_model(), kQuestion, kLongContext, [] {
    QuestionAnsweringOptions o = options(50, 24, 8);
    o.handle_impossible_answer = true;
    return o;
  }());
  // Exactly one empty answer, with the smallest [CLS] probability product over the windows, ranked by its score.
  size_t empties = 0;
  for (size_t k = 0; k < got.size(); ++k) {
    if (!got[k].answer.empty()) continue;
    ++empties;
    EXPECT_NEAR(got[k].score, null_score, 1e-6);
    EXPECT_EQ(got[k].start, 0);
    EXPECT_EQ(got[k].end, 0);
    if (k + 1 < got.size()) {
      EXPECT_GE(got[k].score, got[k + 1].score);
    }
    if (k > 0) {
      EXPECT_LE(got[k].score, got[k - 1].score);
    }
  }
  EXPECT_EQ(empties, 1u);
  EXPECT_EQ(got.size(), std::min<size_t>(50, expected.size() + 1));
}

TEST(QuestionAnsweringFixture, Errors) {
  const PipelineModel& pm = qa_model();
  auto message = [&](QuestionAnsweringOptions o, const std::string& question = kQuestion,
                     const std::string& context = kContext) {
    return error_message([&] { question_answering(pm, question, context, o); });
  };
  QuestionAnsweringOptions o = options(1, 64, 16);
  o.top_k = 0;
  EXPECT_EQ(message(o), "top_k parameter should be >= 1 (got 0)");
  o = options(1, 64, 16);
  o.max_answer_len = 0;
  EXPECT_EQ(message(o), "max_answer_len parameter should be >= 1 (got 0)");
  EXPECT_EQ(message(options(1, 64, 16), ""), "`question` cannot be empty");
  EXPECT_EQ(message(options(1, 64, 16), kQuestion, ""), "`context` cannot be empty");
  EXPECT_EQ(message(options(1, 24, 30)), "`doc_stride` (30) is larger than `max_seq_len` (24)");
  // The default max_seq_len (384) over a long context is longer than this model's 64 positions.
  QuestionAnsweringOptions defaults;
  std::string very_long;
  for (int i = 0; i < 6; ++i) very_long += kLongContext + " ";
  EXPECT_CONTAINS(message(defaults, kQuestion, very_long), "max_position_embeddings (64)");
  // A question that leaves no room for the context, a stride that leaves no room for progress.
  EXPECT_CONTAINS(message(options(1, 8, 2)), "question-answering: ");
  EXPECT_CONTAINS(message(options(1, 8, 2)), "max_seq_len 8");
  EXPECT_CONTAINS(message(options(1, 24, 20)), "stride");
  static PipelineModel tokcls = load_pipeline_model(fixture_path("models/tokcls"));
  EXPECT_CONTAINS(error_message([&] { question_answering(tokcls, kQuestion, kContext); }),
                  "question-answering needs RemBertForQuestionAnswering");
}

// The slow tokenizer (sentencepiece.model) gives the same windows, offsets from SentencePiece's pieces, and so the
// same answers as the fast one, on every context and option the tests above use.
TEST(QuestionAnsweringFixture, SlowTokenizerGivesTheFastTokenizersAnswers) {
  static PipelineModel slow = load_pipeline_model(fixture_path("models/qa"), std::nullopt, {}, TokenizerKind::Slow);
  ASSERT_FALSE(slow.tokenizer->is_fast());
  const std::string accented = "Zo\xc3\xab und J\xc3\xbcrgen wohnen in K\xc3\xb6ln am Rhein.";
  size_t compared = 0;
  for (const std::string* context : {&kContext, &kLongContext, &accented}) {
    for (bool align : {false, true}) {
      for (const auto& [top_k, seq, stride] : {std::tuple<int64_t, int64_t, int64_t>{1, 64, 16}, {5, 64, 16},
                                               {4, 24, 8}, {40, 24, 8}, {3, 20, 4}}) {
        SCOPED_TRACE(*context + " top_k " + std::to_string(top_k) + " max_seq_len " + std::to_string(seq) +
                     " align " + std::to_string(align));
        QuestionAnsweringOptions o = options(top_k, seq, stride, align);
        o.handle_impossible_answer = top_k == 40;
        const auto want = question_answering(qa_model(), kQuestion, *context, o);
        const auto got = question_answering(slow, kQuestion, *context, o);
        ASSERT_EQ(got.size(), want.size());
        for (size_t k = 0; k < got.size(); ++k) {
          EXPECT_EQ(got[k].answer, want[k].answer) << k;
          EXPECT_EQ(got[k].start, want[k].start) << k;
          EXPECT_EQ(got[k].end, want[k].end) << k;
          EXPECT_NEAR(got[k].score, want[k].score, 1e-6) << k;
        }
        compared += got.size();
      }
    }
  }
  EXPECT_GT(compared, 100u);
  // The errors of the windows are the same too.
  QuestionAnsweringOptions o = options(1, 8, 2);
  EXPECT_CONTAINS(error_message([&] { question_answering(slow, kQuestion, kContext, o); }), "max_seq_len 8");
}

}  // namespace
}  // namespace rembert
