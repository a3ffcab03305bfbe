// The steps of transformers' QuestionAnsweringPipeline (SPEC §4.4), exposed for the unit tests.
// Defined in question_answering.cc.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "rembert/pipelines.h"
#include "rembert/tokenizer.h"

namespace rembert::pipelines::qa {

// One candidate answer of a window, in tokens: start and end positions (inclusive) and p_start * p_end (float32).
struct SpanScore {
  int64_t start = 0, end = 0;
  float score = 0;
};

// select_starts_ends + decode_spans for one window:
//  - tokens with p_mask 1 or attention_mask 0 get logits -10000; softmax of the start and end logits (float32);
//  - handle_impossible_answer: *min_null_score = min(*min_null_score, p_start[0] * p_end[0]);
//  - position 0 zeroed; candidates p_start[i] * p_end[j] for i <= j <= i + max_answer_len - 1;
//  - the top_k best (argmax for 1; ties go to the lower flat index), minus those whose start or end is disallowed
//    (transformers' np.isin against nonzero() also lets position 0 through).
// attention_mask may be empty (all ones).
std::vector<SpanScore> select_starts_ends(const std::vector<float>& start_logits, const std::vector<float>& end_logits,
                                          const std::vector<int64_t>& p_mask,
                                          const std::vector<int64_t>& attention_mask, int64_t top_k,
                                          bool handle_impossible_answer, int64_t max_answer_len,
                                          double* min_null_score);

// p_mask of a question-first window: 1 except on context tokens (sequence id 1), and 0 again on every [CLS].
std::vector<int64_t> p_mask(const Encoding& window, int64_t cls_token_id);

// Sequence id of every token (-1 for special tokens, else the token type id), as Encoding.sequence_ids.
std::vector<int64_t> sequence_ids(const Encoding& window);

// Word id of every token (-1 for special tokens), as tokenizers numbers the pre-tokenizer's splits within each
// sequence: RemBERT's Metaspace pre-tokenizer splits before every "▁", so a piece starting with "▁" opens a word;
// an added token found in the text (e.g. [MASK]) is a word of its own. Numbers restart at 0 with each sequence.
// `question` and `context`, the texts of sequences 0 and 1, tell an unknown piece from the unk token written in the
// text where the tokens cannot (the slow tokenizer calls both [UNK]).
std::vector<int64_t> word_ids(const Encoding& window, const Tokenizer& tokenizer, const std::string* question = nullptr,
                              const std::string* context = nullptr);

// get_indices: character span of tokens s..e in the context. align_to_words: from the start of the word of s to
// the end of the word of e (word_to_chars in sequence 1); a token without a word falls back to the token offsets.
std::pair<int64_t, int64_t> answer_chars(const Encoding& window, const std::vector<int64_t>& words, int64_t s,
                                         int64_t e, bool align_to_words);

// Adds an answer to the list, or, when an answer with the same text (compared with Python's str.lower()) is
// already there, adds its score to that one (transformers' get_answer).
void add_or_merge(std::vector<Answer>& answers, Answer answer);

// The final list: the null answer {min_null_score, 0, 0, ""} when handle_impossible_answer, a stable sort by
// descending score, the first top_k.
std::vector<Answer> finish(std::vector<Answer> answers, bool handle_impossible_answer, double min_null_score,
                           int64_t top_k);

}  // namespace rembert::pipelines::qa
