// The data side of `rembert train` (src/train/data.h, batching.h): JSON Lines readers of the six tasks checked
// against the tokenizer's own encoding of the same strings, every error path, the length-bucketed batches
// against the Python recipe's make_batches, the collators and the MLM masking rates.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "pipelines/common.h"
#include "rembert/error.h"
#include "rembert/tokenizer.h"
#include "test_util.h"
#include "train/batching.h"
#include "train/data.h"

namespace rembert::train {
namespace {

using testing::error_message;

const Tokenizer& fast() {
  static const std::unique_ptr<Tokenizer> t =
      load_tokenizer(testing::fixture_path("trained/lm"), TokenizerKind::Fast);
  return *t;
}

const Tokenizer& slow() {
  static const std::unique_ptr<Tokenizer> t =
      load_tokenizer(testing::fixture_path("trained/lm"), TokenizerKind::Slow);
  return *t;
}

// Writes `lines` (joined with "\n") to a scratch file and returns its path.
std::string jsonl(const std::string& name, const std::vector<std::string>& lines) {
  const std::string path = testing::scratch_dir() + name;
  std::string bytes;
  for (const std::string& l : lines) bytes += l + "\n";
  testing::write_file(path, bytes);
  return path;
}

std::vector<int64_t> encode_ids(const std::string& text, const std::string* pair = nullptr, int64_t max_length = 0) {
  EncodeOptions o;
  if (max_length) o.max_length = max_length;
  return fast().encode(text, pair, o).input_ids;
}

std::vector<int64_t> word_pieces(const std::string& word) {
  EncodeOptions o;
  o.add_special_tokens = false;
  return fast().encode(word, nullptr, o).input_ids;
}

TEST(TrainData, TaskNames) {
  for (Task t : {Task::TextClassification, Task::TokenClassification, Task::QuestionAnswering, Task::FillMask,
                 Task::MultipleChoice, Task::CausalLM}) {
    EXPECT_EQ(task_from_name(task_name(t)), t);
  }
  EXPECT_EQ(task_from_name("causal-lm"), Task::CausalLM);
  EXPECT_CONTAINS(error_message([] { task_from_name("summarization"); }), "unknown task 'summarization'");
}

TEST(TrainData, TextClassificationIdsAndSortedLabels) {
  const std::string path = jsonl("tc_train.jsonl", {
                                                       R"({"text": "the cat sat on the mat", "label": "pos"})",
                                                       "",
                                                       R"({"text": "a dog", "label": "neg"})",
                                                       R"({"text": "birds fly south", "label": "neutral"})",
                                                       R"({"text": "pos again", "label": "pos"})",
                                                   });
  const Dataset ds = read_dataset(path, Task::TextClassification, fast());
  EXPECT_EQ(ds.rows, 4);
  ASSERT_EQ(ds.features.size(), 4u);
  EXPECT_EQ(ds.labels.problem, ProblemType::SingleLabel);
  EXPECT_TRUE(ds.labels.from_names);
  EXPECT_EQ(ds.labels.id2label, (std::vector<std::string>{"neg", "neutral", "pos"}));
  EXPECT_EQ(ds.labels.label2id.at("pos"), 2);
  EXPECT_EQ(ds.features[0].input_ids, encode_ids("the cat sat on the mat"));
  EXPECT_EQ(ds.features[0].input_ids.front(), fast().cls_token_id());
  EXPECT_EQ(ds.features[0].input_ids.back(), fast().sep_token_id());
  EXPECT_EQ(ds.features[0].token_type_ids, std::vector<int64_t>(ds.features[0].input_ids.size(), 0));
  EXPECT_EQ(ds.features[1].input_ids, encode_ids("a dog"));
  const std::vector<int64_t> labels = {ds.features[0].label, ds.features[1].label, ds.features[2].label,
                                       ds.features[3].label};
  EXPECT_EQ(labels, (std::vector<int64_t>{2, 0, 1, 2}));
  EXPECT_EQ(ds.lengths()[1], static_cast<int64_t>(encode_ids("a dog").size()));

  // The eval file uses the training map; an unknown label names file, line and label.
  DataOptions o;
  o.labels = &ds.labels;
  const std::string eval = jsonl("tc_eval.jsonl", {R"({"text": "x", "label": "neutral"})"});
  const Dataset ev = read_dataset(eval, Task::TextClassification, fast(), o);
  EXPECT_EQ(ev.features[0].label, 1);
  EXPECT_EQ(ev.labels.id2label, ds.labels.id2label);
  const std::string bad = jsonl("tc_eval_bad.jsonl", {R"({"text": "x", "label": "pos"})", R"({"text": "y", "label": "joy"})"});
  EXPECT_CONTAINS(error_message([&] { read_dataset(bad, Task::TextClassification, fast(), o); }),
                  "tc_eval_bad.jsonl:2: field 'label': unknown label \"joy\"");
}

TEST(TrainData, TextClassificationPairsAndTruncation) {
  const std::string a = "one two three four five six seven eight nine ten eleven twelve";
  const std::string b = "alpha beta gamma delta";
  const std::string path =
      jsonl("tc_pair.jsonl", {R"({"text": ")" + a + R"(", "text_pair": ")" + b + R"(", "label": 1})"});
  DataOptions o;
  o.max_length = 12;
  const Dataset ds = read_dataset(path, Task::TextClassification, fast(), o);
  ASSERT_EQ(ds.features.size(), 1u);
  const Features& f = ds.features[0];
  ASSERT_GT(encode_ids(a, &b).size(), 12u);  // the row is long enough to be truncated
  EncodeOptions eo;
  eo.max_length = 12;
  eo.truncation = Truncation::LongestFirst;
  const Encoding expected = fast().encode(a, &b, eo);
  EXPECT_EQ(f.input_ids.size(), 12u);
  EXPECT_EQ(f.input_ids, expected.input_ids);
  EXPECT_EQ(f.token_type_ids, expected.token_type_ids);
  EXPECT_EQ(std::count(f.token_type_ids.begin(), f.token_type_ids.end(), 1) > 0, true);
  // Integer labels keep their ids.
  EXPECT_FALSE(ds.labels.from_names);
  EXPECT_EQ(ds.labels.id2label, (std::vector<std::string>{"LABEL_0", "LABEL_1"}));
  EXPECT_EQ(f.label, 1);

  // drop_long_rows drops instead of truncating.
  o.drop_long_rows = true;
  const std::string two = jsonl("tc_drop.jsonl", {R"({"text": ")" + a + R"(", "label": 3})", R"({"text": "short", "label": 0})"});
  const Dataset kept = read_dataset(two, Task::TextClassification, fast(), o);
  EXPECT_EQ(kept.rows, 2);
  EXPECT_EQ(kept.dropped, 1);
  ASSERT_EQ(kept.features.size(), 1u);
  EXPECT_EQ(kept.features[0].input_ids, encode_ids("short"));
  EXPECT_EQ(kept.labels.num_labels(), 4);  // the map still sees the dropped row's label
}

TEST(TrainData, TextClassificationRegressionAndMultiLabel) {
  const std::string reg = jsonl("tc_reg.jsonl", {R"({"text": "a", "label": 1})", R"({"text": "b", "label": 0.25})"});
  const Dataset r = read_dataset(reg, Task::TextClassification, fast());
  EXPECT_EQ(r.labels.problem, ProblemType::Regression);
  EXPECT_EQ(r.labels.num_labels(), 1);
  EXPECT_EQ(r.features[0].label_values, std::vector<float>{1.0f});
  EXPECT_EQ(r.features[1].label_values, std::vector<float>{0.25f});

  const std::string multi =
      jsonl("tc_multi.jsonl", {R"({"text": "a", "label": ["sport", "news"]})", R"({"text": "b", "label": []})",
                               R"({"text": "c", "label": ["art"]})"});
  const Dataset m = read_dataset(multi, Task::TextClassification, fast());
  EXPECT_EQ(m.labels.problem, ProblemType::MultiLabel);
  EXPECT_EQ(m.labels.id2label, (std::vector<std::string>{"art", "news", "sport"}));
  EXPECT_EQ(m.features[0].label_values, (std::vector<float>{0, 1, 1}));
  EXPECT_EQ(m.features[1].label_values, (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(m.features[2].label_values, (std::vector<float>{1, 0, 0}));
}

TEST(TrainData, TokenClassificationFirstSubTokenLabels) {
  const std::vector<std::string> words = {"Tokenization", "of", "unbelievably", "long", "words"};
  // The test only means something when some word splits into several pieces.
  size_t split_words = 0;
  for (const auto& w : words) split_words += word_pieces(w).size() > 1;
  ASSERT_GE(split_words, 1u);
  const std::string path = jsonl(
      "ner.jsonl", {R"({"tokens": ["Tokenization", "of", "unbelievably", "long", "words"], "ner_tags": ["B-X", "O", "B-Y", "I-Y", "O"]})",
                    R"({"tokens": ["of"], "ner_tags": ["I-X"]})"});
  const Dataset ds = read_dataset(path, Task::TokenClassification, fast());
  EXPECT_EQ(ds.labels.id2label, (std::vector<std::string>{"B-X", "B-Y", "I-X", "I-Y", "O"}));
  const std::map<std::string, int64_t> id = {{"B-X", 0}, {"B-Y", 1}, {"I-X", 2}, {"I-Y", 3}, {"O", 4}};
  const std::vector<std::string> tags = {"B-X", "O", "B-Y", "I-Y", "O"};
  std::vector<int64_t> ids = {fast().cls_token_id()}, labels = {-100};
  for (size_t w = 0; w < words.size(); ++w) {
    const std::vector<int64_t> p = word_pieces(words[w]);
    for (size_t k = 0; k < p.size(); ++k) {
      ids.push_back(p[k]);
      labels.push_back(k == 0 ? id.at(tags[w]) : -100);
    }
  }
  ids.push_back(fast().sep_token_id());
  labels.push_back(-100);
  ASSERT_EQ(ds.features.size(), 2u);
  EXPECT_EQ(ds.features[0].input_ids, ids);
  EXPECT_EQ(ds.features[0].token_labels, labels);
  EXPECT_EQ(ds.features[0].token_type_ids, std::vector<int64_t>(ids.size(), 0));
  EXPECT_EQ(ds.features[1].token_labels.size(), ds.features[1].input_ids.size());
  EXPECT_EQ(ds.features[1].token_labels[1], 2);

  // Truncation keeps [CLS] ... [SEP] within max_length.
  DataOptions o;
  o.max_length = 4;
  const Dataset cut = read_dataset(path, Task::TokenClassification, fast(), o);
  EXPECT_EQ(cut.features[0].input_ids,
            (std::vector<int64_t>{ids[0], ids[1], ids[2], fast().sep_token_id()}));
  EXPECT_EQ(cut.features[0].token_labels, (std::vector<int64_t>{-100, labels[1], labels[2], -100}));

  // Integer tags keep their ids; the slow tokenizer gives the same pieces.
  const std::string ints = jsonl("ner_ids.jsonl", {R"({"tokens": ["of", "words"], "ner_tags": [0, 3]})"});
  const Dataset di = read_dataset(ints, Task::TokenClassification, slow());
  EXPECT_EQ(di.labels.num_labels(), 4);
  std::vector<int64_t> expect = {slow().cls_token_id()};
  for (const char* w : {"of", "words"}) {
    const std::vector<int64_t> p = word_pieces(w);
    expect.insert(expect.end(), p.begin(), p.end());
  }
  expect.push_back(slow().sep_token_id());
  EXPECT_EQ(di.features[0].input_ids, expect);
}

// The context text of tokens start..end of a QA feature, without the white space before it (a "▁word" piece's
// offsets cover the space the Metaspace pre-tokenizer turned into "▁").
std::string span_text(const Dataset& ds, const Features& f) {
  const QaExample& ex = ds.examples[static_cast<size_t>(f.example_index)];
  const std::string span = pipelines::code_point_slice(ex.context, f.offsets[static_cast<size_t>(f.start_position)].first,
                                                       f.offsets[static_cast<size_t>(f.end_position)].second);
  const size_t first = span.find_first_not_of(' ');
  return first == std::string::npos ? "" : span.substr(first);
}

TEST(TrainData, QuestionAnsweringPositions) {
  const std::string context = "The Eiffel Tower is in Paris. It was built in 1889 by Gustave Eiffel's company.";
  const std::string path = jsonl(
      "qa.jsonl",
      {R"({"id": "q1", "question": "  Where is the tower?", "context": ")" + context +
           R"(", "answers": {"text": ["Paris"], "answer_start": [23]}})",
       R"({"question": "When?", "context": ")" + context + R"(", "answers": {"text": ["1889", "in 1889"], "answer_start": [46, 43]}})",
       R"({"id": 7, "question": "Who?", "context": ")" + context + R"(", "answers": {"text": [], "answer_start": []}})"});
  const Dataset ds = read_dataset(path, Task::QuestionAnswering, fast());
  ASSERT_EQ(ds.examples.size(), 3u);
  ASSERT_EQ(ds.features.size(), 3u);
  EXPECT_EQ(ds.examples[0].id, "q1");
  EXPECT_EQ(ds.examples[1].id, "2");  // the line number
  EXPECT_EQ(ds.examples[2].id, "7");
  EXPECT_EQ(ds.examples[1].answers, (std::vector<std::string>{"1889", "in 1889"}));
  // Question first (left-stripped), context second.
  const std::string q = "Where is the tower?";
  EXPECT_EQ(ds.features[0].input_ids, encode_ids(q, &context));
  EXPECT_EQ(span_text(ds, ds.features[0]), "Paris");
  EXPECT_EQ(span_text(ds, ds.features[1]), "1889");
  EXPECT_LE(ds.features[0].start_position, ds.features[0].end_position);
  EXPECT_EQ(ds.features[0].token_type_ids[static_cast<size_t>(ds.features[0].start_position)], 1);
  // No answer: the [CLS] index.
  EXPECT_EQ(ds.features[2].start_position, 0);
  EXPECT_EQ(ds.features[2].end_position, 0);
  // An answer in the last context token: the start scan stops at the context's end (transformers' run_qa runs
  // on to the final [SEP]).
  const std::string end_path = jsonl("qa_end.jsonl", {R"({"question": "Where?", "context": "It is in Paris", "answers": {"text": ["Paris"], "answer_start": [9]}})"});
  const Dataset at_end = read_dataset(end_path, Task::QuestionAnswering, fast());
  EXPECT_EQ(span_text(at_end, at_end.features[0]), "Paris");
  EXPECT_LT(at_end.features[0].start_position, static_cast<int64_t>(at_end.features[0].input_ids.size()) - 1);
  // Offsets only on context tokens.
  const Features& f = ds.features[0];
  for (size_t t = 0; t < f.offsets.size(); ++t) {
    EXPECT_EQ(f.offsets[t].first < 0, f.token_type_ids[t] == 0 || t + 1 == f.offsets.size()) << t;
  }
}

TEST(TrainData, QuestionAnsweringWindows) {
  // A long context in windows of 40 tokens sharing 10: the windows holding the answer point at it, the others at
  // [CLS].
  std::string context;
  for (int i = 0; i < 30; ++i) context += "word" + std::to_string(i) + " filler text here. ";
  const std::string answer = "word17 filler";
  const auto start = static_cast<int64_t>(context.find(answer));
  const std::string path =
      jsonl("qa_long.jsonl", {R"({"question": "Which?", "context": ")" + context +
                                  R"(", "answers": {"text": [")" + answer + R"("], "answer_start": [)" +
                                  std::to_string(start) + "]}}"});
  DataOptions o;
  o.max_length = 40;
  o.doc_stride = 10;
  const Dataset ds = read_dataset(path, Task::QuestionAnswering, fast(), o);
  ASSERT_GT(ds.features.size(), 3u);
  int with_answer = 0;
  for (const Features& f : ds.features) {
    EXPECT_EQ(f.example_index, 0);
    EXPECT_LE(f.input_ids.size(), 40u);
    if (f.start_position == 0) {
      EXPECT_EQ(f.end_position, 0);
      continue;
    }
    ++with_answer;
    EXPECT_EQ(span_text(ds, f), answer);
  }
  EXPECT_GE(with_answer, 1);

  // keep_qa_offsets = false drops them; a slow tokenizer has no offsets.
  o.keep_qa_offsets = false;
  EXPECT_TRUE(read_dataset(path, Task::QuestionAnswering, fast(), o).features[0].offsets.empty());
  EXPECT_CONTAINS(error_message([&] { read_dataset(path, Task::QuestionAnswering, slow(), o); }), "fast tokenizer");
}

TEST(TrainData, FillMaskCausalAndMultipleChoice) {
  const std::string path = jsonl("mlm.jsonl", {R"({"text": "hello world, this is a test"})"});
  DataOptions o;
  o.max_length = 5;
  for (Task t : {Task::FillMask, Task::CausalLM}) {
    const Dataset ds = read_dataset(path, t, fast(), o);
    ASSERT_EQ(ds.features.size(), 1u);
    EXPECT_EQ(ds.features[0].input_ids, encode_ids("hello world, this is a test", nullptr, 5));
    EXPECT_EQ(ds.features[0].special_tokens_mask, (std::vector<int64_t>{1, 0, 0, 0, 1}));
  }

  const std::string mc = jsonl(
      "mc.jsonl", {R"({"context": "The sky is", "choices": ["blue", "a green cheese moon", "red"], "label": 0})",
                   R"({"context": "Two plus two", "choices": ["four", "five", "is twenty two"], "label": 2})"});
  const Dataset ds = read_dataset(mc, Task::MultipleChoice, fast());
  EXPECT_EQ(ds.num_choices, 3);
  ASSERT_EQ(ds.features.size(), 2u);
  const std::string ctx = "The sky is", c1 = "a green cheese moon";
  EXPECT_EQ(ds.features[0].choice_input_ids[1], encode_ids(ctx, &c1));
  EXPECT_EQ(ds.features[0].choice_token_type_ids[1], fast().encode(ctx, &c1).token_type_ids);
  EXPECT_EQ(ds.features[1].label, 2);
  EXPECT_EQ(ds.features[0].length(), 3 * static_cast<int64_t>(encode_ids(ctx, &c1).size()));
}

TEST(TrainData, ErrorsNameFileLineAndField) {
  struct Case {
    Task task;
    std::string bad_row;
    std::string expected;  // after "FILE:3: "
  };
  const std::string good_text = R"({"text": "ok", "label": "a"})";
  const std::vector<Case> cases = {
      {Task::TextClassification, "not json", "not JSON"},
      {Task::TextClassification, "[1, 2]", "a row must be a JSON object, got a list"},
      {Task::TextClassification, R"({"label": "a"})", "field 'text': missing"},
      {Task::TextClassification, R"({"text": 5, "label": "a"})", "field 'text': expected a string, got an integer"},
      {Task::TextClassification, R"({"text": "", "label": "a"})", "field 'text': empty string"},
      {Task::TextClassification, R"({"text": "x"})", "field 'label': missing"},
      {Task::TextClassification, R"({"text": "x", "label": true})", "field 'label': expected a label name, id, float or list, got a boolean"},
      {Task::TextClassification, R"({"text": "x", "label": 3})", "field 'label': expected a label name (string) like the rows before, got an integer"},
      {Task::TextClassification, R"({"text": "x", "label": "a", "text_pair": 2})", "field 'text_pair': expected a string"},
      {Task::TokenClassification, R"({"tokens": [], "ner_tags": []})", "field 'tokens': empty list of words"},
      {Task::TokenClassification, R"({"tokens": "a b", "ner_tags": []})", "field 'tokens': expected a list of words, got a string"},
      {Task::TokenClassification, R"({"tokens": ["a", 1], "ner_tags": ["O", "O"]})", "field 'tokens': word 1: expected a string"},
      {Task::TokenClassification, R"({"tokens": ["a", "b"], "ner_tags": ["O"]})", "field 'ner_tags': 1 tags for 2 words"},
      {Task::TokenClassification, R"({"tokens": ["a"], "ner_tags": [{}]})", "field 'ner_tags': expected tag names or ids, got an object"},
      {Task::TokenClassification, R"({"tokens": ["a"]})", "field 'ner_tags': missing"},
      {Task::QuestionAnswering, R"({"question": "q", "context": "abc"})", "field 'answers': missing"},
      {Task::QuestionAnswering, R"({"question": "q", "context": "abc", "answers": {"text": ["c"], "answer_start": [3]}})",
       "field 'answers.answer_start': answer 0 at 3 with 1 characters is outside the context (3 characters)"},
      {Task::QuestionAnswering, R"({"question": "q", "context": "abc", "answers": {"text": ["c"], "answer_start": [-1]}})",
       "field 'answers.answer_start'"},
      {Task::QuestionAnswering, R"({"question": "q", "context": "abc", "answers": {"text": ["c"]}})", "field 'answers.answer_start': missing"},
      {Task::QuestionAnswering, R"({"question": "q", "context": "abc", "answers": {"text": ["c", "b"], "answer_start": [1]}})",
       "field 'answers': 2 texts but 1 answer_start values"},
      {Task::QuestionAnswering, R"({"question": "q", "context": "abc", "answers": {"text": [1], "answer_start": [1]}})",
       "field 'answers.text': answer 0: expected a string"},
      {Task::QuestionAnswering, R"({"question": "   ", "context": "abc", "answers": {"text": [], "answer_start": []}})",
       "field 'question': only white space"},
      {Task::QuestionAnswering, R"({"id": [1], "question": "q", "context": "abc", "answers": {"text": [], "answer_start": []}})",
       "field 'id': expected a string or integer"},
      {Task::MultipleChoice, R"({"context": "c", "choices": ["a", "b"], "label": 1})", "field 'choices': 2 choices, but the first row has 3"},
      {Task::MultipleChoice, R"({"context": "c", "choices": ["a", "b", "d"], "label": 3})", "field 'label': choice 3 out of range [0, 3)"},
      {Task::MultipleChoice, R"({"context": "c", "choices": ["a", 2, "d"], "label": 0})", "field 'choices': choice 1: expected a string"},
      {Task::MultipleChoice, R"({"context": "c", "choices": ["a", "b", "d"], "label": "a"})", "field 'label': expected the index"},
      {Task::FillMask, R"({"txt": "x"})", "field 'text': missing"},
      {Task::CausalLM, R"({"text": null})", "field 'text': expected a string, got null"},
  };
  for (const Case& c : cases) {
    std::string good;
    switch (c.task) {
      case Task::TextClassification: good = good_text; break;
      case Task::TokenClassification: good = R"({"tokens": ["a"], "ner_tags": ["O"]})"; break;
      case Task::QuestionAnswering:
        good = R"({"question": "q", "context": "abc", "answers": {"text": ["b"], "answer_start": [1]}})";
        break;
      case Task::MultipleChoice: good = R"({"context": "c", "choices": ["a", "b", "d"], "label": 0})"; break;
      default: good = R"({"text": "fine"})"; break;
    }
    // Line 2 is empty: line numbers count it.
    const std::string path = jsonl("bad.jsonl", {good, "", c.bad_row, good});
    EXPECT_CONTAINS(error_message([&] { read_dataset(path, c.task, fast()); }), path + ":3: " + c.expected);
  }

  // Eval-file label errors against a given map.
  LabelMap ids;
  ids.id2label = {"LABEL_0", "LABEL_1"};
  ids.label2id = {{"LABEL_0", 0}, {"LABEL_1", 1}};
  DataOptions o;
  o.labels = &ids;
  const std::string range = jsonl("range.jsonl", {R"({"text": "x", "label": 2})"});
  EXPECT_CONTAINS(error_message([&] { read_dataset(range, Task::TextClassification, fast(), o); }),
                  "range.jsonl:1: field 'label': label id 2 out of range [0, 2)");
  const std::string neg = jsonl("neg.jsonl", {R"({"text": "x", "label": -1})"});
  EXPECT_CONTAINS(error_message([&] { read_dataset(neg, Task::TextClassification, fast()); }),
                  "neg.jsonl:1: field 'label': label id -1 is negative");
  // Integer ids become LABEL_0..LABEL_<largest>: one huge id must be refused, not turned into that many names.
  const std::string huge = jsonl("huge.jsonl", {R"({"text": "x", "label": 0})", R"({"text": "y", "label": 9000000000000})"});
  EXPECT_CONTAINS(error_message([&] { read_dataset(huge, Task::TextClassification, fast()); }),
                  "huge.jsonl:2: field 'label': label id 9000000000000 is too large: a config holds at most 65536 "
                  "labels (ids 0..65535)");
  const std::string edge = jsonl("edge.jsonl", {R"({"text": "x", "label": 65536})"});
  EXPECT_CONTAINS(error_message([&] { read_dataset(edge, Task::TextClassification, fast()); }),
                  "edge.jsonl:1: field 'label': label id 65536 is too large");
  const std::string largest = jsonl("largest.jsonl", {R"({"text": "x", "label": 65535})"});
  EXPECT_EQ(read_dataset(largest, Task::TextClassification, fast()).labels.num_labels(), 65536);
  const std::string ner = jsonl("ner_range.jsonl", {R"({"tokens": ["a"], "ner_tags": [5]})"});
  EXPECT_CONTAINS(error_message([&] { read_dataset(ner, Task::TokenClassification, fast(), o); }),
                  "ner_range.jsonl:1: field 'ner_tags': label id 5 out of range [0, 2)");
  // Whole-file errors.
  const std::string empty = jsonl("empty.jsonl", {"", "  "});
  EXPECT_CONTAINS(error_message([&] { read_dataset(empty, Task::FillMask, fast()); }), "empty.jsonl: no rows");
  EXPECT_CONTAINS(error_message([&] { read_dataset("/nonexistent/x.jsonl", Task::FillMask, fast()); }),
                  "/nonexistent/x.jsonl: cannot open");
  // A tokenizer error (the question alone is longer than the window) names the row.
  const std::string longq = jsonl("qa_longq.jsonl", {R"({"question": "one two three four five six seven eight nine ten", "context": "abc", "answers": {"text": [], "answer_start": []}})"});
  DataOptions tiny;
  tiny.max_length = 8;
  tiny.doc_stride = 2;
  EXPECT_CONTAINS(error_message([&] { read_dataset(longq, Task::QuestionAnswering, fast(), tiny); }),
                  "qa_longq.jsonl:1: field 'context': ");
}

// ---- batching

TEST(Batching, PyRandomMatchesPython) {
  // Python 3.11: r = random.Random(0); x = list(range(10)); r.shuffle(x)
  PyRandom r0(0);
  std::vector<int64_t> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  r0.shuffle(x);
  EXPECT_EQ(x, (std::vector<int64_t>{7, 8, 1, 5, 3, 4, 2, 0, 9, 6}));
  // r = random.Random(12345); r.random(), r.getrandbits(64), r.getrandbits(7), r.randrange(1000)
  PyRandom r1(12345);
  EXPECT_EQ(r1.random(), 0.41661987254534116);
  EXPECT_EQ(r1.getrandbits(64), 15129553140981592645ull);
  EXPECT_EQ(r1.getrandbits(7), 105u);
  EXPECT_EQ(r1.randbelow(1000), 822u);
  // A seed of two 32-bit words: random.Random(2**40 + 5).getrandbits(32), .getrandbits(40)
  PyRandom r2((uint64_t{1} << 40) + 5);
  EXPECT_EQ(r2.getrandbits(32), 2166296868u);
  EXPECT_EQ(r2.getrandbits(40), 294277936956ull);
}

TEST(Batching, MakeBatchesMatchesPythonRecipe) {
  // peer_torch_train.py make_batches(lengths, random.Random(3), 40, 4, 10), twice (two epochs, one rng), with
  // lengths = [(i * 7) % 13 + 1 for i in range(30)].
  std::vector<int64_t> lengths;
  for (int64_t i = 0; i < 30; ++i) lengths.push_back((i * 7) % 13 + 1);
  PyRandom rng(3);
  const std::vector<std::vector<int64_t>> epoch1 = {{13, 0, 8, 23}, {20, 7, 11},     {29, 24},      {17, 19, 18},
                                                    {26, 6, 21, 10}, {25, 27, 16, 3}, {2, 28, 15, 4}, {9, 22},
                                                    {12, 14, 1, 5}};
  const std::vector<std::vector<int64_t>> epoch2 = {{19, 23, 12, 14}, {6, 10, 25, 27}, {18, 22},      {21, 8, 5},
                                                    {1, 16, 29, 3},   {7, 9, 24},      {26, 13, 15, 4}, {0, 2, 28, 17},
                                                    {20, 11}};
  EXPECT_EQ(make_batches(lengths, rng, 40, 4, 10), epoch1);
  EXPECT_EQ(make_batches(lengths, rng, 40, 4, 10), epoch2);
}

TEST(Batching, MakeBatchesInvariants) {
  PyRandom gen(11);
  std::vector<int64_t> lengths;
  for (int i = 0; i < 1000; ++i) lengths.push_back(1 + static_cast<int64_t>(gen.randbelow(120)));
  lengths[5] = 500;  // longer than max_tokens: a batch of its own
  const int64_t max_tokens = 400, max_rows = 16, sort_chunk = 300;
  PyRandom rng(42);
  const auto batches = make_batches(lengths, rng, max_tokens, max_rows, sort_chunk);
  std::vector<int> seen(lengths.size(), 0);
  for (const auto& b : batches) {
    ASSERT_FALSE(b.empty());
    EXPECT_LE(static_cast<int64_t>(b.size()), max_rows);
    int64_t longest = 0;
    for (size_t k = 0; k < b.size(); ++k) {
      ++seen[static_cast<size_t>(b[k])];
      longest = std::max(longest, lengths[static_cast<size_t>(b[k])]);
      if (k) {
        EXPECT_LE(lengths[static_cast<size_t>(b[k - 1])], lengths[static_cast<size_t>(b[k])]);
      }
    }
    if (b.size() > 1) {
      EXPECT_LE(static_cast<int64_t>(b.size()) * longest, max_tokens);
    }
    if (std::find(b.begin(), b.end(), 5) != b.end()) {
      EXPECT_EQ(b.size(), 1u);
    }
  }
  for (int s : seen) EXPECT_EQ(s, 1);
  PyRandom same(42), other(43);
  EXPECT_EQ(make_batches(lengths, same, max_tokens, max_rows, sort_chunk), batches);
  EXPECT_NE(make_batches(lengths, other, max_tokens, max_rows, sort_chunk), batches);
  EXPECT_CONTAINS(error_message([&] { make_batches(lengths, same, 0, 1, 1); }), "must be >= 1");
}

TEST(Batching, FixedBatches) {
  const auto in_order = fixed_batches(10, 4, nullptr);
  EXPECT_EQ(in_order, (std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}}));
  EXPECT_EQ(fixed_batches(10, 4, nullptr, true).size(), 2u);
  PyRandom a(1), b(1);
  const auto shuffled = fixed_batches(10, 4, &a);
  EXPECT_EQ(shuffled, fixed_batches(10, 4, &b));
  std::vector<int64_t> all;
  for (const auto& x : shuffled) all.insert(all.end(), x.begin(), x.end());
  EXPECT_NE(all, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_CONTAINS(error_message([] { fixed_batches(3, 0, nullptr); }), "batch_size must be >= 1");
}

