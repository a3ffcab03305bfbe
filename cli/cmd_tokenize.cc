// rembert tokenize: encodes texts (or pairs) with the model folder's tokenizer and prints the encodings as JSON, the
// fields transformers' __call__ returns (plus tokens, and offsets: always for the fast tokenizer, with
// --return-offsets-mapping for the slow one).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "tokenizer_choice.h"
#include "rembert/error.h"
#include "rembert/tokenizer.h"

namespace rembert::cli {

namespace {

struct TokenizeOptions {
  std::string model_dir;
  TokenizerChoice tokenizer;
  std::vector<std::string> texts, pairs;
  int64_t max_length = -1, stride = 0, pad_to_multiple_of = 0;
  std::string truncation, padding, padding_side = "right", truncation_side = "right";
  bool no_special_tokens = false, return_overflowing_tokens = false, return_offsets_mapping = false;
};

Side side_from_name(const std::string& name, const char* what) {
  if (name == "right") return Side::Right;
  if (name == "left") return Side::Left;
  throw Error(std::string(what) + " must be 'right' or 'left', got '" + name + "'");
}

nlohmann::json encoding_json(const Encoding& e, bool fast, bool overflow, bool offsets_asked) {
  nlohmann::json j;
  j["input_ids"] = e.input_ids;
  j["token_type_ids"] = e.token_type_ids;
  j["attention_mask"] = e.attention_mask;
  j["special_tokens_mask"] = e.special_tokens_mask;
  j["tokens"] = e.tokens;
  if (fast || offsets_asked) {
    nlohmann::json offsets = nlohmann::json::array();
    for (const auto& [b, end] : e.offsets) offsets.push_back({b, end});
    j["offsets"] = offsets;
  }
  if (overflow && !fast) {
    j["overflowing_tokens"] = e.overflowing_tokens;
    j["num_truncated_tokens"] = e.num_truncated_tokens;
  }
  return j;
}

void run_tokenize(const TokenizeOptions& o) {
  const TokenizerKind kind = o.tokenizer.kind();
  if (o.texts.empty()) throw Error("give at least one TEXT");
  if (!o.pairs.empty() && o.pairs.size() != o.texts.size()) {
    throw Error("--pair must be given once per TEXT (" + std::to_string(o.texts.size()) + " texts, " +
                std::to_string(o.pairs.size()) + " pairs)");
  }
  auto tok = load_tokenizer(o.model_dir, kind);
  EncodeOptions eo;
  eo.add_special_tokens = !o.no_special_tokens;
  if (!o.padding.empty()) eo.padding = padding_from_name(o.padding);
  if (!o.truncation.empty()) eo.truncation = truncation_from_name(o.truncation);
  if (o.max_length >= 0) eo.max_length = o.max_length;
  eo.stride = o.stride;
  if (o.pad_to_multiple_of > 0) eo.pad_to_multiple_of = o.pad_to_multiple_of;
  eo.padding_side = side_from_name(o.padding_side, "--padding-side");
  eo.truncation_side = side_from_name(o.truncation_side, "--truncation-side");
  eo.return_overflowing_tokens = o.return_overflowing_tokens;
  eo.return_offsets_mapping = o.return_offsets_mapping;
  const BatchEncoding batch = tok->encode_batch(o.texts, o.pairs.empty() ? nullptr : &o.pairs, eo);
  nlohmann::json out;
  if (o.return_overflowing_tokens) {
    out = nlohmann::json::array();
    for (size_t i = 0; i < batch.encodings.size(); ++i) {
      nlohmann::json j = encoding_json(batch.encodings[i], tok->is_fast(), true, o.return_offsets_mapping);
      if (tok->is_fast()) j["overflow_to_sample_mapping"] = batch.overflow_to_sample_mapping[i];
      out.push_back(j);
    }
  } else if (o.texts.size() == 1) {
    out = encoding_json(batch.encodings.at(0), tok->is_fast(), false, o.return_offsets_mapping);
  } else {
    out = nlohmann::json::array();
    for (const auto& e : batch.encodings) {
      out.push_back(encoding_json(e, tok->is_fast(), false, o.return_offsets_mapping));
    }
  }
  std::printf("%s\n", out.dump().c_str());
}

}  // namespace

Command add_tokenize_command(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Encode texts with a model folder's tokenizer and print JSON");
  cmd->add_option("--model", o->model_dir, "Folder with tokenizer.json and/or sentencepiece.model")->required();
  add_tokenizer_choice(cmd, o->tokenizer);
  cmd->add_option("--pair", o->pairs, "Second text of a pair; once per TEXT")->allow_extra_args(false);
  cmd->add_option("--max-length", o->max_length, "max_length (counts the special tokens)");
  cmd->add_option("--truncation", o->truncation, "longest_first, only_first, only_second or do_not_truncate");
  cmd->add_option("--padding", o->padding, "longest, max_length or do_not_pad");
  cmd->add_option("--stride", o->stride, "Overlap of overflowing windows")->capture_default_str();
  cmd->add_option("--pad-to-multiple-of", o->pad_to_multiple_of, "Round the padded length up to a multiple of N");
  cmd->add_option("--padding-side", o->padding_side, "right or left")->capture_default_str();
  cmd->add_option("--truncation-side", o->truncation_side, "right or left")->capture_default_str();
  cmd->add_flag("--return-overflowing-tokens", o->return_overflowing_tokens,
                "Print a list with the overflowing windows (fast) or overflowing_tokens (slow)");
  cmd->add_flag("--no-special-tokens", o->no_special_tokens, "add_special_tokens=False");
  cmd->add_flag("--return-offsets-mapping", o->return_offsets_mapping,
                "Print offsets with the slow tokenizer too (from SentencePiece's pieces; the fast one always does)");
  // The first TEXT is a plain string positional (allow_extra_args(false): CLI11 would turn a vector argument "[X]"
  // into a list); prefix_command() hands every later argument over untouched, so options go before the texts.
  auto first = std::make_shared<std::string>();
  cmd->add_option("TEXT", *first, "Texts to encode; options go before them (and -- before texts starting with '-')")
      ->required()
      ->allow_extra_args(false);
  cmd->prefix_command();
  return [o, first, cmd] {
    o->texts.push_back(*first);
    bool skipped_separator = false;
    const std::vector<std::string> rest = cmd->remaining();
    for (size_t i = 0; i < rest.size(); ++i) {
      if (i == 0 && rest[i] == "--") {
        skipped_separator = true;
        continue;
      }
      if (!skipped_separator && rest[i].size() > 1 && rest[i][0] == '-') {
        throw Error("unknown option " + rest[i] + " (options go before the texts; put -- before texts that start "
                    "with '-')");
      }
      o->texts.push_back(rest[i]);
    }
    run_tokenize(*o);
  };
}

}  // namespace rembert::cli
