// UTF-8 and Unicode helpers for the tokenizers: decoding, validation, character classes (ICU), case mapping and
// normalization forms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/utf8.h"

namespace rembert::tok {

// Decodes the code point at s[i] of a valid UTF-8 string and sets `len` to its byte length (core/utf8.h's decoder:
// U+FFFD and the length of the ill-formed subpart where the string is not valid after all).
inline char32_t decode_utf8(std::string_view s, size_t i, size_t* len) {
  size_t end = i;
  const char32_t c = utf8::next_or_replacement(s, end);
  *len = end - i;
  return c;
}

// Byte length of the UTF-8 sequence that starts with byte `b0` (valid UTF-8 assumed; 1 for a byte that starts none).
inline size_t utf8_len(unsigned char b0) { return static_cast<size_t>(U8_COUNT_TRAIL_BYTES(b0)) + 1; }

inline void append_utf8(std::string& out, char32_t c) {
  uint8_t buf[U8_MAX_LENGTH];
  size_t n = 0;
  U8_APPEND_UNSAFE(buf, n, c);
  out.append(reinterpret_cast<const char*>(buf), n);
}

inline size_t utf8_char_len(char32_t c) { return U8_LENGTH(c); }

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
