// RemBertTokenizerFast: tokenizer.json run with Hugging Face tokenizers' algorithms (added-vocabulary split,
// normalizer, pre-tokenizer, Unigram, TemplateProcessing, truncation with overflowing windows, padding, decoder),
// wrapped in transformers' PreTrainedTokenizerFast behaviour.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <nlohmann/json.hpp>

#include "core/files.h"
#include "rembert/error.h"
#include "rembert/tokenizer.h"
#include "tokenizer/fast_components.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace rembert {
namespace {

using Json = nlohmann::json;
using tok::NormalizedString;

// An encoding as tokenizers' Encoding holds it (offsets already in code points).
struct RawEncoding {
  std::vector<int64_t> ids, type_ids, special_tokens_mask, attention_mask;
  std::vector<std::string> tokens;
  std::vector<std::pair<int64_t, int64_t>> offsets;
  std::vector<RawEncoding> overflowing;

  size_t size() const { return ids.size(); }
  void reserve(size_t n) {
    ids.reserve(n);
    type_ids.reserve(n);
    special_tokens_mask.reserve(n);
    attention_mask.reserve(n);
    tokens.reserve(n);
    offsets.reserve(n);
  }
  void append_range(const RawEncoding& o, size_t b, size_t e) {
    ids.insert(ids.end(), o.ids.begin() + static_cast<std::ptrdiff_t>(b), o.ids.begin() + static_cast<std::ptrdiff_t>(e));
    type_ids.insert(type_ids.end(), o.type_ids.begin() + static_cast<std::ptrdiff_t>(b),
                    o.type_ids.begin() + static_cast<std::ptrdiff_t>(e));
    special_tokens_mask.insert(special_tokens_mask.end(), o.special_tokens_mask.begin() + static_cast<std::ptrdiff_t>(b),
                               o.special_tokens_mask.begin() + static_cast<std::ptrdiff_t>(e));
    attention_mask.insert(attention_mask.end(), o.attention_mask.begin() + static_cast<std::ptrdiff_t>(b),
                          o.attention_mask.begin() + static_cast<std::ptrdiff_t>(e));
    tokens.insert(tokens.end(), o.tokens.begin() + static_cast<std::ptrdiff_t>(b),
                  o.tokens.begin() + static_cast<std::ptrdiff_t>(e));
    offsets.insert(offsets.end(), o.offsets.begin() + static_cast<std::ptrdiff_t>(b),
                   o.offsets.begin() + static_cast<std::ptrdiff_t>(e));
  }
  RawEncoding slice(size_t b, size_t e) const {
    RawEncoding r;
    r.reserve(e - b);
    r.append_range(*this, b, e);
    return r;
  }

  // Encoding::merge_with (growing_offsets = false), overflowing parts combined the tokenizers way.
  void merge_with(const RawEncoding& pair) {
    std::vector<RawEncoding> overflowings;
    for (const RawEncoding& self_o : overflowing) {
      RawEncoding n = self_o;
      n.merge_with(pair);
      overflowings.push_back(std::move(n));
      for (const RawEncoding& other_o : pair.overflowing) {
        RawEncoding m = self_o;
        m.merge_with(other_o);
        overflowings.push_back(std::move(m));
      }
    }
    for (const RawEncoding& other_o : pair.overflowing) {
      RawEncoding n = *this;
      n.merge_with(other_o);
      overflowings.push_back(std::move(n));
    }
    append_range(pair, 0, pair.size());
    overflowing = std::move(overflowings);
  }

  // Encoding::truncate
  void truncate(size_t max_len, size_t stride, Side side) {
    const size_t n = ids.size();
    if (max_len >= n) return;
    if (max_len == 0) {
      RawEncoding old = std::move(*this);
      *this = RawEncoding();
      overflowing.push_back(std::move(old));
      return;
    }
    const std::vector<std::pair<size_t, size_t>> parts = tok::window_ranges(n, max_len, stride, side);
    RawEncoding first = slice(parts[0].first, parts[0].second);
    for (size_t i = 1; i < parts.size(); ++i) first.overflowing.push_back(slice(parts[i].first, parts[i].second));
    *this = std::move(first);
  }

