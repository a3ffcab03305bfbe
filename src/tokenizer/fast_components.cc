// tokenizer.json pre-tokenizers (Metaspace, WhitespaceSplit, Sequence), decoders (Metaspace, Replace,
// ByteFallback, Fuse, Strip, Sequence) and the Unigram model, with tokenizers' algorithms.
#include "tokenizer/fast_components.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "rembert/error.h"
#include "tokenizer/unicode.h"

namespace rembert::tok {
namespace {

using Json = nlohmann::json;

std::string type_of(const Json& j, const char* what) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    throw Error(std::string("tokenizer.json: a ") + what + " must be an object with a \"type\"");
  }
  return j["type"].get<std::string>();
}

enum class PrependScheme { Always, First, Never };

struct MetaspaceParams {
  std::string replacement = "\xE2\x96\x81";  // U+2581
  char32_t replacement_char = 0x2581;
  PrependScheme scheme = PrependScheme::Always;
  bool split = true;
};

MetaspaceParams parse_metaspace(const Json& j) {
  MetaspaceParams p;
  const char* key = j.contains("replacement") ? "replacement" : (j.contains("str_rep") ? "str_rep" : nullptr);
  if (key) {
    if (!j[key].is_string()) throw Error("tokenizer.json: Metaspace replacement must be a string");
    p.replacement = j[key].get<std::string>();
    check_utf8(p.replacement, "tokenizer.json Metaspace replacement");
    size_t len = 0;
    if (p.replacement.empty()) throw Error("tokenizer.json: Metaspace replacement is empty");
    p.replacement_char = decode_utf8(p.replacement, 0, &len);
    if (len != p.replacement.size()) throw Error("tokenizer.json: Metaspace replacement must be one character");
  }
  if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
    const std::string s = j["prepend_scheme"].get<std::string>();
    if (s == "always") {
      p.scheme = PrependScheme::Always;
    } else if (s == "first") {
      p.scheme = PrependScheme::First;
    } else if (s == "never") {
      p.scheme = PrependScheme::Never;
    } else {
      throw Error("tokenizer.json: unknown Metaspace prepend_scheme '" + s + "'");
    }
  } else if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean()) {
    p.scheme = j["add_prefix_space"].get<bool>() ? PrependScheme::Always : PrependScheme::Never;
  }
  if (j.contains("split") && j["split"].is_boolean()) p.split = j["split"].get<bool>();
  return p;
}

// Splits `s` at every occurrence of char `c` (byte string `cs`), the delimiter merged with the piece after it.
void split_merged_with_next(const NormalizedString& s, const std::string& cs, std::vector<NormalizedString>& out) {
  const std::string& text = s.get();
  size_t i = 0;
  bool previous_match = false;
  // (offsets, is_delimiter) covering the whole string, like Pattern::find_matches.
  std::vector<std::pair<std::pair<size_t, size_t>, bool>> matches;
  while (i < text.size()) {
    const size_t pos = text.find(cs, i);
    if (pos == std::string::npos) {
      matches.push_back({{i, text.size()}, false});
      break;
    }
    if (pos > i) matches.push_back({{i, pos}, false});
    matches.push_back({{pos, pos + cs.size()}, true});
    i = pos + cs.size();
  }
  // Fold from the right as tokenizers does.
  std::vector<std::pair<size_t, size_t>> acc;
  for (size_t k = matches.size(); k-- > 0;) {
    const auto& [off, is_match] = matches[k];
    if (is_match && !previous_match) {
      if (!acc.empty()) {
        acc.back().first = off.first;
      } else {
        acc.push_back(off);
      }
    } else {
      acc.push_back(off);
    }
    previous_match = is_match;
  }
  for (size_t k = acc.size(); k-- > 0;) {
    if (acc[k].second > acc[k].first) out.push_back(s.slice(acc[k].first, acc[k].second));
  }
}

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  explicit MetaspacePreTokenizer(const Json& j) : p_(parse_metaspace(j)) {}
  void pre_tokenize(std::vector<NormalizedString>& pieces) const override {
    std::vector<NormalizedString> out;
    out.reserve(pieces.size() * 4);
    std::vector<std::pair<size_t, size_t>> spaces;
    for (NormalizedString& s : pieces) {
      spaces.clear();
      const std::string& text = s.get();
      for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == ' ') spaces.emplace_back(i, i + 1);
      }
      s.replace_ranges(spaces, p_.replacement);
      const bool starts = s.get().compare(0, p_.replacement.size(), p_.replacement) == 0;
      if (!starts) {
        if (p_.scheme == PrependScheme::Always ||
            (p_.scheme == PrependScheme::First && s.original_start() == 0 && !s.empty())) {
          s.prepend(p_.replacement);
        }
      }
      if (p_.split) {
        split_merged_with_next(s, p_.replacement, out);
      } else if (!s.empty()) {
        out.push_back(std::move(s));
      }
    }
    pieces = std::move(out);
  }

 private:
  MetaspaceParams p_;
};

class WhitespaceSplitPreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<NormalizedString>& pieces) const override {
    std::vector<NormalizedString> out;
    for (const NormalizedString& s : pieces) {
      const std::string& text = s.get();
      size_t start = 0;
      for (size_t i = 0; i < text.size();) {
        size_t len;
        const char32_t c = decode_utf8(text, i, &len);
        if (is_white_space(c)) {
          if (i > start) out.push_back(s.slice(start, i));
          start = i + len;
        }
        i += len;
      }
      if (text.size() > start) out.push_back(s.slice(start, text.size()));
    }
    pieces = std::move(out);
  }
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<NormalizedString>& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class MetaspaceDecoder : public Decoder {
 public:
  explicit MetaspaceDecoder(const Json& j) : p_(parse_metaspace(j)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      out.reserve(tokens[i].size());
      const std::string& t = tokens[i];
      for (size_t k = 0; k < t.size();) {
        if (t.compare(k, p_.replacement.size(), p_.replacement) == 0) {
          if (!(i == 0 && p_.scheme != PrependScheme::Never)) out += ' ';
          k += p_.replacement.size();
        } else {
          out += t[k];
          ++k;
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  MetaspaceParams p_;
};

class ReplaceDecoder : public Decoder {
 public:
  explicit ReplaceDecoder(const Json& j) {
    const Json& pat = j.contains("pattern") ? j["pattern"] : Json();
    if (pat.contains("String") && pat["String"].is_string()) {
      pattern_ = pat["String"].get<std::string>();
    } else {
      throw Error("tokenizer.json: Replace decoder supports only {\"String\": ...} patterns");
    }
    if (!j.contains("content") || !j["content"].is_string()) throw Error("tokenizer.json: Replace decoder needs 'content'");
    content_ = j["content"].get<std::string>();
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (pattern_.empty()) return;
    for (std::string& t : tokens) {
      std::string out;
      size_t last = 0, pos;
      while ((pos = t.find(pattern_, last)) != std::string::npos) {
        out.append(t, last, pos - last);
        out += content_;
        last = pos + pattern_.size();
      }
      out.append(t, last, std::string::npos);
      t = std::move(out);
    }
  }

 private:
  std::string pattern_, content_;
};

class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t n_bytes = 0;
    auto flush = [&]() {
      if (n_bytes == 0) return;
      if (find_invalid_utf8(bytes) == std::string_view::npos) {
        out.push_back(bytes);
      } else {
        for (size_t k = 0; k < n_bytes; ++k) out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
      n_bytes = 0;
    };
    for (std::string& t : tokens) {
      int value = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        auto hex = [](char c) {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          return -1;
        };
        const int hi = hex(t[3]), lo = hex(t[4]);
        if (hi >= 0 && lo >= 0) value = hi * 16 + lo;
      }
      if (value >= 0) {
        bytes += static_cast<char>(value);
        ++n_bytes;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, all);
  }
};

class StripDecoder : public Decoder {
 public:
  explicit StripDecoder(const Json& j) {
    if (!j.contains("content") || !j["content"].is_string()) throw Error("tokenizer.json: Strip decoder needs 'content'");
    const std::string c = j["content"].get<std::string>();
    check_utf8(c, "tokenizer.json Strip decoder content");
    size_t len = 0;
    if (c.empty()) throw Error("tokenizer.json: Strip decoder content is empty");
    content_ = decode_utf8(c, 0, &len);
    const int64_t start = json_int(j, "start", 0, "Strip decoder start");
    const int64_t stop = json_int(j, "stop", 0, "Strip decoder stop");
    if (start < 0 || stop < 0) throw Error("tokenizer.json: Strip decoder start and stop must not be negative");
    start_ = static_cast<size_t>(start);
    stop_ = static_cast<size_t>(stop);
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::vector<std::pair<size_t, size_t>> chars;  // (byte offset, len)
      for (size_t i = 0; i < t.size();) {
        size_t len;
        decode_utf8(t, i, &len);
        chars.emplace_back(i, len);
        i += len;
      }
      auto char_at = [&](size_t k) {
        size_t len;
        return decode_utf8(t, chars[k].first, &len);
      };
      size_t start_cut = 0;
      for (size_t i = 0; i < std::min(start_, chars.size()); ++i) {
        if (char_at(i) != content_) break;
        start_cut = i + 1;
      }
      size_t stop_cut = chars.size();
      for (size_t i = 0; i < stop_ && i < chars.size(); ++i) {
        const size_t index = chars.size() - i - 1;
        if (char_at(index) != content_) break;
        stop_cut = index;
      }
      if (stop_cut <= start_cut) {
        t.clear();
      } else {
        const size_t b = start_cut < chars.size() ? chars[start_cut].first : t.size();
        const size_t e = stop_cut < chars.size() ? chars[stop_cut].first : t.size();
        t = t.substr(b, e - b);
      }
    }
  }

 private:
  char32_t content_ = ' ';
  size_t start_ = 0, stop_ = 0;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, "pre-tokenizer");
  if (type == "Metaspace") return std::make_unique<MetaspacePreTokenizer>(j);
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplitPreTokenizer>();
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array()) {
      throw Error("tokenizer.json: Sequence pre-tokenizer needs a 'pretokenizers' list");
    }
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& p : j["pretokenizers"]) {
      auto q = make_pre_tokenizer(p);
      if (q) parts.push_back(std::move(q));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  throw Error("tokenizer.json: unsupported pre_tokenizer type '" + type + "'");
}

