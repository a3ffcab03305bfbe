// Evaluation metrics (see metrics.h).
#include "train/metrics.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include "pipelines/common.h"
#include "rembert/error.h"
#include "tokenizer/unicode.h"

namespace rembert::train {

double accuracy(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred) {
  if (y_true.size() != y_pred.size()) {
    throw Error("accuracy: " + std::to_string(y_true.size()) + " labels but " + std::to_string(y_pred.size()) +
                " predictions");
  }
  if (y_true.empty()) return 0.0;
  int64_t equal = 0;
  for (size_t i = 0; i < y_true.size(); ++i) equal += y_true[i] == y_pred[i];
  return static_cast<double>(equal) / static_cast<double>(y_true.size());
}

double macro_f1(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred) {
  if (y_true.size() != y_pred.size()) {
    throw Error("macro_f1: " + std::to_string(y_true.size()) + " labels but " + std::to_string(y_pred.size()) +
                " predictions");
  }
  struct Counts {
    int64_t tp = 0, fp = 0, fn = 0;
  };
  std::map<int64_t, Counts> per_label;
  for (size_t i = 0; i < y_true.size(); ++i) {
    if (y_true[i] == y_pred[i]) {
      ++per_label[y_true[i]].tp;
    } else {
      ++per_label[y_true[i]].fn;
      ++per_label[y_pred[i]].fp;
    }
  }
  if (per_label.empty()) return 0.0;
  double sum = 0;
  for (const auto& [label, c] : per_label) {
    const int64_t denominator = 2 * c.tp + c.fp + c.fn;
    sum += denominator ? 2.0 * static_cast<double>(c.tp) / static_cast<double>(denominator) : 0.0;
  }
  return sum / static_cast<double>(per_label.size());
}

// ---- seqeval

namespace {

// seqeval's end_of_chunk / start_of_chunk (default, prefix mode).
bool end_of_chunk(char prev_tag, char tag, const std::string& prev_type, const std::string& type) {
  if (prev_tag == 'E' || prev_tag == 'S') return true;
  if ((prev_tag == 'B' || prev_tag == 'I') && (tag == 'B' || tag == 'S' || tag == 'O')) return true;
  return prev_tag != 'O' && prev_tag != '.' && prev_type != type;
}

bool start_of_chunk(char prev_tag, char tag, const std::string& prev_type, const std::string& type) {
  if (tag == 'B' || tag == 'S') return true;
  if ((prev_tag == 'E' || prev_tag == 'S' || prev_tag == 'O') && (tag == 'E' || tag == 'I')) return true;
  return tag != 'O' && tag != '.' && prev_type != type;
}

}  // namespace

std::vector<Entity> get_entities(const std::vector<std::vector<std::string>>& sentences) {
  // The sentences joined with an "O" after each, then one more "O" to close the last chunk.
  std::vector<const std::string*> seq;
  static const std::string kOutside = "O";
  for (const auto& s : sentences) {
    for (const std::string& t : s) seq.push_back(&t);
    seq.push_back(&kOutside);
  }
  seq.push_back(&kOutside);
  std::vector<Entity> chunks;
  char prev_tag = 'O';
  std::string prev_type;
  int64_t begin = 0;
  for (size_t i = 0; i < seq.size(); ++i) {
    const std::string& chunk = *seq[i];
    if (chunk.empty()) throw Error("seqeval: an empty tag");
    // tag = chunk[0]; type = chunk[1:].split('-', maxsplit=1)[-1] or '_' (a non-ASCII first character is one
    // tag that matches none of B/I/E/S/O).
    const size_t first_len = tok::utf8_len(static_cast<unsigned char>(chunk[0]));
    const char tag = first_len == 1 ? chunk[0] : '\x01';
    std::string type = chunk.substr(std::min(first_len, chunk.size()));
    const size_t dash = type.find('-');
    if (dash != std::string::npos) type = type.substr(dash + 1);
    if (type.empty()) type = "_";
    const auto pos = static_cast<int64_t>(i);
    if (end_of_chunk(prev_tag, tag, prev_type, type)) chunks.push_back({prev_type, begin, pos - 1});
    if (start_of_chunk(prev_tag, tag, prev_type, type)) begin = pos;
    prev_tag = tag;
    prev_type = type;
  }
  return chunks;
}

EntityScores entity_scores(const std::vector<std::vector<std::string>>& y_true,
                           const std::vector<std::vector<std::string>>& y_pred) {
  if (y_true.size() != y_pred.size()) {
    throw Error("seqeval: " + std::to_string(y_true.size()) + " true sentences but " +
                std::to_string(y_pred.size()) + " predicted");
  }
  int64_t tokens = 0, equal = 0;
  for (size_t s = 0; s < y_true.size(); ++s) {
    if (y_true[s].size() != y_pred[s].size()) {
      throw Error("seqeval: sentence " + std::to_string(s) + " has " + std::to_string(y_true[s].size()) +
                  " true tags but " + std::to_string(y_pred[s].size()) + " predicted");
    }
    for (size_t t = 0; t < y_true[s].size(); ++t) equal += y_true[s][t] == y_pred[s][t];
    tokens += static_cast<int64_t>(y_true[s].size());
  }
  const std::vector<Entity> t = get_entities(y_true), p = get_entities(y_pred);
  using Key = std::tuple<std::string, int64_t, int64_t>;
  std::set<Key> true_set, pred_set;
  for (const Entity& e : t) true_set.insert({e.type, e.first, e.last});
  for (const Entity& e : p) pred_set.insert({e.type, e.first, e.last});
  EntityScores r;
  r.true_entities = static_cast<int64_t>(true_set.size());
  r.pred_entities = static_cast<int64_t>(pred_set.size());
  for (const Key& k : pred_set) r.correct_entities += true_set.count(k) ? 1 : 0;
  const auto c = static_cast<double>(r.correct_entities);
  r.precision = r.pred_entities ? c / static_cast<double>(r.pred_entities) : 0.0;
  r.recall = r.true_entities ? c / static_cast<double>(r.true_entities) : 0.0;
  r.f1 = r.precision + r.recall > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0.0;
  r.accuracy = tokens ? static_cast<double>(equal) / static_cast<double>(tokens) : 0.0;
  return r;
}

// ---- SQuAD v1.1

namespace {

// Python's re \w on str: a letter or number (Unicode categories L*, N*) or '_'.
bool is_word_char(char32_t c) {
  if (c == U'_') return true;
  const int8_t t = u_charType(static_cast<UChar32>(c));
  return t == U_UPPERCASE_LETTER || t == U_LOWERCASE_LETTER || t == U_TITLECASE_LETTER || t == U_MODIFIER_LETTER ||
         t == U_OTHER_LETTER || t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER;
}

bool is_ascii_punctuation(char32_t c) {
  static const std::string kPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";  // string.punctuation
  return c < 0x80 && kPunctuation.find(static_cast<char>(c)) != std::string::npos;
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> words;
  std::string cur;
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    const char32_t c = tok::decode_utf8(s, i, &len);
    if (tok::is_python_space(c)) {
      if (!cur.empty()) words.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.append(s, i, len);
    }
    i += len;
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

std::vector<std::string> normalized_tokens(const std::string& s) { return split_words(normalize_answer(s)); }

}  // namespace

std::string normalize_answer(const std::string& s) {
  tok::check_utf8(s, "SQuAD answer");
  const std::string lower = tok::python_lower(s);
  std::u32string text;
  for (size_t i = 0; i < lower.size();) {
    size_t len = 0;
    const char32_t c = tok::decode_utf8(lower, i, &len);
    if (!is_ascii_punctuation(c)) text.push_back(c);
    i += len;
  }
  // re.sub(r'\b(a|an|the)\b', ' ', text): a maximal run of word characters equal to an article becomes a space.
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (!is_word_char(text[i])) {
      tok::append_utf8(out, text[i]);
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && is_word_char(text[j])) ++j;
    const std::u32string word = text.substr(i, j - i);
    if (word == U"a" || word == U"an" || word == U"the") {
      out += ' ';
    } else {
      for (char32_t c : word) tok::append_utf8(out, c);
    }
    i = j;
  }
  // ' '.join(text.split())
  std::string joined;
  for (const std::string& w : split_words(out)) {
    if (!joined.empty()) joined += ' ';
    joined += w;
  }
  return joined;
}

double squad_exact_match(const std::string& prediction, const std::string& ground_truth) {
  return normalize_answer(prediction) == normalize_answer(ground_truth) ? 1.0 : 0.0;
}

double squad_f1(const std::string& prediction, const std::string& ground_truth) {
  const std::vector<std::string> p = normalized_tokens(prediction), g = normalized_tokens(ground_truth);
  std::map<std::string, int64_t> gold_counts;
  for (const std::string& w : g) ++gold_counts[w];
  int64_t same = 0;
  for (const std::string& w : p) {  // Counter(p) & Counter(g)
    auto it = gold_counts.find(w);
    if (it != gold_counts.end() && it->second > 0) {
      --it->second;
      ++same;
    }
  }
  if (same == 0) return 0.0;
  const double precision = static_cast<double>(same) / static_cast<double>(p.size());
  const double recall = static_cast<double>(same) / static_cast<double>(g.size());
  return 2 * precision * recall / (precision + recall);
}

SquadScores squad_scores(const std::vector<QaExample>& examples, const std::vector<std::string>& predictions) {
  if (examples.size() != predictions.size()) {
    throw Error("squad: " + std::to_string(examples.size()) + " examples but " + std::to_string(predictions.size()) +
                " predictions");
  }
  double em = 0, f1 = 0;
  int64_t total = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    if (examples[i].answers.empty()) continue;
    double best_em = 0, best_f1 = 0;
    for (const std::string& gold : examples[i].answers) {
      best_em = std::max(best_em, squad_exact_match(predictions[i], gold));
      best_f1 = std::max(best_f1, squad_f1(predictions[i], gold));
    }
    em += best_em;
    f1 += best_f1;
    ++total;
  }
  SquadScores s;
  if (total) {
    s.exact_match = 100.0 * em / static_cast<double>(total);
    s.f1 = 100.0 * f1 / static_cast<double>(total);
  }
  return s;
}

