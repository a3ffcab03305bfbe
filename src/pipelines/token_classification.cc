// token-classification / "ner" (SPEC §4.3): transformers' TokenClassificationPipeline (v4): tokenization with
// offsets and the special-tokens mask, a softmax over the labels per token, pre-entities, word aggregation
// (first/average/max), B-/I- grouping, ignore_labels, and stride windows merged by aggregate_overlapping_entities.
#include <algorithm>
#include <cctype>
#include <limits>

#include "pipelines/common.h"
#include "pipelines/pipeline_util_ner.h"
#include "pipelines/pipeline_util_numpy.h"
#include "rembert/error.h"
#include "rembert/pipelines.h"

namespace rembert {

AggregationStrategy aggregation_strategy_from_name(const std::string& name) {
  // transformers: AggregationStrategy[name.upper()], so the name is case-insensitive.
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "none") return AggregationStrategy::None;
  if (lower == "simple") return AggregationStrategy::Simple;
  if (lower == "first") return AggregationStrategy::First;
  if (lower == "average") return AggregationStrategy::Average;
  if (lower == "max") return AggregationStrategy::Max;
  throw Error("unknown aggregation_strategy \"" + name + "\" (expected none, simple, first, average or max)");
}

namespace pipelines::ner {

namespace {

const std::string kMetaspace = "\xe2\x96\x81";  // "▁"

std::string replace_metaspace(const std::string& token, bool drop) {
  std::string out;
  out.reserve(token.size());
  for (size_t k = 0; k < token.size();) {
    if (token.compare(k, kMetaspace.size(), kMetaspace) == 0) {
      if (!drop) out += ' ';
      k += kMetaspace.size();
    } else {
      out += token[k++];
    }
  }
  return out;
}

std::string label_of(const std::map<int64_t, std::string>& id2label, int64_t id) {
  auto it = id2label.find(id);
  if (it == id2label.end()) throw Error("token-classification: label id " + std::to_string(id) + " has no name in id2label");
  return it->second;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// get_tag: ("B"|"I", tag); a label without a B-/I- prefix counts as I.
std::pair<char, std::string> get_tag(const std::string& entity) {
  if (starts_with(entity, "B-")) return {'B', entity.substr(2)};
  if (starts_with(entity, "I-")) return {'I', entity.substr(2)};
  return {'I', entity};
}

// group_sub_entities: entity_group = entities[0].entity.split("-", 1)[-1], score = nanmean of the scores.
TokenEntity group_sub_entities(const std::vector<TokenEntity>& entities, const TokensToString& tokens_to_string) {
  TokenEntity g;
  g.grouped = true;
  const std::string& first = entities.front().entity;
  const size_t dash = first.find('-');
  g.entity = dash == std::string::npos ? first : first.substr(dash + 1);
  std::vector<float> scores;
  std::vector<std::string> words;
  for (const TokenEntity& e : entities) {
    scores.push_back(static_cast<float>(e.score));
    words.push_back(e.word);
  }
  g.score = numpy::mean(scores);
  g.word = tokens_to_string(words);
  g.start = entities.front().start;
  g.end = entities.back().end;
  return g;
}

// aggregate_word: one word entity from its pieces.
TokenEntity aggregate_word(const std::vector<const PreEntity*>& pieces, AggregationStrategy strategy,
                           const std::map<int64_t, std::string>& id2label, const TokensToString& tokens_to_string) {
  std::vector<std::string> words;
  for (const PreEntity* p : pieces) words.push_back(p->word);
  TokenEntity e;
  e.word = tokens_to_string(words);
  const auto L = static_cast<int64_t>(pieces.front()->scores.size());
  if (strategy == AggregationStrategy::First || strategy == AggregationStrategy::Max) {
    const PreEntity* chosen = pieces.front();
    if (strategy == AggregationStrategy::Max) {
      // max(entities, key=scores.max()): the first piece with the highest maximum.
      float best = -std::numeric_limits<float>::infinity();
      for (const PreEntity* p : pieces) {
        const float m = *std::max_element(p->scores.begin(), p->scores.end());
        if (m > best) {
          best = m;
          chosen = p;
        }
      }
    }
    const int64_t idx = numpy::argmax(chosen->scores.data(), L);
    e.entity = label_of(id2label, idx);
    e.score = chosen->scores[static_cast<size_t>(idx)];
  } else if (strategy == AggregationStrategy::Average) {
    // np.nanmean(np.stack(scores), axis=0): float32 column sums (row by row), divided in float64, rounded.
    std::vector<float> sums(static_cast<size_t>(L), 0.0f);
    for (const PreEntity* p : pieces) {
      for (int64_t j = 0; j < L; ++j) sums[static_cast<size_t>(j)] += p->scores[static_cast<size_t>(j)];
    }
    std::vector<float> average(static_cast<size_t>(L));
    for (int64_t j = 0; j < L; ++j) {
      average[static_cast<size_t>(j)] = static_cast<float>(static_cast<double>(sums[static_cast<size_t>(j)]) /
                                                           static_cast<double>(pieces.size()));
    }
    const int64_t idx = numpy::argmax(average.data(), L);
    e.entity = label_of(id2label, idx);
    e.score = average[static_cast<size_t>(idx)];
  } else {
    throw Error("NONE and SIMPLE strategies are invalid for word aggregation");
  }
  e.start = pieces.front()->start;
  e.end = pieces.back()->end;
  return e;
}

}  // namespace

std::string metaspace_tokens_to_string(const std::vector<std::string>& tokens) {
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) out += replace_metaspace(tokens[i], i == 0);
  return out;
}

std::string sentencepiece_tokens_to_string(const std::vector<std::string>& tokens, const Tokenizer& tokenizer) {
  const SpecialTokens& sp = tokenizer.special_tokens();
  std::string out;
  bool at_start = true;
  for (const std::string& t : tokens) {
    if (!t.empty() && (t == sp.cls || t == sp.sep || t == sp.pad || t == sp.mask || t == sp.bos || t == sp.eos)) {
      continue;  // control pieces decode to nothing
    }
    std::string surface;
    if (!t.empty() && t == sp.unk) {
      surface = " \xe2\x81\x87 ";  // sentencepiece's unk surface " ⁇ "
    } else {
      std::string piece = t;
      if (at_start && starts_with(piece, kMetaspace.c_str())) piece.erase(0, kMetaspace.size());
      surface = replace_metaspace(piece, false);
    }
    if (!surface.empty()) at_start = false;
    out += surface;
  }
  return out;
}

namespace {

// Python's str slicing by code points, with the byte offset of every code point computed once.
class CodePointText {
 public:
  explicit CodePointText(const std::string& text) : text_(text) {
    for (size_t i = 0; i < text.size(); ++i) {
      if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts_.push_back(i);
    }
    starts_.push_back(text.size());
  }
  int64_t size() const { return static_cast<int64_t>(starts_.size()) - 1; }
  // text[start:end] for 0 <= start, end (clamped to the length; empty when start >= end).
  std::string slice(int64_t start, int64_t end) const {
    start = std::clamp<int64_t>(start, 0, size());
    end = std::clamp<int64_t>(end, 0, size());
    if (start >= end) return "";
    const size_t b = starts_[static_cast<size_t>(start)], e = starts_[static_cast<size_t>(end)];
    return text_.substr(b, e - b);
  }
  bool is_subword(int64_t start) const {
    return start > 0 && slice(start - 1, start + 1).find(' ') == std::string::npos;
  }

