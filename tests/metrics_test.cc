// Evaluation metrics of `rembert train` (src/train/metrics.h) against values worked out by hand and the examples
// of the libraries they follow (sklearn, seqeval, the SQuAD v1.1 evaluate script, run_qa's post-processing).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rembert/error.h"
#include "test_util.h"
#include "train/metrics.h"

namespace rembert::train {
namespace {

using testing::error_message;
using Tags = std::vector<std::vector<std::string>>;

TEST(Metrics, Accuracy) {
  EXPECT_DOUBLE_EQ(accuracy({0, 1, 2, 2}, {0, 2, 2, 2}), 0.75);
  EXPECT_DOUBLE_EQ(accuracy({}, {}), 0.0);
  EXPECT_CONTAINS(error_message([] { accuracy({1}, {1, 2}); }), "1 labels but 2 predictions");
}

TEST(Metrics, MacroF1) {
  // sklearn's f1_score docstring: y_true [0, 1, 2, 0, 1, 2], y_pred [0, 2, 1, 0, 0, 1], macro 0.2666...
  // (label 0: tp 2, fp 1 -> F1 0.8; labels 1 and 2: no tp -> 0).
  EXPECT_NEAR(macro_f1({0, 1, 2, 0, 1, 2}, {0, 2, 1, 0, 0, 1}), 0.8 / 3, 1e-12);
  // A label only predicted counts with F1 0: label 0 tp 1, fn 1 -> 2/3; label 5: fp 1 -> 0.
  EXPECT_NEAR(macro_f1({0, 0}, {0, 5}), 1.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(macro_f1({3, 4}, {3, 4}), 1.0);
}

TEST(Metrics, SeqevalEntities) {
  // seqeval's get_entities docstring.
  EXPECT_EQ(get_entities({{"B-PER", "I-PER", "O", "B-LOC"}}),
            (std::vector<Entity>{{"PER", 0, 1}, {"LOC", 3, 3}}));
  // IOB1: an I- opens a chunk after O; a type change closes one.
  EXPECT_EQ(get_entities({{"I-PER", "I-PER", "O", "I-LOC", "I-ORG"}}),
            (std::vector<Entity>{{"PER", 0, 1}, {"LOC", 3, 3}, {"ORG", 4, 4}}));
  // E-/S-: S- is a chunk alone, E- ends one.
  EXPECT_EQ(get_entities({{"S-PER", "B-LOC", "E-LOC", "E-LOC"}}),
            (std::vector<Entity>{{"PER", 0, 0}, {"LOC", 1, 2}, {"LOC", 3, 3}}));
  // Sentences are joined with an "O" between them: positions run on.
  EXPECT_EQ(get_entities({{"B-A"}, {"I-A"}}), (std::vector<Entity>{{"A", 0, 0}, {"A", 2, 2}}));
}

TEST(Metrics, SeqevalReadmeExample) {
  const Tags y_true = {{"O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"}, {"B-PER", "I-PER", "O"}};
  const Tags y_pred = {{"O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"}, {"B-PER", "I-PER", "O"}};
  const EntityScores s = entity_scores(y_true, y_pred);
  EXPECT_EQ(s.true_entities, 2);
  EXPECT_EQ(s.pred_entities, 2);
  EXPECT_EQ(s.correct_entities, 1);
  EXPECT_DOUBLE_EQ(s.precision, 0.5);
  EXPECT_DOUBLE_EQ(s.recall, 0.5);
  EXPECT_DOUBLE_EQ(s.f1, 0.5);
  EXPECT_DOUBLE_EQ(s.accuracy, 0.8);  // 8 of 10 tags equal (positions 2 and 3 of the first sentence differ)
  // No predicted entities: precision, recall and F1 are 0, not NaN.
  const EntityScores none = entity_scores({{"B-X", "O"}}, {{"O", "O"}});
  EXPECT_EQ(none.precision, 0.0);
  EXPECT_EQ(none.f1, 0.0);
  EXPECT_CONTAINS(error_message([] { entity_scores({{"O"}}, {{"O", "O"}}); }), "sentence 0 has 1 true tags but 2");
  EXPECT_CONTAINS(error_message([] { entity_scores({{""}}, {{"O"}}); }), "empty tag");
}

TEST(Metrics, SquadNormalization) {
  EXPECT_EQ(normalize_answer("The Cat's hat!"), "cats hat");
  EXPECT_EQ(normalize_answer("  An  apple a   day\tkeeps "), "apple day keeps");
  EXPECT_EQ(normalize_answer("theater and anthem"), "theater and anthem");  // articles only as whole words
  EXPECT_EQ(normalize_answer("A-B (the) c"), "ab c");                      // "(the)" -> "the" -> removed
  EXPECT_EQ(normalize_answer("The"), "");
  EXPECT_EQ(normalize_answer("ÉCOLE the\u00a0Été"), "école été");  // Unicode lower case and white space
  EXPECT_EQ(normalize_answer("the_cat"), "thecat");  // "_" is punctuation, removed before the articles
}

TEST(Metrics, SquadScores) {
  EXPECT_EQ(squad_exact_match("the Eiffel Tower.", "Eiffel tower"), 1.0);
  EXPECT_EQ(squad_exact_match("Eiffel", "Eiffel tower"), 0.0);
  // pred [cat, sat], gold [cat, sat, on, mat]: precision 1, recall 1/2 -> F1 2/3.
  EXPECT_NEAR(squad_f1("the cat sat", "cat sat on the mat"), 2.0 / 3, 1e-12);
  EXPECT_EQ(squad_f1("dog", "cat"), 0.0);
  // Repeated tokens count as in Counter &: pred [x, x, y], gold [x, y, y]: common 2 -> P = R = 2/3.
  EXPECT_NEAR(squad_f1("x x y", "x y y"), 2.0 / 3, 1e-12);

  std::vector<QaExample> ex(3);
  ex[0].answers = {"Paris", "in Paris"};
  ex[1].answers = {"1889"};
  ex[2].answers = {"Gustave Eiffel"};
  // Example 0: EM 1 (max over golds). Example 1: EM 0, F1 0. Example 2: "Eiffel": P 1, R 1/2 -> F1 2/3.
  const SquadScores s = squad_scores(ex, {"in Paris", "1890", "Eiffel"});
  EXPECT_NEAR(s.exact_match, 100.0 / 3, 1e-9);
  EXPECT_NEAR(s.f1, 100.0 * (1 + 0 + 2.0 / 3) / 3, 1e-9);
  EXPECT_CONTAINS(error_message([&] { squad_scores(ex, {"a"}); }), "3 examples but 1 predictions");
}

// A QA data set of one example with two windows over "abc def ghi jkl" (tokens at code points 0-3, 4-7, 8-11,
// 12-15), [CLS] q [SEP] context... [SEP].
Dataset qa_data() {
  Dataset ds;
  ds.task = Task::QuestionAnswering;
  QaExample e;
  e.id = "x";
  e.context = "abc def ghi jkl";
  ds.examples = {e};
  Features w0, w1;
  w0.example_index = w1.example_index = 0;
  w0.input_ids = {2, 9, 3, 10, 11, 12, 3};
  w0.offsets = {{-1, -1}, {-1, -1}, {-1, -1}, {0, 3}, {4, 7}, {8, 11}, {-1, -1}};
  w1.input_ids = {2, 9, 3, 12, 13, 3};
  w1.offsets = {{-1, -1}, {-1, -1}, {-1, -1}, {8, 11}, {12, 15}, {-1, -1}};
  ds.features = {w0, w1};
  return ds;
}

TEST(Metrics, PostprocessQa) {
  Dataset ds = qa_data();
  // Window 0: the best start is the question token 1 (not context, skipped), then "def" (4); the best end "ghi"
  // (5): "def ghi" scores 3 + 4 = 7. Window 1: "jkl" alone scores 2 + 2.5 = 4.5.
  std::vector<std::vector<float>> start = {{0, 9, 0, 1, 3, 0, 0}, {0, 0, 0, 0, 2, 0}};
  std::vector<std::vector<float>> end = {{0, 0, 0, 0, 1, 4, 8}, {0, 0, 0, 0, 2.5f, 0}};
  EXPECT_EQ(postprocess_qa(ds, start, end), std::vector<std::string>{"def ghi"});
  // max_answer_length 1: only single-token spans: "def" 3 + 1 = 4 < "jkl" 4.5.
  EXPECT_EQ(postprocess_qa(ds, start, end, 20, 1), std::vector<std::string>{"jkl"});
  // An end before every start is never a span: window 1's best start "jkl" (4) with end "ghi" (3) is skipped.
  start[1] = {0, 0, 0, 0, 20, 0};
  end[1] = {0, 0, 0, 30, 0, 0};
  start[0] = {0, 0, 0, 0, 0, 0, 0};
  end[0] = {0, 0, 0, 0, 0, 0, 0};
  // Window 0: every span scores 0. Window 1: (3, 3) = 0 + 30, (3, 4) = 0 + 0
  // and (4, 4) = 20 + 0 ((4, 3) ends before it starts); "ghi" wins.
  EXPECT_EQ(postprocess_qa(ds, start, end), std::vector<std::string>{"ghi"});
  // n_best_size 1: only the single best start and end of each window: window 1's (4, 3) is not a span, window
  // 0's all-zero logits pick start 6 and end 6 (ties: the later index), the [SEP]: no candidate -> "empty".
  EXPECT_EQ(postprocess_qa(ds, start, end, 1, 30), std::vector<std::string>{"empty"});
  // Logits longer than the feature (padding) are allowed; positions past the offsets are skipped.
  Dataset one = qa_data();
  one.features.resize(1);
  EXPECT_EQ(postprocess_qa(one, {{0, 0, 0, 5, 0, 0, 0, 99}}, {{0, 0, 0, 0, 0, 6, 0, 99}}),
            std::vector<std::string>{"abc def ghi"});
  EXPECT_CONTAINS(error_message([&] { postprocess_qa(one, start, end); }), "1 features but 2 start");
}

}  // namespace
}  // namespace rembert::train
