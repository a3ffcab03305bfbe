// What both tokenizers share: the PreTrainedTokenizerBase behaviour (special-token layouts, strategy resolution,
// clean-up), reading the tokenizer config files, and the AutoTokenizer-like loader.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/files.h"
#include "rembert/error.h"
#include "rembert/tokenizer.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace rembert {

using Json = nlohmann::json;

Truncation truncation_from_name(const std::string& name) {
  if (name == "longest_first" || name == "true" || name == "True") return Truncation::LongestFirst;
  if (name == "only_first") return Truncation::OnlyFirst;
  if (name == "only_second") return Truncation::OnlySecond;
  if (name == "do_not_truncate" || name == "false" || name == "False") return Truncation::DoNotTruncate;
  throw Error("'" + name + "' is not a valid TruncationStrategy, please select one of ['only_first', "
              "'only_second', 'longest_first', 'do_not_truncate']");
}

const char* truncation_name(Truncation t) {
  switch (t) {
    case Truncation::LongestFirst: return "longest_first";
    case Truncation::OnlyFirst: return "only_first";
    case Truncation::OnlySecond: return "only_second";
    case Truncation::DoNotTruncate: return "do_not_truncate";
  }
  return "do_not_truncate";
}

Padding padding_from_name(const std::string& name) {
  if (name == "longest" || name == "true" || name == "True") return Padding::Longest;
  if (name == "max_length") return Padding::MaxLength;
  if (name == "do_not_pad" || name == "false" || name == "False") return Padding::DoNotPad;
  throw Error("'" + name + "' is not a valid PaddingStrategy, please select one of ['longest', 'max_length', "
              "'do_not_pad']");
}

const std::map<std::string, int64_t>& Tokenizer::get_vocab() const {
  std::call_once(vocab_once_, [this] { vocab_ = build_vocab(); });
  return vocab_;
}

std::vector<int64_t> Tokenizer::convert_tokens_to_ids(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const auto& t : tokens) ids.push_back(convert_token_to_id(t));
  return ids;
}

std::vector<std::string> Tokenizer::convert_ids_to_tokens(const std::vector<int64_t>& ids,
                                                          bool skip_special_tokens) const {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int64_t id : ids) {
    if (skip_special_tokens &&
        std::find(all_special_ids_.begin(), all_special_ids_.end(), id) != all_special_ids_.end()) {
      continue;
    }
    out.push_back(convert_id_to_token(id));
  }
  return out;
}

namespace {

void require_cls_sep(int64_t cls, int64_t sep) {
  if (cls < 0 || sep < 0) throw Error("the tokenizer has no cls_token or sep_token to add special tokens with");
}

}  // namespace

std::vector<int64_t> Tokenizer::build_inputs_with_special_tokens(const std::vector<int64_t>& a,
                                                                 const std::vector<int64_t>* b) const {
  require_cls_sep(cls_id_, sep_id_);
  std::vector<int64_t> out;
  out.reserve(a.size() + (b ? b->size() : 0) + 3);
  out.push_back(cls_id_);
  out.insert(out.end(), a.begin(), a.end());
  out.push_back(sep_id_);
  if (b) {
    out.insert(out.end(), b->begin(), b->end());
    out.push_back(sep_id_);
  }
  return out;
}

std::vector<int64_t> Tokenizer::get_special_tokens_mask(const std::vector<int64_t>& a, const std::vector<int64_t>* b,
                                                        bool already_has_special_tokens) const {
  std::vector<int64_t> out;
  if (already_has_special_tokens) {
    if (b) {
      throw Error("You should not supply a second sequence if the provided sequence of ids is already formatted "
                  "with special tokens for the model.");
    }
    for (int64_t x : a) out.push_back((x == sep_id_ || x == cls_id_) ? 1 : 0);
    return out;
  }
  out.push_back(1);
  out.insert(out.end(), a.size(), 0);
  out.push_back(1);
  if (b) {
    out.insert(out.end(), b->size(), 0);
    out.push_back(1);
  }
  return out;
}

std::vector<int64_t> Tokenizer::create_token_type_ids_from_sequences(const std::vector<int64_t>& a,
                                                                     const std::vector<int64_t>* b) const {
  std::vector<int64_t> out(a.size() + 2, 0);
  if (b) out.insert(out.end(), b->size() + 1, 1);
  return out;
}

