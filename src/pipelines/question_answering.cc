// question-answering (SPEC §4.4): transformers' QuestionAnsweringPipeline (v4) with a fast tokenizer (the slow one
// gives the same windows and offsets, from SentencePiece's pieces, so it takes the same path): the question
// first, the context cut into overlapping windows (truncation only_second, max_seq_len, doc_stride), p_mask, one
// forward per window, span scoring (select_starts_ends / decode_spans), answers aligned to words and merged.
#include <algorithm>
#include <numeric>

#include "pipelines/common.h"
#include "pipelines/pipeline_util_numpy.h"
#include "pipelines/pipeline_util_qa.h"
#include "rembert/error.h"
#include "rembert/pipelines.h"
#include "tokenizer/unicode.h"

namespace rembert {

namespace pipelines::qa {

std::vector<SpanScore> select_starts_ends(const std::vector<float>& start_logits, const std::vector<float>& end_logits,
                                          const std::vector<int64_t>& p_mask,
                                          const std::vector<int64_t>& attention_mask, int64_t top_k,
                                          bool handle_impossible_answer, int64_t max_answer_len,
                                          double* min_null_score) {
  const auto S = static_cast<int64_t>(start_logits.size());
  if (static_cast<int64_t>(end_logits.size()) != S || static_cast<int64_t>(p_mask.size()) != S ||
      (!attention_mask.empty() && static_cast<int64_t>(attention_mask.size()) != S)) {
    throw Error("question-answering: start/end logits, p_mask and attention_mask differ in length");
  }
  if (S == 0) return {};
  // undesired_tokens = abs(p_mask - 1) & attention_mask: 1 where an answer may be.
  std::vector<char> allowed(static_cast<size_t>(S));
  bool any_allowed = false;
  for (int64_t i = 0; i < S; ++i) {
    const int64_t a = std::abs(p_mask[static_cast<size_t>(i)] - 1) &
                      (attention_mask.empty() ? int64_t{1} : attention_mask[static_cast<size_t>(i)]);
    allowed[static_cast<size_t>(i)] = a != 0;
    any_allowed = any_allowed || a != 0;
  }
  std::vector<float> s(static_cast<size_t>(S)), e(static_cast<size_t>(S));
  for (int64_t i = 0; i < S; ++i) {
    const auto k = static_cast<size_t>(i);
    s[k] = allowed[k] ? start_logits[k] : -10000.0f;
    e[k] = allowed[k] ? end_logits[k] : -10000.0f;
  }
  s = numpy::softmax(s.data(), S);
  e = numpy::softmax(e.data(), S);
  if (handle_impossible_answer && min_null_score) {
    *min_null_score = std::min(*min_null_score, static_cast<double>(s[0] * e[0]));
  }
  s[0] = 0.0f;
  e[0] = 0.0f;

  // decode_spans: candidates = tril(triu(outer(s, e)), max_answer_len - 1), flattened.
  const int64_t N = S * S;
  std::vector<float> candidates(static_cast<size_t>(N), 0.0f);
  for (int64_t i = 0; i < S; ++i) {
    const int64_t last = max_answer_len - 1 >= S - i ? S - 1 : i + max_answer_len - 1;
    for (int64_t j = i; j <= last; ++j) {
      candidates[static_cast<size_t>(i * S + j)] = s[static_cast<size_t>(i)] * e[static_cast<size_t>(j)];
    }
  }
  std::vector<int64_t> order;
  if (top_k == 1) {
    order.push_back(numpy::argmax(candidates.data(), N));
  } else {
    const int64_t k = std::min(top_k, N);
    order.resize(static_cast<size_t>(N));
    std::iota(order.begin(), order.end(), int64_t{0});
    auto better = [&](int64_t a, int64_t b) {
      const float va = candidates[static_cast<size_t>(a)], vb = candidates[static_cast<size_t>(b)];
      return va > vb || (va == vb && a < b);
    };
    std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
    order.resize(static_cast<size_t>(k));
  }
  // np.isin(x, undesired_tokens.nonzero()): nonzero() of the [1, S] mask also yields its row indices (all 0).
  auto desired = [&](int64_t x) { return allowed[static_cast<size_t>(x)] || (x == 0 && any_allowed); };
  std::vector<SpanScore> out;
  for (int64_t flat : order) {
    const int64_t i = flat / S, j = flat % S;
    if (desired(i) && desired(j)) out.push_back({i, j, candidates[static_cast<size_t>(flat)]});
  }
  return out;
}

std::vector<int64_t> sequence_ids(const Encoding& window) {
  std::vector<int64_t> ids(window.input_ids.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = window.special_tokens_mask[i] ? -1 : window.token_type_ids[i];
  return ids;
}

std::vector<int64_t> p_mask(const Encoding& window, int64_t cls_token_id) {
  const std::vector<int64_t> seq = sequence_ids(window);
  std::vector<int64_t> mask(seq.size());
  for (size_t i = 0; i < seq.size(); ++i) {
    mask[i] = seq[i] != 1 ? 1 : 0;
    if (window.input_ids[i] == cls_token_id) mask[i] = 0;  // keep [CLS] (the "no answer" position) unmasked
  }
  return mask;
}

std::vector<int64_t> word_ids(const Encoding& window, const Tokenizer& tokenizer, const std::string* question,
                              const std::string* context) {
  static const std::string kMetaspace = "\xe2\x96\x81";  // "▁"
  const std::vector<int64_t> seq = sequence_ids(window);
  const auto& added = tokenizer.added_tokens_decoder();
  std::vector<int64_t> words(seq.size(), -1);
  int64_t word = -1, previous_seq = -1;
  bool previous_added = false;
  for (size_t i = 0; i < seq.size(); ++i) {
    if (seq[i] < 0) {
      previous_seq = -1;
      continue;
    }
    const int64_t id = window.input_ids[i];
    const std::string& token = window.tokens[i];
    auto it = added.find(id);
    // A Unigram unknown piece has the unk id but its own text; an added token carries its content. The slow
    // tokenizer names an unknown piece by the unk token too: there the text under its offsets tells.
    bool is_added = it != added.end() && token.find(it->second.content) != std::string::npos;
    const std::string* text = seq[i] == 0 ? question : context;
    if (is_added && id == tokenizer.unk_token_id() && text && i < window.offsets.size()) {
      const auto [start, end] = window.offsets[i];
      is_added = pipelines::code_point_slice(*text, start, end).find(it->second.content) != std::string::npos;
    }
    const bool opens = token.rfind(kMetaspace, 0) == 0;
    if (seq[i] != previous_seq) {
      word = 0;
    } else if (opens || is_added || previous_added) {
      ++word;
    }
    words[i] = word;
    previous_seq = seq[i];
    previous_added = is_added;
  }
  return words;
}

std::pair<int64_t, int64_t> answer_chars(const Encoding& window, const std::vector<int64_t>& words, int64_t s,
                                         int64_t e, bool align_to_words) {
  const auto& off = window.offsets;
  if (align_to_words) {
    const int64_t ws = words[static_cast<size_t>(s)], we = words[static_cast<size_t>(e)];
    if (ws >= 0 && we >= 0) {
      // word_to_chars(word, sequence_index=1): the first and last token of that word in the context.
      const std::vector<int64_t> seq = sequence_ids(window);
      int64_t first = -1, last = -1;
      for (size_t t = 0; t < words.size(); ++t) {
        if (seq[t] != 1) continue;
        if (words[t] == ws && first < 0) first = static_cast<int64_t>(t);
        if (words[t] == we) last = static_cast<int64_t>(t);
      }
      if (first >= 0 && last >= 0) return {off[static_cast<size_t>(first)].first, off[static_cast<size_t>(last)].second};
    }
  }
  return {off[static_cast<size_t>(s)].first, off[static_cast<size_t>(e)].second};
}

void add_or_merge(std::vector<Answer>& answers, Answer answer) {
  const std::string key = tok::python_lower(answer.answer);
  for (Answer& a : answers) {
    if (tok::python_lower(a.answer) == key) {
      a.score += answer.score;
      return;
    }
  }
  answers.push_back(std::move(answer));
}

std::vector<Answer> finish(std::vector<Answer> answers, bool handle_impossible_answer, double min_null_score,
                           int64_t top_k) {
  if (handle_impossible_answer) answers.push_back(Answer{min_null_score, 0, 0, ""});
  std::stable_sort(answers.begin(), answers.end(), [](const Answer& a, const Answer& b) { return a.score > b.score; });
  if (static_cast<int64_t>(answers.size()) > top_k) answers.resize(static_cast<size_t>(top_k));
  return answers;
}

}  // namespace pipelines::qa

std::vector<Answer> question_answering(const PipelineModel& pm, const std::string& question,
                                       const std::string& context, const QuestionAnsweringOptions& options) {
  namespace qa = pipelines::qa;
  const Tokenizer& tok = *pm.tokenizer;
  const Model& model = *pm.model;
  if (model.head() != HeadType::QuestionAnswering) {
    throw Error(std::string("question-answering needs RemBertForQuestionAnswering, the model is ") +
                head_class_name(model.head()));
  }
  if (options.top_k < 1) throw Error("top_k parameter should be >= 1 (got " + std::to_string(options.top_k) + ")");
  if (options.max_answer_len < 1) {
    throw Error("max_answer_len parameter should be >= 1 (got " + std::to_string(options.max_answer_len) + ")");
  }
  if (question.empty()) throw Error("`question` cannot be empty");
  if (context.empty()) throw Error("`context` cannot be empty");
  const int64_t max_seq_len =
      options.max_seq_len ? *options.max_seq_len : std::min<int64_t>(tok.model_max_length().value_or(384), 384);
  const int64_t doc_stride = options.doc_stride ? *options.doc_stride : std::min<int64_t>(max_seq_len / 2, 128);
  if (doc_stride > max_seq_len) {
    throw Error("`doc_stride` (" + std::to_string(doc_stride) + ") is larger than `max_seq_len` (" +
                std::to_string(max_seq_len) + ")");
  }
  if (max_seq_len < 1) throw Error("`max_seq_len` must be >= 1 (got " + std::to_string(max_seq_len) + ")");
  if (doc_stride < 0) throw Error("`doc_stride` must be >= 0 (got " + std::to_string(doc_stride) + ")");
  // The question first (right padding side): truncate only the context, in overlapping windows.
  EncodeOptions eo;
  eo.truncation = Truncation::OnlySecond;
  eo.max_length = max_seq_len;
  eo.stride = doc_stride;
  eo.return_overflowing_tokens = true;
  eo.overflow_covers_whole_text = true;  // windows over the whole text, as transformers v4 walks it
  eo.return_offsets_mapping = true;      // the slow tokenizer's offsets come from SentencePiece's pieces
  const std::vector<std::string> contexts = {context};
  BatchEncoding batch;
  try {
    batch = tok.encode_batch({question}, &contexts, eo);
  } catch (const Error& e) {
    throw Error(std::string("question-answering: ") + e.what() + " (max_seq_len " + std::to_string(max_seq_len) +
                ", doc_stride " + std::to_string(doc_stride) + ")");
  }

  const RemBertConfig& config = model.config();
  double min_null_score = 1000000;  // large and positive
  std::vector<Answer> answers;
  for (const Encoding& window : batch.encodings) {
    const auto S = static_cast<int64_t>(window.input_ids.size());
    if (S > config.max_position_embeddings) {
      throw Error("question-answering: a window of " + std::to_string(S) +
                  " tokens is longer than the model's max_position_embeddings (" +
                  std::to_string(config.max_position_embeddings) + "); pass a smaller max_seq_len");
    }
    ForwardInputs in = pipelines::inputs_of(window);
    const ForwardOutputs out = pm.forward(in);
    const std::vector<float> start_logits = out.start_logits.to_f32_vector();
    const std::vector<float> end_logits = out.end_logits.to_f32_vector();

    const std::vector<qa::SpanScore> spans =
        qa::select_starts_ends(start_logits, end_logits, qa::p_mask(window, tok.cls_token_id()),
                               window.attention_mask, options.top_k, options.handle_impossible_answer,
                               options.max_answer_len, &min_null_score);
    const std::vector<int64_t> words = qa::word_ids(window, tok, &question, &context);
    for (const qa::SpanScore& span : spans) {
      const auto [start, end] = qa::answer_chars(window, words, span.start, span.end, options.align_to_words);
      qa::add_or_merge(answers, Answer{span.score, start, end, pipelines::code_point_slice(context, start, end)});
    }
  }
  return qa::finish(std::move(answers), options.handle_impossible_answer, min_null_score, options.top_k);
}

std::string to_json(const std::vector<Answer>& result, bool single) {
  auto one = [](const Answer& a) {
    return "{\"score\": " + pipelines::json_number(a.score) + ", \"start\": " + std::to_string(a.start) +
           ", \"end\": " + std::to_string(a.end) + ", \"answer\": " + pipelines::json_string(a.answer) + "}";
  };
  if (single && result.size() == 1) return one(result.front());
  std::string s = "[";
  for (size_t i = 0; i < result.size(); ++i) s += (i ? ", " : "") + one(result[i]);
  return s + "]";
}

}  // namespace rembert