TEST(Batching, CollatePadsRight) {
  Dataset ds;
  ds.task = Task::TokenClassification;
  ds.features.resize(2);
  ds.features[0].input_ids = {2, 10, 11, 3};
  ds.features[0].token_type_ids = {0, 0, 0, 0};
  ds.features[0].token_labels = {-100, 1, -100, -100};
  ds.features[1].input_ids = {2, 12, 3};
  ds.features[1].token_type_ids = {0, 0, 0};
  ds.features[1].token_labels = {-100, 0, -100};
  const Batch b = collate(ds, {1, 0}, 0);
  EXPECT_EQ(b.input_ids.shape(), (Shape{2, 4}));
  EXPECT_EQ(b.input_ids.to_i64_vector(), (std::vector<int64_t>{2, 12, 3, 0, 2, 10, 11, 3}));
  EXPECT_EQ(b.attention_mask.to_i64_vector(), (std::vector<int64_t>{1, 1, 1, 0, 1, 1, 1, 1}));
  EXPECT_EQ(b.token_type_ids.to_i64_vector(), std::vector<int64_t>(8, 0));
  EXPECT_EQ(b.labels.to_i64_vector(), (std::vector<int64_t>{-100, 0, -100, -100, -100, 1, -100, -100}));
  EXPECT_EQ(b.real_tokens, 7);
  EXPECT_EQ(b.rows, (std::vector<int64_t>{1, 0}));
  EXPECT_CONTAINS(error_message([&] { collate(ds, {2}, 0); }), "batch row 2 out of range");

  ds.task = Task::CausalLM;
  const Batch c = collate(ds, {0, 1}, 0);
  EXPECT_EQ(c.labels.to_i64_vector(), (std::vector<int64_t>{2, 10, 11, 3, 2, 12, 3, -100}));

  ds.task = Task::QuestionAnswering;
  ds.features[0].start_position = 2;
  ds.features[0].end_position = 3;
  const Batch q = collate(ds, {0, 1}, 0);
  EXPECT_EQ(q.start_positions.to_i64_vector(), (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(q.end_positions.to_i64_vector(), (std::vector<int64_t>{3, 0}));
  EXPECT_FALSE(q.labels.defined());

  Dataset mc;
  mc.task = Task::MultipleChoice;
  mc.num_choices = 2;
  mc.features.resize(2);
  mc.features[0].choice_input_ids = {{2, 5, 3}, {2, 5, 6, 3}};
  mc.features[0].choice_token_type_ids = {{0, 0, 1}, {0, 0, 1, 1}};
  mc.features[0].label = 1;
  mc.features[1].choice_input_ids = {{2, 7, 3}, {2, 3}};
  mc.features[1].choice_token_type_ids = {{0, 0, 1}, {0, 1}};
  mc.features[1].label = 0;
  const Batch m = collate(mc, {0, 1}, 0);
  EXPECT_EQ(m.input_ids.shape(), (Shape{2, 2, 4}));
  EXPECT_EQ(m.input_ids.to_i64_vector(), (std::vector<int64_t>{2, 5, 3, 0, 2, 5, 6, 3, 2, 7, 3, 0, 2, 3, 0, 0}));
  EXPECT_EQ(m.token_type_ids.to_i64_vector(), (std::vector<int64_t>{0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0}));
  EXPECT_EQ(m.attention_mask.to_i64_vector(), (std::vector<int64_t>{1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0}));
  EXPECT_EQ(m.labels.to_i64_vector(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(m.real_tokens, 12);

  Dataset reg;
  reg.task = Task::TextClassification;
  reg.labels.problem = ProblemType::MultiLabel;
  reg.labels.id2label = {"a", "b"};
  reg.features.resize(1);
  reg.features[0].input_ids = {2, 3};
  reg.features[0].token_type_ids = {0, 0};
  reg.features[0].label_values = {0, 1};
  const Batch r = collate(reg, {0}, 0);
  EXPECT_EQ(r.labels.dtype(), DType::F32);
  EXPECT_EQ(r.labels.shape(), (Shape{1, 2}));
  EXPECT_EQ(r.labels.to_f32_vector(), (std::vector<float>{0, 1}));
}

TEST(Batching, MaskTokensRatesAndNeverSpecial) {
  // 400 rows of 2..101 tokens: ids 10..1009 between a special first and last token, padded with 0.
  Dataset ds;
  ds.task = Task::FillMask;
  PyRandom gen(5);
  std::vector<int64_t> rows;
  for (int r = 0; r < 400; ++r) {
    Features f;
    const auto n = static_cast<int64_t>(gen.randbelow(100));
    f.input_ids.push_back(2);
    for (int64_t i = 0; i < n; ++i) f.input_ids.push_back(10 + static_cast<int64_t>(gen.randbelow(1000)));
    f.input_ids.push_back(3);
    f.token_type_ids.assign(f.input_ids.size(), 0);
    f.special_tokens_mask.assign(f.input_ids.size(), 0);
    f.special_tokens_mask.front() = f.special_tokens_mask.back() = 1;
    ds.features.push_back(std::move(f));
    rows.push_back(r);
  }
  Batch b = collate(ds, rows, 0);
  const std::vector<int64_t> original = b.input_ids.to_i64_vector();
  const std::vector<int64_t> special = b.special_tokens_mask.to_i64_vector();
  const std::vector<int64_t> attention = b.attention_mask.to_i64_vector();
  PyRandom rng(7);
  const int64_t kMask = 4, kVocab = 100000;
  mask_tokens(b, rng, {kMask, kVocab, 0.15});
  const std::vector<int64_t> ids = b.input_ids.to_i64_vector(), labels = b.labels.to_i64_vector();
  int64_t eligible = 0, selected = 0, masked = 0, random = 0, kept = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (special[i] || !attention[i]) {
      EXPECT_EQ(labels[i], -100);
      EXPECT_EQ(ids[i], original[i]);
      continue;
    }
    ++eligible;
    if (labels[i] == -100) {
      EXPECT_EQ(ids[i], original[i]);
      continue;
    }
    ++selected;
    EXPECT_EQ(labels[i], original[i]);
    if (ids[i] == kMask) ++masked;
    else if (ids[i] == original[i]) ++kept;
    else ++random;
    EXPECT_GE(ids[i], 0);
    EXPECT_LT(ids[i], kVocab);
  }
  ASSERT_GT(eligible, 15000);
  // Binomial standard deviations: sqrt(.15 * .85 / 19000) ~ 0.0026 and sqrt(.8 * .2 / 2900) ~ 0.0074; 5 sigma.
  const double rate = static_cast<double>(selected) / static_cast<double>(eligible);
  EXPECT_NEAR(rate, 0.15, 0.013);
  EXPECT_NEAR(static_cast<double>(masked) / static_cast<double>(selected), 0.8, 0.037);
  EXPECT_NEAR(static_cast<double>(random) / static_cast<double>(selected), 0.1, 0.03);
  EXPECT_NEAR(static_cast<double>(kept) / static_cast<double>(selected), 0.1, 0.03);
  // Seeded: the same rng seed gives the same batch.
  Batch again = collate(ds, rows, 0);
  PyRandom rng2(7);
  mask_tokens(again, rng2, {kMask, kVocab, 0.15});
  EXPECT_EQ(again.input_ids.to_i64_vector(), ids);
  EXPECT_EQ(again.labels.to_i64_vector(), labels);
  // A batch collated for another task has no special tokens mask.
  Dataset other = ds;
  other.task = Task::CausalLM;
  Batch c = collate(other, {0}, 0);
  EXPECT_CONTAINS(error_message([&] { mask_tokens(c, rng, {kMask, kVocab, 0.15}); }), "no special_tokens_mask");
}

}  // namespace
}  // namespace rembert::train
