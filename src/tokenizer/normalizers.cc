// tokenizer.json normalizers: Sequence, Replace (string and regex), NFC/NFD/NFKC/NFKD, StripAccents, Lowercase,
// Strip, Prepend and Precompiled (SentencePiece's charsmap, applied per grapheme cluster like tokenizers'
// spm_precompiled).
#include <unicode/uregex.h>
#include <unicode/utext.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "rembert/error.h"
#include "tokenizer/fast_components.h"
#include "tokenizer/unicode.h"

namespace rembert::tok {
namespace {

using Json = nlohmann::json;

std::string json_string(const Json& j, const char* key, const std::string& what) {
  if (!j.contains(key) || !j[key].is_string()) throw Error("tokenizer.json: " + what + " needs a string '" + key + "'");
  return j[key].get<std::string>();
}

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(NormalizedString& s) const override {
    for (const auto& p : parts_) p->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

// Finds the matches of a Replace pattern: a literal string, or a regex (ICU, with a fast path for "c{n,}" / "c+").
class Pattern {
 public:
  Pattern(const Json& pattern, const std::string& what) {
    if (pattern.contains("String") && pattern["String"].is_string()) {
      literal_ = pattern["String"].get<std::string>();
      check_utf8(literal_, "tokenizer.json Replace pattern");
      is_regex_ = false;
    } else if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
      regex_ = pattern["Regex"].get<std::string>();
      check_utf8(regex_, "tokenizer.json Replace regex");
      is_regex_ = true;
      parse_repeat();
      if (!repeat_) {
        UErrorCode status = U_ZERO_ERROR;
        UParseError perr;
        UText* ut = utext_openUTF8(nullptr, regex_.data(), static_cast<int64_t>(regex_.size()), &status);
        compiled_ = uregex_openUText(ut, 0, &perr, &status);
        utext_close(ut);
        if (U_FAILURE(status)) throw Error("tokenizer.json: " + what + ": invalid regex '" + regex_ + "'");
      }
    } else {
      throw Error("tokenizer.json: " + what + " pattern must be {\"String\": ...} or {\"Regex\": ...}");
    }
  }
  ~Pattern() {
    if (compiled_) uregex_close(compiled_);
  }
  Pattern(const Pattern&) = delete;
  Pattern& operator=(const Pattern&) = delete;

  void find(const std::string& s, std::vector<std::pair<size_t, size_t>>& out) const {
    out.clear();
    if (!is_regex_) {
      if (literal_.empty()) return;
      size_t pos = 0;
      while ((pos = s.find(literal_, pos)) != std::string::npos) {
        out.emplace_back(pos, pos + literal_.size());
        pos += literal_.size();
      }
      return;
    }
    if (repeat_) {
      size_t i = 0;
      while ((i = s.find(repeat_char_, i)) != std::string::npos) {
        size_t j = i, count = 0;
        while (j + repeat_char_.size() <= s.size() && s.compare(j, repeat_char_.size(), repeat_char_) == 0) {
          j += repeat_char_.size();
          ++count;
        }
        if (count >= repeat_min_) out.emplace_back(i, j);
        i = j;
      }
      return;
    }
    UErrorCode status = U_ZERO_ERROR;
    URegularExpression* re = uregex_clone(compiled_, &status);
    UText* ut = utext_openUTF8(nullptr, s.data(), static_cast<int64_t>(s.size()), &status);
    uregex_setUText(re, ut, &status);
    while (U_SUCCESS(status) && uregex_findNext(re, &status)) {
      const int64_t b = uregex_start64(re, 0, &status);
      const int64_t e = uregex_end64(re, 0, &status);
      if (U_FAILURE(status)) break;
      if (e > b) out.emplace_back(static_cast<size_t>(b), static_cast<size_t>(e));
    }
    uregex_close(re);
    utext_close(ut);
    if (U_FAILURE(status)) throw Error("regex matching failed for '" + regex_ + "'");
  }

 private:
  // Recognizes "X{n,}" and "X+" with X one literal (non-meta) character.
  void parse_repeat() {
    if (regex_.empty()) return;
    const size_t first = utf8_len(static_cast<unsigned char>(regex_[0]));
    if (first > regex_.size()) return;
    const std::string c = regex_.substr(0, first);
    if (first == 1 && std::strchr("\\^$.|?*+()[]{}", c[0]) != nullptr) return;
    const std::string rest = regex_.substr(first);
    size_t min = 0;
    if (rest == "+") {
      min = 1;
    } else if (rest.size() >= 4 && rest[0] == '{' && rest.compare(rest.size() - 2, 2, ",}") == 0) {
      const std::string digits = rest.substr(1, rest.size() - 3);
      if (digits.empty() || digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos) return;
      min = std::stoul(digits);
      if (min == 0) return;
    } else {
      return;
    }
    repeat_ = true;
    repeat_char_ = c;
    repeat_min_ = min;
  }

  bool is_regex_ = false;
  std::string literal_, regex_;
  URegularExpression* compiled_ = nullptr;
  bool repeat_ = false;
  std::string repeat_char_;
  size_t repeat_min_ = 0;
};

class ReplaceNormalizer : public Normalizer {
 public:
  explicit ReplaceNormalizer(const Json& j)
      : pattern_(j.contains("pattern") ? j["pattern"] : Json(), "Replace normalizer"),
        content_(json_string(j, "content", "Replace normalizer")) {
    check_utf8(content_, "tokenizer.json Replace content");
  }
  void normalize(NormalizedString& s) const override {
    thread_local std::vector<std::pair<size_t, size_t>> matches;
    pattern_.find(s.get(), matches);
    s.replace_ranges(matches, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormForm form) : form_(form) {}
  void normalize(NormalizedString& s) const override {
    const std::string& text = s.get();
    bool ascii = true;
    for (char ch : text) ascii = ascii && static_cast<unsigned char>(ch) < 0x80;
    if (ascii) return;
    // Normalize segment by segment (a segment starts at a char with a normalization boundary before it), and give
    // the changes the way unicode-normalization-alignments does: chars replace chars one for one, extra output
    // chars are insertions, missing ones removals attached to the last output char.
    std::vector<Change> changes;
    changes.reserve(text.size());
    std::vector<char32_t> seg;
    auto flush = [&]() {
      if (seg.empty()) return;
      std::string in;
      for (char32_t c : seg) append_utf8(in, c);
      const std::string out = normalize_form(in, form_);
      std::vector<char32_t> outc;
      for (size_t i = 0; i < out.size();) {
        size_t len;
        outc.push_back(decode_utf8(out, i, &len));
        i += len;
      }
      const size_t n = seg.size(), m = outc.size();
      for (size_t k = 0; k < m; ++k) changes.emplace_back(outc[k], k < n ? 0 : 1);
      if (m < n && m > 0) changes.back().second -= static_cast<int>(n - m);
      seg.clear();
    };
    for (size_t i = 0; i < text.size();) {
      size_t len;
      const char32_t c = decode_utf8(text, i, &len);
      i += len;
      if (!seg.empty() && has_norm_boundary_before(c, form_)) flush();
      seg.push_back(c);
    }
    flush();
    s.transform(changes, 0);
  }

 private:
  NormForm form_;
};

class StripAccentsNormalizer : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    s.filter([](char32_t c) { return !is_nonspacing_mark(c); });
  }
};

class LowercaseNormalizer : public Normalizer {
 public:
  void normalize(NormalizedString& s) const override {
    const std::string& text = s.get();
    std::vector<Change> changes;
    changes.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      size_t len;
      const char32_t c = decode_utf8(text, i, &len);
      i += len;
      const std::u32string lower = lowercase_char(c);
      for (size_t k = 0; k < lower.size(); ++k) changes.emplace_back(lower[k], k > 0 ? 1 : 0);
    }
    s.transform(changes, 0);
  }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedString& s) const override {
    const std::string& text = s.get();
    std::vector<char32_t> chars;
    for (size_t i = 0; i < text.size();) {
      size_t len;
      chars.push_back(decode_utf8(text, i, &len));
      i += len;
    }
    size_t leading = 0, trailing = 0;
    if (left_) {
      while (leading < chars.size() && is_white_space(chars[leading])) ++leading;
    }
    if (right_) {
      while (trailing < chars.size() && is_white_space(chars[chars.size() - 1 - trailing])) ++trailing;
    }
    if (leading == 0 && trailing == 0) return;
    const size_t count = chars.size();
    std::vector<Change> changes;
    for (size_t i = 0; i < count; ++i) {
      if (i < leading || i + trailing >= count) continue;
      // tokenizers compares the char index with the *byte* length here; kept as it is.
      if (i + trailing + 1 == text.size()) {
        changes.emplace_back(chars[i], -static_cast<int>(trailing));
      } else {
        changes.emplace_back(chars[i], 0);
      }
    }
    s.transform(changes, leading);
  }

 private:
  bool left_, right_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : prepend_(std::move(p)) {}
  void normalize(NormalizedString& s) const override { s.prepend(prepend_); }

 private:
  std::string prepend_;
};

