// UTF-8 and Unicode helpers for the tokenizers: decoding, validation, character classes (ICU), case mapping and
// normalization forms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rembert::tok {

// Decodes the code point at s[i] of a valid UTF-8 string and sets `len` to its byte length.
inline char32_t decode_utf8(std::string_view s, size_t i, size_t* len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *len = 1;
    return b0;
  }
  if (b0 < 0xE0) {
    *len = 2;
    return (static_cast<char32_t>(b0 & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
  }
  if (b0 < 0xF0) {
    *len = 3;
    return (static_cast<char32_t>(b0 & 0x0F) << 12) |
           (static_cast<char32_t>(static_cast<unsigned char>(s[i + 1]) & 0x3F) << 6) |
           (static_cast<unsigned char>(s[i + 2]) & 0x3F);
  }
  *len = 4;
  return (static_cast<char32_t>(b0 & 0x07) << 18) |
         (static_cast<char32_t>(static_cast<unsigned char>(s[i + 1]) & 0x3F) << 12) |
         (static_cast<char32_t>(static_cast<unsigned char>(s[i + 2]) & 0x3F) << 6) |
         (static_cast<unsigned char>(s[i + 3]) & 0x3F);
}

// Byte length of the UTF-8 sequence that starts with byte `b0` (valid UTF-8 assumed).
inline size_t utf8_len(unsigned char b0) { return b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4; }

inline void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

inline size_t utf8_char_len(char32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

// Returns the byte offset of the first invalid UTF-8 sequence (overlong forms, surrogates and code points above
// U+10FFFF are invalid), or std::string_view::npos when `s` is valid.
size_t find_invalid_utf8(std::string_view s);
// Throws rembert::Error naming `what` and the byte offset when `s` is not valid UTF-8.
void check_utf8(std::string_view s, const char* what);

// Rust's char::is_whitespace (Unicode White_Space).
bool is_white_space(char32_t c);
// Python's str.isspace (bidi class WS/B/S or category Zs).
bool is_python_space(char32_t c);
// Rust's char::is_alphanumeric (Alphabetic or Numeric category).
bool is_alphanumeric(char32_t c);
// General category Mn (what tokenizers' StripAccents removes).
bool is_nonspacing_mark(char32_t c);

// Full lowercase mapping of one code point, without context (Rust's char::to_lowercase).
std::u32string lowercase_char(char32_t c);
// Python's str.lower() of a whole string (full mappings, final sigma).
std::string python_lower(std::string_view s);
// Python's str.strip/lstrip/rstrip() without arguments.
std::string_view python_strip(std::string_view s, bool left, bool right);

enum class NormForm { NFC, NFD, NFKC, NFKD };
// Normalizes a UTF-8 string (valid input assumed).
std::string normalize_form(std::string_view s, NormForm form);
// True when a normalization segment may start at `c` (no composition or reordering across it).
bool has_norm_boundary_before(char32_t c, NormForm form);

// Byte offsets in `s` where extended grapheme clusters start (always includes 0 for a non-empty string; the end
// is not included).
void grapheme_starts(std::string_view s, std::basic_string<uint32_t>& out);

}  // namespace rembert::tok