  // Encoding::pad (overflowing first)
  void pad(size_t target, int64_t pad_id, int64_t pad_type_id, const std::string& pad_token, Side side) {
    for (RawEncoding& o : overflowing) o.pad(target, pad_id, pad_type_id, pad_token, side);
    if (ids.size() >= target) return;
    const size_t d = target - ids.size();
    auto grow = [&](auto& v, auto value) {
      if (side == Side::Right) {
        v.insert(v.end(), d, value);
      } else {
        v.insert(v.begin(), d, value);
      }
    };
    grow(ids, pad_id);
    grow(type_ids, pad_type_id);
    grow(tokens, pad_token);
    grow(attention_mask, int64_t{0});
    grow(special_tokens_mask, int64_t{1});
    grow(offsets, std::pair<int64_t, int64_t>{0, 0});
  }
};

struct TemplatePiece {
  bool special = false;
  std::string special_id;  // SpecialToken id
  int sequence = 0;        // 0 = A, 1 = B
  int64_t type_id = 0;
};

struct TemplateSpecial {
  std::vector<int64_t> ids;
  std::vector<std::string> tokens;
};

// Leftmost-longest matcher over added-token contents.
class AddedMatcher {
 public:
  void build(const std::vector<std::string>& patterns, const std::vector<size_t>& token_index) {
    patterns_ = patterns;
    index_ = token_index;
    for (bool& b : first_) b = false;
    for (const std::string& p : patterns_) {
      if (!p.empty()) first_[static_cast<unsigned char>(p[0])] = true;
    }
    trie_.build(patterns_);
  }
  bool empty() const { return patterns_.empty(); }
  // Finds the next match at or after `from`: returns false when none; sets start/end/which.
  bool next(std::string_view s, size_t from, size_t& start, size_t& end, size_t& which) const {
    for (size_t i = from; i < s.size(); ++i) {
      if (!first_[static_cast<unsigned char>(s[i])]) continue;
      size_t best_len = 0;
      int32_t best = -1;
      trie_.common_prefixes(s.substr(i), [&](size_t len, int32_t value) {
        if (len > best_len && !patterns_[static_cast<size_t>(value)].empty()) {
          best_len = len;
          best = value;
        }
      });
      if (best >= 0) {
        start = i;
        end = i + best_len;
        which = index_[static_cast<size_t>(best)];
        return true;
      }
    }
    return false;
  }

 private:
  std::vector<std::string> patterns_;
  std::vector<size_t> index_;
  tok::PrefixTrie trie_;
  bool first_[256] = {};
};

// A piece of a sequence during encoding: text still to tokenize, or an added token already found.
struct Split {
  NormalizedString ns;
  int64_t token_id = -1;  // >= 0: an added token
};

class FastTokenizer : public Tokenizer {
 public:
  explicit FastTokenizer(const std::string& dir) {
    const std::string path = dir + "/tokenizer.json";
    if (!tok::file_exists(path)) throw Error(dir + ": tokenizer.json not found");
    std::optional<tok::UnigramVocab> vocab;
    const Json j = tok::parse_tokenizer_json(read_file(path), path, vocab);
    if (!j.is_object()) throw Error(path + ": must hold a JSON object");
    try {
      load(j, std::move(vocab));
    } catch (const Json::exception& e) {
      throw Error(path + ": " + e.what());
    }
    sp_model_file_ = dir + "/sentencepiece.model";

    tok::TokenizerConfig cfg = tok::read_tokenizer_config(dir, /*fast=*/true);
    model_max_length_ = cfg.model_max_length;
    clean_up_tokenization_spaces_ = cfg.clean_up_tokenization_spaces.value_or(true);
    do_lower_case_ = cfg.do_lower_case.value_or(true);
    remove_space_ = cfg.remove_space.value_or(true);
    keep_accents_ = cfg.keep_accents.value_or(false);
    // Tokens of tokenizer_config's added_tokens_decoder, then special tokens, that the tokenizer.json lacks are
    // added like PreTrainedTokenizerFast.__init__ does.
    std::vector<AddedToken> to_add;
    for (const auto& [id, t] : cfg.added_tokens_decoder) to_add.push_back(t);
    special_ = tok::special_tokens_of(cfg);
    for (const char* k : tok::kNamedSpecialTokens) {
      auto it = cfg.named.find(k);
      if (it != cfg.named.end()) to_add.push_back(it->second);
    }
    for (const auto& t : cfg.additional) to_add.push_back(t);
    bool changed = false;
    for (AddedToken t : to_add) {
      if (added_ids_.count(t.content)) continue;
      const int64_t in_model = model_->token_to_id(t.content);
      t.id = in_model >= 0 ? in_model : next_added_id();
      add_token(t);
      changed = true;
    }
    if (changed) build_matchers();
    resolve_special_ids();
  }

