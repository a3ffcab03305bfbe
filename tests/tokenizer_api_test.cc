// The tokenizer API beyond the fixture cases: components of tokenizer.json in general (against Hugging Face
// tokenizers' own output, tests/fixtures/tokenizer_extra), awkward and bad inputs, the encoding options
// (padding, truncation, stride, overflow), the helpers of PreTrainedTokenizer, config handling and the loader.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "rembert/error.h"
#include "rembert/tokenizer.h"
#include "test_util.h"

namespace rembert {
namespace {

using Json = nlohmann::json;

using testing::read_file;
using testing::write_file;

std::string fixture_dir() { return testing::fixture_path("tokenizer"); }

const Tokenizer& slow() {
  static const std::unique_ptr<Tokenizer> t = load_tokenizer(fixture_dir(), TokenizerKind::Slow);
  return *t;
}

const Tokenizer& fast() {
  static const std::unique_ptr<Tokenizer> t = load_tokenizer(fixture_dir(), TokenizerKind::Fast);
  return *t;
}

// A fresh temporary folder holding copies of the given fixture tokenizer files.
std::string temp_dir_with(const std::vector<std::string>& files) {
  char tmpl[] = "/tmp/rembert_tok_XXXXXX";
  const char* dir = ::mkdtemp(tmpl);
  if (!dir) throw Error("mkdtemp failed");
  for (const auto& f : files) write_file(std::string(dir) + "/" + f, read_file(fixture_dir() + "/" + f));
  return dir;
}

std::vector<std::pair<int64_t, int64_t>> offsets(const Json& j) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& o : j) out.emplace_back(o[0].get<int64_t>(), o[1].get<int64_t>());
  return out;
}

void expect_fast(const Encoding& e, const Json& want) {
  EXPECT_EQ(e.input_ids, want["input_ids"].get<std::vector<int64_t>>());
  EXPECT_EQ(e.token_type_ids, want["token_type_ids"].get<std::vector<int64_t>>());
  EXPECT_EQ(e.attention_mask, want["attention_mask"].get<std::vector<int64_t>>());
  EXPECT_EQ(e.special_tokens_mask, want["special_tokens_mask"].get<std::vector<int64_t>>());
  EXPECT_EQ(e.tokens, want["tokens"].get<std::vector<std::string>>());
  EXPECT_EQ(e.offsets, offsets(want["offsets"]));
}

// --- Hugging Face tokenizers' own outputs --------------------------------------------------------------------

TEST(TokenizerReference, AwkwardInputsMatchHuggingFace) {
  const Json j = Json::parse(read_file(testing::fixture_path("tokenizer_extra/fast_awkward_inputs.json")));
  size_t n = 0;
  for (const Json& c : j["cases"]) {
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE(c["text"].dump());
    expect_fast(fast().encode(text), c["fast"]);
    // The slow tokenizer takes the same inputs without crashing and round-trips through decode.
    const Encoding s = slow().encode(text);
    EXPECT_EQ(s.input_ids.size(), s.attention_mask.size());
    EXPECT_NO_THROW(slow().decode(s.input_ids));
    EXPECT_NO_THROW(fast().decode(s.input_ids));
    ++n;
  }
  EXPECT_GE(n, 80u);
}

TEST(TokenizerReference, GeneralComponentsMatchHuggingFace) {
  const auto tok = load_tokenizer(testing::fixture_path("tokenizer_extra/general"));
  ASSERT_TRUE(tok->is_fast());
  const Json j = Json::parse(read_file(testing::fixture_path("tokenizer_extra/general_cases.json")));
  for (const Json& c : j["cases"]) {
    SCOPED_TRACE(c["text"].dump());
    const std::string text = c["text"].get<std::string>();
    if (c.contains("pair")) {
      const std::string pair = c["pair"].get<std::string>();
      expect_fast(tok->encode(text, &pair), c["fast"]);
    } else {
      expect_fast(tok->encode(text), c["fast"]);
    }
  }
  for (const Json& d : j["decode"]) {
    DecodeOptions o;
    o.skip_special_tokens = d["skip_special_tokens"].get<bool>();
    o.clean_up_tokenization_spaces = false;
    EXPECT_EQ(tok->decode(d["ids"].get<std::vector<int64_t>>(), o), d["text"].get<std::string>()) << d["ids"].dump();
  }
}

