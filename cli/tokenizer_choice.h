// --slow / --fast: the tokenizer a command loads, for every command that loads one.
#pragma once

#include <CLI/CLI.hpp>

#include "rembert/error.h"
#include "rembert/tokenizer.h"

namespace rembert::cli {

struct TokenizerChoice {
  bool slow = false, fast = false;

  // Neither flag: like AutoTokenizer (fast when tokenizer.json exists). Both: an error.
  TokenizerKind kind() const {
    if (slow && fast) throw Error("--slow and --fast exclude each other");
    return slow ? TokenizerKind::Slow : fast ? TokenizerKind::Fast : TokenizerKind::Auto;
  }
};

inline void add_tokenizer_choice(CLI::App* cmd, TokenizerChoice& choice) {
  cmd->add_flag("--slow", choice.slow, "Use the slow tokenizer, sentencepiece.model (RemBertTokenizer)");
  cmd->add_flag("--fast", choice.fast, "Use the fast tokenizer, tokenizer.json (RemBertTokenizerFast)");
}

}  // namespace rembert::cli
