// The training data of `rembert train`: JSON Lines files (as Hugging Face datasets write them) read into model
// features for one of six tasks, the way transformers' example scripts (run_glue / run_ner / run_qa / run_mlm /
// run_swag / run_clm) preprocess them.
//
//   rembert::train::DataOptions o;  o.max_length = 128;
//   Dataset train = read_dataset("train.jsonl", Task::TextClassification, *tokenizer, o);
//   o.labels = &train.labels;                     // the eval file uses the training file's label map
//   Dataset eval = read_dataset("eval.jsonl", Task::TextClassification, *tokenizer, o);
//
// Row formats (one JSON object a line; empty lines are skipped):
//   text-classification   {"text", "text_pair"?, "label"}  label: a name (string), an id (integer), a float
//                         (regression) or a list of names / ids (multi-label)
//   token-classification  {"tokens": [words], "ner_tags": [names or ids]}
//   question-answering    {"id"?, "question", "context", "answers": {"text": [...], "answer_start": [...]}}
//   fill-mask, causal-lm  {"text"}
//   multiple-choice       {"context", "choices": [...], "label": index of the right choice}
// Every bad row is an Error "FILE:LINE: field 'x': what is wrong".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "rembert/tokenizer.h"

namespace rembert::train {

enum class Task { TextClassification, TokenClassification, QuestionAnswering, FillMask, MultipleChoice, CausalLM };

// "text-classification", "token-classification", "question-answering", "fill-mask", "multiple-choice",
// "causal-lm"; throws Error naming the known tasks otherwise.
Task task_from_name(const std::string& name);
const char* task_name(Task task);

// How the labels of a text-classification file are read (transformers' config.problem_type).
enum class ProblemType { SingleLabel, MultiLabel, Regression };
const char* problem_type_name(ProblemType p);  // "single_label_classification", "multi_label_classification", "regression"
ProblemType problem_type_from_name(const std::string& name);  // the inverse; Error naming an unknown one

// The label map of a classification task (text / token classification). Built from the training file: names
// sorted (Python's sorted(set(labels)), byte order), ids 0..n-1; integer labels keep their ids, named
// "LABEL_<id>" (transformers' default id2label), num_labels = largest id + 1. Regression: one label, no names.
struct LabelMap {
  ProblemType problem = ProblemType::SingleLabel;
  bool from_names = false;  // the file gave label names (else ids)
  std::vector<std::string> id2label;
  std::map<std::string, int64_t> label2id;
  int64_t num_labels() const { return static_cast<int64_t>(id2label.size()); }
};

// A question-answering example, kept for post-processing and the SQuAD metric.
struct QaExample {
  std::string id;       // "id" field, or the line number when absent
  std::string context;
  std::vector<std::string> answers;      // gold answer texts
  std::vector<int64_t> answer_starts;    // in code points of the context
};

// One model input row (for multiple choice: one example, a row per choice).
struct Features {
  std::vector<int64_t> input_ids, token_type_ids;
  std::vector<int64_t> special_tokens_mask;  // fill-mask: 1 on [CLS]/[SEP], never masked
  // multiple-choice: the (context, choice) pairs; input_ids/token_type_ids stay empty.
  std::vector<std::vector<int64_t>> choice_input_ids, choice_token_type_ids;

  int64_t label = -100;             // single-label text classification; multiple choice: the right choice
  std::vector<float> label_values;  // regression: 1 value; multi-label: num_labels values, 0 or 1
  std::vector<int64_t> token_labels;  // token classification: a label per token, -100 where not scored
  // question-answering: the answer span in tokens (inclusive), both the [CLS] index when the answer is not
  // inside the window or the example has none.
  int64_t start_position = 0, end_position = 0;
  // question-answering: the example this window came from and the character span (code points) of every
  // token in the context; (-1, -1) for question and special tokens.
  int64_t example_index = -1;
  std::vector<std::pair<int64_t, int64_t>> offsets;

  // Tokens the row takes in a batch: its length, or choices x the longest choice (multiple choice).
  int64_t length() const;
};

struct DataOptions {
  // Longest row in tokens (special tokens included); longer rows are truncated (transformers' truncation=True;
  // question answering: cut into windows). The caller passes min(its choice, max_position_embeddings).
  // 0 = the task default: 384 for question-answering, 512 otherwise.
  int64_t max_length = 0;
  int64_t doc_stride = 128;  // question-answering: tokens shared by consecutive windows
  // Instead of truncating, drop rows longer than max_length (counted in Dataset::dropped), as the langid recipe
  // does. Not for question-answering, which windows long contexts.
  bool drop_long_rows = false;
  // question-answering: keep every window's offsets (post-processing of the eval file needs them; a training
  // file can drop them to save memory).
  bool keep_qa_offsets = true;
  // Classification: the label map to use (the training file's, for an eval file); nullptr = build one.
  const LabelMap* labels = nullptr;
  // Rows per tokenizer call (the fast tokenizer encodes a batch on all threads).
  int64_t encode_chunk = 1024;
};

struct Dataset {
  Task task = Task::TextClassification;
  std::string path;
  std::vector<Features> features;
  LabelMap labels;                   // text / token classification
  std::vector<QaExample> examples;   // question-answering
  int64_t num_choices = 0;           // multiple-choice
  int64_t rows = 0;                  // rows read (non-empty lines)
  int64_t dropped = 0;               // rows dropped by drop_long_rows
  std::vector<int64_t> lengths() const;  // Features::length() of every feature
};

// Reads a JSON Lines file. Throws Error "FILE:LINE: field 'x': ..." on the first bad row, "FILE: ..." when the
// file cannot be read or holds no rows. Question answering needs a fast tokenizer (offsets).
Dataset read_dataset(const std::string& path, Task task, const Tokenizer& tokenizer, const DataOptions& options = {});

}  // namespace rembert::train