TEST(TokenizerReference, TruncationAndOverflowMatchHuggingFace) {
  // Every window and padding of 122 truncation/stride/overflow/padding combinations (random, plus the ones where
  // the special tokens fill max_length), as tokenizers 0.23 returned them; its errors must be errors here too.
  const Json j = Json::parse(read_file(testing::fixture_path("tokenizer_extra/truncation_cases.json")));
  const std::map<std::string, Truncation> strategies = {{"LongestFirst", Truncation::LongestFirst},
                                                        {"OnlyFirst", Truncation::OnlyFirst},
                                                        {"OnlySecond", Truncation::OnlySecond}};
  size_t n = 0;
  for (const Json& c : j["cases"]) {
    SCOPED_TRACE(c.dump());
    const Json& t = c["truncation"];
    EncodeOptions o;
    o.truncation = strategies.at(t["strategy"].get<std::string>());
    o.max_length = t["max_length"].get<int64_t>();
    o.stride = t["stride"].get<int64_t>();
    o.truncation_side = t["direction"] == "left" ? Side::Left : Side::Right;
    o.return_overflowing_tokens = true;
    if (c.contains("padding")) {
      o.padding = c["padding"].contains("maxLength") ? Padding::MaxLength : Padding::Longest;
      o.padding_side = c["padding"]["direction"] == "left" ? Side::Left : Side::Right;
    }
    const std::vector<std::string> texts{c["text"].get<std::string>()};
    const std::vector<std::string> pairs{c.value("pair", "")};
    const auto* pair = c.contains("pair") ? &pairs : nullptr;
    if (c.contains("error")) {
      EXPECT_THROW(fast().encode_batch(texts, pair, o), Error);
    } else {
      const BatchEncoding b = fast().encode_batch(texts, pair, o);
      ASSERT_EQ(b.encodings.size(), c["fast"].size());
      for (size_t i = 0; i < b.encodings.size(); ++i) expect_fast(b.encodings[i], c["fast"][i]);
    }
    ++n;
  }
  EXPECT_GE(n, 120u);
}

// --- Bad input -------------------------------------------------------------------------------------------------

TEST(TokenizerBadInput, InvalidUtf8IsAnError) {
  for (const std::string& bad : {std::string("\xff"), std::string("ab\xc3"), std::string("\xed\xa0\x80"),
                                std::string("\xc0\xaf"), std::string("\xf4\x90\x80\x80")}) {
    EXPECT_THROW(slow().encode(bad), Error);
    EXPECT_THROW(fast().encode(bad), Error);
    EXPECT_THROW(slow().tokenize(bad), Error);
    EXPECT_THROW(fast().tokenize(bad), Error);
  }
  try {
    fast().encode("ok \xff");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("byte offset 3"), std::string::npos) << e.what();
  }
}

TEST(TokenizerBadInput, EmptyStrings) {
  for (const Tokenizer* t : {&slow(), &fast()}) {
    const Encoding e = t->encode("");
    EXPECT_EQ(e.input_ids, (std::vector<int64_t>{2, 3}));
    EXPECT_TRUE(t->tokenize("").empty());
    EXPECT_EQ(t->decode({}), "");
    const std::string empty;
    const Encoding p = t->encode("", &empty);
    EXPECT_EQ(p.input_ids, (std::vector<int64_t>{2, 3, 3}));
    EXPECT_EQ(p.token_type_ids, (std::vector<int64_t>{0, 0, 1}));
  }
}

TEST(TokenizerBadInput, NulAndControlCharacters) {
  const std::string text("a\0b\x01\x1f\x7f c", 8);
  for (const Tokenizer* t : {&slow(), &fast()}) {
    const Encoding e = t->encode(text);
    EXPECT_GE(e.input_ids.size(), 3u);
  }
}

