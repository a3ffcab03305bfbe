// NormalizedString transformations with tokenizers' alignment rules (normalizer.rs: transform_range, replace,
// prepend, filter, slice).
#include "tokenizer/normalized_string.h"

#include "tokenizer/unicode.h"

namespace rembert::tok {

NormalizedString::NormalizedString(std::string_view text, uint32_t base) : normalized_(text) {
  align_.resize(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t len = utf8_len(static_cast<unsigned char>(text[i]));
    const Align a{static_cast<uint32_t>(base + i), static_cast<uint32_t>(base + i + len)};
    for (size_t k = 0; k < len && i + k < text.size(); ++k) align_[i + k] = a;
    i += len;
  }
  orig_start_ = base;
  orig_end_ = static_cast<uint32_t>(base + text.size());
}

void NormalizedString::transform(const std::vector<Change>& dest, size_t initial_offset) {
  const std::string& old = normalized_;
  const size_t n = old.size();
  size_t offset = 0;
  for (size_t k = 0; k < initial_offset && offset < n; ++k) offset += utf8_len(static_cast<unsigned char>(old[offset]));
  std::string out;
  out.reserve(n + 8);
  std::vector<Align> aligns;
  aligns.reserve(n + 8);
  const Align empty_align{orig_start_, orig_start_};
  for (const auto& [c, change] : dest) {
    Align a;
    if (change > 0) {
      a = offset < 1 ? empty_align : align_[std::min(offset, n) - 1];
    } else {
      a = offset < n ? align_[offset] : (n > 0 ? align_[n - 1] : empty_align);
      if (offset < n) offset += utf8_len(static_cast<unsigned char>(old[offset]));
    }
    for (int k = 0; k < -change && offset < n; ++k) offset += utf8_len(static_cast<unsigned char>(old[offset]));
    const size_t before = out.size();
    append_utf8(out, c);
    aligns.insert(aligns.end(), out.size() - before, a);
  }
  normalized_ = std::move(out);
  align_ = std::move(aligns);
}

void NormalizedString::replace_ranges(const std::vector<std::pair<size_t, size_t>>& matches,
                                      std::string_view content) {
  if (matches.empty()) return;
  std::string out;
  out.reserve(normalized_.size());
  std::vector<Align> aligns;
  aligns.reserve(normalized_.size());
  size_t last = 0;
  for (const auto& [start, end] : matches) {
    out.append(normalized_, last, start - last);
    aligns.insert(aligns.end(), align_.begin() + static_cast<std::ptrdiff_t>(last),
                  align_.begin() + static_cast<std::ptrdiff_t>(start));
    const Align a = end > 0 ? align_[end - 1] : Align{orig_start_, orig_start_};
    out.append(content);
    aligns.insert(aligns.end(), content.size(), a);
    last = end;
  }
  out.append(normalized_, last, std::string::npos);
  aligns.insert(aligns.end(), align_.begin() + static_cast<std::ptrdiff_t>(last), align_.end());
  normalized_ = std::move(out);
  align_ = std::move(aligns);
}

void NormalizedString::prepend(std::string_view s) {
  if (normalized_.empty() || s.empty()) return;
  const size_t first_len = utf8_len(static_cast<unsigned char>(normalized_[0]));
  const Align first = align_[0];
  const Align next = align_[first_len - 1];
  size_t first_char_len = utf8_len(static_cast<unsigned char>(s[0]));
  std::vector<Align> aligns;
  aligns.reserve(align_.size() + s.size());
  aligns.insert(aligns.end(), first_char_len, first);
  aligns.insert(aligns.end(), s.size() - first_char_len + first_len, next);
  aligns.insert(aligns.end(), align_.begin() + static_cast<std::ptrdiff_t>(first_len), align_.end());
  normalized_.insert(0, s);
  align_ = std::move(aligns);
}

void NormalizedString::filter(bool (*keep)(char32_t)) {
  std::vector<Change> transforms;
  transforms.reserve(normalized_.size());
  int removed = 0;
  size_t removed_start = 0;
  bool have_last = false;
  char32_t last_c = 0;
  bool any_removed = false;
  for (size_t i = 0; i < normalized_.size();) {
    size_t len;
    const char32_t c = decode_utf8(normalized_, i, &len);
    i += len;
    if (keep(c)) {
      if (have_last) {
        transforms.emplace_back(last_c, -removed);
      } else {
        removed_start = static_cast<size_t>(removed);
      }
      have_last = true;
      last_c = c;
      removed = 0;
    } else {
      ++removed;
      any_removed = true;
    }
  }
  if (!any_removed) return;
  if (have_last) transforms.emplace_back(last_c, -removed);
  transform(transforms, removed_start);
}

NormalizedString NormalizedString::slice(size_t start, size_t end) const {
  NormalizedString s;
  s.normalized_ = normalized_.substr(start, end - start);
  s.align_.assign(align_.begin() + static_cast<std::ptrdiff_t>(start),
                  align_.begin() + static_cast<std::ptrdiff_t>(end));
  if (start < end) {
    s.orig_start_ = align_[start].start;
    s.orig_end_ = align_[end - 1].end;
  } else {
    s.orig_start_ = start < align_.size() ? align_[start].start : orig_end_;
    s.orig_end_ = s.orig_start_;
  }
  return s;
}

}  // namespace rembert::tok
