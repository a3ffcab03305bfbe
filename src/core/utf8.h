// The one UTF-8 decoder, ICU's U8_NEXT: well-formed UTF-8 only (no overlong forms, surrogates, code points past
// U+10FFFF or truncated sequences). An ill-formed sequence is consumed by its maximal subpart (Unicode §3.9), the
// unit that ICU, Python's decode(errors="replace") and Rust's from_utf8_lossy replace by one U+FFFD. Readers that
// must reject it (the tokenizers) stop there; readers that must go on (JSON writers) take the replacement.
#pragma once

#include <unicode/utf8.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rembert::utf8 {

inline constexpr char32_t kReplacement = 0xFFFD;

// The code point at s[i], advancing i past it; negative for an ill-formed subpart (i then moves past that).
inline int32_t next(std::string_view s, size_t& i) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  UChar32 c;
  U8_NEXT(bytes, i, n, c);
  return c;
}

// next(), with U+FFFD for an ill-formed subpart.
inline char32_t next_or_replacement(std::string_view s, size_t& i) {
  const int32_t c = next(s, i);
  return c < 0 ? kReplacement : static_cast<char32_t>(c);
}

}  // namespace rembert::utf8