TEST(TokenizerBadInput, OneMegabyteText) {
  std::string text;
  const char* words[] = {"hello ", "wörld ", "Привет ", "你好", "مرحبا ", "[MASK] ", "\t", "😀 "};
  for (size_t i = 0; text.size() < (1u << 20); ++i) text += words[(i * 7 + i / 3) % 8];
  // (How fast is the benchmark's business: bench/tokenizer_bench.cc. A wall-clock bound here failed under ASan on
  // a busy machine.)
  const Encoding f = fast().encode(text);
  const Encoding s = slow().encode(text);
  EXPECT_GT(f.input_ids.size(), 100000u);
  EXPECT_GT(s.input_ids.size(), 100000u);
  // Offsets stay inside the text (in code points) and never go backwards.
  int64_t chars = 0;
  for (unsigned char c : text) chars += (c & 0xC0) != 0x80;
  int64_t last = 0;
  for (size_t i = 1; i + 1 < f.offsets.size(); ++i) {
    EXPECT_LE(f.offsets[i].first, f.offsets[i].second);
    EXPECT_LE(f.offsets[i].second, chars);
    EXPECT_GE(f.offsets[i].first, last - 1);
    last = f.offsets[i].first;
  }
}

TEST(TokenizerBadInput, EveryUnicodePlane) {
  std::string text;
  for (uint32_t plane = 0; plane <= 16; ++plane) {
    for (uint32_t low : {0x0041u, 0x0300u, 0x4E00u, 0xE000u, 0xFFFDu, 0xFFFEu, 0xFFFFu}) {
      const uint32_t cp = plane << 16 | low;
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      char buf[5] = {};
      if (cp < 0x80) {
        buf[0] = static_cast<char>(cp);
      } else if (cp < 0x800) {
        buf[0] = static_cast<char>(0xC0 | (cp >> 6));
        buf[1] = static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        buf[0] = static_cast<char>(0xE0 | (cp >> 12));
        buf[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        buf[0] = static_cast<char>(0xF0 | (cp >> 18));
        buf[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        buf[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        buf[3] = static_cast<char>(0x80 | (cp & 0x3F));
      }
      text += buf;
      text += ' ';
    }
  }
  for (const Tokenizer* t : {&slow(), &fast()}) {
    const Encoding e = t->encode(text);
    EXPECT_GT(e.input_ids.size(), 17u);
    EXPECT_NO_THROW(t->decode(e.input_ids));
  }
}

TEST(TokenizerBadInput, DecodeOfUnknownIds) {
  // transformers' slow tokenizer raises on ids outside the vocabulary; tokenizers skips them.
  EXPECT_THROW(slow().decode({2, 99999}), Error);
  EXPECT_THROW(slow().decode({-1}), Error);
  EXPECT_EQ(fast().decode({424, 99999, 723}), "Hell");
  EXPECT_THROW(fast().convert_id_to_token(99999), Error);
}

// --- Config handling -------------------------------------------------------------------------------------------

TEST(TokenizerConfig, UnknownSpecialTokenNamesAreIgnoredAndNewTokensAdded) {
  const std::string dir = temp_dir_with({"sentencepiece.model", "tokenizer.json"});
  write_file(dir + "/tokenizer_config.json",
        R"({"foo_token": "[FOO]", "mask_token": "<newmask>", "additional_special_tokens": ["<extra>"],
            "model_max_length": 16, "clean_up_tokenization_spaces": true, "tokenizer_class": "RemBertTokenizer"})");
  for (const auto kind : {TokenizerKind::Slow, TokenizerKind::Fast}) {
    const auto t = load_tokenizer(dir, kind);
    SCOPED_TRACE(t->is_fast() ? "fast" : "slow");
    EXPECT_EQ(t->special_tokens().mask, "<newmask>");
    // Appended after the 2000 pieces; the fast class's default unk/pad (<unk>, <pad>) are new tokens too.
    const int64_t mask = t->is_fast() ? 2002 : 2000;
    EXPECT_EQ(t->mask_token_id(), mask);
    EXPECT_EQ(t->convert_token_to_id("<extra>"), mask + 1);
    // The vocabulary view and len(tokenizer) count the added tokens.
    EXPECT_EQ(t->get_vocab().at("<extra>"), mask + 1);
    EXPECT_EQ(t->get_vocab().at("<newmask>"), mask);
    EXPECT_EQ(t->size(), mask + 2);
    EXPECT_EQ(t->convert_token_to_id("[FOO]"), t->unk_token_id());  // "foo_token" is ignored
    EXPECT_EQ(t->unk_token_id(), t->is_fast() ? 2000 : 1);
    EXPECT_EQ(t->model_max_length(), 16);
    const Encoding e = t->encode("a <newmask> b");
    EXPECT_NE(std::find(e.input_ids.begin(), e.input_ids.end(), mask), e.input_ids.end());
    // model_max_length drives truncation=longest_first without max_length
    EncodeOptions o;
    o.truncation = Truncation::LongestFirst;
    EXPECT_EQ(t->encode("a b c d e f g h i j k l m n o p q r s t u v w x y z", nullptr, o).input_ids.size(), 16u);
  }
}

TEST(TokenizerConfig, OnlyTokenizerFilesAndLoaderChoice) {
  const std::string both = temp_dir_with({"sentencepiece.model", "tokenizer.json"});
  EXPECT_TRUE(load_tokenizer(both)->is_fast());
  EXPECT_FALSE(load_tokenizer(both, TokenizerKind::Slow)->is_fast());
  const std::string slow_only = temp_dir_with({"sentencepiece.model", "tokenizer_config.json"});
  EXPECT_FALSE(load_tokenizer(slow_only)->is_fast());
  EXPECT_THROW(load_tokenizer(slow_only, TokenizerKind::Fast), Error);
  const std::string empty = temp_dir_with({});
  EXPECT_THROW(load_tokenizer(empty), Error);
  EXPECT_THROW(load_tokenizer(empty + "/missing"), Error);
  // Without tokenizer_config.json, the class defaults apply: slow [UNK]/[PAD]; fast <unk>/<pad> (not in vocab).
  EXPECT_EQ(load_tokenizer(both, TokenizerKind::Slow)->special_tokens().unk, "[UNK]");
  EXPECT_EQ(load_tokenizer(both, TokenizerKind::Fast)->special_tokens().pad, "<pad>");
}

TEST(TokenizerConfig, UnknownComponentTypesAreNamed) {
  const Json base = Json::parse(read_file(fixture_dir() + "/tokenizer.json"));
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"/normalizer/normalizers/0/type", "Frobnicate"}, {"/pre_tokenizer/type", "ByteLevel"},
      {"/model/type", "BPE"}, {"/decoder/type", "Mystery"}, {"/post_processor/type", "RobertaProcessing"}};
  for (const auto& [ptr, value] : edits) {
    Json j = base;
    j[Json::json_pointer(ptr)] = value;
    const std::string dir = temp_dir_with({});
    write_file(dir + "/tokenizer.json", j.dump());
    try {
      load_tokenizer(dir);
      ADD_FAILURE() << "no error for " << value;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + value + "'"), std::string::npos) << e.what();
    }
  }
  const std::string dir = temp_dir_with({});
  write_file(dir + "/tokenizer.json", "{not json");
  EXPECT_THROW(load_tokenizer(dir), Error);
}