int64_t json_int(const Json& v, const std::string& what) {
  if (!v.is_number_integer()) throw Error("tokenizer.json: " + what + " must be an integer, got " + v.dump());
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    throw Error("tokenizer.json: " + what + " is out of range: " + v.dump());
  }
  return v.get<int64_t>();
}

int64_t json_int(const Json& obj, const char* key, int64_t fallback, const std::string& what) {
  return obj.is_object() && obj.contains(key) ? json_int(obj[key], what) : fallback;
}

std::unique_ptr<Decoder> make_decoder(const Json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, "decoder");
  if (type == "Metaspace") return std::make_unique<MetaspaceDecoder>(j);
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(j);
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") return std::make_unique<StripDecoder>(j);
  if (type == "Sequence") {
    if (!j.contains("decoders") || !j["decoders"].is_array()) {
      throw Error("tokenizer.json: Sequence decoder needs a 'decoders' list");
    }
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const auto& d : j["decoders"]) {
      auto q = make_decoder(d);
      if (q) parts.push_back(std::move(q));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  throw Error("tokenizer.json: unsupported decoder type '" + type + "'");
}

// ---------------------------------------------------------------------------------------------------------------
// PrefixTrie

void PrefixTrie::build(const std::vector<std::string>& keys) {
  nodes_.clear();
  labels_.clear();
  targets_.clear();
  dense_.clear();
  // The keys sorted, equal keys in index order so that the last duplicate can win below. Each carries its first
  // 8 bytes as a big-endian number, which decides most comparisons without following the pointer.
  struct Key {
    uint64_t head;
    std::string_view text;
    uint32_t index;
  };
  std::vector<Key> sorted(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    uint64_t head = 0;
    for (size_t b = 0; b < 8; ++b) {
      head = head << 8 | (b < keys[i].size() ? static_cast<unsigned char>(keys[i][b]) : 0u);
    }
    sorted[i] = {head, keys[i], static_cast<uint32_t>(i)};
  }
  std::sort(sorted.begin(), sorted.end(), [](const Key& a, const Key& b) {
    if (a.head != b.head) return a.head < b.head;
    const int c = a.text.compare(b.text);
    return c < 0 || (c == 0 && a.index < b.index);
  });
  // The keys again, in sorted order and back to back: the breadth-first walk below then reads memory in order
  // instead of chasing 250k separately allocated strings.
  std::string pool;
  std::vector<uint32_t> start(sorted.size() + 1, 0);
  for (size_t k = 0; k < sorted.size(); ++k) {
    start[k] = static_cast<uint32_t>(pool.size());
    pool += sorted[k].text;
  }
  start[sorted.size()] = static_cast<uint32_t>(pool.size());
  auto key_size = [&](uint32_t k) { return start[k + 1] - start[k]; };
  auto key_byte = [&](uint32_t k, uint32_t depth) { return static_cast<unsigned char>(pool[start[k] + depth]); };
  struct Range {
    uint32_t node, lo, hi, depth;
  };
  // At most one node per key byte, plus the root: reserving that bound avoids regrowing (and copying) the arrays
  // and costs nothing for the pages never touched.
  const size_t max_nodes = pool.size() + 1;
  nodes_.reserve(max_nodes);
  labels_.reserve(max_nodes);
  targets_.reserve(max_nodes);
  std::vector<Range> queue;
  queue.reserve(max_nodes);
  nodes_.emplace_back();
  queue.push_back({0, 0, static_cast<uint32_t>(sorted.size()), 0});
  for (size_t q = 0; q < queue.size(); ++q) {
    const Range r = queue[q];
    uint32_t lo = r.lo;
    // Keys ending here: the last duplicate (highest index among equal keys) wins, like a map insert.
    while (lo < r.hi && key_size(lo) == r.depth) {
      nodes_[r.node].value = std::max<int32_t>(nodes_[r.node].value, static_cast<int32_t>(sorted[lo].index));
      ++lo;
    }
    // Group the rest by their byte at `depth`.
    const uint32_t first = static_cast<uint32_t>(labels_.size());
    uint32_t count = 0;
    uint32_t i = lo;
    while (i < r.hi) {
      const unsigned char b = key_byte(i, r.depth);
      uint32_t j = i + 1;
      while (j < r.hi && key_byte(j, r.depth) == b) ++j;
      const auto child = static_cast<uint32_t>(nodes_.size());
      nodes_.emplace_back();
      labels_.push_back(b);
      targets_.push_back(child);
      queue.push_back({child, i, j, r.depth + 1});
      ++count;
      i = j;
    }
    nodes_[r.node].first = first;
    nodes_[r.node].count = count;
    if (count > 16) {
      nodes_[r.node].dense = static_cast<uint32_t>(dense_.size() / 256);
      dense_.resize(dense_.size() + 256, kNone);
      for (uint32_t e = first; e < first + count; ++e) dense_[nodes_[r.node].dense * 256 + labels_[e]] = targets_[e];
    }
  }
}

