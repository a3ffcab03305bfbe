// NormalizedString: a piece of text as Hugging Face tokenizers keeps it while normalizing, with one alignment per
// byte of the normalized text giving the [start, end) byte range of the original text it came from. The
// transformations (transform, replace, prepend, filter, split) update the alignments exactly as tokenizers does,
// so token offsets come out the same. Alignments are absolute byte offsets into the original input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rembert::tok {

struct Align {
  uint32_t start = 0, end = 0;
};

// One (code point, change) of a transformation: change 0 replaces a char, 1 inserts one, -N replaces one and
// removes N after it.
using Change = std::pair<char32_t, int>;

class NormalizedString {
 public:
  NormalizedString() = default;
  // A fresh string whose original text starts at byte `base` of the input.
  NormalizedString(std::string_view text, uint32_t base);

  const std::string& get() const { return normalized_; }
  const std::vector<Align>& alignments() const { return align_; }
  bool empty() const { return normalized_.empty(); }
  // Original byte range of the whole string (its first and last aligned bytes); `orig_start_` when empty.
  uint32_t original_start() const { return orig_start_; }
  uint32_t original_end() const { return orig_end_; }

  // Original [start, end) for normalized bytes [start, end) (non-empty range).
  Align original_range(size_t start, size_t end) const {
    return Align{align_[start].start, align_[end - 1].end};
  }

  // tokenizers' transform_range over the whole string: `dest` are the new chars, `initial_offset` the number of
  // chars removed at the very beginning.
  void transform(const std::vector<Change>& dest, size_t initial_offset);
  // Replaces the byte ranges `matches` (sorted, disjoint) by `content`, like NormalizedString::replace.
  void replace_ranges(const std::vector<std::pair<size_t, size_t>>& matches, std::string_view content);
  // Prepends `s` (nothing when the string is empty).
  void prepend(std::string_view s);
  // Keeps only the chars for which keep(c) is true.
  void filter(bool (*keep)(char32_t));
  // Sub-string of normalized bytes [start, end).
  NormalizedString slice(size_t start, size_t end) const;

  // Replaces the content with `s` keeping the alignments vector (used after a transform that builds its own).
  void assign(std::string s, std::vector<Align> a) {
    normalized_ = std::move(s);
    align_ = std::move(a);
  }

 private:
  std::string normalized_;
  std::vector<Align> align_;
  uint32_t orig_start_ = 0, orig_end_ = 0;
};

}  // namespace rembert::tok