// --- PreTrainedTokenizer helpers ------------------------------------------------------------------------------

TEST(TokenizerHelpers, VocabAndConversions) {
  for (const Tokenizer* t : {&slow(), &fast()}) {
    EXPECT_EQ(t->vocab_size(), 2000);
    EXPECT_EQ(t->size(), 2000);
    EXPECT_EQ(t->get_vocab().at("[MASK]"), 4);
    EXPECT_EQ(t->convert_token_to_id("▁H"), 424);
    EXPECT_EQ(t->convert_token_to_id("not-a-piece"), 1);
    EXPECT_EQ(t->convert_id_to_token(4), "[MASK]");
    EXPECT_EQ(t->convert_ids_to_tokens({2, 424, 3}, true), (std::vector<std::string>{"▁H"}));
    EXPECT_EQ(t->all_special_ids(), (std::vector<int64_t>{2, 3, 1, 0, 4}));
  }
}

TEST(TokenizerHelpers, VocabularyViewIsBuiltOnceAndShared) {
  // get_vocab() (and size(), fill-mask's targets, the server's /decode) read one view, built on first use, even
  // when the first uses come from several threads at once; before, every call built a new map of the vocabulary.
  for (const auto kind : {TokenizerKind::Slow, TokenizerKind::Fast}) {
    const auto t = load_tokenizer(fixture_dir(), kind);
    SCOPED_TRACE(t->is_fast() ? "fast" : "slow");
    std::vector<const std::map<std::string, int64_t>*> seen(4, nullptr);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < seen.size(); ++i) {
      threads.emplace_back([&, i] {
        const auto& v = t->get_vocab();
        seen[i] = &v;
      });
    }
    for (auto& th : threads) th.join();
    const auto& vocab = t->get_vocab();
    for (const auto* p : seen) EXPECT_EQ(p, &vocab);
    EXPECT_EQ(t->size(), 2000);
    // The view holds every piece at its id.
    ASSERT_EQ(vocab.size(), 2000u);
    for (int64_t id = 0; id < t->vocab_size(); ++id) ASSERT_EQ(vocab.at(t->convert_id_to_token(id)), id) << id;
  }
}