int32_t PrefixTrie::find(std::string_view key) const {
  if (nodes_.empty()) return -1;
  uint32_t node = 0;
  for (const char c : key) {
    node = child(node, static_cast<unsigned char>(c));
    if (node == kNone) return -1;
  }
  return nodes_[node].value;
}

// ---------------------------------------------------------------------------------------------------------------
// UnigramModel

UnigramModel::UnigramModel(const Json& j, std::optional<UnigramVocab> vocab) {
  if (!vocab) throw Error("tokenizer.json: Unigram model needs a 'vocab' list");
  if (vocab->pieces.empty()) throw Error("tokenizer.json: Unigram vocab is empty");
  pieces_ = std::move(vocab->pieces);
  scores_ = std::move(vocab->scores);
  min_score_ = *std::min_element(scores_.begin(), scores_.end());
  // No UTF-8 check of the pieces here: the JSON parser has already refused strings that are not valid UTF-8.
  if (j.contains("unk_id") && !j["unk_id"].is_null()) {
    const int64_t unk = json_int(j["unk_id"], "Unigram unk_id");
    if (unk < 0 || unk >= static_cast<int64_t>(pieces_.size())) {
      throw Error("tokenizer.json: Unigram unk_id " + std::to_string(unk) + " is outside the vocabulary");
    }
    unk_id_ = unk;
  }
  if (j.contains("byte_fallback") && j["byte_fallback"].is_boolean()) byte_fallback_ = j["byte_fallback"].get<bool>();
  trie_.build(pieces_);
}