Encoding Tokenizer::encode(std::string_view text, const std::string* pair, const EncodeOptions& options) const {
  std::vector<std::string> texts{std::string(text)};
  std::vector<std::string> pairs;
  if (pair) pairs.push_back(*pair);
  EncodeOptions o = options;
  BatchEncoding batch = encode_batch(texts, pair ? &pairs : nullptr, o);
  if (batch.encodings.empty()) throw Error("encoding produced nothing");
  return std::move(batch.encodings[0]);
}

void Tokenizer::resolve_special_ids() {
  auto id_of = [&](const std::string& t) -> int64_t { return t.empty() ? -1 : convert_token_to_id(t); };
  cls_id_ = id_of(special_.cls);
  sep_id_ = id_of(special_.sep);
  pad_id_ = id_of(special_.pad);
  mask_id_ = id_of(special_.mask);
  unk_id_ = id_of(special_.unk);
  all_special_tokens_.clear();
  all_special_ids_.clear();
  for (const std::string* t : {&special_.bos, &special_.eos, &special_.unk, &special_.sep, &special_.pad,
                               &special_.cls, &special_.mask}) {
    if (!t->empty() && std::find(all_special_tokens_.begin(), all_special_tokens_.end(), *t) ==
                           all_special_tokens_.end()) {
      all_special_tokens_.push_back(*t);
    }
  }
  for (const auto& t : special_.additional) {
    if (std::find(all_special_tokens_.begin(), all_special_tokens_.end(), t) == all_special_tokens_.end()) {
      all_special_tokens_.push_back(t);
    }
  }
  for (const auto& t : all_special_tokens_) all_special_ids_.push_back(convert_token_to_id(t));
}

std::string Tokenizer::clean_up_tokenization(std::string text) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    const std::string f(from), t(to);
    std::string out;
    size_t last = 0, pos;
    while ((pos = text.find(f, last)) != std::string::npos) {
      out.append(text, last, pos - last);
      out += t;
      last = pos + f.size();
    }
    out.append(text, last, std::string::npos);
    text = std::move(out);
  }
  return text;
}

namespace tok {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

namespace {

Json read_json(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
}

bool get_bool(const Json& j, const char* key, bool def, const std::string& src) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) throw Error(src + ": field '" + key + "' must be a boolean, got " + j[key].dump());
  return j[key].get<bool>();
}

// A special token value: a string or an AddedToken dict; nullopt for null.
std::optional<AddedToken> parse_token(const Json& v, const std::string& field, const std::string& src,
                                      bool default_lstrip) {
  if (v.is_null()) return std::nullopt;
  AddedToken t;
  t.special = true;
  if (v.is_string()) {
    t.content = v.get<std::string>();
    t.lstrip = default_lstrip;
  } else if (v.is_object()) {
    if (!v.contains("content") || !v["content"].is_string()) {
      throw Error(src + ": special token '" + field + "' needs a string 'content', got " + v.dump());
    }
    t.content = v["content"].get<std::string>();
    t.lstrip = get_bool(v, "lstrip", false, src);
    t.rstrip = get_bool(v, "rstrip", false, src);
    t.single_word = get_bool(v, "single_word", false, src);
    t.normalized = get_bool(v, "normalized", false, src);
    t.special = get_bool(v, "special", true, src);
  } else {
    throw Error(src + ": special token '" + field + "' must be a string or an object, got " + v.dump());
  }
  check_utf8(t.content, (src + " special token").c_str());
  return t;
}

}  // namespace

SpecialTokens special_tokens_of(const TokenizerConfig& cfg) {
  auto named = [&](const char* k) -> std::string {
    auto it = cfg.named.find(k);
    return it == cfg.named.end() ? std::string() : it->second.content;
  };
  SpecialTokens s;
  s.bos = named("bos_token");
  s.eos = named("eos_token");
  s.unk = named("unk_token");
  s.sep = named("sep_token");
  s.pad = named("pad_token");
  s.cls = named("cls_token");
  s.mask = named("mask_token");
  for (const auto& t : cfg.additional) s.additional.push_back(t.content);
  return s;
}