TEST(TokenizerHelpers, SpecialTokenLayouts) {
  const std::vector<int64_t> a{10, 11}, b{20};
  for (const Tokenizer* t : {&slow(), &fast()}) {
    EXPECT_EQ(t->build_inputs_with_special_tokens(a), (std::vector<int64_t>{2, 10, 11, 3}));
    EXPECT_EQ(t->build_inputs_with_special_tokens(a, &b), (std::vector<int64_t>{2, 10, 11, 3, 20, 3}));
    EXPECT_EQ(t->get_special_tokens_mask(a, &b), (std::vector<int64_t>{1, 0, 0, 1, 0, 1}));
    EXPECT_EQ(t->create_token_type_ids_from_sequences(a, &b), (std::vector<int64_t>{0, 0, 0, 0, 1, 1}));
    const std::vector<int64_t> formatted{2, 4, 0, 1, 3, 10};
    EXPECT_EQ(t->get_special_tokens_mask(formatted, nullptr, true), (std::vector<int64_t>{1, 0, 0, 0, 1, 0}));
    EXPECT_THROW(t->get_special_tokens_mask(formatted, &b, true), Error);
  }
}

TEST(TokenizerHelpers, SaveVocabularyCopiesTheModel) {
  const std::string dir = temp_dir_with({});
  for (const Tokenizer* t : {&slow(), &fast()}) {
    const auto paths = t->save_vocabulary(dir, t->is_fast() ? "f" : "");
    ASSERT_EQ(paths.size(), 1u);
    EXPECT_EQ(paths[0], dir + (t->is_fast() ? "/f-sentencepiece.model" : "/sentencepiece.model"));
    EXPECT_EQ(read_file(paths[0]), read_file(fixture_dir() + "/sentencepiece.model"));
  }
  EXPECT_THROW(slow().save_vocabulary(dir + "/sentencepiece.model"), Error);
}

TEST(TokenizerHelpers, DecodeOptions) {
  const std::vector<int64_t> ids = slow().encode("Hello , world !").input_ids;
  DecodeOptions clean;
  clean.clean_up_tokenization_spaces = true;
  EXPECT_EQ(slow().decode(ids, clean), "Hello, world!");
  EXPECT_EQ(slow().decode(ids), "Hello , world !");  // tokenizer_config.json: clean_up_tokenization_spaces false
  EXPECT_EQ(fast().decode(ids, clean), "[CLS] Hello, world![SEP]");
}

// --- Encoding options ------------------------------------------------------------------------------------------

TEST(TokenizerEncode, PaddingSidesAndMultiples) {
  const std::vector<std::string> texts{"a", "Hello world!"};
  for (const Tokenizer* t : {&slow(), &fast()}) {
    EncodeOptions o;
    o.padding = Padding::Longest;
    o.pad_to_multiple_of = 4;
    o.padding_side = Side::Left;
    const BatchEncoding b = t->encode_batch(texts, nullptr, o);
    ASSERT_EQ(b.encodings.size(), 2u);
    EXPECT_EQ(b.encodings[0].input_ids, (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 57, 3}));
    EXPECT_EQ(b.encodings[0].attention_mask, (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}));
    EXPECT_EQ(b.encodings[0].special_tokens_mask, (std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1}));
    EXPECT_EQ(b.encodings[0].tokens.front(), "[PAD]");
    EXPECT_EQ(b.encodings[1].input_ids.size(), 12u);
    // max_length padding without max_length or model_max_length: no padding (transformers' fallback)
    EncodeOptions m;
    m.padding = Padding::MaxLength;
    EXPECT_EQ(t->encode("a", nullptr, m).input_ids.size(), 3u);
    // truncation and padding to a max_length that is not a multiple: transformers' error
    EncodeOptions bad;
    bad.padding = Padding::MaxLength;
    bad.truncation = Truncation::LongestFirst;
    bad.max_length = 10;
    bad.pad_to_multiple_of = 4;
    EXPECT_THROW(t->encode("a", nullptr, bad), Error);
  }
}