std::string base64_decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int table[256];
  for (int& t : table) t = -1;
  for (size_t i = 0; i < chars.size(); ++i) table[static_cast<unsigned char>(chars[i])] = static_cast<int>(i);
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t buf = 0;
  int bits = 0;
  for (char ch : in) {
    if (ch == '=') break;
    const int v = table[static_cast<unsigned char>(ch)];
    if (v < 0) {
      if (ch == '\n' || ch == '\r' || ch == ' ') continue;
      throw Error("tokenizer.json: Precompiled precompiled_charsmap is not valid base64");
    }
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xFF);
    }
  }
  return out;
}

// SentencePiece's precompiled charsmap: a darts-clone double array over UTF-8 keys whose values index
// NUL-terminated replacement strings.
class PrecompiledNormalizer : public Normalizer {
 public:
  explicit PrecompiledNormalizer(const Json& j) {
    const Json& cm = j.contains("precompiled_charsmap") ? j["precompiled_charsmap"] : Json();
    if (cm.is_null()) return;  // an empty charsmap normalizes nothing
    if (!cm.is_string()) throw Error("tokenizer.json: Precompiled precompiled_charsmap must be a base64 string");
    const std::string blob = base64_decode(cm.get<std::string>());
    if (blob.empty()) return;
    if (blob.size() < 4) throw Error("tokenizer.json: Precompiled charsmap is truncated");
    uint32_t trie_size = 0;
    for (int k = 3; k >= 0; --k) trie_size = (trie_size << 8) | static_cast<unsigned char>(blob[static_cast<size_t>(k)]);
    if (trie_size % 4 != 0 || 4 + static_cast<size_t>(trie_size) > blob.size()) {
      throw Error("tokenizer.json: Precompiled charsmap has a bad trie size");
    }
    array_.resize(trie_size / 4);
    for (size_t i = 0; i < array_.size(); ++i) {
      uint32_t u = 0;
      for (int k = 3; k >= 0; --k) u = (u << 8) | static_cast<unsigned char>(blob[4 + i * 4 + static_cast<size_t>(k)]);
      array_[i] = u;
    }
    normalized_ = blob.substr(4 + trie_size);
    // Every replacement must be valid UTF-8 (they are decoded while normalizing).
    for (size_t b = 0; b < normalized_.size();) {
      size_t e = normalized_.find('\0', b);
      if (e == std::string::npos) e = normalized_.size();
      check_utf8(std::string_view(normalized_).substr(b, e - b), "tokenizer.json Precompiled charsmap replacement");
      b = e + 1;
    }
    for (int b = 0; b < 128; ++b) {
      const char ch = static_cast<char>(b);
      ascii_hit_[b] = b != 0 && transform(std::string_view(&ch, 1)) != nullptr;
    }
  }