// ---- QA post-processing

namespace {

// np.argsort(x)[-1 : -n - 1 : -1]: the n largest, largest first; among equal values the later index first (the
// reverse of a stable ascending sort).
std::vector<int64_t> top_indices(const std::vector<float>& x, int64_t n) {
  std::vector<int64_t> order(x.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return x[static_cast<size_t>(a)] < x[static_cast<size_t>(b)]; });
  std::reverse(order.begin(), order.end());
  if (static_cast<int64_t>(order.size()) > n) order.resize(static_cast<size_t>(n));
  return order;
}

}  // namespace

std::vector<std::string> postprocess_qa(const Dataset& data, const std::vector<std::vector<float>>& start_logits,
                                        const std::vector<std::vector<float>>& end_logits, int64_t n_best_size,
                                        int64_t max_answer_length) {
  if (data.task != Task::QuestionAnswering) throw Error(data.path + ": QA post-processing of a non-QA data set");
  if (start_logits.size() != data.features.size() || end_logits.size() != data.features.size()) {
    throw Error(data.path + ": " + std::to_string(data.features.size()) + " features but " +
                std::to_string(start_logits.size()) + " start and " + std::to_string(end_logits.size()) +
                " end logit rows");
  }
  if (n_best_size < 1 || max_answer_length < 1) throw Error("postprocess_qa: n_best_size and max_answer_length must be >= 1");
  std::vector<std::vector<size_t>> features_of(data.examples.size());
  for (size_t f = 0; f < data.features.size(); ++f) {
    const int64_t e = data.features[f].example_index;
    if (e < 0 || e >= static_cast<int64_t>(data.examples.size())) throw Error(data.path + ": a feature without its example");
    if (data.features[f].offsets.size() != data.features[f].input_ids.size()) {
      throw Error(data.path + ": the features have no offsets (read the data set with keep_qa_offsets)");
    }
    features_of[static_cast<size_t>(e)].push_back(f);
  }
  struct Candidate {
    float score;
    int64_t start_char, end_char;
  };
  std::vector<std::string> answers;
  answers.reserve(data.examples.size());
  for (size_t e = 0; e < data.examples.size(); ++e) {
    std::vector<Candidate> candidates;
    for (size_t f : features_of[e]) {
      const std::vector<float>& s = start_logits[f];
      const std::vector<float>& en = end_logits[f];
      const auto& off = data.features[f].offsets;
      const auto n = static_cast<int64_t>(off.size());
      for (int64_t si : top_indices(s, n_best_size)) {
        for (int64_t ei : top_indices(en, n_best_size)) {
          if (si >= n || ei >= n) continue;
          const auto& so = off[static_cast<size_t>(si)];
          const auto& eo = off[static_cast<size_t>(ei)];
          if (so.first < 0 || eo.first < 0) continue;  // not in the context
          if (ei < si || ei - si + 1 > max_answer_length) continue;
          candidates.push_back({s[static_cast<size_t>(si)] + en[static_cast<size_t>(ei)], so.first, eo.second});
        }
      }
    }
    // sorted(..., key=score, reverse=True) is stable: the first candidate of equal scores wins.
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    std::string text;
    if (!candidates.empty()) {
      text = pipelines::code_point_slice(data.examples[e].context, candidates[0].start_char, candidates[0].end_char);
    }
    // run_qa's fallback when there is no prediction, or only an empty one.
    if (candidates.empty() || (candidates.size() == 1 && text.empty())) text = "empty";
    answers.push_back(std::move(text));
  }
  return answers;
}

}  // namespace rembert::train