TEST(TokenizerEncode, MaxLengthAloneTruncatesLongestFirst) {
  EncodeOptions o;
  o.max_length = 5;
  for (const Tokenizer* t : {&slow(), &fast()}) {
    EXPECT_EQ(t->encode("The quick brown fox", nullptr, o).input_ids.size(), 5u);
    EncodeOptions none = o;
    none.truncation = Truncation::DoNotTruncate;
    EXPECT_GT(t->encode("The quick brown fox", nullptr, none).input_ids.size(), 5u);
  }
}

TEST(TokenizerEncode, FastOverflowingWindowsWithStride) {
  EncodeOptions o;
  o.max_length = 6;
  o.stride = 2;
  o.truncation = Truncation::LongestFirst;
  o.return_overflowing_tokens = true;
  const BatchEncoding b = fast().encode_batch({"a b c d e f g h i j", "x"}, nullptr, o);
  // windows of 4 tokens overlapping by 2, each inside [CLS] ... [SEP]; tokenizing stops at the first text split
  // that reaches max_length tokens, as tokenizers does (checked against it with scripts/tokenizer_diff.py)
  ASSERT_EQ(b.encodings.size(), 4u);
  EXPECT_EQ(b.overflow_to_sample_mapping, (std::vector<int64_t>{0, 0, 0, 1}));
  EXPECT_EQ(b.encodings[0].tokens, (std::vector<std::string>{"[CLS]", "▁a", "▁b", "▁c", "▁", "[SEP]"}));
  EXPECT_EQ(b.encodings[1].tokens, (std::vector<std::string>{"[CLS]", "▁c", "▁", "d", "▁", "[SEP]"}));
  EXPECT_EQ(b.encodings[2].tokens, (std::vector<std::string>{"[CLS]", "d", "▁", "e", "[SEP]"}));
  EXPECT_EQ(b.encodings[1].offsets[1], (std::pair<int64_t, int64_t>{3, 5}));
}

TEST(TokenizerEncode, SlowOverflowingTokensAndErrors) {
  EncodeOptions o;
  o.max_length = 5;
  o.stride = 1;
  o.truncation = Truncation::OnlyFirst;
  o.return_overflowing_tokens = true;
  const Encoding e = slow().encode("a b c d e", nullptr, o);
  EXPECT_EQ(e.input_ids.size(), 5u);
  EXPECT_EQ(e.num_truncated_tokens, 4);  // total 2 + 7 pieces - 5
  EXPECT_EQ(e.overflowing_tokens.size(), 5u);
  const std::string pair = "x y";
  o.truncation = Truncation::LongestFirst;
  EXPECT_THROW(slow().encode("a b c d e", &pair, o), Error);  // transformers refuses this combination
  o.truncation = Truncation::OnlySecond;
  o.return_overflowing_tokens = false;
  try {
    slow().encode("a b c d e", &pair, o);
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("the second sequence has a length"), std::string::npos) << err.what();
  }
  try {
    fast().encode("a b c d e", &pair, o);
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("Sequence to truncate too short"), std::string::npos) << err.what();
  }
  // stride too large for the window
  EncodeOptions s;
  s.max_length = 4;
  s.stride = 3;
  s.truncation = Truncation::LongestFirst;
  EXPECT_THROW(fast().encode("a b c d e f", nullptr, s), Error);
}

