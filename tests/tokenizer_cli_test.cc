// `rembert tokenize` and `rembert decode`: run the built CLI and parse what it prints.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/wait.h>

#include "test_util.h"

namespace rembert {
namespace {

using Json = nlohmann::json;

struct CliResult {
  int status;
  std::string out;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

CliResult run_cli(const std::string& args) {
  const std::string cmd = std::string(REMBERT_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::string model() { return "--model " + quote(testing::fixture_path("tokenizer")); }

TEST(TokenizerCli, OneTextPrintsAnObject) {
  const CliResult r = run_cli("tokenize " + model() + " " + quote("The capital of France is [MASK]."));
  ASSERT_EQ(r.status, 0) << r.out;
  const Json j = Json::parse(r.out);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["input_ids"], Json::parse("[2,731,5,213,22,108,56,285,257,67,937,360,4,5,19,3]"));
  EXPECT_EQ(j["tokens"][12], " [MASK]");
  EXPECT_EQ(j["offsets"][12], Json::parse("[24,31]"));
  for (const char* k : {"token_type_ids", "attention_mask", "special_tokens_mask"}) EXPECT_EQ(j[k].size(), 16u);
}

TEST(TokenizerCli, SlowHasNoOffsets) {
  const CliResult r = run_cli("tokenize " + model() + " --slow " + quote("  leading and trailing spaces   "));
  ASSERT_EQ(r.status, 0) << r.out;
  const Json j = Json::parse(r.out);
  EXPECT_FALSE(j.contains("offsets"));
  EXPECT_EQ(j["input_ids"], Json::parse("[2,420,11,12,152,822,1125,190,152,5,1162,6,3]"));
}

// --return-offsets-mapping: the slow tokenizer's offsets, the fast tokenizer's reference ones here (the fixture's
// single_23: "[MASK]" strips the space before it and covers it).
TEST(TokenizerCli, SlowOffsetsOnRequest) {
  const CliResult r =
      run_cli("tokenize " + model() + " --slow --return-offsets-mapping " + quote("The capital of France is [MASK]."));
  ASSERT_EQ(r.status, 0) << r.out;
  const Json j = Json::parse(r.out);
  EXPECT_EQ(j["input_ids"], Json::parse("[2,731,5,213,22,108,56,285,257,67,937,360,4,5,19,3]"));
  EXPECT_EQ(j["offsets"], Json::parse("[[0,0],[0,3],[3,4],[4,6],[6,7],[7,9],[9,11],[11,14],[14,16],[16,18],[18,21],"
                                      "[21,24],[24,31],[31,32],[31,32],[0,0]]"));
}

TEST(TokenizerCli, BatchOfPairsPadded) {
  const CliResult r = run_cli("tokenize " + model() + " --padding longest --pair " + quote("It was written by a friend of mine.") +
                    " --pair " + quote("C'est moi, ton ami.") + " -- " + quote("Who wrote this?") + " " +
                    quote("Qui est là?"));
  ASSERT_EQ(r.status, 0) << r.out;
  const Json j = Json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["input_ids"].size(), 29u);
  EXPECT_EQ(j[1]["input_ids"].size(), 29u);
  EXPECT_EQ(j[1]["attention_mask"][28], 0);
  EXPECT_EQ(j[1]["token_type_ids"][7], 1);
}

TEST(TokenizerCli, TruncationAndBracketTexts) {
  CliResult r = run_cli("tokenize " + model() + " --max-length 14 --truncation only_second --pair short " +
              quote("A much longer first sentence that needs truncation more than the second one does, really."));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("Sequence to truncate too short"), std::string::npos) << r.out;
  r = run_cli("tokenize " + model() + " --slow --max-length 14 --truncation only_first --pair " +
          quote("A much longer second sentence that needs truncation more than the first one does, really.") +
          " short");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("first sequence has a length"), std::string::npos) << r.out;
  r = run_cli("tokenize " + model() + " --no-special-tokens " + quote("[UNK]") + " " + quote("[a,b]"));
  ASSERT_EQ(r.status, 0) << r.out;
  const Json j = Json::parse(r.out);
  EXPECT_EQ(j[0]["input_ids"], Json::parse("[1]"));
  EXPECT_EQ(j[1]["tokens"][0], "▁[");
  r = run_cli("tokenize " + model() + " --max-lenght 3 x");
  EXPECT_NE(r.status, 0);
  r = run_cli("tokenize " + model() + " " + quote("bad \xff utf8"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("UTF-8"), std::string::npos) << r.out;
}

TEST(TokenizerCli, OverflowingWindows) {
  const CliResult r = run_cli("tokenize " + model() + " --max-length 6 --stride 2 --truncation longest_first "
                    "--return-overflowing-tokens " + quote("a b c d e f g h i j"));
  ASSERT_EQ(r.status, 0) << r.out;
  const Json j = Json::parse(r.out);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[2]["overflow_to_sample_mapping"], 0);
}

TEST(TokenizerCli, Decode) {
  CliResult r = run_cli("decode " + model() + " 2 424 723 10 592 59 419 811 3");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "[CLS] Hello world![SEP]\n");
  r = run_cli("decode " + model() + " --slow 2 424 723 10 592 59 419 811 3");
  EXPECT_EQ(r.out, "Hello world!\n");
  r = run_cli("decode " + model() + " --skip-special-tokens --clean-up-tokenization-spaces "
          "2 731 5 213 22 108 56 285 257 67 937 360 4 5 19 3");
  EXPECT_EQ(r.out, "The capital of France is.\n");
  r = run_cli("decode " + model() + " --slow 99999");
  EXPECT_EQ(r.status, 1);
  r = run_cli("decode --model /nonexistent 1");
  EXPECT_EQ(r.status, 1);
}

}  // namespace
}  // namespace rembert
