// Evaluation metrics of `rembert train`, computed as the Python libraries the example scripts report them:
// accuracy, sklearn's macro F1, seqeval's entity-level precision / recall / F1, the official SQuAD v1.1 exact
// match and F1, and run_qa's post-processing of start/end logits into answer texts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/data.h"

namespace rembert::train {

// Fraction of equal pairs (0 for empty input). Throws Error when the lengths differ.
double accuracy(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred);

// sklearn f1_score(y_true, y_pred, average="macro"): the unweighted mean of every label's F1 = 2 tp / (2 tp + fp
// + fn) over the labels in y_true and y_pred (0 for empty input).
double macro_f1(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred);

// seqeval's get_entities (default mode, prefixes B-/I-/E-/S-, "O"): chunks (type, first, last) of the
// sentences joined with an "O" between them, in order.
struct Entity {
  std::string type;
  int64_t first = 0, last = 0;
  bool operator==(const Entity& o) const { return type == o.type && first == o.first && last == o.last; }
};
std::vector<Entity> get_entities(const std::vector<std::vector<std::string>>& sentences);

struct EntityScores {
  double precision = 0, recall = 0, f1 = 0;  // seqeval micro average over entities (0 where undefined)
  double accuracy = 0;                       // seqeval accuracy_score: tags equal, over all tokens
  int64_t true_entities = 0, pred_entities = 0, correct_entities = 0;
};
// seqeval precision_score / recall_score / f1_score (average="micro", mode=None) and accuracy_score. Throws Error
// when the sentences (or their lengths) differ in number, or a tag is empty.
EntityScores entity_scores(const std::vector<std::vector<std::string>>& y_true,
                           const std::vector<std::vector<std::string>>& y_pred);

// SQuAD v1.1 evaluate script's normalize_answer: lower case, drop ASCII punctuation, drop the words a, an, the,
// collapse white space.
std::string normalize_answer(const std::string& s);
double squad_exact_match(const std::string& prediction, const std::string& ground_truth);  // 0 or 1
double squad_f1(const std::string& prediction, const std::string& ground_truth);            // token F1 in [0, 1]

struct SquadScores {
  double exact_match = 0, f1 = 0;  // percentages, each the mean over questions of the max over gold answers
};
// predictions[i] answers examples[i]. An example without gold answers is skipped (as the v1.1 script never sees
// one); throws Error when the counts differ.
SquadScores squad_scores(const std::vector<QaExample>& examples, const std::vector<std::string>& predictions);

// run_qa's postprocess_qa_predictions (version_2_with_negative=False): for every example, over its features'
// n_best_size best start and end logits, the spans inside the context (offsets not -1), end >= start, at most
// max_answer_length tokens, scored start_logit + end_logit (float32); the best one's context text, or "empty"
// when there is none. start_logits[f] / end_logits[f] are the logits of data.features[f] (its length or longer:
// padding positions have offsets -1 beyond the feature's length). Needs the features' offsets.
std::vector<std::string> postprocess_qa(const Dataset& data, const std::vector<std::vector<float>>& start_logits,
                                        const std::vector<std::vector<float>>& end_logits, int64_t n_best_size = 20,
                                        int64_t max_answer_length = 30);

}  // namespace rembert::train