// The slow tokenizer's windows (overflow_covers_whole_text) and offsets are the fast tokenizer's, on both
// truncation sides, with padding (pads at [0, 0]) and a batch's overflow_to_sample_mapping.
TEST(TokenizerEncode, SlowWindowsAndOffsetsEqualTheFastOnes) {
  const std::vector<std::string> questions = {"Who lives here?", "Where?"};
  const std::vector<std::string> contexts = {
      "My name is Wolfgang and I live in Berlin, Germany. My sister Anna lives in Rome.", "Short one."};
  for (const Side side : {Side::Right, Side::Left}) {
    SCOPED_TRACE(side == Side::Right ? "right" : "left");
    EncodeOptions o;
    o.truncation = Truncation::OnlySecond;
    o.max_length = 24;
    o.stride = 3;
    o.truncation_side = side;
    o.padding = Padding::MaxLength;
    o.return_overflowing_tokens = true;
    o.overflow_covers_whole_text = true;
    o.return_offsets_mapping = true;
    const BatchEncoding f = fast().encode_batch(questions, &contexts, o);
    const BatchEncoding s = slow().encode_batch(questions, &contexts, o);
    ASSERT_GE(f.encodings.size(), 4u);
    EXPECT_EQ(s.overflow_to_sample_mapping, f.overflow_to_sample_mapping);
    ASSERT_EQ(s.encodings.size(), f.encodings.size());
    for (size_t i = 0; i < f.encodings.size(); ++i) {
      EXPECT_EQ(s.encodings[i].input_ids, f.encodings[i].input_ids) << i;
      EXPECT_EQ(s.encodings[i].token_type_ids, f.encodings[i].token_type_ids) << i;
      EXPECT_EQ(s.encodings[i].attention_mask, f.encodings[i].attention_mask) << i;
      EXPECT_EQ(s.encodings[i].special_tokens_mask, f.encodings[i].special_tokens_mask) << i;
      EXPECT_EQ(s.encodings[i].offsets, f.encodings[i].offsets) << i;
    }
  }
  // A stride that leaves the window no progress: tokenizers' error.
  EncodeOptions o;
  o.truncation = Truncation::OnlySecond;
  o.max_length = 10;
  o.stride = 6;
  o.return_overflowing_tokens = true;
  o.overflow_covers_whole_text = true;
  EXPECT_THROW(slow().encode_batch({questions[0]}, &contexts, o), Error);
  // Without return_offsets_mapping the slow tokenizer reports none, as transformers' has none.
  EXPECT_TRUE(slow().encode("Hello world!").offsets.empty());
}

// do_lower_case changes byte lengths (U+0130 lowercases to two code points): offsets still count the input's.
TEST(TokenizerEncode, SlowOffsetsThroughLowerCasing) {
  const std::string dir = temp_dir_with({"sentencepiece.model"});
  write_file(dir + "/tokenizer_config.json", R"({"do_lower_case": true})");
  const auto lower = load_tokenizer(dir, TokenizerKind::Slow);
  EncodeOptions o;
  o.return_offsets_mapping = true;
  // "ÀB cd" lowercases to "àb cd", the same code points one for one: the offsets of the lowercase text.
  EXPECT_EQ(lower->encode("\xc3\x80" "B cd", nullptr, o).offsets, slow().encode("\xc3\xa0" "b cd", nullptr, o).offsets);
  // "İx [MASK]": İ -> "i̇" (2 code points), [MASK] kept as is.
  const Encoding e = lower->encode("\xc4\xb0x [MASK]", nullptr, o);
  ASSERT_EQ(e.offsets.size(), e.input_ids.size());
  EXPECT_EQ(e.tokens[e.tokens.size() - 2], "[MASK]");
  EXPECT_EQ(e.offsets[e.offsets.size() - 2], (std::pair<int64_t, int64_t>{2, 9}));  // " [MASK]": lstrip eats the space
  for (size_t t = 1; t + 2 < e.offsets.size(); ++t) {
    EXPECT_GE(e.offsets[t].first, 0) << t;
    EXPECT_LE(e.offsets[t].second, 2) << t;  // inside "İx"
  }
  EXPECT_EQ(e.offsets[1].first, 0);
}

TEST(TokenizerEncode, NoSpecialTokensAndLeftTruncation) {
  EncodeOptions o;
  o.add_special_tokens = false;
  o.max_length = 3;
  o.truncation_side = Side::Left;
  for (const Tokenizer* t : {&slow(), &fast()}) {
    const Encoding e = t->encode("Hello world!", nullptr, o);
    EXPECT_EQ(e.input_ids.size(), 3u);
    EXPECT_EQ(e.input_ids.back(), 811);
    EXPECT_EQ(e.special_tokens_mask, (std::vector<int64_t>{0, 0, 0}));
  }
}