TokenizerConfig read_tokenizer_config(const std::string& dir, bool fast) {
  TokenizerConfig c;
  // Class defaults (RemBertTokenizer / RemBertTokenizerFast __init__).
  const std::map<std::string, std::string> defaults = {
      {"bos_token", "[CLS]"}, {"eos_token", "[SEP]"},  {"unk_token", fast ? "<unk>" : "[UNK]"},
      {"sep_token", "[SEP]"}, {"pad_token", fast ? "<pad>" : "[PAD]"}, {"cls_token", "[CLS]"},
      {"mask_token", "[MASK]"}};
  std::map<std::string, Json> values;
  for (const auto& [k, v] : defaults) values[k] = v;
  Json extra_additional = Json::array();

  const std::string config_path = dir + "/tokenizer_config.json";
  if (file_exists(config_path)) {
    const Json j = read_json(config_path);
    if (!j.is_object()) throw Error(config_path + ": must hold a JSON object");
    for (const char* k : kNamedSpecialTokens) {
      if (j.contains(k)) values[k] = j[k];
    }
    if (j.contains("additional_special_tokens") && j["additional_special_tokens"].is_array()) {
      for (const auto& t : j["additional_special_tokens"]) extra_additional.push_back(t);
    }
    if (j.contains("extra_special_tokens") && j["extra_special_tokens"].is_object()) {
      for (const auto& [k, t] : j["extra_special_tokens"].items()) extra_additional.push_back(t);
    }
    if (j.contains("added_tokens_decoder")) {
      if (!j["added_tokens_decoder"].is_object()) throw Error(config_path + ": added_tokens_decoder must be an object");
      for (const auto& [key, v] : j["added_tokens_decoder"].items()) {
        int64_t id;
        try {
          size_t used = 0;
          id = std::stoll(key, &used);
          if (used != key.size() || id < 0) throw std::invalid_argument(key);
        } catch (const std::exception&) {
          throw Error(config_path + ": added_tokens_decoder key '" + key + "' is not a token id");
        }
        auto t = parse_token(v, "added_tokens_decoder." + key, config_path, false);
        if (!t) continue;
        if (!v.is_object() || !v.contains("special")) t->special = false;
        t->id = id;
        c.added_tokens_decoder[id] = *t;
      }
    }
    if (j.contains("model_max_length") && j["model_max_length"].is_number()) {
      // Unset above 1e20 (transformers' "very large" sentinel) and also from 2^63 on: no longer limits anything,
      // and converting it to int64 would be undefined (found by fuzz_tokenizer_config).
      const double m = j["model_max_length"].get<double>();
      if (m <= 1e20 && m >= 0 && m < 9223372036854775808.0) c.model_max_length = static_cast<int64_t>(m);
    }
    if (j.contains("clean_up_tokenization_spaces") && j["clean_up_tokenization_spaces"].is_boolean()) {
      c.clean_up_tokenization_spaces = j["clean_up_tokenization_spaces"].get<bool>();
    }
    if (j.contains("do_lower_case")) c.do_lower_case = get_bool(j, "do_lower_case", false, config_path);
    if (j.contains("remove_space")) c.remove_space = get_bool(j, "remove_space", true, config_path);
    if (j.contains("keep_accents")) c.keep_accents = get_bool(j, "keep_accents", true, config_path);
    // Other keys (unknown *_token names included) are init kwargs transformers stores and ignores.
  }
  const std::string map_path = dir + "/special_tokens_map.json";
  if (file_exists(map_path)) {
    const Json j = read_json(map_path);
    if (!j.is_object()) throw Error(map_path + ": must hold a JSON object");
    for (const char* k : kNamedSpecialTokens) {
      if (j.contains(k)) values[k] = j[k];
    }
    if (j.contains("additional_special_tokens") && j["additional_special_tokens"].is_array()) {
      extra_additional = j["additional_special_tokens"];
    }
  }
  for (const char* k : kNamedSpecialTokens) {
    const std::string src = file_exists(map_path) ? map_path : config_path;
    // The mask token is an AddedToken(lstrip=True) when given as a plain string.
    auto t = parse_token(values[k], k, src, std::string(k) == "mask_token");
    if (t && !t->content.empty()) c.named[k] = *t;
  }
  for (const auto& v : extra_additional) {
    auto t = parse_token(v, "additional_special_tokens", config_path, false);
    if (t && !t->content.empty()) c.additional.push_back(*t);
  }
  return c;
}

