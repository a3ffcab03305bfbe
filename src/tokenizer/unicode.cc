// Unicode helpers on ICU: character properties, case mapping, normalization forms and grapheme clusters.
#include "tokenizer/unicode.h"

#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utext.h>

#include <memory>
#include <vector>

#include "rembert/error.h"

namespace rembert::tok {

size_t find_invalid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    if (utf8::next(s, i) < 0) return start;
  }
  return std::string_view::npos;
}

void check_utf8(std::string_view s, const char* what) {
  const size_t bad = find_invalid_utf8(s);
  if (bad != std::string_view::npos) {
    throw Error(std::string(what) + " is not valid UTF-8 (invalid byte sequence at byte offset " +
                std::to_string(bad) + ")");
  }
}

bool is_white_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return u_isUWhiteSpace(static_cast<UChar32>(c));
}

bool is_python_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  const auto cp = static_cast<UChar32>(c);
  if (u_charType(cp) == U_SPACE_SEPARATOR) return true;
  const auto dir = u_charDirection(cp);
  return dir == U_WHITE_SPACE_NEUTRAL || dir == U_BLOCK_SEPARATOR || dir == U_SEGMENT_SEPARATOR;
}

bool is_alphanumeric(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  const auto cp = static_cast<UChar32>(c);
  if (u_hasBinaryProperty(cp, UCHAR_ALPHABETIC)) return true;
  const auto t = u_charType(cp);
  return t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER;
}

bool is_nonspacing_mark(char32_t c) {
  if (c < 0x80) return false;
  return u_charType(static_cast<UChar32>(c)) == U_NON_SPACING_MARK;
}

namespace {

std::u16string to_utf16(std::string_view s) {
  std::u16string out(s.size() + 1, u'\0');
  int32_t len = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strFromUTF8(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &len, s.data(),
                static_cast<int32_t>(s.size()), &status);
  if (U_FAILURE(status)) throw Error("invalid UTF-8 text given to a Unicode conversion");
  out.resize(static_cast<size_t>(len));
  return out;
}

std::string to_utf8(const std::u16string& s) {
  std::string out(s.size() * 3 + 1, '\0');
  int32_t len = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &len, reinterpret_cast<const UChar*>(s.data()),
              static_cast<int32_t>(s.size()), &status);
  if (U_FAILURE(status)) throw Error("Unicode conversion to UTF-8 failed");
  out.resize(static_cast<size_t>(len));
  return out;
}

std::u16string icu_lower(const std::u16string& in) {
  std::u16string out(in.size() * 3 + 4, u'\0');
  UErrorCode status = U_ZERO_ERROR;
  const int32_t len = u_strToLower(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()),
                                   reinterpret_cast<const UChar*>(in.data()), static_cast<int32_t>(in.size()), "",
                                   &status);
  if (U_FAILURE(status)) throw Error("lowercasing failed");
  out.resize(static_cast<size_t>(len));
  return out;
}

const UNormalizer2* normalizer_for(NormForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* n = nullptr;
  switch (form) {
    case NormForm::NFC: n = unorm2_getNFCInstance(&status); break;
    case NormForm::NFD: n = unorm2_getNFDInstance(&status); break;
    case NormForm::NFKC: n = unorm2_getNFKCInstance(&status); break;
    case NormForm::NFKD: n = unorm2_getNFKDInstance(&status); break;
  }
  if (U_FAILURE(status) || n == nullptr) throw Error("ICU normalizer unavailable");
  return n;
}

}  // namespace

std::u32string lowercase_char(char32_t c) {
  if (c < 0x80) return std::u32string(1, (c >= 'A' && c <= 'Z') ? c + 32 : c);
  std::string utf8;
  append_utf8(utf8, c);
  const std::u16string lower = icu_lower(to_utf16(utf8));
  std::u32string out;
  for (size_t i = 0; i < lower.size();) {
    UChar32 cp;
    U16_NEXT(lower.data(), i, lower.size(), cp);
    out += static_cast<char32_t>(cp);
  }
  return out;
}

std::string python_lower(std::string_view s) {
  bool ascii = true;
  for (char ch : s) ascii = ascii && static_cast<unsigned char>(ch) < 0x80;
  if (ascii) {
    std::string out(s);
    for (char& ch : out) {
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
    }
    return out;
  }
  return to_utf8(icu_lower(to_utf16(s)));
}

std::string_view python_strip(std::string_view s, bool left, bool right) {
  size_t begin = 0, end = s.size();
  if (left) {
    while (begin < end) {
      size_t len;
      const char32_t c = decode_utf8(s, begin, &len);
      if (!is_python_space(c)) break;
      begin += len;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
      size_t len;
      const char32_t c = decode_utf8(s, start, &len);
      if (!is_python_space(c)) break;
      end = start;
    }
  }
  return s.substr(begin, end - begin);
}