  bool is_fast() const override { return true; }

  std::vector<std::string> tokenize(std::string_view text) const override {
    RawEncoding e = encode_sequence(text);
    return e.tokens;
  }

  int64_t convert_token_to_id(const std::string& token) const override {
    auto it = added_ids_.find(token);
    if (it != added_ids_.end()) return it->second;
    const int64_t id = model_->token_to_id(token);
    return id >= 0 ? id : unk_id_;
  }

  std::string convert_id_to_token(int64_t id) const override {
    const std::string* t = id_to_token(id);
    if (!t) throw Error("token id " + std::to_string(id) + " is out of range");
    return *t;
  }

  int64_t vocab_size() const override { return static_cast<int64_t>(model_->size()); }

  std::map<std::string, int64_t> build_vocab() const override {
    std::map<std::string, int64_t> v;
    const auto& pieces = model_->pieces();
    for (size_t i = 0; i < pieces.size(); ++i) v[pieces[i]] = static_cast<int64_t>(i);
    for (const auto& [content, id] : added_ids_) v[content] = id;
    return v;
  }

  BatchEncoding encode_batch(const std::vector<std::string>& texts, const std::vector<std::string>* pairs,
                             const EncodeOptions& o) const override {
    tok::check_batch_pairs(texts, pairs);
    const tok::Strategy s = tok::resolve_strategy(o, *this);
    const bool truncate = s.truncation != Truncation::DoNotTruncate && s.max_length;
    if (truncate) {
      // TokenizerImpl::with_truncation (transformers sets truncation before encoding), counted for single inputs.
      const int64_t added = template_added(false);
      if (*s.max_length >= added && o.stride > *s.max_length - added) {
        throw Error("tokenizer stride set to " + std::to_string(o.stride) +
                    ", which is greater than or equal to its effective max length of " +
                    std::to_string(*s.max_length - added) + " (= " + std::to_string(*s.max_length) +
                    " original max length - " + std::to_string(added) + " added special tokens), ");
      }
    }
    std::vector<RawEncoding> encs(texts.size());
    std::vector<std::string> errors(texts.size());
    const auto n = static_cast<int64_t>(texts.size());
#pragma omp parallel for schedule(dynamic, 1) if (n > 1)
    for (int64_t i = 0; i < n; ++i) {
      try {
        const auto k = static_cast<size_t>(i);
        // With truncation on, tokenizers 0.23 stops tokenizing a sequence once it holds max_length tokens (whole
        // pre-tokenized words, from the truncated side), before truncating: the results depend on it. It does so
        // for the second text always, for the first one unless the strategy is only_second (visible when the
        // special tokens fill max_length and both texts overflow whole). With overflow_covers_whole_text the whole
        // text is tokenized, so that overflowing windows cover all of it.
        const bool whole = o.return_overflowing_tokens && o.overflow_covers_whole_text;
        const size_t cap = truncate && !whole ? static_cast<size_t>(*s.max_length) : kNoCap;
        const size_t cap_a = s.truncation == Truncation::OnlySecond ? kNoCap : cap;
        RawEncoding a = encode_sequence(texts[k], cap_a, o.truncation_side);
        RawEncoding b;
        if (pairs) b = encode_sequence((*pairs)[k], cap, o.truncation_side);
        encs[k] = post_process(std::move(a), pairs ? &b : nullptr, s, o, truncate);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(i)] = e.what();
      }
    }
    for (const auto& e : errors) {
      if (!e.empty()) throw Error(e);
    }
    if (s.padding != Padding::DoNotPad) {
      size_t target = 0;
      if (s.padding == Padding::MaxLength && s.max_length) {
        target = static_cast<size_t>(*s.max_length);
      } else {
        for (const auto& e : encs) target = std::max(target, e.size());
      }
      if (o.pad_to_multiple_of && *o.pad_to_multiple_of > 0) {
        const auto m = static_cast<size_t>(*o.pad_to_multiple_of);
        if (target % m) target += m - target % m;
      }
      for (auto& e : encs) e.pad(target, pad_id_, 0, special_.pad, o.padding_side);
    }
    BatchEncoding batch;
    for (size_t i = 0; i < encs.size(); ++i) {
      batch.encodings.push_back(to_encoding(encs[i]));
      if (o.return_overflowing_tokens) {
        batch.overflow_to_sample_mapping.push_back(static_cast<int64_t>(i));
        for (const RawEncoding& ov : encs[i].overflowing) {
          batch.encodings.push_back(to_encoding(ov));
          batch.overflow_to_sample_mapping.push_back(static_cast<int64_t>(i));
        }
      }
    }
    return batch;
  }