void check_batch_pairs(const std::vector<std::string>& texts, const std::vector<std::string>* pairs) {
  if (pairs && pairs->size() != texts.size()) {
    throw Error("batch of pairs: " + std::to_string(texts.size()) + " texts but " + std::to_string(pairs->size()) +
                " pair texts");
  }
}

Strategy resolve_strategy(const EncodeOptions& o, const Tokenizer& t) {
  Strategy s;
  s.padding = o.padding;
  s.max_length = o.max_length;
  if (o.max_length && *o.max_length < 0) throw Error("max_length must be >= 0, got " + std::to_string(*o.max_length));
  if (o.stride < 0) throw Error("stride must be >= 0, got " + std::to_string(o.stride));
  if (o.pad_to_multiple_of && *o.pad_to_multiple_of <= 0) {
    throw Error("pad_to_multiple_of must be > 0, got " + std::to_string(*o.pad_to_multiple_of));
  }
  if (!o.truncation) {
    // max_length alone activates longest_first truncation.
    s.truncation = (o.max_length && o.padding == Padding::DoNotPad) ? Truncation::LongestFirst
                                                                    : Truncation::DoNotTruncate;
  } else {
    s.truncation = *o.truncation;
  }
  if (!s.max_length) {
    if (s.padding == Padding::MaxLength) {
      if (!t.model_max_length()) {
        s.padding = Padding::DoNotPad;  // transformers: "Default to no padding."
      } else {
        s.max_length = t.model_max_length();
      }
    }
    if (s.truncation != Truncation::DoNotTruncate) {
      if (!t.model_max_length()) {
        s.truncation = Truncation::DoNotTruncate;  // "Default to no truncation."
      } else {
        s.max_length = t.model_max_length();
      }
    }
  }
  if (s.padding != Padding::DoNotPad && t.pad_token_id() < 0) {
    throw Error("Asking to pad but the tokenizer does not have a padding token. Please select a token to use as "
                "`pad_token` `(tokenizer.pad_token = tokenizer.eos_token e.g.)` or add a new pad token via "
                "`tokenizer.add_special_tokens({'pad_token': '[PAD]'})`.");
  }
  if (s.truncation != Truncation::DoNotTruncate && s.padding != Padding::DoNotPad && o.pad_to_multiple_of &&
      s.max_length && *s.max_length % *o.pad_to_multiple_of != 0) {
    throw Error("Truncation and padding are both activated but truncation length (" + std::to_string(*s.max_length) +
                ") is not a multiple of pad_to_multiple_of (" + std::to_string(*o.pad_to_multiple_of) + ").");
  }
  return s;
}

std::vector<std::pair<size_t, size_t>> window_ranges(size_t n, size_t max_len, size_t stride, Side side) {
  if (stride >= max_len) {
    throw Error("`stride` must be strictly less than `max_len=" + std::to_string(max_len) +
                "` (note that `max_len` may be shorter than the max length of the original model, as it subtracts "
                "the number of special characters");
  }
  const size_t step = max_len - stride;
  std::vector<std::pair<size_t, size_t>> parts;
  bool end = false;
  if (side == Side::Right) {
    for (size_t start = 0; start < n && !end; start += step) {
      const size_t stop = std::min(start + max_len, n);
      end = stop == n;
      parts.emplace_back(start, stop);
    }
  } else {
    for (size_t k = 0; k < n && !end; k += step) {
      const size_t stop = n - k;  // (0..n).rev().step_by(step) gives n-1-k; stop = that + 1
      const size_t start = stop < max_len ? 0 : stop - max_len;
      if (start < stop) {
        end = start == 0;
        parts.emplace_back(start, stop);
      }
    }
  }
  return parts;
}

}  // namespace tok

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir, TokenizerKind kind) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw Error(dir + ": not a directory");
  switch (kind) {
    case TokenizerKind::Slow: return load_slow_tokenizer(dir);
    case TokenizerKind::Fast: return load_fast_tokenizer(dir);
    case TokenizerKind::Auto: break;
  }
  if (tok::file_exists(dir + "/tokenizer.json")) return load_fast_tokenizer(dir);
  if (tok::file_exists(dir + "/sentencepiece.model")) return load_slow_tokenizer(dir);
  throw Error(dir + ": no tokenizer files (tokenizer.json or sentencepiece.model)");
}

}  // namespace rembert