  void normalize(NormalizedString& s) const override {
    if (array_.empty()) return;
    const std::string& text = s.get();
    // Fast exit: nothing to do for ASCII text none of whose chars is in the charsmap.
    bool maybe = false;
    for (char ch : text) {
      const auto b = static_cast<unsigned char>(ch);
      if (b >= 0x80 || ascii_hit_[b]) {
        maybe = true;
        break;
      }
    }
    if (!maybe) return;
    thread_local std::basic_string<uint32_t> starts;
    thread_local std::vector<Change> changes;
    changes.clear();
    grapheme_starts(text, starts);
    bool modified = false;
    for (size_t g = 0; g < starts.size(); ++g) {
      const size_t gs = starts[g];
      const size_t ge = g + 1 < starts.size() ? starts[g + 1] : text.size();
      const std::string_view grapheme(text.data() + gs, ge - gs);
      if (grapheme.size() < 6) {
        if (const char* norm = transform(grapheme)) {
          modified = true;
          replace(changes, grapheme, norm);
          continue;
        }
      }
      for (size_t i = 0; i < grapheme.size();) {
        size_t len;
        const char32_t c = decode_utf8(grapheme, i, &len);
        const std::string_view part = grapheme.substr(i, len);
        const char* norm = (len == 1 && !ascii_hit_[static_cast<unsigned char>(part[0]) & 0x7F]) ? nullptr
                                                                                                   : transform(part);
        if (norm) {
          modified = true;
          replace(changes, part, norm);
        } else {
          changes.emplace_back(c, 0);
        }
        i += len;
      }
    }
    if (modified) s.transform(changes, 0);
  }