int64_t UnigramModel::token_to_id(std::string_view token) const {
  return trie_.find(token);
}

const std::string* UnigramModel::id_to_token(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(pieces_.size())) return nullptr;
  return &pieces_[static_cast<size_t>(id)];
}

void UnigramModel::tokenize(std::string_view s, std::vector<ModelToken>& out) const {
  if (s.empty()) return;
  constexpr double kUnkPenalty = 10.0;
  const double unk_score = min_score_ - kUnkPenalty;
  struct Node {
    int64_t id;
    double score;
    int64_t starts_at;  // -1: none
  };
  thread_local std::vector<Node> best;
  const size_t size = s.size();
  best.assign(size + 1, Node{0, 0.0, -1});
  size_t starts_at = 0;
  while (starts_at < size) {
    const double till_here = best[starts_at].score;
    bool has_single_node = false;
    const size_t mblen = utf8_len(static_cast<unsigned char>(s[starts_at]));
    trie_.common_prefixes(s.substr(starts_at), [&](size_t length, int32_t id) {
      const size_t key_pos = starts_at + length;
      Node& target = best[key_pos];
      const double candidate = scores_[static_cast<size_t>(id)] + till_here;
      if (target.starts_at < 0 || candidate > target.score) {
        target.score = candidate;
        target.starts_at = static_cast<int64_t>(starts_at);
        target.id = id;
      }
      if (!has_single_node && length == mblen) has_single_node = true;
    });
    if (!has_single_node) {
      if (!unk_id_) throw Error("the Unigram model has no unk_id but the text has a character it cannot encode");
      Node& target = best[std::min(starts_at + mblen, size)];
      const double candidate = unk_score + till_here;
      if (target.starts_at < 0 || candidate > target.score) {
        target.score = candidate;
        target.starts_at = static_cast<int64_t>(starts_at);
        target.id = *unk_id_;
      }
    }
    starts_at += mblen;
  }
  // Backtrack; consecutive unknowns are fused into one token (fuse_unk).
  thread_local std::vector<std::pair<size_t, size_t>> spans;
  spans.clear();
  size_t ends_at = size;
  size_t unk_end = 0;
  bool in_unk = false;
  size_t unk_start = 0;
  while (ends_at > 0) {
    const Node& node = best[ends_at];
    if (node.starts_at < 0) throw Error("Unigram lattice is broken (no path)");
    const auto st = static_cast<size_t>(node.starts_at);
    if (unk_id_ && node.id == *unk_id_) {
      if (!in_unk) {
        in_unk = true;
        unk_end = ends_at;
      }
      unk_start = st;
    } else {
      if (in_unk) {
        spans.emplace_back(unk_start, unk_end);
        in_unk = false;
      }
      spans.emplace_back(st, ends_at);
    }
    ends_at = st;
  }
  if (in_unk) spans.emplace_back(unk_start, unk_end);
  for (size_t k = spans.size(); k-- > 0;) {
    const auto [b, e] = spans[k];
    const std::string_view piece = s.substr(b, e - b);
    const int64_t id = token_to_id(piece);
    if (id >= 0) {
      out.push_back(ModelToken{id, std::string(piece), static_cast<uint32_t>(b), static_cast<uint32_t>(e)});
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      const size_t before = out.size();
      for (char ch : piece) {
        static const char* hex = "0123456789ABCDEF";
        const auto byte = static_cast<unsigned char>(ch);
        std::string name = "<0x";
        name += hex[byte >> 4];
        name += hex[byte & 15];
        name += '>';
        const int64_t bid = token_to_id(name);
        if (bid < 0) {
          all = false;
          break;
        }
        out.push_back(ModelToken{bid, name, static_cast<uint32_t>(b), static_cast<uint32_t>(e)});
      }
      if (all) continue;
      out.resize(before);
    }
    if (!unk_id_) throw Error("the Unigram model has no unk_id for the unknown piece '" + std::string(piece) + "'");
    out.push_back(ModelToken{*unk_id_, std::string(piece), static_cast<uint32_t>(b), static_cast<uint32_t>(e)});
  }
}

}  // namespace rembert::tok
