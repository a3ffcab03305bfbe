// rembert decode: token ids back to text with the model folder's tokenizer, as transformers' decode.
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "tokenizer_choice.h"
#include "rembert/error.h"
#include "rembert/tokenizer.h"

namespace rembert::cli {

namespace {

struct DecodeCliOptions {
  std::string model_dir;
  TokenizerChoice tokenizer;
  bool skip_special_tokens = false, clean_up = false, no_clean_up = false;
  std::vector<int64_t> ids;
};

void run_decode(const DecodeCliOptions& o) {
  const TokenizerKind kind = o.tokenizer.kind();
  if (o.clean_up && o.no_clean_up) {
    throw Error("--clean-up-tokenization-spaces and --no-clean-up-tokenization-spaces are exclusive");
  }
  auto tok = load_tokenizer(o.model_dir, kind);
  DecodeOptions d;
  d.skip_special_tokens = o.skip_special_tokens;
  if (o.clean_up) d.clean_up_tokenization_spaces = true;
  if (o.no_clean_up) d.clean_up_tokenization_spaces = false;
  const std::string text = tok->decode(o.ids, d);
  std::printf("%s\n", text.c_str());
}

}  // namespace

Command add_decode_command(CLI::App& app) {
  auto o = std::make_shared<DecodeCliOptions>();
  CLI::App* cmd = app.add_subcommand("decode", "Decode token ids to text with a model folder's tokenizer");
  cmd->add_option("--model", o->model_dir, "Folder with tokenizer.json and/or sentencepiece.model")->required();
  add_tokenizer_choice(cmd, o->tokenizer);
  cmd->add_flag("--skip-special-tokens", o->skip_special_tokens, "skip_special_tokens=True");
  cmd->add_flag("--clean-up-tokenization-spaces", o->clean_up,
                "clean_up_tokenization_spaces=True (default: tokenizer_config.json's value)");
  cmd->add_flag("--no-clean-up-tokenization-spaces", o->no_clean_up, "clean_up_tokenization_spaces=False");
  cmd->add_option("ID", o->ids, "Token ids")->required();
  return [o] { run_decode(*o); };
}

}  // namespace rembert::cli
