// Ill-formed UTF-8 read the same way by every reader: the tokenizers reject it (an error naming the byte offset),
// the pipelines' JSON writer and code-point arithmetic replace each maximal ill-formed subpart by one U+FFFD, as
// ICU, Python's decode(errors="replace") and Rust's from_utf8_lossy do.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/utf8.h"
#include "pipelines/common.h"
#include "tokenizer/unicode.h"

namespace rembert {
namespace {

struct Case {
  std::string bytes;
  std::vector<uint32_t> decoded;  // the code points, U+FFFD for each ill-formed subpart
  size_t first_invalid;           // byte offset the tokenizers report
};

const std::vector<Case>& cases() {
  static const std::vector<Case> kCases = {
      {"\xc0\xaf", {0xfffd, 0xfffd}, 0},                       // overlong '/': C0 never starts a sequence
      {"a\xe0\x80\xaf", {'a', 0xfffd, 0xfffd, 0xfffd}, 1},     // overlong 3-byte '/'
      {"\xf0\x80\x80\xaf", {0xfffd, 0xfffd, 0xfffd, 0xfffd}, 0},  // overlong 4-byte
      {"\xed\xa0\x80", {0xfffd, 0xfffd, 0xfffd}, 0},           // U+D800, a surrogate
      {"x\xed\xbf\xbfy", {'x', 0xfffd, 0xfffd, 0xfffd, 'y'}, 1},  // U+DFFF
      {"\xf4\x90\x80\x80", {0xfffd, 0xfffd, 0xfffd, 0xfffd}, 0},  // U+110000, past U+10FFFF
      {"\xf5\x80\x80\x80", {0xfffd, 0xfffd, 0xfffd, 0xfffd}, 0},  // F5 never starts a sequence
      {"ab\xe3\x81", {'a', 'b', 0xfffd}, 2},                   // truncated at the end: one subpart
      {std::string("\xe3\x81") + "A", {0xfffd, 'A'}, 0},                      // truncated before an ASCII byte
      {"\xf0\x9f\x98", {0xfffd}, 0},                           // truncated 4-byte sequence
      {"\x80", {0xfffd}, 0},                                   // stray continuation byte
      {"\xff", {0xfffd}, 0},
  };
  return kCases;
}

std::string json_of(const std::vector<uint32_t>& code_points) {
  std::string out = "\"";
  for (uint32_t c : code_points) {
    if (c == 0xfffd) {
      out += "\\ufffd";
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// The decoder itself (core/utf8.h): one step per code point or ill-formed subpart.
TEST(Utf8, DecoderStepsOverEachMaximalSubpart) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(::testing::PrintToString(c.bytes));
    std::vector<uint32_t> got, replaced;
    for (size_t i = 0; i < c.bytes.size();) {
      size_t j = i;
      const int32_t cp = utf8::next(c.bytes, i);
      got.push_back(cp < 0 ? 0xfffd : static_cast<uint32_t>(cp));
      replaced.push_back(utf8::next_or_replacement(c.bytes, j));
      ASSERT_EQ(i, j);
    }
    EXPECT_EQ(got, c.decoded);
    EXPECT_EQ(replaced, c.decoded);
    // The tokenizers' decode_utf8 agrees (their own text is valid; this is where it is not).
    std::vector<uint32_t> tok_decoded;
    for (size_t i = 0, len = 0; i < c.bytes.size(); i += len) tok_decoded.push_back(tok::decode_utf8(c.bytes, i, &len));
    EXPECT_EQ(tok_decoded, c.decoded);
  }
  // Well-formed: the 1- to 4-byte forms and their limits.
  const std::string ok = "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
  std::vector<int32_t> got;
  for (size_t i = 0; i < ok.size();) got.push_back(utf8::next(ok, i));
  EXPECT_EQ(got, (std::vector<int32_t>{0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0x10000, 0x10ffff}));
  std::string encoded;
  for (int32_t cp : got) tok::append_utf8(encoded, static_cast<char32_t>(cp));
  EXPECT_EQ(encoded, ok);
}

TEST(Utf8, TokenizersRejectIllFormedInputAtItsFirstByte) {
  for (const Case& c : cases()) {
    EXPECT_EQ(tok::find_invalid_utf8(c.bytes), c.first_invalid) << ::testing::PrintToString(c.bytes);
  }
  EXPECT_EQ(tok::find_invalid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"), std::string::npos);
}

TEST(Utf8, PipelinesReplaceEachIllFormedSubpart) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(::testing::PrintToString(c.bytes));
    EXPECT_EQ(pipelines::json_string(c.bytes), json_of(c.decoded));
    EXPECT_EQ(pipelines::code_point_count(c.bytes), static_cast<int64_t>(c.decoded.size()));
    // Slicing by code points keeps the ill-formed bytes of each subpart together.
    const std::string all = pipelines::code_point_slice(c.bytes, 0, static_cast<int64_t>(c.decoded.size()));
    EXPECT_EQ(all, c.bytes);
  }
  EXPECT_EQ(pipelines::code_point_slice("ab\xe3\x81", 2, 3), "\xe3\x81");
  EXPECT_EQ(pipelines::code_point_slice(std::string("\xe3\x81") + "A", 1, 2), "A");
  // Well-formed text: é € 😀 (a surrogate pair in JSON) and U+10FFFF.
  const std::string ok = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";
  EXPECT_EQ(pipelines::json_string(ok), "\"\\u00e9\\u20ac\\ud83d\\ude00\\udbff\\udfff\"");
  EXPECT_EQ(pipelines::code_point_count(ok), 4);
  EXPECT_EQ(pipelines::code_point_slice(ok, 1, 3), "\xe2\x82\xac\xf0\x9f\x98\x80");
}

}  // namespace
}  // namespace rembert