std::string normalize_form(std::string_view s, NormForm form) {
  bool ascii = true;
  for (char ch : s) ascii = ascii && static_cast<unsigned char>(ch) < 0x80;
  if (ascii) return std::string(s);
  const std::u16string in = to_utf16(s);
  const UNormalizer2* n = normalizer_for(form);
  UErrorCode status = U_ZERO_ERROR;
  std::u16string out(in.size() * 4 + 8, u'\0');
  int32_t len = unorm2_normalize(n, reinterpret_cast<const UChar*>(in.data()), static_cast<int32_t>(in.size()),
                                 reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    status = U_ZERO_ERROR;
    out.assign(static_cast<size_t>(len) + 1, u'\0');
    len = unorm2_normalize(n, reinterpret_cast<const UChar*>(in.data()), static_cast<int32_t>(in.size()),
                           reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &status);
  }
  if (U_FAILURE(status)) throw Error("Unicode normalization failed");
  out.resize(static_cast<size_t>(len));
  return to_utf8(out);
}

bool has_norm_boundary_before(char32_t c, NormForm form) {
  return unorm2_hasBoundaryBefore(normalizer_for(form), static_cast<UChar32>(c));
}

namespace {

struct BreakIteratorHolder {
  UBreakIterator* it = nullptr;
  ~BreakIteratorHolder() {
    if (it) ubrk_close(it);
  }
};

// ICU grapheme boundaries of a (non-ASCII-only) chunk, appended as offsets + base.
void icu_grapheme_starts(std::string_view s, size_t base, std::basic_string<uint32_t>& out) {
  thread_local BreakIteratorHolder holder;
  UErrorCode status = U_ZERO_ERROR;
  if (!holder.it) {
    holder.it = ubrk_open(UBRK_CHARACTER, "", nullptr, 0, &status);
    if (U_FAILURE(status)) throw Error("ICU break iterator unavailable");
  }
  UText* ut = utext_openUTF8(nullptr, s.data(), static_cast<int64_t>(s.size()), &status);
  if (U_FAILURE(status)) throw Error("ICU UText open failed");
  ubrk_setUText(holder.it, ut, &status);
  if (U_FAILURE(status)) {
    utext_close(ut);
    throw Error("ICU break iterator failed");
  }
  for (int32_t p = ubrk_first(holder.it); p != UBRK_DONE; p = ubrk_next(holder.it)) {
    if (static_cast<size_t>(p) < s.size()) out.push_back(static_cast<uint32_t>(base + static_cast<size_t>(p)));
  }
  // Detach the text before closing it.
  ubrk_setText(holder.it, u"", 0, &status);
  utext_close(ut);
}

}  // namespace

void grapheme_starts(std::string_view s, std::basic_string<uint32_t>& out) {
  out.clear();
  const size_t n = s.size();
  // Between two ASCII characters there is always a boundary, except inside CR LF; so the string is cut there and
  // only chunks with non-ASCII characters go to ICU.
  size_t chunk = 0;
  size_t i = 0;
  auto flush = [&](size_t end) {
    // [chunk, end) holds at least one non-ASCII char.
    icu_grapheme_starts(s.substr(chunk, end - chunk), chunk, out);
  };
  bool chunk_has_non_ascii = false;
  while (i < n) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      const bool next_ascii = i + 1 >= n || static_cast<unsigned char>(s[i + 1]) < 0x80;
      const bool crlf = b == '\r' && i + 1 < n && s[i + 1] == '\n';
      if (next_ascii && !crlf) {
        // A boundary after s[i] is certain.
        if (chunk_has_non_ascii) {
          flush(i + 1);
        } else {
          for (size_t k = chunk; k <= i; ++k) {
            if (!(k > chunk && s[k] == '\n' && s[k - 1] == '\r')) out.push_back(static_cast<uint32_t>(k));
          }
        }
        chunk = i + 1;
        chunk_has_non_ascii = false;
      }
      ++i;
    } else {
      chunk_has_non_ascii = true;
      i += utf8_len(b);
    }
  }
  if (chunk < n) {
    if (chunk_has_non_ascii) {
      flush(n);
    } else {
      for (size_t k = chunk; k < n; ++k) {
        if (!(k > chunk && s[k] == '\n' && s[k - 1] == '\r')) out.push_back(static_cast<uint32_t>(k));
      }
    }
  }
}

}  // namespace rembert::tok
