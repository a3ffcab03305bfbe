// What every pipeline command shares: --model (folder or hub id), loading, reading inputs from the command line or
// JSON Lines on stdin, writing one JSON value per input, progress on stderr.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rembert/pipelines.h"
#include "tokenizer_choice.h"

namespace rembert::cli {

struct ModelOptions {
  std::string model;
  std::string revision;
  bool offline = false;
  std::string dtype;  // empty: float32, or a converted model's dtype
  int threads = 0;
  TokenizerChoice tokenizer;
};

// Registers --model, --revision, --offline, --dtype, --threads, --slow, --fast.
void add_model_options(CLI::App* cmd, ModelOptions& o);

// Resolves --model (a folder, or a hub id fetched into the Hugging Face cache), loads model and tokenizer for
// `head`, and prints transformers' load warnings on stderr.
PipelineModel load_for_pipeline(const ModelOptions& o, HeadType head);

// Runs `run` on each input and prints its JSON result on its own line. Inputs are the positional texts, or, when
// there are none, JSON Lines on stdin (one JSON value per line: a string or an object). A progress count goes to
// stderr when stderr is a terminal. An input that fails stops the command with an error naming it.
void for_each_input(const std::vector<std::string>& texts,
                    const std::function<std::string(const nlohmann::json& input)>& run);

// Prints warnings on stderr as "rembert: warning: ...".
void print_warnings(const std::vector<std::string>& warnings);

}  // namespace rembert::cli