 private:
  const std::string& text_;
  std::vector<size_t> starts_;
};

}  // namespace

bool is_subword_heuristic(const std::string& sentence, int64_t start) { return CodePointText(sentence).is_subword(start); }

std::vector<PreEntity> gather_pre_entities(const std::string& sentence, const std::vector<int64_t>& input_ids,
                                           const std::vector<std::string>& tokens, const std::vector<float>& scores,
                                           int64_t num_labels,
                                           const std::vector<std::pair<int64_t, int64_t>>& offsets,
                                           const std::vector<int64_t>& special_tokens_mask, int64_t unk_token_id) {
  std::vector<PreEntity> out;
  const bool has_offsets = !offsets.empty();
  const CodePointText text(sentence);
  for (size_t idx = 0; idx < input_ids.size(); ++idx) {
    if (special_tokens_mask[idx]) continue;
    PreEntity p;
    p.word = tokens[idx];
    p.index = static_cast<int64_t>(idx);
    const float* row = scores.data() + static_cast<int64_t>(idx) * num_labels;
    p.scores.assign(row, row + num_labels);
    if (has_offsets) {
      const auto [start, end] = offsets[idx];
      p.start = start;
      p.end = end;
      p.is_subword = text.is_subword(start);
      if (input_ids[idx] == unk_token_id) {
        p.word = text.slice(start, end);
        p.is_subword = false;
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<TokenEntity> aggregate_words(const std::vector<PreEntity>& pre_entities, AggregationStrategy strategy,
                                         const std::map<int64_t, std::string>& id2label,
                                         const TokensToString& tokens_to_string) {
  if (strategy == AggregationStrategy::None || strategy == AggregationStrategy::Simple) {
    throw Error("NONE and SIMPLE strategies are invalid for word aggregation");
  }
  std::vector<TokenEntity> words;
  std::vector<const PreEntity*> group;
  for (const PreEntity& p : pre_entities) {
    if (group.empty() || p.is_subword) {
      group.push_back(&p);
    } else {
      words.push_back(aggregate_word(group, strategy, id2label, tokens_to_string));
      group = {&p};
    }
  }
  if (!group.empty()) words.push_back(aggregate_word(group, strategy, id2label, tokens_to_string));
  return words;
}

std::vector<TokenEntity> group_entities(const std::vector<TokenEntity>& entities,
                                        const TokensToString& tokens_to_string) {
  std::vector<TokenEntity> groups;
  std::vector<TokenEntity> current;
  for (const TokenEntity& e : entities) {
    if (current.empty()) {
      current.push_back(e);
      continue;
    }
    const auto [bi, tag] = get_tag(e.entity);
    const std::string last_tag = get_tag(current.back().entity).second;
    if (tag == last_tag && bi != 'B') {
      current.push_back(e);
    } else {
      groups.push_back(group_sub_entities(current, tokens_to_string));
      current = {e};
    }
  }
  if (!current.empty()) groups.push_back(group_sub_entities(current, tokens_to_string));
  return groups;
}

std::vector<TokenEntity> aggregate(const std::vector<PreEntity>& pre_entities, AggregationStrategy strategy,
                                   const std::map<int64_t, std::string>& id2label,
                                   const TokensToString& tokens_to_string) {
  std::vector<TokenEntity> entities;
  if (strategy == AggregationStrategy::None || strategy == AggregationStrategy::Simple) {
    for (const PreEntity& p : pre_entities) {
      const auto L = static_cast<int64_t>(p.scores.size());
      const int64_t idx = numpy::argmax(p.scores.data(), L);
      TokenEntity e;
      e.entity = label_of(id2label, idx);
      e.score = p.scores[static_cast<size_t>(idx)];
      e.index = p.index;
      e.word = p.word;
      e.start = p.start;
      e.end = p.end;
      entities.push_back(std::move(e));
    }
  } else {
    entities = aggregate_words(pre_entities, strategy, id2label, tokens_to_string);
  }
  if (strategy == AggregationStrategy::None) return entities;
  return group_entities(entities, tokens_to_string);
}

std::vector<TokenEntity> filter_ignored(const std::vector<TokenEntity>& entities,
                                        const std::vector<std::string>& ignore_labels) {
  std::vector<TokenEntity> out;
  for (const TokenEntity& e : entities) {
    if (std::find(ignore_labels.begin(), ignore_labels.end(), e.entity) == ignore_labels.end()) out.push_back(e);
  }
  return out;
}

std::vector<TokenEntity> aggregate_overlapping_entities(std::vector<TokenEntity> entities) {
  if (entities.empty()) return entities;
  auto start_of = [](const TokenEntity& e) { return e.start.value_or(0); };
  auto end_of = [](const TokenEntity& e) { return e.end.value_or(0); };
  std::stable_sort(entities.begin(), entities.end(),
                   [&](const TokenEntity& a, const TokenEntity& b) { return start_of(a) < start_of(b); });
  std::vector<TokenEntity> out;
  TokenEntity previous = entities.front();
  for (const TokenEntity& e : entities) {
    if (start_of(previous) <= start_of(e) && start_of(e) < end_of(previous)) {
      const int64_t current_length = end_of(e) - start_of(e);
      const int64_t previous_length = end_of(previous) - start_of(previous);
      if (current_length > previous_length || (current_length == previous_length && e.score > previous.score)) {
        previous = e;
      }
    } else {
      out.push_back(previous);
      previous = e;
    }
  }
  out.push_back(previous);
  return out;
}

}  // namespace pipelines::ner

std::vector<TokenEntity> token_classification(const PipelineModel& pm, const std::string& text,
                                              const TokenClassificationOptions& options,
                                              std::vector<std::string>* warnings) {
  namespace ner = pipelines::ner;
  const Tokenizer& tok = *pm.tokenizer;
  const Model& model = *pm.model;
  if (model.head() != HeadType::TokenClassification) {
    throw Error(std::string("token-classification needs RemBertForTokenClassification, the model is ") +
                head_class_name(model.head()));
  }
  const AggregationStrategy strategy = options.aggregation_strategy;
  const bool word_strategy = strategy == AggregationStrategy::First || strategy == AggregationStrategy::Average ||
                             strategy == AggregationStrategy::Max;
  if (word_strategy && !tok.is_fast()) {
    throw Error("Slow tokenizers cannot handle subwords. Please set the `aggregation_strategy` option to \"simple\" "
                "or use a fast tokenizer.");
  }

  EncodeOptions eo;
  const std::optional<int64_t> model_max_length = tok.model_max_length();
  // truncation=True whenever model_max_length > 0 (without a usable model_max_length nothing is truncated).
  if (model_max_length && *model_max_length > 0) {
    eo.truncation = Truncation::LongestFirst;
    eo.max_length = *model_max_length;
  }
  if (options.stride != 0) {
    if (options.stride < 0) throw Error("`stride` must be >= 0 (got " + std::to_string(options.stride) + ")");
    if (model_max_length && options.stride >= *model_max_length) {
      throw Error("`stride` must be less than `tokenizer.model_max_length` (or even lower if the tokenizer adds "
                  "special tokens)");
    }
    if (strategy == AggregationStrategy::None) {
      throw Error("`stride` was provided to process all the text but `aggregation_strategy=\"none\"`, please select "
                  "another one instead.");
    }
    if (!tok.is_fast()) {
      throw Error("`stride` was provided to process all the text but you're using a slow tokenizer. Please use a "
                  "fast tokenizer.");
    }
    eo.return_overflowing_tokens = true;
  eo.overflow_covers_whole_text = true;  // windows over the whole text, as transformers v4 walks it
    eo.padding = Padding::Longest;
    eo.stride = options.stride;
  }
  const BatchEncoding batch = tok.encode_batch({text}, nullptr, eo);

  const ner::TokensToString tokens_to_string =
      tok.is_fast() ? ner::TokensToString(ner::metaspace_tokens_to_string)
                    : ner::TokensToString([&tok](const std::vector<std::string>& tokens) {
                        return ner::sentencepiece_tokens_to_string(tokens, tok);
                      });
  const RemBertConfig& config = model.config();
  std::vector<TokenEntity> all;
  bool warned = false;
  for (const Encoding& enc : batch.encodings) {
    const auto S = static_cast<int64_t>(enc.input_ids.size());
    if (S > config.max_position_embeddings) {
      throw Error("token-classification: the text is " + std::to_string(S) +
                  " tokens long, more than the model's max_position_embeddings (" +
                  std::to_string(config.max_position_embeddings) +
                  "); set model_max_length in tokenizer_config.json to truncate (and use stride to cover it all)");
    }
    ForwardInputs in = pipelines::inputs_of(enc);
    const Tensor logits = pm.forward(in).logits;  // [1, S, labels]
    const int64_t L = logits.dim(2);
    const float* x = logits.data<float>();
    std::vector<float> scores(static_cast<size_t>(S * L));
    for (int64_t t = 0; t < S; ++t) {
      const std::vector<float> p = pipelines::numpy::softmax(x + t * L, L);
      std::copy(p.begin(), p.end(), scores.begin() + t * L);
    }
    const std::vector<std::string> tokens = tok.convert_ids_to_tokens(enc.input_ids);
    const std::vector<ner::PreEntity> pre = ner::gather_pre_entities(
        text, enc.input_ids, tokens, scores, L, enc.offsets, enc.special_tokens_mask, tok.unk_token_id());
    if (word_strategy && !pre.empty() && !warned && warnings) {
      warnings->push_back("Tokenizer does not support real words, using fallback heuristic");
      warned = true;
    }
    const std::vector<TokenEntity> grouped = ner::aggregate(pre, strategy, config.id2label, tokens_to_string);
    const std::vector<TokenEntity> kept = ner::filter_ignored(grouped, options.ignore_labels);
    all.insert(all.end(), kept.begin(), kept.end());
  }
  if (batch.encodings.size() > 1) all = ner::aggregate_overlapping_entities(std::move(all));
  return all;
}

std::string to_json(const std::vector<TokenEntity>& result) {
  auto offset = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string("null"); };
  std::string s = "[";
  for (size_t i = 0; i < result.size(); ++i) {
    const TokenEntity& e = result[i];
    if (i) s += ", ";
    if (e.grouped) {
      s += "{\"entity_group\": " + pipelines::json_string(e.entity);
    } else {
      s += "{\"entity\": " + pipelines::json_string(e.entity);
    }
    s += ", \"score\": " + pipelines::json_number(e.score);
    if (!e.grouped) s += ", \"index\": " + std::to_string(e.index);
    s += ", \"word\": " + pipelines::json_string(e.word) + ", \"start\": " + offset(e.start) +
         ", \"end\": " + offset(e.end) + "}";
  }
  return s + "]";
}

}  // namespace rembert