TEST(TokenizerEncode, BatchIsThreadSafeAndOrdered) {
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("text number " + std::to_string(i) + " Привет");
  const BatchEncoding b = fast().encode_batch(texts, nullptr, {});
  ASSERT_EQ(b.encodings.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(b.encodings[i].input_ids, fast().encode(texts[i]).input_ids);
}

// --- tokenizer.json's Unigram list (streamed past the JSON tree, see tokenizer_json.cc) ---------------------

// A minimal tokenizer.json around the given model.vocab text, in a fresh folder.
std::string unigram_dir(const std::string& vocab_json, const std::string& extra_root_keys = "") {
  const std::string dir = temp_dir_with({});
  write_file(dir + "/tokenizer.json", R"({"version": "1.0", )" + extra_root_keys + R"( "added_tokens": [],
    "normalizer": null, "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
    "split": true}, "post_processor": null, "decoder": null,
    "model": {"type": "Unigram", "unk_id": 0, "vocab": )" + vocab_json + R"(, "byte_fallback": false}})");
  return dir;
}

TEST(TokenizerUnigramVocab, PiecesScoresAndDuplicates) {
  // Viterbi by hand: "▁ab" (-1) beats "▁a" + "b" (-2 - 3.25); "▁abc" is no piece, so "▁ab" + "c" (-2.5).
  // Integer scores are numbers too. A duplicate piece takes the later id (and its score), like tokenizers' map.
  const std::string dir = unigram_dir(
      R"([["<unk>", 0], ["▁a", -2], ["b", -2], ["▁ab", -1], ["c", -1.5], ["b", -3.25], ["\u2581\u00e9", -1]])");
  const auto t = load_tokenizer(dir, TokenizerKind::Fast);
  EXPECT_EQ(t->vocab_size(), 7);
  EXPECT_EQ(t->tokenize("ab abc"), (std::vector<std::string>{"▁ab", "▁ab", "c"}));
  EXPECT_EQ(t->convert_token_to_id("b"), 5);
  EXPECT_EQ(t->convert_token_to_id("▁ab"), 3);
  EXPECT_EQ(t->convert_token_to_id("▁"), 0);   // a prefix of pieces, not a piece: unk
  EXPECT_EQ(t->convert_token_to_id("▁abc"), 0);
  EXPECT_EQ(t->convert_id_to_token(6), "▁é");  // \u escapes decoded
  EXPECT_EQ(t->encode("é").input_ids, (std::vector<int64_t>{6}));
  // "vocab" keys elsewhere are ordinary JSON, not the model's list.
  const auto u = load_tokenizer(unigram_dir(R"([["<unk>", 0], ["▁x", -1]])", R"("vocab": [[1, 2]], "x": {"vocab": 3},)"),
                                TokenizerKind::Fast);
  EXPECT_EQ(u->tokenize("x"), (std::vector<std::string>{"▁x"}));
}

TEST(TokenizerUnigramVocab, MalformedListsAreErrorsNamingTheEntry) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"([["<unk>", 0], ["a"]])", "entry 1 must be [piece, score]"},
      {R"([["<unk>", 0], ["a", "x"]])", "entry 1 must be [piece, score]"},
      {R"([["<unk>", 0], ["a", 1, 2]])", "entry 1 must be [piece, score]"},
      {R"([[0, "<unk>"]])", "entry 0 must be [piece, score]"},
      {R"(["<unk>"])", "entry 0 must be [piece, score]"},
      {R"([["<unk>", 0], {"a": 1}])", "entry 1 must be [piece, score]"},
      {R"([["<unk>", 0], [["a"], 1]])", "entry 1 must be [piece, score]"},
      {R"([["<unk>", null]])", "entry 0 must be [piece, score]"},
      {R"([])", "Unigram vocab is empty"},
      {R"({"<unk>": 0})", "needs a 'vocab' list"},
      {R"([["<unk>", 0], ["a", -1],])", "invalid JSON"},
      {"[[\"<unk>\", 0], [\"a\xff\", -1]]", "invalid JSON"},       // not UTF-8
      {R"([["<unk>", 0], ["a\ud800", -1]])", "invalid JSON"},  // a lone surrogate
  };
  for (const auto& [vocab, want] : cases) {
    const std::string msg = testing::error_message([&] { load_tokenizer(unigram_dir(vocab), TokenizerKind::Fast); });
    EXPECT_CONTAINS(msg, want) << vocab;
    EXPECT_CONTAINS(msg, "tokenizer.json");
  }
}

}  // namespace
}  // namespace rembert