 private:
  static void replace(std::vector<Change>& changes, std::string_view old_part, const char* new_part) {
    size_t old_count = 0;
    for (size_t i = 0; i < old_part.size(); i += utf8_len(static_cast<unsigned char>(old_part[i]))) ++old_count;
    const std::string_view np(new_part);
    size_t new_count = 0;
    for (size_t i = 0; i < np.size();) {
      size_t len;
      changes.emplace_back(decode_utf8(np, i, &len), 0);
      i += len;
      ++new_count;
    }
    const long diff = static_cast<long>(new_count) - static_cast<long>(old_count);
    if (diff > 0) {
      for (long k = 0; k < diff; ++k) changes[changes.size() - 1 - static_cast<size_t>(k)].second = 1;
    } else if (diff < 0 && !changes.empty()) {
      changes.back().second += static_cast<int>(diff);
    }
  }

  static uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
  static bool unit_has_leaf(uint32_t u) { return ((u >> 8) & 1) == 1; }
  static uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }
  static uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }

  // The replacement of the *shortest* key that is a prefix of `chunk` (as spm_precompiled does), or nullptr.
  const char* transform(std::string_view chunk) const {
    size_t node = 0;
    if (array_.empty()) return nullptr;
    uint32_t unit = array_[node];
    node ^= unit_offset(unit);
    for (char ch : chunk) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == 0) break;
      node ^= c;
      if (node >= array_.size()) return nullptr;
      unit = array_[node];
      if (unit_label(unit) != c) return nullptr;
      node ^= unit_offset(unit);
      if (node >= array_.size()) return nullptr;
      if (unit_has_leaf(unit)) {
        const uint32_t index = unit_value(array_[node]);
        if (index >= normalized_.size()) return nullptr;
        return normalized_.c_str() + index;
      }
    }
    return nullptr;
  }

  std::vector<uint32_t> array_;
  std::string normalized_;
  bool ascii_hit_[128] = {};
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& j) {
  if (j.is_null()) return nullptr;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    throw Error("tokenizer.json: a normalizer must be an object with a \"type\"");
  }
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    if (!j.contains("normalizers") || !j["normalizers"].is_array()) {
      throw Error("tokenizer.json: Sequence normalizer needs a 'normalizers' list");
    }
    for (const auto& n : j["normalizers"]) {
      auto p = make_normalizer(n);
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  if (type == "Replace") return std::make_unique<ReplaceNormalizer>(j);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormForm::NFKD);
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip") {
    const bool left = j.contains("strip_left") ? j["strip_left"].get<bool>() : true;
    const bool right = j.contains("strip_right") ? j["strip_right"].get<bool>() : true;
    return std::make_unique<StripNormalizer>(left, right);
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(json_string(j, "prepend", "Prepend normalizer"));
  if (type == "Precompiled") return std::make_unique<PrecompiledNormalizer>(j);
  throw Error("tokenizer.json: unsupported normalizer type '" + type + "'");
}

}  // namespace rembert::tok