  std::string decode(const std::vector<int64_t>& ids, const DecodeOptions& o) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int64_t id : ids) {
      const std::string* t = id_to_token(id);
      if (!t) continue;  // tokenizers skips ids it does not know
      if (o.skip_special_tokens && special_set_.count(*t)) continue;
      tokens.push_back(*t);
    }
    std::string text;
    if (decoder_) {
      decoder_->decode_chain(tokens);
      for (const auto& t : tokens) text += t;
    } else {
      for (size_t i = 0; i < tokens.size(); ++i) {
        if (i) text += ' ';
        text += tokens[i];
      }
    }
    if (o.clean_up_tokenization_spaces.value_or(clean_up_tokenization_spaces_)) text = clean_up_tokenization(text);
    return text;
  }

  std::vector<std::string> save_vocabulary(const std::string& dir, const std::string& prefix) const override {
    if (!tok::file_exists(sp_model_file_)) {
      throw Error("Your fast tokenizer does not have the necessary information to save the vocabulary for a slow "
                  "tokenizer.");
    }
    const std::string out = dir + "/" + (prefix.empty() ? "" : prefix + "-") + "sentencepiece.model";
    char* a = ::realpath(sp_model_file_.c_str(), nullptr);
    char* b = ::realpath(out.c_str(), nullptr);
    const bool same = a && b && std::string(a) == std::string(b);
    std::free(a);
    std::free(b);
    if (!same) {
      const std::string bytes = read_file(sp_model_file_);
      std::FILE* f = std::fopen(out.c_str(), "wb");
      if (!f) throw Error("cannot write " + out);
      const size_t w = std::fwrite(bytes.data(), 1, bytes.size(), f);
      const bool ok = std::fclose(f) == 0 && w == bytes.size();
      if (!ok) throw Error("cannot write " + out);
    }
    return {out};
  }

 private:
  void load(const Json& j, std::optional<tok::UnigramVocab> vocab) {
    if (!j.contains("model") || !j["model"].is_object()) throw Error("tokenizer.json has no model");
    const Json& m = j["model"];
    const std::string mtype = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : "";
    if (mtype != "Unigram") {
      throw Error("tokenizer.json: unsupported model type '" + (mtype.empty() ? std::string("(none)") : mtype) +
                  "' (only Unigram is implemented)");
    }
    model_ = std::make_unique<tok::UnigramModel>(m, std::move(vocab));
    normalizer_ = tok::make_normalizer(j.contains("normalizer") ? j["normalizer"] : Json());
    pre_tokenizer_ = tok::make_pre_tokenizer(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : Json());
    decoder_ = tok::make_decoder(j.contains("decoder") ? j["decoder"] : Json());
    load_post_processor(j.contains("post_processor") ? j["post_processor"] : Json());
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      for (const Json& t : j["added_tokens"]) {
        if (!t.is_object() || !t.contains("id") || !t.contains("content") || !t["content"].is_string()) {
          throw Error("tokenizer.json: bad added token " + t.dump());
        }
        AddedToken a;
        a.id = tok::json_int(t["id"], "added token id");
        a.content = t["content"].get<std::string>();
        tok::check_utf8(a.content, "tokenizer.json added token");
        auto flag = [&](const char* k, bool def) { return t.contains(k) && t[k].is_boolean() ? t[k].get<bool>() : def; };
        a.single_word = flag("single_word", false);
        a.lstrip = flag("lstrip", false);
        a.rstrip = flag("rstrip", false);
        a.normalized = flag("normalized", true);
        a.special = flag("special", false);
        add_token(a);
      }
    }
    build_matchers();
  }

  void load_post_processor(const Json& p) {
    if (p.is_null()) return;
    const std::string type = p.contains("type") && p["type"].is_string() ? p["type"].get<std::string>() : "";
    if (type != "TemplateProcessing") {
      throw Error("tokenizer.json: unsupported post_processor type '" + type + "'");
    }
    has_template_ = true;
    auto parse = [&](const Json& list, std::vector<TemplatePiece>& out) {
      if (!list.is_array()) throw Error("tokenizer.json: TemplateProcessing templates must be lists");
      for (const Json& item : list) {
        TemplatePiece piece;
        if (item.contains("SpecialToken")) {
          piece.special = true;
          piece.special_id = item["SpecialToken"].at("id").get<std::string>();
          piece.type_id = tok::json_int(item["SpecialToken"], "type_id", 0, "template type_id");
        } else if (item.contains("Sequence")) {
          const std::string id = item["Sequence"].at("id").get<std::string>();
          if (id != "A" && id != "B") throw Error("tokenizer.json: template sequence id must be A or B");
          piece.sequence = id == "A" ? 0 : 1;
          piece.type_id = tok::json_int(item["Sequence"], "type_id", 0, "template type_id");
        } else {
          throw Error("tokenizer.json: bad template piece " + item.dump());
        }
        out.push_back(piece);
      }
    };
    parse(p.at("single"), single_);
    parse(p.at("pair"), pair_);
    if (p.contains("special_tokens") && p["special_tokens"].is_object()) {
      for (const auto& [name, v] : p["special_tokens"].items()) {
        TemplateSpecial s;
        const Json& ids = v.at("ids");
        if (!ids.is_array()) throw Error("tokenizer.json: special token '" + name + "' ids must be a list");
        for (const Json& id : ids) s.ids.push_back(tok::json_int(id, "special token '" + name + "' id"));
        s.tokens = v.at("tokens").get<std::vector<std::string>>();
        if (s.ids.size() != s.tokens.size()) throw Error("tokenizer.json: special token '" + name + "' ids/tokens differ");
        specials_[name] = s;
      }
    }
    for (const auto* t : {&single_, &pair_}) {
      for (const auto& piece : *t) {
        if (piece.special && !specials_.count(piece.special_id)) {
          throw Error("tokenizer.json: template uses unknown special token '" + piece.special_id + "'");
        }
      }
    }
  }

  int64_t next_added_id() const {
    int64_t next = static_cast<int64_t>(model_->size());
    for (const auto& [id, t] : added_tokens_) next = std::max(next, id + 1);
    return next;
  }

  void add_token(const AddedToken& t) {
    added_tokens_[t.id] = t;
    added_ids_[t.content] = t.id;
    if (t.special) special_set_.insert(t.content);
  }

  void build_matchers() {
    std::vector<std::string> raw, norm;
    std::vector<size_t> raw_idx, norm_idx;
    token_list_.clear();
    normalized_content_.clear();
    for (const auto& [id, t] : added_tokens_) token_list_.push_back(t);
    for (size_t i = 0; i < token_list_.size(); ++i) {
      const AddedToken& t = token_list_[i];
      if (t.normalized) {
        NormalizedString ns(t.content, 0);
        if (normalizer_) normalizer_->normalize(ns);
        norm.push_back(ns.get());
        norm_idx.push_back(i);
        if (ns.get() != t.content) normalized_content_[t.id] = ns.get();
      } else {
        raw.push_back(t.content);
        raw_idx.push_back(i);
      }
    }
    raw_matcher_.build(raw, raw_idx);
    norm_matcher_.build(norm, norm_idx);
  }

  // Added tokens with normalized=true come back normalized, as tokenizers returns them.
  const std::string* id_to_token(int64_t id) const {
    auto n = normalized_content_.find(id);
    if (n != normalized_content_.end()) return &n->second;
    auto it = added_tokens_.find(id);
    if (it != added_tokens_.end()) return &it->second.content;
    return model_->id_to_token(id);
  }

  int64_t template_added(bool pair) const {
    if (!has_template_) return 0;
    int64_t n = 0;
    for (const auto& piece : pair ? pair_ : single_) {
      if (piece.special) n += static_cast<int64_t>(specials_.at(piece.special_id).ids.size());
    }
    return n;
  }

  // AddedVocabulary::split_with_indices on one split.
  void split_added(Split&& split, const AddedMatcher& matcher, std::vector<Split>& out) const {
    if (split.token_id >= 0 || matcher.empty()) {
      out.push_back(std::move(split));
      return;
    }
    const std::string& s = split.ns.get();
    size_t start_offset = 0;
    size_t from = 0;
    size_t start, stop, which;
    bool any = false;
    std::vector<std::pair<std::pair<size_t, size_t>, int64_t>> pieces;
    while (matcher.next(s, from, start, stop, which)) {
      from = stop;
      const AddedToken& t = token_list_[which];
      if (t.single_word) {
        auto ends_with_word = [&](size_t end) {
          if (end == 0) return false;
          size_t b = end - 1;
          while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
          size_t len;
          const char32_t c = tok::decode_utf8(s, b, &len);
          return tok::is_alphanumeric(c) || c == '_';
        };
        auto starts_with_word = [&](size_t begin) {
          if (begin >= s.size()) return false;
          size_t len;
          const char32_t c = tok::decode_utf8(s, begin, &len);
          return tok::is_alphanumeric(c) || c == '_';
        };
        const bool start_space = start == 0 || !ends_with_word(start);
        const bool stop_space = stop == s.size() || !starts_with_word(stop);
        if (!start_space || !stop_space) continue;
      }
      if (t.lstrip) {
        size_t newstart = start;
        while (newstart > 0) {
          size_t b = newstart - 1;
          while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80) --b;
          size_t len;
          if (!tok::is_white_space(tok::decode_utf8(s, b, &len))) break;
          newstart = b;
        }
        start = std::max(newstart, start_offset);
      }
      if (t.rstrip) {
        while (stop < s.size()) {
          size_t len;
          if (!tok::is_white_space(tok::decode_utf8(s, stop, &len))) break;
          stop += len;
        }
      }
      if (start < start_offset) start = start_offset;
      if (start > start_offset) pieces.push_back({{start_offset, start}, -1});
      pieces.push_back({{start, stop}, t.id});
      start_offset = stop;
      any = true;
    }
    if (!any) {
      out.push_back(std::move(split));
      return;
    }
    if (start_offset < s.size()) pieces.push_back({{start_offset, s.size()}, -1});
    for (const auto& [range, id] : pieces) {
      Split piece;
      piece.ns = split.ns.slice(range.first, range.second);
      piece.token_id = id;
      if (!piece.ns.empty()) out.push_back(std::move(piece));
    }
  }

  // Tokenizer::encode_single_sequence for one text: added tokens, normalizer, pre-tokenizer, model.
  static constexpr size_t kNoCap = static_cast<size_t>(-1);

  RawEncoding encode_sequence(std::string_view text, size_t cap = kNoCap, Side side = Side::Right) const {
    tok::check_utf8(text, "text");
    std::vector<Split> splits, next;
    if (!text.empty()) {
      Split whole;
      whole.ns = NormalizedString(text, 0);
      split_added(std::move(whole), raw_matcher_, splits);
    }
    for (Split& sp : splits) {
      if (sp.token_id < 0 && normalizer_) normalizer_->normalize(sp.ns);
      if (sp.token_id < 0 && sp.ns.empty()) continue;
      split_added(std::move(sp), norm_matcher_, next);
    }
    splits.clear();
    // Pre-tokenize the text splits, keeping the order with the added tokens.
    for (Split& sp : next) {
      if (sp.token_id >= 0 || !pre_tokenizer_) {
        if (sp.token_id >= 0 || !sp.ns.empty()) splits.push_back(std::move(sp));
        continue;
      }
      std::vector<NormalizedString> pieces;
      pieces.push_back(std::move(sp.ns));
      pre_tokenizer_->pre_tokenize(pieces);
      for (NormalizedString& p : pieces) {
        if (p.empty()) continue;
        Split s;
        s.ns = std::move(p);
        splits.push_back(std::move(s));
      }
    }
    // Byte -> code point offsets of the original text.
    bool ascii = true;
    for (char ch : text) ascii = ascii && static_cast<unsigned char>(ch) < 0x80;
    std::vector<uint32_t> char_of;
    if (!ascii) {
      char_of.resize(text.size() + 1);
      uint32_t c = 0;
      for (size_t i = 0; i < text.size(); ++i) {
        char_of[i] = c;  // code points that start before byte i
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++c;
      }
      char_of[text.size()] = c;
    }
    auto to_char = [&](uint32_t b) -> int64_t { return ascii ? b : char_of[std::min<size_t>(b, text.size())]; };

    RawEncoding e;
    thread_local std::vector<tok::ModelToken> model_tokens;
    // Tokens of each split, then concatenated in text order; with a cap, splits are taken from the truncated end
    // until `cap` tokens are reached (checked after each text split).
    std::vector<RawEncoding> parts;
    size_t count = 0;
    const size_t n_splits = splits.size();
    for (size_t k = 0; k < n_splits; ++k) {
      const Split& sp = splits[side == Side::Right ? k : n_splits - 1 - k];
      RawEncoding part;
      if (sp.token_id >= 0) {
        part.ids.push_back(sp.token_id);
        part.tokens.push_back(sp.ns.get());
        part.offsets.emplace_back(to_char(sp.ns.original_start()), to_char(sp.ns.original_end()));
      } else {
        model_tokens.clear();
        model_->tokenize(sp.ns.get(), model_tokens);
        for (tok::ModelToken& t : model_tokens) {
          const tok::Align a = sp.ns.original_range(t.start, t.end);
          part.ids.push_back(t.id);
          part.tokens.push_back(std::move(t.value));
          part.offsets.emplace_back(to_char(a.start), to_char(a.end));
        }
      }
      count += part.ids.size();
      // The stop is checked after text splits only (added tokens count but do not trigger it), as observed.
      const bool stop = cap != kNoCap && sp.token_id < 0 && count >= cap;
      if (cap == kNoCap && side == Side::Right) {
        e.ids.insert(e.ids.end(), part.ids.begin(), part.ids.end());
        for (auto& t : part.tokens) e.tokens.push_back(std::move(t));
        e.offsets.insert(e.offsets.end(), part.offsets.begin(), part.offsets.end());
      } else {
        parts.push_back(std::move(part));
      }
      if (stop) break;
    }
    for (size_t k = 0; k < parts.size(); ++k) {
      RawEncoding& part = parts[side == Side::Right ? k : parts.size() - 1 - k];
      e.ids.insert(e.ids.end(), part.ids.begin(), part.ids.end());
      for (auto& t : part.tokens) e.tokens.push_back(std::move(t));
      e.offsets.insert(e.offsets.end(), part.offsets.begin(), part.offsets.end());
    }
    e.type_ids.assign(e.ids.size(), 0);
    e.special_tokens_mask.assign(e.ids.size(), 0);
    e.attention_mask.assign(e.ids.size(), 1);
    return e;
  }

  // TokenizerImpl::post_process: truncation, then TemplateProcessing (with Encoding::merge).
  RawEncoding post_process(RawEncoding a, RawEncoding* b, const tok::Strategy& s, const EncodeOptions& o,
                           bool truncate) const {
    if (truncate) {
      const int64_t added = o.add_special_tokens ? template_added(b != nullptr) : 0;
      // tokenizers computes max_length - added in usize: below zero it wraps around, so nothing is truncated.
      if (*s.max_length >= added) {
        truncate_encodings(a, b, static_cast<size_t>(*s.max_length - added), s.truncation,
                           static_cast<size_t>(o.stride), o.truncation_side);
      }
    }
    if (!has_template_) {
      // PostProcessor::default_process: type ids 0 / 1, no special tokens.
      if (b) {
        std::fill(b->type_ids.begin(), b->type_ids.end(), 1);
        for (auto& ov : b->overflowing) std::fill(ov.type_ids.begin(), ov.type_ids.end(), 1);
        a.merge_with(*b);
      }
      return a;
    }
    const auto& tmpl = b ? pair_ : single_;
    RawEncoding out;
    for (const TemplatePiece& piece : tmpl) {
      if (piece.special) {
        if (!o.add_special_tokens) continue;
        const TemplateSpecial& sp = specials_.at(piece.special_id);
        RawEncoding t;
        t.ids = sp.ids;
        t.tokens = sp.tokens;
        t.type_ids.assign(sp.ids.size(), piece.type_id);
        t.offsets.assign(sp.ids.size(), {0, 0});
        t.special_tokens_mask.assign(sp.ids.size(), 1);
        t.attention_mask.assign(sp.ids.size(), 1);
        out.merge_with(t);
      } else {
        RawEncoding& seq = piece.sequence == 0 ? a : *b;
        if (piece.sequence == 1 && !b) continue;
        set_type_ids(seq, piece.type_id);
        out.merge_with(seq);
      }
    }
    return out;
  }

  static void set_type_ids(RawEncoding& e, int64_t type_id) {
    std::fill(e.type_ids.begin(), e.type_ids.end(), type_id);
    for (RawEncoding& o : e.overflowing) set_type_ids(o, type_id);
  }

  // tokenizers' truncate_encodings
  static void truncate_encodings(RawEncoding& a, RawEncoding* b, size_t max_length, Truncation strategy,
                                 size_t stride, Side side) {
    if (max_length == 0) {
      a.truncate(0, stride, side);
      if (b) b->truncate(0, stride, side);
      return;
    }
    const size_t total = a.size() + (b ? b->size() : 0);
    if (total <= max_length) return;
    const size_t to_remove = total - max_length;
    if (strategy == Truncation::LongestFirst) {
      if (b) {
        size_t n1 = a.size(), n2 = b->size();
        bool swap = false;
        if (n1 > n2) {
          swap = true;
          std::swap(n1, n2);
        }
        if (n1 > max_length) {
          n2 = n1;
        } else {
          n2 = std::max(n1, max_length - n1);
        }
        if (n1 + n2 > max_length) {
          n1 = max_length / 2;
          n2 = n1 + max_length % 2;
        }
        if (swap) std::swap(n1, n2);
        a.truncate(n1, stride, side);
        b->truncate(n2, stride, side);
      } else {
        a.truncate(total - to_remove, stride, side);
      }
      return;
    }
    RawEncoding* target = nullptr;
    if (strategy == Truncation::OnlyFirst) {
      target = &a;
    } else if (b) {
      target = b;
    } else {
      throw Error("Truncation error: Second sequence not provided");
    }
    const size_t target_len = target->size();
    if (target_len > to_remove) {
      target->truncate(target_len - to_remove, stride, side);
    } else {
      throw Error("Truncation error: Sequence to truncate too short to respect the provided max_length");
    }
  }

  Encoding to_encoding(const RawEncoding& r) const {
    Encoding e;
    e.input_ids = r.ids;
    e.token_type_ids = r.type_ids;
    e.attention_mask = r.attention_mask;
    e.special_tokens_mask = r.special_tokens_mask;
    e.tokens = r.tokens;
    e.offsets = r.offsets;
    return e;
  }

  std::unique_ptr<tok::UnigramModel> model_;
  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tok::Decoder> decoder_;
  bool has_template_ = false;
  std::vector<TemplatePiece> single_, pair_;
  std::map<std::string, TemplateSpecial> specials_;
  std::map<std::string, int64_t> added_ids_;
  std::map<int64_t, std::string> normalized_content_;
  std::set<std::string> special_set_;
  std::vector<AddedToken> token_list_;
  AddedMatcher raw_matcher_, norm_matcher_;
  std::string sp_model_file_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_fast_tokenizer(const std::string& dir) { return std::make_unique<FastTokenizer>(dir); }

}  // namespace rembert
